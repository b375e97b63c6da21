//! Mono PCM utilities: WAV decoding and encoding, resampling, BS.1770-4 loudness,
//! silence editing, clipping checks and resampling-based speed changes.
//!
//! Everything works on [`Pcm`], one channel of `f32` samples in the nominal range -1..1.

mod edit;
mod loudness;
mod pitch;
mod resample;
mod wav;

pub use edit::{Clipping, clipping, longest_silence_ms, shorten_silences, speed_up, trim_silence};
pub use loudness::{
    integrated_loudness, limit_peaks, normalize_and_limit, normalize_loudness, peak_dbfs,
};
pub use pitch::median_pitch_hz;
pub use resample::resample;
pub use wav::{decode_wav, encode_wav};

/// The rate all narration and soundscape audio is mixed at.
pub const SAMPLE_RATE: u32 = 24_000;

/// The level reported for digital silence, in dBFS (instead of minus infinity).
pub const SILENCE_FLOOR_DBFS: f64 = -120.0;

/// The lowest sample rate [`decode_wav`] accepts, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 1_000;

/// The highest sample rate [`decode_wav`] accepts, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// The longest audio [`decode_wav`] accepts, in seconds (two hours).
pub const MAX_DURATION_S: u64 = 2 * 60 * 60;

/// Mono audio: a sample rate and samples in the nominal range -1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    /// Samples per second, in Hz.
    pub rate: u32,
    /// One channel of samples, nominally in -1..1.
    pub samples: Vec<f32>,
}

impl Pcm {
    /// `ms` milliseconds of digital silence at `rate`.
    pub fn silence(rate: u32, ms: u64) -> Pcm {
        Pcm {
            rate,
            samples: vec![0.0; ms_to_samples(rate, ms)],
        }
    }

    /// The duration in milliseconds, rounded to the nearest millisecond (0 when the rate is 0).
    pub fn duration_ms(&self) -> u64 {
        samples_to_ms(self.rate, self.samples.len())
    }

    /// Appends `other`, resampling it to this clip's rate first when the rates differ.
    ///
    /// An empty clip with rate 0 takes `other`'s rate.
    pub fn append(&mut self, other: &Pcm) {
        if self.rate == 0 && self.samples.is_empty() {
            self.rate = other.rate;
        }
        if other.rate == self.rate {
            self.samples.extend_from_slice(&other.samples);
        } else {
            let converted = resample(other, self.rate);
            self.samples.extend_from_slice(&converted.samples);
        }
    }
}

/// Why a WAV file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The bytes are not a WAV file the decoder understands (bad header, truncated header,
    /// compressed format, ...).
    #[error("not a readable WAV file: {0}")]
    Wav(#[from] hound::Error),
    /// The sample rate is zero or implausibly high or low.
    #[error(
        "WAV sample rate {0} Hz is outside the supported range {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz"
    )]
    BadRate(u32),
    /// The audio is longer than [`MAX_DURATION_S`].
    #[error("WAV holds {seconds} s of audio, more than the {MAX_DURATION_S} s allowed")]
    TooLong {
        /// The duration the file holds, in whole seconds.
        seconds: u64,
    },
    /// A sample layout the decoder does not handle (for example 64-bit float).
    #[error("unsupported WAV sample layout: {bits}-bit {format}")]
    Unsupported {
        /// Bits per sample as declared by the file.
        bits: u16,
        /// "integer" or "float".
        format: &'static str,
    },
}

/// Samples covering `ms` milliseconds at `rate` (rounded to the nearest sample).
pub(crate) fn ms_to_samples(rate: u32, ms: u64) -> usize {
    let n = (u128::from(rate) * u128::from(ms) + 500) / 1000;
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Milliseconds covered by `n` samples at `rate` (rounded; 0 for rate 0).
pub(crate) fn samples_to_ms(rate: u32, n: usize) -> u64 {
    if rate == 0 {
        return 0;
    }
    let n = n as u128;
    let rate = u128::from(rate);
    u64::try_from((n * 1000 + rate / 2) / rate).unwrap_or(u64::MAX)
}

/// Converts a level in dB to a linear gain.
pub(crate) fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_duration() {
        let pcm = Pcm::silence(24_000, 1_500);
        assert_eq!(pcm.samples.len(), 36_000);
        assert_eq!(pcm.duration_ms(), 1_500);
        assert_eq!(Pcm::silence(22_050, 10).samples.len(), 221);
        assert_eq!(
            Pcm {
                rate: 0,
                samples: vec![0.0; 10]
            }
            .duration_ms(),
            0
        );
    }

    #[test]
    fn append_resamples_when_rates_differ() {
        let mut a = Pcm::silence(24_000, 1_000);
        a.append(&Pcm::silence(24_000, 500));
        assert_eq!(a.samples.len(), 36_000);
        a.append(&Pcm::silence(12_000, 1_000));
        assert_eq!(a.samples.len(), 60_000);
        assert_eq!(a.rate, 24_000);
        let mut empty = Pcm {
            rate: 0,
            samples: Vec::new(),
        };
        empty.append(&Pcm::silence(16_000, 100));
        assert_eq!(empty.rate, 16_000);
        assert_eq!(empty.samples.len(), 1_600);
    }
}
