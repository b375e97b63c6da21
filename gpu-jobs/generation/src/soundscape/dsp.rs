//! Small building blocks for the procedural generators: a deterministic random generator,
//! filters, oscillators and envelopes. Everything is sample-rate aware and allocation-light.

use std::f32::consts::PI;

/// SplitMix64: tiny, fast, deterministic and good enough for audio noise.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded from `seed` and a `stream` tag, so independent parts of one sound
    /// draw from independent sequences.
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng {
            state: seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        };
        // Decorrelate nearby seeds.
        rng.next_u64();
        rng.state ^= stream.rotate_left(29);
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [-1, 1).
    pub(crate) fn bipolar(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// Uniform integer in 0..n (0 when n is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            ((self.next_u64() >> 32) as usize * n) >> 32
        }
    }
}

/// One-pole low-pass filter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OnePole {
    a: f32,
    y: f32,
}

impl OnePole {
    pub(crate) fn low_pass(cutoff_hz: f32, rate: f32) -> OnePole {
        let mut f = OnePole { a: 0.0, y: 0.0 };
        f.set_cutoff(cutoff_hz, rate);
        f
    }

    pub(crate) fn set_cutoff(&mut self, cutoff_hz: f32, rate: f32) {
        let c = cutoff_hz.clamp(1.0, rate * 0.49);
        self.a = 1.0 - (-2.0 * PI * c / rate).exp();
    }

    #[inline]
    pub(crate) fn process(&mut self, x: f32) -> f32 {
        self.y += self.a * (x - self.y);
        self.y
    }

    /// High-pass output: the input minus its low-passed version.
    #[inline]
    pub(crate) fn high_pass(&mut self, x: f32) -> f32 {
        x - self.process(x)
    }
}

/// Biquad (RBJ cookbook designs), transposed direct form II.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Biquad {
    b0: f32,
    b1: f32,
    b2: f32,
    a1: f32,
    a2: f32,
    z1: f32,
    z2: f32,
}

/// Which response a [`Biquad`] has.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    Low,
    High,
    /// Band-pass with 0 dB peak gain.
    Band,
}

impl Biquad {
    pub(crate) fn new(shape: Shape, freq: f32, q: f32, rate: f32) -> Biquad {
        let mut f = Biquad {
            b0: 0.0,
            b1: 0.0,
            b2: 0.0,
            a1: 0.0,
            a2: 0.0,
            z1: 0.0,
            z2: 0.0,
        };
        f.design(shape, freq, q, rate);
        f
    }

    pub(crate) fn design(&mut self, shape: Shape, freq: f32, q: f32, rate: f32) {
        let w0 = 2.0 * PI * freq.clamp(5.0, rate * 0.48) / rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q.max(0.05));
        let (b0, b1, b2) = match shape {
            Shape::Low => ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0),
            Shape::High => ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0),
            Shape::Band => (alpha, 0.0, -alpha),
        };
        let a0 = 1.0 + alpha;
        self.b0 = b0 / a0;
        self.b1 = b1 / a0;
        self.b2 = b2 / a0;
        self.a1 = -2.0 * cos / a0;
        self.a2 = (1.0 - alpha) / a0;
    }

    #[inline]
    pub(crate) fn process(&mut self, x: f32) -> f32 {
        let y = self.b0 * x + self.z1;
        self.z1 = self.b1 * x - self.a1 * y + self.z2;
        self.z2 = self.b2 * x - self.a2 * y;
        y
    }
}

/// State-variable filter (trapezoidal integration), stable under fast cutoff modulation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Svf {
    k: f32,
    a1: f32,
    a2: f32,
    a3: f32,
    ic1: f32,
    ic2: f32,
}

/// The simultaneous outputs of an [`Svf`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SvfOut {
    pub(crate) low: f32,
    pub(crate) band: f32,
}

impl Svf {
    pub(crate) fn new(freq: f32, q: f32, rate: f32) -> Svf {
        let mut f = Svf {
            k: 1.0,
            a1: 0.0,
            a2: 0.0,
            a3: 0.0,
            ic1: 0.0,
            ic2: 0.0,
        };
        f.tune(freq, q, rate);
        f
    }

    pub(crate) fn tune(&mut self, freq: f32, q: f32, rate: f32) {
        let g = (PI * freq.clamp(5.0, rate * 0.45) / rate).tan();
        self.k = 1.0 / q.max(0.05);
        self.a1 = 1.0 / (1.0 + g * (g + self.k));
        self.a2 = g * self.a1;
        self.a3 = g * self.a2;
    }

    #[inline]
    pub(crate) fn process(&mut self, x: f32) -> SvfOut {
        let v3 = x - self.ic2;
        let v1 = self.a1 * self.ic1 + self.a2 * v3;
        let v2 = self.ic2 + self.a2 * self.ic1 + self.a3 * v3;
        self.ic1 = 2.0 * v1 - self.ic1;
        self.ic2 = 2.0 * v2 - self.ic2;
        SvfOut { low: v2, band: v1 }
    }
}

/// Smooth random control signal in [0, 1]: new random targets every `period` seconds (with
/// some jitter), joined by cosine interpolation. Never repeats, so it never loops audibly.
#[derive(Debug, Clone)]
pub(crate) struct Drift {
    rng: Rng,
    from: f32,
    to: f32,
    pos: f32,
    step: f32,
    period_samples: f32,
}

impl Drift {
    pub(crate) fn new(rng: Rng, period_s: f32, rate: f32) -> Drift {
        let mut d = Drift {
            rng,
            from: 0.0,
            to: 0.0,
            pos: 0.0,
            step: 0.0,
            period_samples: (period_s * rate).max(1.0),
        };
        d.from = d.rng.unit();
        d.to = d.rng.unit();
        d.next_segment();
        d
    }

    fn next_segment(&mut self) {
        let len = self.period_samples * self.rng.range(0.6, 1.4);
        self.step = 1.0 / len.max(1.0);
    }

    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        let t = 0.5 - 0.5 * (PI * self.pos).cos();
        let v = self.from + (self.to - self.from) * t;
        self.pos += self.step;
        if self.pos >= 1.0 {
            self.pos -= 1.0;
            self.from = self.to;
            self.to = self.rng.unit();
            self.next_segment();
        }
        v
    }
}

/// log2 of the wavetable size.
const TABLE_BITS: u32 = 11;
/// Size of the wavetables (a power of two); the tables hold one guard point more.
const TABLE_SIZE: usize = 1 << TABLE_BITS;
/// Bits of a [`Phase`] below the table index.
const FRAC_BITS: u32 = 32 - TABLE_BITS;

/// A single-cycle waveform built from harmonics, read with linear interpolation.
#[derive(Debug, Clone)]
pub(crate) struct Wavetable {
    table: Box<[f32; TABLE_SIZE + 1]>,
}

impl Wavetable {
    /// `harmonics[k]` is the amplitude of harmonic k + 1 (sine phase); the result is scaled so
    /// its peak is 1.
    pub(crate) fn new(harmonics: &[f32]) -> Wavetable {
        let mut table = Box::new([0.0f32; TABLE_SIZE + 1]);
        for (i, x) in table.iter_mut().enumerate() {
            let phase = i as f64 / TABLE_SIZE as f64 * std::f64::consts::TAU;
            *x = harmonics
                .iter()
                .enumerate()
                .map(|(k, &a)| f64::from(a) * (phase * (k + 1) as f64).sin())
                .sum::<f64>() as f32;
        }
        let peak = table.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if peak > 0.0 {
            for x in table.iter_mut() {
                *x /= peak;
            }
        }
        Wavetable { table }
    }

    pub(crate) fn sine() -> Wavetable {
        Wavetable::new(&[1.0])
    }

    /// The waveform at a fixed-point `phase` (a full turn is 2^32).
    #[inline]
    pub(crate) fn at(&self, phase: u32) -> f32 {
        let i = (phase >> FRAC_BITS) as usize;
        let frac = (phase & ((1 << FRAC_BITS) - 1)) as f32 * (1.0 / (1u32 << FRAC_BITS) as f32);
        let a = self.table[i];
        let b = self.table[i + 1];
        a + (b - a) * frac
    }
}

/// Fixed-point phase accumulator: a full turn is 2^32, so it wraps by itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    phase: u32,
    inc: u32,
}

/// 2^32 as a float, for phase conversions.
const TURN: f64 = 4_294_967_296.0;

impl Phase {
    /// A phase running at `freq` Hz, starting at `start` turns.
    pub(crate) fn new(freq: f32, rate: f32, start: f32) -> Phase {
        let mut p = Phase {
            phase: (f64::from(start).rem_euclid(1.0) * TURN) as u32,
            inc: 0,
        };
        p.set_freq(freq, rate);
        p
    }

    /// Sets the frequency (clamped to 0..rate/2).
    #[inline]
    pub(crate) fn set_freq(&mut self, freq: f32, rate: f32) {
        let ratio = (freq / rate).clamp(0.0, 0.5);
        self.inc = (ratio * TURN as f32) as u32;
    }

    /// The per-sample increment (for [`Phase::set_inc`]).
    pub(crate) fn inc(&self) -> u32 {
        self.inc
    }

    /// Sets the per-sample increment directly: cheap enough for audio-rate vibrato.
    #[inline]
    pub(crate) fn set_inc(&mut self, inc: u32) {
        self.inc = inc;
    }

    /// Returns the current phase and advances.
    #[inline]
    pub(crate) fn tick(&mut self) -> u32 {
        let p = self.phase;
        self.phase = self.phase.wrapping_add(self.inc);
        p
    }

    /// Returns the current phase in turns, [0, 1), and advances.
    #[inline]
    pub(crate) fn tick_unit(&mut self) -> f32 {
        (f64::from(self.tick()) / TURN) as f32
    }
}

/// Mono Schroeder/Moorer-style reverb: eight damped feedback combs in parallel, then four
/// allpasses in series.
#[derive(Debug, Clone)]
pub(crate) struct Reverb {
    combs: Vec<Comb>,
    allpasses: Vec<Allpass>,
}

#[derive(Debug, Clone)]
struct Comb {
    buf: Vec<f32>,
    pos: usize,
    feedback: f32,
    damp: f32,
    store: f32,
}

#[derive(Debug, Clone)]
struct Allpass {
    buf: Vec<f32>,
    pos: usize,
}

/// Comb delays in ms: spread out and mutually non-harmonic so the tail is dense, not metallic.
const COMB_MS: [f32; 8] = [25.31, 26.94, 28.96, 30.75, 32.24, 33.81, 35.31, 36.67];
/// Allpass delays in ms.
const ALLPASS_MS: [f32; 4] = [12.61, 10.0, 7.73, 5.1];

impl Reverb {
    /// `size` scales the comb feedback (0..1, larger is longer), `damping` (0..1) darkens it.
    pub(crate) fn new(rate: f32, size: f32, damping: f32) -> Reverb {
        let len = |ms: f32| ((ms * rate / 1000.0) as usize).max(1);
        let feedback = 0.7 + 0.28 * size.clamp(0.0, 1.0);
        let combs = COMB_MS
            .iter()
            .map(|&ms| Comb {
                buf: vec![0.0; len(ms)],
                pos: 0,
                feedback,
                damp: damping.clamp(0.0, 0.95),
                store: 0.0,
            })
            .collect();
        let allpasses = ALLPASS_MS
            .iter()
            .map(|&ms| Allpass {
                buf: vec![0.0; len(ms)],
                pos: 0,
            })
            .collect();
        Reverb { combs, allpasses }
    }

    /// Wet output for input `x`.
    #[inline]
    pub(crate) fn process(&mut self, x: f32) -> f32 {
        let mut sum = 0.0;
        for c in &mut self.combs {
            let Some(slot) = c.buf.get_mut(c.pos) else {
                continue;
            };
            let out = *slot;
            c.store = out * (1.0 - c.damp) + c.store * c.damp;
            *slot = x + c.store * c.feedback;
            c.pos += 1;
            if c.pos == c.buf.len() {
                c.pos = 0;
            }
            sum += out;
        }
        let mut y = sum * 0.125;
        for a in &mut self.allpasses {
            let Some(slot) = a.buf.get_mut(a.pos) else {
                continue;
            };
            let delayed = *slot;
            let v = y + 0.5 * delayed;
            *slot = v;
            a.pos += 1;
            if a.pos == a.buf.len() {
                a.pos = 0;
            }
            y = delayed - 0.5 * v;
        }
        y
    }
}

/// Raised-cosine fade-in over `fade_in` samples and fade-out over `fade_out` samples, shrunk
/// proportionally when the buffer is shorter than both together.
pub(crate) fn apply_fades(buf: &mut [f32], fade_in: usize, fade_out: usize) {
    let n = buf.len();
    let total = fade_in + fade_out;
    let (fade_in, fade_out) = if total > n && total > 0 {
        (fade_in * n / total, fade_out * n / total)
    } else {
        (fade_in, fade_out)
    };
    for (i, x) in buf.iter_mut().take(fade_in).enumerate() {
        let t = (i as f32 + 0.5) / fade_in as f32;
        *x *= 0.5 - 0.5 * (PI * t).cos();
    }
    for (i, x) in buf.iter_mut().rev().take(fade_out).enumerate() {
        let t = (i as f32 + 0.5) / fade_out as f32;
        *x *= 0.5 - 0.5 * (PI * t).cos();
    }
}

/// Brings `buf` to `target_lufs` (peak at most `ceiling_dbfs`), measured at `rate`.
pub(crate) fn set_loudness(buf: &mut Vec<f32>, rate: u32, target_lufs: f64, ceiling_dbfs: f64) {
    let mut pcm = crate::audio::Pcm {
        rate,
        samples: std::mem::take(buf),
    };
    crate::audio::normalize_loudness(&mut pcm, target_lufs, ceiling_dbfs);
    *buf = pcm.samples;
}

/// The longest sound a generator renders, in ms (two hours, as for decoded audio).
pub(crate) const MAX_GENERATED_MS: u64 = crate::audio::MAX_DURATION_S * 1000;

/// Number of samples in `ms` milliseconds at `rate`.
pub(crate) fn samples_for(rate: u32, ms: u64) -> usize {
    let n = (u128::from(rate) * u128::from(ms) + 500) / 1000;
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A smooth arch over `p` in 0..1 (0 at both ends, 1 in the middle): a cheap stand-in for
/// `sin(pi p)`.
#[inline]
pub(crate) fn hump(p: f32) -> f32 {
    let p = p.clamp(0.0, 1.0);
    4.0 * p * (1.0 - p)
}

/// Equal-tempered frequency of a MIDI note number.
pub(crate) fn midi_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng::new(7, 1);
        let mut b = Rng::new(7, 1);
        let mut c = Rng::new(7, 2);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        let mut r = Rng::new(1, 0);
        let mean: f32 = (0..10_000).map(|_| r.unit()).sum::<f32>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[test]
    fn filters_pass_and_stop_where_expected() {
        let rate = 24_000.0;
        let level = |mut f: Box<dyn FnMut(f32) -> f32>, freq: f32| {
            let mut peak = 0.0f32;
            for i in 0..24_000 {
                let y = f((2.0 * PI * freq * i as f32 / rate).sin());
                if i > 12_000 {
                    peak = peak.max(y.abs());
                }
            }
            peak
        };
        let mut lp = Biquad::new(Shape::Low, 1000.0, 0.707, rate);
        assert!(level(Box::new(move |x| lp.process(x)), 100.0) > 0.95);
        let mut lp = Biquad::new(Shape::Low, 1000.0, 0.707, rate);
        assert!(level(Box::new(move |x| lp.process(x)), 8000.0) < 0.03);
        let mut bp = Biquad::new(Shape::Band, 2000.0, 2.0, rate);
        assert!(level(Box::new(move |x| bp.process(x)), 2000.0) > 0.95);
        let mut svf = Svf::new(500.0, 0.707, rate);
        assert!(level(Box::new(move |x| svf.process(x).low), 5000.0) < 0.02);
        let mut one = OnePole::low_pass(200.0, rate);
        assert!(level(Box::new(move |x| one.high_pass(x)), 5000.0) > 0.95);
    }

    #[test]
    fn wavetable_and_drift_stay_in_range() {
        let t = Wavetable::new(&[1.0, 0.5, 0.25]);
        let mut p = Phase::new(7.0, 1000.0, 0.0);
        for _ in 0..1000 {
            assert!(t.at(p.tick()).abs() <= 1.0 + 1e-6);
        }
        assert!((Wavetable::sine().at(1 << 30) - 1.0).abs() < 1e-4);
        let mut q = Phase::new(6000.0, 24_000.0, 0.0);
        assert_eq!(q.tick_unit(), 0.0);
        assert_eq!(q.tick_unit(), 0.25);
        let mut d = Drift::new(Rng::new(3, 3), 0.01, 24_000.0);
        assert!(
            (0..100_000)
                .map(|_| d.next())
                .all(|v| (0.0..=1.0).contains(&v))
        );
    }

    #[test]
    fn fades_shrink_for_short_buffers() {
        let mut buf = vec![1.0f32; 100];
        apply_fades(&mut buf, 150, 200);
        assert!(buf[0] < 0.01 && buf[99] < 0.01);
        assert!(buf.iter().all(|x| (0.0..=1.0).contains(x)));
        let mut buf = vec![1.0f32; 1000];
        apply_fades(&mut buf, 100, 200);
        assert_eq!(buf[500], 1.0);
    }
}
