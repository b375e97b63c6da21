//! WAV decoding (any common PCM or float layout, downmixed to mono) and 16-bit encoding.

use std::io::Cursor;

use super::{AudioError, MAX_DURATION_S, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Pcm};

/// Decodes a WAV file into mono [`Pcm`].
///
/// Integer samples of 8, 16, 24 and 32 bits and 32-bit float samples are accepted; files with
/// several channels are downmixed to mono by averaging the channels. A file whose data chunk is
/// cut short (as happens with streamed TTS output) decodes to the complete frames it holds.
/// Sample rates outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`] and audio longer than
/// [`MAX_DURATION_S`] are rejected, as is anything that is not a WAV file.
pub fn decode_wav(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let mut reader = hound::WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&spec.sample_rate) {
        return Err(AudioError::BadRate(spec.sample_rate));
    }
    let channels = usize::from(spec.channels.max(1));
    let bytes_per_sample = usize::from(spec.bits_per_sample.div_ceil(8)).max(1);
    // A header may declare more data than the bytes hold; bound the check by what is there.
    let available_frames = bytes.len() / (channels * bytes_per_sample);
    let frames = (reader.duration() as usize).min(available_frames);
    let seconds = frames as u64 / u64::from(spec.sample_rate);
    if seconds > MAX_DURATION_S
        || (seconds == MAX_DURATION_S
            && !(frames as u64).is_multiple_of(u64::from(spec.sample_rate)))
    {
        return Err(AudioError::TooLong { seconds });
    }

    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => read_all(reader.samples::<f32>(), |x| x)?,
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 0.5f64.powi(i32::from(bits) - 1) as f32;
            read_all(reader.samples::<i32>(), |x| x as f32 * scale)?
        }
        (format, bits) => {
            return Err(AudioError::Unsupported {
                bits,
                format: match format {
                    hound::SampleFormat::Float => "float",
                    hound::SampleFormat::Int => "integer",
                },
            });
        }
    };

    let samples = if channels == 1 {
        interleaved
    } else {
        let inv = 1.0 / channels as f32;
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * inv)
            .collect()
    };
    Ok(Pcm {
        rate: spec.sample_rate,
        samples,
    })
}

/// Reads every sample, mapping it to `f32`; a read that runs into the end of the bytes stops
/// the decoding there (a truncated data chunk), any other error is returned.
fn read_all<S, I>(samples: I, convert: impl Fn(S) -> f32) -> Result<Vec<f32>, AudioError>
where
    I: Iterator<Item = hound::Result<S>>,
{
    let mut out = Vec::with_capacity(samples.size_hint().0.min(1 << 28));
    for sample in samples {
        match sample {
            Ok(value) => {
                let x = convert(value);
                out.push(if x.is_finite() { x } else { 0.0 });
            }
            // Reading from memory only fails at the end of the bytes: a truncated data chunk.
            Err(hound::Error::IoError(_)) => break,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(out)
}

/// Encodes `pcm` as a 16-bit PCM mono WAV file; samples are clamped to -1..1 and rounded.
pub fn encode_wav(pcm: &Pcm) -> Vec<u8> {
    let data_len = pcm.samples.len().saturating_mul(2);
    let data_len32 = u32::try_from(data_len).unwrap_or(u32::MAX - 64) & !1;
    let mut out = Vec::with_capacity(44 + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36u32.saturating_add(data_len32)).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&pcm.rate.to_le_bytes());
    out.extend_from_slice(&pcm.rate.saturating_mul(2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len32.to_le_bytes());
    for &x in pcm.samples.iter().take(data_len32 as usize / 2) {
        out.extend_from_slice(&to_i16(x).to_le_bytes());
    }
    out
}

fn to_i16(x: f32) -> i16 {
    let x = if x.is_finite() { x } else { 0.0 };
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_with_hound(spec: hound::WavSpec, frames: &[Vec<f64>]) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        {
            let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("writer");
            for frame in frames {
                for &x in frame {
                    match spec.sample_format {
                        hound::SampleFormat::Float => writer.write_sample(x as f32),
                        hound::SampleFormat::Int => {
                            let full = f64::from(1u32 << (spec.bits_per_sample - 1));
                            writer.write_sample((x * (full - 1.0)).round() as i32)
                        }
                    }
                    .expect("sample");
                }
            }
            writer.finalize().expect("finalize");
        }
        cursor.into_inner()
    }

    #[test]
    fn sixteen_bit_round_trip() {
        let samples: Vec<f32> = (0..1000)
            .map(|i| (i as f32 * 0.05).sin() * 0.8)
            .chain([1.5, -2.0, f32::NAN])
            .collect();
        let pcm = Pcm {
            rate: 24_000,
            samples,
        };
        let bytes = encode_wav(&pcm);
        assert_eq!(bytes.len(), 44 + 2 * pcm.samples.len());
        let back = decode_wav(&bytes).expect("decodes");
        assert_eq!(back.rate, 24_000);
        assert_eq!(back.samples.len(), pcm.samples.len());
        for (a, b) in pcm.samples.iter().zip(&back.samples).take(1000) {
            assert!((a - b).abs() <= 0.5 / 32768.0 + 1e-7, "{a} vs {b}");
        }
        let n = back.samples.len();
        assert!((back.samples[n - 3] - 32767.0 / 32768.0).abs() < 1e-6);
        assert_eq!(back.samples[n - 2], -1.0);
        assert_eq!(back.samples[n - 1], 0.0);
    }

    #[test]
    fn twenty_four_bit_stereo_and_float_decode() {
        let frames: Vec<Vec<f64>> = (0..4800)
            .map(|i| {
                let x = (i as f64 * 0.01).sin() * 0.5;
                vec![x, -x * 0.5]
            })
            .collect();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 24,
            sample_format: hound::SampleFormat::Int,
        };
        let pcm = decode_wav(&write_with_hound(spec, &frames)).expect("24-bit stereo");
        assert_eq!(pcm.rate, 48_000);
        assert_eq!(pcm.samples.len(), 4800);
        for (frame, &y) in frames.iter().zip(&pcm.samples) {
            let expected = (frame[0] + frame[1]) / 2.0;
            assert!((expected - f64::from(y)).abs() < 1e-5);
        }

        let spec = hound::WavSpec {
            channels: 3,
            sample_rate: 22_050,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let frames = vec![vec![0.3, 0.6, 0.9]; 100];
        let pcm = decode_wav(&write_with_hound(spec, &frames)).expect("float");
        assert_eq!(pcm.samples.len(), 100);
        assert!((pcm.samples[0] - 0.6).abs() < 1e-6);

        for bits in [8u16, 32] {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 16_000,
                bits_per_sample: bits,
                sample_format: hound::SampleFormat::Int,
            };
            let frames = vec![vec![0.5], vec![-0.25]];
            let pcm = decode_wav(&write_with_hound(spec, &frames)).expect("int");
            assert!(
                (pcm.samples[0] - 0.5).abs() < 0.01,
                "{bits}: {:?}",
                pcm.samples
            );
            assert!(
                (pcm.samples[1] + 0.25).abs() < 0.01,
                "{bits}: {:?}",
                pcm.samples
            );
        }
    }

    #[test]
    fn garbage_and_bad_headers_are_errors() {
        assert!(decode_wav(b"").is_err());
        assert!(decode_wav(b"not a wav file at all, just some text").is_err());
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(decode_wav(&noise).is_err());

        let good = encode_wav(&Pcm::silence(24_000, 100));
        // Every truncation of the header must fail cleanly, never panic.
        for cut in 0..44 {
            assert!(decode_wav(&good[..cut]).is_err(), "cut at {cut}");
        }
        // A truncated data chunk keeps the complete samples.
        let short = decode_wav(&good[..44 + 101]).expect("truncated data decodes");
        assert_eq!(short.samples.len(), 50);

        let mut zero_rate = good.clone();
        zero_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
        zero_rate[28..32].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            decode_wav(&zero_rate),
            Err(AudioError::BadRate(0))
        ));
        let mut absurd = good.clone();
        absurd[24..28].copy_from_slice(&5_000_000u32.to_le_bytes());
        absurd[28..32].copy_from_slice(&10_000_000u32.to_le_bytes());
        assert!(matches!(
            decode_wav(&absurd),
            Err(AudioError::BadRate(5_000_000))
        ));
    }

    #[test]
    fn more_than_two_hours_is_rejected() {
        // 8 kHz-ish audio would need 115 MB; use a tiny rate so the test stays small:
        // 1 kHz, 8-bit, 2 h + 1 s.
        let frames = (MAX_DURATION_S as usize + 1) * 1000;
        let mut bytes = Vec::with_capacity(44 + frames);
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + frames as u32).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&8u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&(frames as u32).to_le_bytes());
        bytes.resize(44 + frames, 128);
        let error = decode_wav(&bytes).expect_err("too long");
        assert!(matches!(error, AudioError::TooLong { seconds: 7201 }));
        assert!(error.to_string().contains("7201"));
        // Exactly two hours is fine.
        bytes.truncate(44 + MAX_DURATION_S as usize * 1000);
        let len = (MAX_DURATION_S * 1000) as u32;
        bytes[40..44].copy_from_slice(&len.to_le_bytes());
        assert!(decode_wav(&bytes).is_ok());
    }
}
