//! Band-limited resampling with a Kaiser-windowed sinc, polyphase, for arbitrary ratios.
//!
//! The ratio between the rates is reduced to `up / down`. When `up` is small enough each output
//! phase has its own exact filter row; otherwise a table of phases is interpolated linearly.
//! The cut-off sits just below the Nyquist frequency of the lower of the two rates, so
//! downsampling is anti-aliased.

use super::Pcm;

/// Zero crossings of the sinc kept on each side of the centre, counted at the lower rate.
const ZERO_CROSSINGS: f64 = 32.0;
/// Cut-off as a fraction of the lower rate's Nyquist frequency.
const ROLLOFF: f64 = 0.93;
/// Kaiser window shape: about 85 dB of stop-band attenuation.
const KAISER_BETA: f64 = 8.5;
/// Upper bound on the size of the coefficient table (values).
const MAX_TABLE_VALUES: usize = 1 << 22;
/// Most phases an interpolated table gets.
const MAX_PHASES: usize = 4096;

/// Resamples `pcm` to `rate` with a windowed-sinc filter (identity when the rates match).
///
/// The output has `round(len * rate / pcm.rate)` samples; its first sample is aligned with the
/// input's first sample. A rate of 0 on either side yields an empty clip at `rate`.
pub fn resample(pcm: &Pcm, rate: u32) -> Pcm {
    if pcm.rate == rate {
        return pcm.clone();
    }
    if pcm.rate == 0 || rate == 0 {
        return Pcm {
            rate,
            samples: Vec::new(),
        };
    }
    Pcm {
        rate,
        samples: resample_ratio(&pcm.samples, u64::from(pcm.rate), u64::from(rate)),
    }
}

/// Resamples `samples` as if taken at rate `from` to rate `to` (any positive integers).
pub(crate) fn resample_ratio(samples: &[f32], from: u64, to: u64) -> Vec<f32> {
    if from == 0 || to == 0 || samples.is_empty() {
        return Vec::new();
    }
    if from == to {
        return samples.to_vec();
    }
    let g = gcd(from, to);
    let up = to / g;
    let down = from / g;
    let out_len = ((samples.len() as u128 * u128::from(up) + u128::from(down / 2))
        / u128::from(down)) as usize;
    if out_len == 0 {
        return Vec::new();
    }
    let table = Table::new(up, down);
    let taps = table.taps;
    let half = taps / 2;

    // Zero padding on both sides keeps the inner loop free of bounds special cases.
    let step_in = (down / up) as usize + 1;
    let pad_left = taps;
    let mut padded = vec![0.0f32; pad_left + samples.len() + taps * 2 + step_in + 2];
    padded[pad_left..pad_left + samples.len()].copy_from_slice(samples);

    let mut out = Vec::with_capacity(out_len);
    let whole = (down / up) as usize;
    let frac_step = down % up;
    let mut base = 0usize; // integer input position
    let mut rem = 0u64; // fractional position, in units of 1/up
    for _ in 0..out_len {
        // Row index k covers input offset k - (half - 1) around `base`.
        let start = base + pad_left + 1 - half;
        let y = match padded.get(start..start + taps) {
            Some(window) => table.apply(window, rem, up),
            None => 0.0,
        };
        out.push(y);
        base += whole;
        rem += frac_step;
        if rem >= up {
            rem -= up;
            base += 1;
        }
    }
    out
}

/// Polyphase coefficient rows.
struct Table {
    /// Coefficients per row (a multiple of 8, even).
    taps: usize,
    /// Number of phases (rows minus one).
    phases: usize,
    /// True when every output phase has its own row (no interpolation needed).
    exact: bool,
    rows: Vec<f32>,
}

impl Table {
    fn new(up: u64, down: u64) -> Table {
        let scale = (up as f64 / down as f64).min(1.0);
        let half_width = ZERO_CROSSINGS / scale; // in input samples
        let taps = ((2.0 * half_width.ceil()) as usize + 2).div_ceil(8) * 8;
        let half = taps / 2;
        let max_rows = (MAX_TABLE_VALUES / taps).clamp(64, MAX_PHASES + 1);
        let (phases, exact) = if (up as usize) < max_rows {
            (up as usize, true)
        } else {
            (max_rows - 1, false)
        };
        let cutoff = 0.5 * scale * ROLLOFF; // cycles per input sample
        let i0_beta = bessel_i0(KAISER_BETA);
        let mut rows = vec![0.0f32; (phases + 1) * taps];
        let mut row = vec![0.0f64; taps];
        for p in 0..=phases {
            let frac = p as f64 / phases as f64;
            let mut sum = 0.0;
            for (k, c) in row.iter_mut().enumerate() {
                let t = frac - (k as f64 - (half as f64 - 1.0));
                let x = t / half_width;
                *c = if x.abs() >= 1.0 {
                    0.0
                } else {
                    let window = bessel_i0(KAISER_BETA * (1.0 - x * x).sqrt()) / i0_beta;
                    2.0 * cutoff * sinc(2.0 * cutoff * t) * window
                };
                sum += *c;
            }
            // Unity gain at DC for every phase.
            let norm = if sum.abs() > 1e-12 { 1.0 / sum } else { 1.0 };
            for (dst, &c) in rows[p * taps..(p + 1) * taps].iter_mut().zip(&row) {
                *dst = (c * norm) as f32;
            }
        }
        Table {
            taps,
            phases,
            exact,
            rows,
        }
    }

    /// Filters `window` (exactly `taps` samples) at fractional position `rem / up`.
    fn apply(&self, window: &[f32], rem: u64, up: u64) -> f32 {
        if self.exact {
            let p = rem as usize;
            return dot(window, self.row(p));
        }
        let scaled = rem as u128 * self.phases as u128;
        let p = (scaled / u128::from(up)) as usize;
        let w = (scaled % u128::from(up)) as f64 / up as f64;
        let a = dot(window, self.row(p));
        if w == 0.0 {
            return a;
        }
        let b = dot(window, self.row(p + 1));
        a + (b - a) * w as f32
    }

    fn row(&self, p: usize) -> &[f32] {
        let p = p.min(self.phases);
        &self.rows[p * self.taps..(p + 1) * self.taps]
    }
}

/// Dot product written so the compiler vectorises it (eight independent accumulators).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= half / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < sum * 1e-17 {
            break;
        }
    }
    sum
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn zero_crossings(x: &[f32]) -> usize {
        x.windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    #[test]
    fn identity_when_rates_match() {
        let pcm = sine(24_000, 440.0, 0.5, 0.1);
        assert_eq!(resample(&pcm, 24_000), pcm);
    }

    #[test]
    fn upsampling_keeps_frequency_duration_and_level() {
        let pcm = sine(22_050, 440.0, 0.5, 2.0);
        let out = resample(&pcm, 24_000);
        assert_eq!(out.rate, 24_000);
        assert_eq!(out.samples.len(), 48_000);
        let zc_in = zero_crossings(&pcm.samples);
        let zc_out = zero_crossings(&out.samples);
        assert!(zc_in.abs_diff(zc_out) <= 2, "{zc_in} vs {zc_out}");
        assert!(zc_out.abs_diff(1760) <= 2, "{zc_out}");
        // Compare against an ideal sine at the new rate, away from the edges.
        let ideal = sine(24_000, 440.0, 0.5, 2.0);
        let err: Vec<f32> = out.samples[2000..46_000]
            .iter()
            .zip(&ideal.samples[2000..46_000])
            .map(|(a, b)| a - b)
            .collect();
        assert!(rms(&err) < 1e-3, "error rms {}", rms(&err));
    }

    #[test]
    fn arbitrary_ratios_work() {
        for (from, to) in [
            (44_100, 24_000),
            (24_000, 44_100),
            (8_000, 24_000),
            (48_000, 300),
        ] {
            let pcm = sine(from, 3.0, 0.5, 1.5);
            let out = resample(&pcm, to);
            let expected = (pcm.samples.len() as f64 * f64::from(to) / f64::from(from)).round();
            assert_eq!(out.samples.len() as f64, expected, "{from}->{to}");
            assert!(out.samples.iter().all(|x| x.is_finite() && x.abs() < 0.6));
        }
        let out = resample(&sine(44_100, 1000.0, 0.5, 1.0), 24_000);
        let level = rms(&out.samples[1000..23_000]);
        assert!((level - 0.5 / 2f64.sqrt()).abs() < 0.005, "{level}");
        assert!(resample(&Pcm::silence(0, 0), 24_000).samples.is_empty());
        assert!(resample(&sine(24_000, 1.0, 0.5, 0.1), 0).samples.is_empty());
    }

    #[test]
    fn downsampling_rejects_aliases() {
        // 15 kHz is above the 12 kHz Nyquist of 24 kHz: it must be filtered, not folded to 9 kHz.
        let pcm = sine(48_000, 15_000.0, 0.5, 1.0);
        let out = resample(&pcm, 24_000);
        assert_eq!(out.samples.len(), 24_000);
        let attenuation = 20.0 * (rms(&out.samples[500..23_500]) / rms(&pcm.samples)).log10();
        assert!(attenuation < -40.0, "only {attenuation:.1} dB");
        // A 5 kHz tone passes.
        let pass = resample(&sine(48_000, 5_000.0, 0.5, 1.0), 24_000);
        let gain = 20.0 * (rms(&pass.samples[500..23_500]) / (0.5 / 2f64.sqrt())).log10();
        assert!(gain.abs() < 0.1, "{gain:.2} dB");
    }

    #[test]
    fn interpolated_table_for_awkward_ratios() {
        // 24_000 -> 24_001 cannot use exact phases.
        let pcm = sine(24_000, 1000.0, 0.5, 1.0);
        let out = resample(&pcm, 24_001);
        assert_eq!(out.samples.len(), 24_001);
        let ideal = sine(24_001, 1000.0, 0.5, 1.0);
        let err: Vec<f32> = out.samples[1000..23_000]
            .iter()
            .zip(&ideal.samples[1000..23_000])
            .map(|(a, b)| a - b)
            .collect();
        assert!(rms(&err) < 1e-3, "error rms {}", rms(&err));
    }
}
