//! Integrated loudness after ITU-R BS.1770-4 / EBU R128, loudness normalisation and peaks.

use std::collections::VecDeque;

use super::{Pcm, SILENCE_FLOOR_DBFS, db_to_gain};

/// Absolute gate, LUFS.
const ABSOLUTE_GATE: f64 = -70.0;
/// Relative gate below the ungated level, LU.
const RELATIVE_GATE: f64 = -10.0;

/// A second-order IIR section (transposed direct form II, in `f64`).
#[derive(Clone, Copy)]
struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    z1: f64,
    z2: f64,
}

impl Biquad {
    fn new(b: [f64; 3], a: [f64; 2]) -> Biquad {
        Biquad {
            b0: b[0],
            b1: b[1],
            b2: b[2],
            a1: a[0],
            a2: a[1],
            z1: 0.0,
            z2: 0.0,
        }
    }

    #[inline]
    fn process(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.z1;
        self.z1 = self.b1 * x - self.a1 * y + self.z2;
        self.z2 = self.b2 * x - self.a2 * y;
        y
    }
}

/// The two K-weighting stages designed for `rate` from their analogue prototypes (the
/// high-frequency shelf modelling the head, then the RLB high-pass), so that at 48 kHz they
/// reproduce the coefficient table of BS.1770 and at other rates keep the same response.
fn k_weighting(rate: u32) -> [Biquad; 2] {
    let fs = f64::from(rate);
    // Stage 1: high shelf, +4 dB above about 1.7 kHz.
    let f0 = 1_681.974_450_955_533;
    let gain_db = 3.999_843_853_973_347;
    let q = 0.707_175_236_955_419_6;
    let k = (std::f64::consts::PI * f0 / fs).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.499_666_774_154_541_6);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad::new(
        [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ],
        [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    );
    // Stage 2: second-order high-pass at about 38 Hz.
    let f0 = 38.135_470_876_024_44;
    let q = 0.500_327_037_323_877_3;
    let k = (std::f64::consts::PI * f0 / fs).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad::new(
        [1.0, -2.0, 1.0],
        [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    );
    [shelf, high_pass]
}

/// BS.1770-4 / EBU R128 integrated loudness in LUFS: K-weighting (pre-filter high shelf + RLB
/// high-pass, coefficients designed for the actual sample rate, not the 48 kHz table), 400 ms
/// blocks with 75 % overlap, absolute gate -70 LUFS, relative gate -10 LU. None when everything
/// is gated (silence).
///
/// A clip shorter than one 400 ms block is measured as a single block, so short utterances
/// still get a (gated) value.
pub fn integrated_loudness(pcm: &Pcm) -> Option<f64> {
    if pcm.rate == 0 || pcm.samples.is_empty() {
        return None;
    }
    let [mut shelf, mut high_pass] = k_weighting(pcm.rate);
    let step = ((f64::from(pcm.rate) * 0.1).round() as usize).max(1);
    let block = 4 * step;

    // Energy of each 100 ms hop; a 400 ms block is four consecutive hops.
    let mut hops = Vec::with_capacity(pcm.samples.len() / step + 1);
    let mut acc = 0.0f64;
    let mut total = 0.0f64;
    let mut in_hop = 0usize;
    for &x in &pcm.samples {
        let y = high_pass.process(shelf.process(f64::from(x)));
        acc += y * y;
        in_hop += 1;
        if in_hop == step {
            hops.push(acc);
            total += acc;
            acc = 0.0;
            in_hop = 0;
        }
    }
    total += acc;

    let blocks: Vec<f64> = if hops.len() < 4 {
        vec![total / pcm.samples.len() as f64]
    } else {
        hops.windows(4)
            .map(|w| (w[0] + w[1] + w[2] + w[3]) / block as f64)
            .collect()
    };
    gated_loudness(&blocks)
}

fn block_loudness(mean_square: f64) -> f64 {
    -0.691 + 10.0 * mean_square.log10()
}

fn gated_loudness(blocks: &[f64]) -> Option<f64> {
    let above_absolute: Vec<f64> = blocks
        .iter()
        .copied()
        .filter(|&z| z > 0.0 && block_loudness(z) > ABSOLUTE_GATE)
        .collect();
    if above_absolute.is_empty() {
        return None;
    }
    let ungated = above_absolute.iter().sum::<f64>() / above_absolute.len() as f64;
    let threshold = block_loudness(ungated) + RELATIVE_GATE;
    let (sum, count) = above_absolute
        .iter()
        .filter(|&&z| block_loudness(z) > threshold)
        .fold((0.0, 0usize), |(s, n), &z| (s + z, n + 1));
    if count == 0 {
        return None;
    }
    Some(block_loudness(sum / count as f64))
}

/// Applies one gain so integrated loudness hits `target_lufs`, but never lets the sample peak
/// exceed `ceiling_dbfs` (gain is reduced instead). Returns the gain applied in dB. Silence is
/// left as is (and 0.0 is returned).
pub fn normalize_loudness(pcm: &mut Pcm, target_lufs: f64, ceiling_dbfs: f64) -> f64 {
    let Some(loudness) = integrated_loudness(pcm) else {
        return 0.0;
    };
    let mut gain_db = target_lufs - loudness;
    let peak = peak_dbfs(pcm);
    if peak + gain_db > ceiling_dbfs {
        gain_db = ceiling_dbfs - peak;
    }
    if !gain_db.is_finite() {
        return 0.0;
    }
    let gain = db_to_gain(gain_db) as f32;
    for x in &mut pcm.samples {
        *x *= gain;
    }
    gain_db
}

/// Look-ahead peak limiter: the gain needed at each sample is spread over ±`lookahead` by a
/// sliding minimum followed by a moving average (which can only lower it further at a peak),
/// then released smoothly; a final clamp guards against rounding.
pub fn limit_peaks(samples: &mut [f32], rate: u32, ceiling_dbfs: f64) {
    let ceiling = 10f64.powf(ceiling_dbfs / 20.0) as f32;
    if samples.iter().all(|x| x.abs() <= ceiling) {
        return;
    }
    let fs = rate.max(1) as f32;
    let half = ((0.0015 * fs) as usize).max(1);
    let n = samples.len();
    let required: Vec<f32> = samples
        .iter()
        .map(|&x| {
            let a = x.abs();
            if a > ceiling { ceiling / a } else { 1.0 }
        })
        .collect();

    // Sliding minimum over [i - half, i + half].
    let mut window_min = vec![1.0f32; n];
    let mut deque: VecDeque<usize> = VecDeque::new();
    for j in 0..n + half {
        if j < n {
            while deque.back().is_some_and(|&b| required[b] >= required[j]) {
                deque.pop_back();
            }
            deque.push_back(j);
        }
        if j >= half {
            let i = j - half;
            while deque.front().is_some_and(|&f| f + half < i) {
                deque.pop_front();
            }
            if let Some(&f) = deque.front() {
                window_min[i] = required[f];
            }
        }
    }

    // Moving average over the same span, then a smooth release.
    let release = 1.0 - (-1.0 / (0.08 * fs)).exp();
    let mut sum = 0.0f64;
    let mut gain = 1.0f32;
    let width = (2 * half + 1) as f64;
    for j in 0..n + half {
        if j < n {
            sum += f64::from(window_min[j]);
        }
        if j > 2 * half {
            sum -= f64::from(window_min[j - 2 * half - 1]);
        }
        if j >= half {
            let i = j - half;
            // Entries outside the signal count as 1 (no reduction needed there).
            let present = (j.min(n - 1) + 1).saturating_sub(i.saturating_sub(half)) as f64;
            let avg = ((sum + (width - present)) / width) as f32;
            gain = if avg < gain {
                avg
            } else {
                gain + (avg - gain) * release
            };
            samples[i] = (samples[i] * gain).clamp(-ceiling, ceiling);
        }
    }
}

/// Brings integrated loudness to `target_lufs` and holds sample peaks at `ceiling_dbfs` with the
/// look-ahead limiter (speech peaks far above its loudness: a plain gain would stop short).
/// Returns the gain applied before limiting, in dB.
pub fn normalize_and_limit(pcm: &mut Pcm, target_lufs: f64, ceiling_dbfs: f64) -> f64 {
    // Within 6 dB above the ceiling the limiter works on short peaks only.
    let gain_db = normalize_loudness(pcm, target_lufs, ceiling_dbfs + 6.0);
    limit_peaks(&mut pcm.samples, pcm.rate, ceiling_dbfs);
    gain_db
}

/// The sample peak in dBFS; [`SILENCE_FLOOR_DBFS`] for silence or an empty clip.
pub fn peak_dbfs(pcm: &Pcm) -> f64 {
    let peak = pcm
        .samples
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, &x| m.max(x.abs()));
    if peak <= 0.0 {
        SILENCE_FLOOR_DBFS
    } else {
        (20.0 * f64::from(peak).log10()).max(SILENCE_FLOOR_DBFS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::encode_wav;

    fn sine(rate: u32, freq: f64, amp: f64, seconds: f64) -> Pcm {
        let n = (f64::from(rate) * seconds).round() as usize;
        Pcm {
            rate,
            samples: (0..n)
                .map(|i| {
                    (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                        as f32
                })
                .collect(),
        }
    }

    #[test]
    fn coefficients_match_the_48k_table() {
        let [shelf, hp] = k_weighting(48_000);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-8;
        assert!(close(shelf.b0, 1.535_124_859_586_97));
        assert!(close(shelf.b1, -2.691_696_189_406_38));
        assert!(close(shelf.b2, 1.198_392_810_852_85));
        assert!(close(shelf.a1, -1.690_659_293_182_41));
        assert!(close(shelf.a2, 0.732_480_774_215_85));
        assert!(close(hp.a1, -1.990_047_454_833_98));
        assert!(close(hp.a2, 0.990_072_250_366_21));
    }

    #[test]
    fn sine_reference_levels() {
        let at48 = integrated_loudness(&sine(48_000, 1000.0, 0.1, 10.0)).expect("level");
        assert!((at48 + 23.0).abs() < 0.2, "48 kHz: {at48}");
        let full = integrated_loudness(&sine(48_000, 1000.0, 1.0, 10.0)).expect("level");
        assert!((full + 3.01).abs() < 0.05, "0 dBFS sine: {full}");
        for rate in [24_000, 22_050, 16_000, 44_100] {
            let l = integrated_loudness(&sine(rate, 1000.0, 0.1, 10.0)).expect("level");
            assert!((l + 23.0).abs() < 0.3, "{rate} Hz: {l}");
        }
    }

    #[test]
    fn silence_and_gating() {
        assert_eq!(integrated_loudness(&Pcm::silence(24_000, 5_000)), None);
        assert_eq!(integrated_loudness(&Pcm::silence(24_000, 0)), None);
        // A tone at -80 dBFS is below the absolute gate.
        assert_eq!(integrated_loudness(&sine(24_000, 1000.0, 1e-4, 3.0)), None);
        // Long silence around a tone does not pull the level down (the gates drop it).
        let mut gapped = Pcm::silence(48_000, 10_000);
        gapped.append(&sine(48_000, 1000.0, 0.1, 10.0));
        gapped.append(&Pcm::silence(48_000, 10_000));
        let l = integrated_loudness(&gapped).expect("level");
        assert!((l + 23.0).abs() < 0.3, "{l}");
        // A clip shorter than a block is measured as one block.
        let short = integrated_loudness(&sine(24_000, 1000.0, 0.1, 0.25)).expect("short");
        assert!((short + 23.0).abs() < 0.5, "{short}");
    }

    #[test]
    fn normalisation_hits_target_or_respects_ceiling() {
        let mut pcm = sine(24_000, 1000.0, 0.1, 5.0);
        let gain = normalize_loudness(&mut pcm, -16.0, -1.0);
        assert!((gain - 7.0).abs() < 0.3, "{gain}");
        let l = integrated_loudness(&pcm).expect("level");
        assert!((l + 16.0).abs() < 0.2, "{l}");

        let mut pcm = sine(24_000, 1000.0, 0.1, 5.0);
        let gain = normalize_loudness(&mut pcm, -16.0, -15.0);
        assert!((gain - 5.0).abs() < 0.01, "{gain}");
        assert!((peak_dbfs(&pcm) + 15.0).abs() < 0.01);
        assert!(integrated_loudness(&pcm).expect("level") < -17.0);

        let mut silent = Pcm::silence(24_000, 1000);
        assert_eq!(normalize_loudness(&mut silent, -16.0, -1.0), 0.0);
        assert!(silent.samples.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn peaks() {
        assert_eq!(peak_dbfs(&Pcm::silence(24_000, 10)), SILENCE_FLOOR_DBFS);
        let p = peak_dbfs(&Pcm {
            rate: 24_000,
            samples: vec![0.0, -0.5, 0.25],
        });
        assert!((p + 6.0206).abs() < 1e-3);
    }

    /// Noise bursts with gaps, like speech, from a small deterministic generator.
    fn speech_like(rate: u32, seconds: f64) -> Pcm {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut lp = 0.0f64;
        let n = (f64::from(rate) * seconds) as usize;
        let samples = (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let white = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                lp += 0.3 * (white - lp);
                let t = i as f64 / f64::from(rate);
                // Syllables at about 4 Hz, phrases of 2 s with 0.7 s pauses.
                let phrase = if t % 2.7 < 2.0 { 1.0 } else { 0.0 };
                let syllable = (std::f64::consts::PI * 4.0 * t).sin().abs().powf(0.7);
                (lp * phrase * syllable * 0.5) as f32
            })
            .collect();
        Pcm { rate, samples }
    }

    fn ffmpeg_loudness(pcm: &Pcm, name: &str) -> Option<f64> {
        let path = std::env::temp_dir().join(format!(
            "visiobook-loudness-{}-{name}.wav",
            std::process::id()
        ));
        std::fs::write(&path, encode_wav(pcm)).expect("write temp wav");
        let run = |filter: &str| {
            std::process::Command::new("ffmpeg")
                .args(["-nostats", "-hide_banner", "-i"])
                .arg(&path)
                .args(["-af", filter, "-f", "null", "-"])
                .output()
        };
        // Older ffmpeg builds (5.x) reject framelog=quiet; framelog=verbose is quiet at the
        // default log level there.
        let output = match run("ebur128=framelog=quiet") {
            Ok(output) if output.status.success() => Ok(output),
            Ok(_) => run("ebur128=framelog=verbose"),
            Err(error) => Err(error),
        };
        let _ = std::fs::remove_file(&path);
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                eprintln!("skipping the ffmpeg cross-check: cannot run ffmpeg ({error})");
                return None;
            }
        };
        assert!(output.status.success(), "ffmpeg failed: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with("I:") && l.contains("LUFS"))
            .expect("ffmpeg prints an integrated loudness line");
        let value = line
            .trim_start()
            .trim_start_matches("I:")
            .trim()
            .trim_end_matches("LUFS")
            .trim();
        Some(value.parse().expect("a number"))
    }

    #[test]
    fn agrees_with_ffmpeg_ebur128() {
        for rate in [48_000, 24_000, 22_050] {
            let pcm = speech_like(rate, 12.0);
            let ours = integrated_loudness(&pcm).expect("level");
            let Some(theirs) = ffmpeg_loudness(&pcm, &rate.to_string()) else {
                return;
            };
            assert!(
                (ours - theirs).abs() < 0.5,
                "{rate} Hz: ours {ours:.2} LUFS, ffmpeg {theirs:.2} LUFS"
            );
        }
    }
}
