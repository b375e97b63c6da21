//! Silence trimming and shortening, clipping checks and resampling-based speed changes.

use super::resample::resample_ratio;
use super::{Pcm, SILENCE_FLOOR_DBFS, ms_to_samples, samples_to_ms};

/// Length of the analysis windows used to tell sound from silence.
const WINDOW_MS: u64 = 10;
/// Crossfade used where a silence is cut.
const CROSSFADE_MS: u64 = 5;
/// A sample at or above this magnitude counts as clipped.
const CLIP_LEVEL: f32 = 0.999;

/// Window length in samples (at least one).
fn window_len(rate: u32) -> usize {
    ms_to_samples(rate, WINDOW_MS).max(1)
}

/// For each ~10 ms window, whether its RMS level is at or above `threshold_dbfs`.
fn loud_windows(pcm: &Pcm, threshold_dbfs: f64) -> Vec<bool> {
    let w = window_len(pcm.rate);
    pcm.samples
        .chunks(w)
        .map(|chunk| {
            let mean_square = chunk
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                / chunk.len() as f64;
            let db = if mean_square > 0.0 {
                10.0 * mean_square.log10()
            } else {
                SILENCE_FLOOR_DBFS
            };
            db >= threshold_dbfs
        })
        .collect()
}

/// Internal quiet runs as sample ranges (between the first and the last loud window).
fn internal_silences(pcm: &Pcm, threshold_dbfs: f64) -> Vec<(usize, usize)> {
    let w = window_len(pcm.rate);
    let loud = loud_windows(pcm, threshold_dbfs);
    let (Some(first), Some(last)) = (loud.iter().position(|&l| l), loud.iter().rposition(|&l| l))
    else {
        return Vec::new();
    };
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &is_loud) in loud.iter().enumerate().take(last + 1).skip(first) {
        match (is_loud, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                runs.push((s * w, (i * w).min(pcm.samples.len())));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Leading and trailing audio below `threshold_dbfs` (measured on short ~10 ms windows)
/// removed, keeping `keep_ms` of margin at each end.
///
/// Audio that is quiet throughout trims to an empty clip at the same rate.
pub fn trim_silence(pcm: &Pcm, threshold_dbfs: f64, keep_ms: u64) -> Pcm {
    let w = window_len(pcm.rate);
    let loud = loud_windows(pcm, threshold_dbfs);
    let (Some(first), Some(last)) = (loud.iter().position(|&l| l), loud.iter().rposition(|&l| l))
    else {
        return Pcm {
            rate: pcm.rate,
            samples: Vec::new(),
        };
    };
    let keep = ms_to_samples(pcm.rate, keep_ms);
    let start = (first * w).saturating_sub(keep);
    let end = ((last + 1) * w).saturating_add(keep).min(pcm.samples.len());
    Pcm {
        rate: pcm.rate,
        samples: pcm.samples[start..end].to_vec(),
    }
}

/// Longest internal run below the threshold, in ms (leading and trailing silence do not count;
/// 0 when there is none). Measured on the same ~10 ms windows as [`trim_silence`].
pub fn longest_silence_ms(pcm: &Pcm, threshold_dbfs: f64) -> u64 {
    let longest = internal_silences(pcm, threshold_dbfs)
        .iter()
        .map(|(s, e)| e - s)
        .max()
        .unwrap_or(0);
    samples_to_ms(pcm.rate, longest)
}

/// Internal runs of silence longer than `max_ms` shortened to `max_ms` (cut in the middle of
/// the run, with a few ms crossfade so no click). Leading and trailing silence is kept.
pub fn shorten_silences(pcm: &Pcm, threshold_dbfs: f64, max_ms: u64) -> Pcm {
    let max_len = ms_to_samples(pcm.rate, max_ms);
    let runs = internal_silences(pcm, threshold_dbfs);
    let x = &pcm.samples;
    let mut out = Vec::with_capacity(x.len());
    let mut copied = 0usize; // input consumed so far
    for (start, end) in runs {
        if end - start <= max_len {
            continue;
        }
        // Keep the first half of the allowance and the last half; drop what lies between.
        let a = start + max_len / 2; // cut point on the left
        let b = end - (max_len - max_len / 2); // resume point on the right
        let fade = ms_to_samples(pcm.rate, CROSSFADE_MS)
            .min(2 * (a - copied))
            .min(2 * (x.len() - b))
            .min(b - a)
            & !1;
        let h = fade / 2;
        out.extend_from_slice(&x[copied..a - h]);
        for i in 0..fade {
            let t = (i as f32 + 0.5) / fade as f32;
            let gain_in = 0.5 - 0.5 * (std::f32::consts::PI * t).cos();
            out.push(x[a - h + i] * (1.0 - gain_in) + x[b - h + i] * gain_in);
        }
        copied = b + h;
    }
    out.extend_from_slice(&x[copied.min(x.len())..]);
    Pcm {
        rate: pcm.rate,
        samples: out,
    }
}

/// How much of a clip sits at full scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clipping {
    /// Fraction of samples at or above full scale (|x| >= 0.999), 0..1.
    pub fraction: f64,
    /// Number of runs of three or more consecutive such samples (a sure sign of clipping).
    pub runs: usize,
}

impl Clipping {
    /// True when at least one run of three or more full-scale samples was found.
    pub fn is_clipped(&self) -> bool {
        self.runs > 0
    }
}

/// Fraction of samples at or above full scale (|x| >= 0.999), and the number of runs of >= 3
/// consecutive such samples.
pub fn clipping(pcm: &Pcm) -> Clipping {
    let mut count = 0usize;
    let mut runs = 0usize;
    let mut current = 0usize;
    for &x in &pcm.samples {
        if x.abs() >= CLIP_LEVEL {
            count += 1;
            current += 1;
            if current == 3 {
                runs += 1;
            }
        } else {
            current = 0;
        }
    }
    Clipping {
        fraction: if pcm.samples.is_empty() {
            0.0
        } else {
            count as f64 / pcm.samples.len() as f64
        },
        runs,
    }
}

/// Plays `pcm` `factor` times faster by resampling (pitch rises by `factor`, duration shrinks
/// by it); the output keeps the input's rate.
///
/// This is how a pitch shift that keeps duration is done: the caller synthesises the speech
/// `factor` times slower, then speeds it up here. A factor that is not positive and finite, or
/// is 1, returns the clip unchanged; factors are clamped to 1/16..16.
pub fn speed_up(pcm: &Pcm, factor: f64) -> Pcm {
    if !factor.is_finite() || factor <= 0.0 || (factor - 1.0).abs() < 1e-9 || pcm.rate == 0 {
        return pcm.clone();
    }
    const SCALE: f64 = 1_000_000.0;
    let factor = factor.clamp(1.0 / 16.0, 16.0);
    let from = (factor * SCALE).round() as u64;
    Pcm {
        rate: pcm.rate,
        samples: resample_ratio(&pcm.samples, from, SCALE as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 24_000;

    fn tone(ms: u64) -> Pcm {
        let n = ms_to_samples(RATE, ms);
        Pcm {
            rate: RATE,
            samples: (0..n)
                .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 300.0 / RATE as f32).sin())
                .collect(),
        }
    }

    /// Silence with a faint hiss at about -70 dBFS, so "silence" is not digital zero.
    fn hush(ms: u64) -> Pcm {
        let n = ms_to_samples(RATE, ms);
        Pcm {
            rate: RATE,
            samples: (0..n)
                .map(|i| if i % 2 == 0 { 3e-4 } else { -3e-4 })
                .collect(),
        }
    }

    fn concat(parts: &[Pcm]) -> Pcm {
        let mut out = Pcm {
            rate: RATE,
            samples: Vec::new(),
        };
        for p in parts {
            out.append(p);
        }
        out
    }

    #[test]
    fn trims_leading_and_trailing_silence() {
        let pcm = concat(&[hush(800), tone(1000), hush(300), tone(500), hush(1200)]);
        let trimmed = trim_silence(&pcm, -50.0, 100);
        assert_eq!(trimmed.duration_ms(), 100 + 1000 + 300 + 500 + 100);
        let tight = trim_silence(&pcm, -50.0, 0);
        assert_eq!(tight.duration_ms(), 1800);
        assert!(tight.samples[..240].iter().any(|x| x.abs() > 0.1));
        // A margin larger than the silence keeps everything there is.
        assert_eq!(
            trim_silence(&pcm, -50.0, 5000).samples.len(),
            pcm.samples.len()
        );
        assert!(trim_silence(&hush(500), -50.0, 100).samples.is_empty());
    }

    #[test]
    fn finds_and_shortens_long_internal_silences() {
        let pcm = concat(&[
            hush(400),
            tone(1000),
            hush(2000),
            tone(500),
            hush(700),
            tone(300),
            hush(900),
        ]);
        assert_eq!(longest_silence_ms(&pcm, -50.0), 2000);
        assert_eq!(longest_silence_ms(&tone(500), -50.0), 0);
        assert_eq!(longest_silence_ms(&hush(500), -50.0), 0);

        let shortened = shorten_silences(&pcm, -50.0, 600);
        // 2000 -> 600 and 700 -> 600; leading and trailing silence kept.
        assert_eq!(shortened.duration_ms(), pcm.duration_ms() - 1400 - 100);
        assert_eq!(longest_silence_ms(&shortened, -50.0), 600);
        // No click: the join is as quiet as the silence around it.
        let cut_region = &shortened.samples[ms_to_samples(RATE, 1400)..ms_to_samples(RATE, 2000)];
        assert!(cut_region.iter().all(|x| x.abs() <= 3e-4 + 1e-7));
        // Nothing to do when every silence is short enough.
        assert_eq!(shorten_silences(&pcm, -50.0, 5000), pcm);
    }

    #[test]
    fn detects_clipping() {
        let clean = tone(100);
        assert_eq!(
            clipping(&clean),
            Clipping {
                fraction: 0.0,
                runs: 0
            }
        );
        let mut hot = tone(100);
        for x in &mut hot.samples {
            *x = (*x * 5.0).clamp(-1.0, 1.0);
        }
        let c = clipping(&hot);
        assert!(c.fraction > 0.3 && c.fraction < 0.9, "{c:?}");
        assert!(c.runs >= 50, "{c:?}");
        assert!(c.is_clipped());
        let single = Pcm {
            rate: RATE,
            samples: vec![0.0, 1.0, 1.0, 0.0, -1.0, 0.0, 1.0, 1.0, 1.0, 1.0],
        };
        let c = clipping(&single);
        assert_eq!(c.runs, 1);
        assert!((c.fraction - 0.7).abs() < 1e-12);
    }

    #[test]
    fn speed_up_raises_pitch_and_shortens() {
        let pcm = tone(2000); // 300 Hz
        let fast = speed_up(&pcm, 1.25);
        assert_eq!(fast.rate, RATE);
        assert_eq!(fast.samples.len(), 38_400);
        let crossings = fast
            .samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        // 375 Hz for 1.6 s = 1200 crossings.
        assert!(crossings.abs_diff(1200) <= 3, "{crossings}");
        let slow = speed_up(&pcm, 0.8);
        assert_eq!(slow.samples.len(), 60_000);
        assert_eq!(speed_up(&pcm, 1.0), pcm);
        assert_eq!(speed_up(&pcm, f64::NAN), pcm);
    }
}
