//! Fundamental frequency of a voice, for checks that voices differ (tests, QA reports).

use super::Pcm;

/// Median fundamental frequency, in Hz, of the voiced 40 ms frames, found by autocorrelation
/// between 60 and 500 Hz; `None` when fewer than six frames are voiced.
pub fn median_pitch_hz(pcm: &Pcm) -> Option<f64> {
    let rate = pcm.rate as usize;
    let frame = rate * 40 / 1000;
    let (min_lag, max_lag) = (rate / 500, (rate / 60).min(frame.saturating_sub(1)));
    if frame == 0 || min_lag == 0 || min_lag >= max_lag {
        return None;
    }
    let mut estimates = Vec::new();
    for chunk in pcm.samples.chunks_exact(frame) {
        let energy: f32 = chunk.iter().map(|s| s * s).sum();
        if energy / (frame as f32) < 1e-4 {
            continue;
        }
        // Normalised cross-correlation of the frame with itself shifted by `lag`: 1 for a
        // perfectly periodic signal at that period, whatever the lag.
        let correlation = |lag: usize| -> f32 {
            let (head, tail) = (&chunk[..frame - lag], &chunk[lag..]);
            let cross: f32 = head.iter().zip(tail).map(|(a, b)| a * b).sum();
            let power =
                head.iter().map(|a| a * a).sum::<f32>() * tail.iter().map(|b| b * b).sum::<f32>();
            if power > 0.0 {
                cross / power.sqrt()
            } else {
                0.0
            }
        };
        let scores: Vec<f32> = (min_lag..max_lag).map(correlation).collect();
        let best = scores.iter().copied().fold(f32::MIN, f32::max);
        if best < 0.5 {
            continue;
        }
        // The shortest lag that is nearly as good: the period, not a multiple of it.
        if let Some(offset) = scores.iter().position(|score| *score >= 0.9 * best) {
            // Refine to the local maximum that follows.
            let mut lag = offset;
            while lag + 1 < scores.len() && scores[lag + 1] > scores[lag] {
                lag += 1;
            }
            estimates.push(rate as f64 / (min_lag + lag) as f64);
        }
    }
    if estimates.len() < 6 {
        return None;
    }
    estimates.sort_by(f64::total_cmp);
    Some(estimates[estimates.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_harmonic_tone_reads_at_its_fundamental() {
        let rate = 24_000;
        let tone = |hz: f32| Pcm {
            rate,
            samples: (0..rate)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    let w = 2.0 * std::f32::consts::PI * hz * t;
                    0.3 * w.sin() + 0.2 * (2.0 * w).sin() + 0.1 * (3.0 * w).sin()
                })
                .collect(),
        };
        for hz in [110.0, 180.0, 240.0] {
            let found = median_pitch_hz(&tone(hz)).expect("a pitch");
            assert!(
                (found - f64::from(hz)).abs() / f64::from(hz) < 0.03,
                "{hz} -> {found}"
            );
        }
        assert_eq!(median_pitch_hz(&Pcm::silence(rate, 1_000)), None);
    }
}
