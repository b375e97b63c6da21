//! Sidechain ducking of beds under the voice, and the scene mix.

use crate::audio::{Pcm, normalize_loudness};

/// How the beds duck under the voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ducking {
    /// How far the bed drops while the voice speaks, in dB (positive, e.g. 12).
    pub depth_db: f32,
    /// Time for the gain to travel (about 95 % of the way) down when speech starts, in ms.
    pub attack_ms: f32,
    /// Time for the gain to travel (about 95 % of the way) back up in a pause, in ms.
    pub release_ms: f32,
    /// Voice level (RMS over ~20 ms, dBFS) above which ducking engages, e.g. -40.
    pub threshold_dbfs: f32,
}

impl Default for Ducking {
    /// 12 dB deep, 80 ms attack, 600 ms release, engaging above -40 dBFS.
    fn default() -> Ducking {
        Ducking {
            depth_db: 12.0,
            attack_ms: 80.0,
            release_ms: 600.0,
            threshold_dbfs: -40.0,
        }
    }
}

/// How far ahead of the voice the ducking envelope looks, in ms.
pub const DUCK_LOOKAHEAD_MS: f32 = 50.0;
/// How long the bed stays down after the voice falls below the threshold, in ms, so that the
/// short gaps between words do not make it pump.
pub const DUCK_HOLD_MS: f32 = 150.0;

/// Sidechain ducking: `bed` gain follows an envelope of `voice` so the bed drops by depth_db
/// while the voice speaks and comes back in the pauses. Envelope must look ahead slightly
/// (~50 ms) so the bed is already down when a word starts.
///
/// The voice is measured as RMS over 20 ms windows every 5 ms; speech is "on" above
/// `threshold_dbfs`, held for [`DUCK_HOLD_MS`], and seen [`DUCK_LOOKAHEAD_MS`] early. The gain
/// moves in dB with one-pole smoothing (attack when falling, release when rising). Where the
/// voice is shorter than the bed, the rest of the bed counts as a pause.
pub fn duck(bed: &mut [f32], voice: &[f32], rate: u32, ducking: &Ducking) {
    if rate == 0 || bed.is_empty() {
        return;
    }
    let depth = finite_or(ducking.depth_db, 12.0).clamp(0.0, 96.0);
    if depth == 0.0 {
        return;
    }
    let fs = rate as f32;
    let hop = ((fs * 0.005) as usize).max(1);
    let speaking = speech_activity(voice, hop, finite_or(ducking.threshold_dbfs, -40.0), fs);

    let coefficient = |ms: f32| {
        let tau = (finite_or(ms, 100.0).max(1.0) / 1000.0) / 3.0;
        1.0 - (-1.0 / (tau * fs)).exp()
    };
    let attack = coefficient(ducking.attack_ms);
    let release = coefficient(ducking.release_ms);
    let lookahead = (DUCK_LOOKAHEAD_MS / 1000.0 * fs) as usize;

    let mut gain_db = 0.0f32;
    for (i, x) in bed.iter_mut().enumerate() {
        let h = (i + lookahead) / hop;
        let target = if speaking.get(h).copied().unwrap_or(false) {
            -depth
        } else {
            0.0
        };
        let k = if target < gain_db { attack } else { release };
        gain_db += (target - gain_db) * k;
        *x *= (gain_db * (std::f32::consts::LN_10 / 20.0)).exp();
    }
}

/// Per hop: is the voice above `threshold_dbfs` (RMS over four hops centred on it), with hold.
fn speech_activity(voice: &[f32], hop: usize, threshold_dbfs: f32, fs: f32) -> Vec<bool> {
    let energies: Vec<f64> = voice
        .chunks(hop)
        .map(|c| {
            c.iter()
                .map(|&x| {
                    let x = if x.is_finite() { f64::from(x) } else { 0.0 };
                    x * x
                })
                .sum()
        })
        .collect();
    let threshold = 10f64.powf(f64::from(threshold_dbfs) / 10.0);
    let hold_hops = ((DUCK_HOLD_MS / 1000.0 * fs) as usize / hop).max(1);
    let mut out = vec![false; energies.len()];
    let mut held = 0usize;
    for (h, speaking) in out.iter_mut().enumerate() {
        let lo = h.saturating_sub(2);
        let hi = (h + 2).min(energies.len());
        let window = &energies[lo..hi];
        let mean_square = window.iter().sum::<f64>() / (window.len() * hop) as f64;
        if mean_square >= threshold {
            held = hold_hops;
        }
        if held > 0 {
            *speaking = true;
            held -= 1;
        }
    }
    out
}

/// Target loudness of the beds in a scene mix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixLevels {
    /// Integrated loudness the music bed is brought to before ducking, LUFS (e.g. -30).
    pub music_lufs: f64,
    /// Integrated loudness the ambience is brought to before ducking, LUFS (e.g. -36).
    pub ambience_lufs: f64,
}

impl Default for MixLevels {
    /// Music at -30 LUFS, ambience at -36 LUFS (under a voice at about -18 LUFS).
    fn default() -> MixLevels {
        MixLevels {
            music_lufs: -30.0,
            ambience_lufs: -36.0,
        }
    }
}

/// Highest sample peak of a scene mix, dBFS.
pub const MIX_CEILING_DBFS: f64 = -1.0;

/// Mixes a scene: music and ambience are each brought to their loudness (use
/// audio::integrated_loudness), ducked under `voice`, summed with the voice, then a final peak
/// safety (soft limiter or gain) so nothing clips. Output has exactly voice's length and rate.
///
/// `music` and `ambience` must be at the voice's rate; each is cut to the voice's length or
/// padded with silence when shorter (pass an empty slice for none). The voice itself is not
/// re-leveled. The final stage is a look-ahead peak limiter holding peaks at
/// [`MIX_CEILING_DBFS`], so it only acts on the rare samples that would go over.
pub fn mix_scene(
    voice: &Pcm,
    music: &[f32],
    ambience: &[f32],
    levels: &MixLevels,
    ducking: &Ducking,
) -> Pcm {
    let n = voice.samples.len();
    let rate = voice.rate;
    let mut out: Vec<f32> = voice
        .samples
        .iter()
        .map(|&x| if x.is_finite() { x } else { 0.0 })
        .collect();
    for (bed, lufs) in [(music, levels.music_lufs), (ambience, levels.ambience_lufs)] {
        if bed.is_empty() || n == 0 {
            continue;
        }
        let mut pcm = Pcm {
            rate,
            samples: bed
                .iter()
                .take(n)
                .map(|&x| if x.is_finite() { x } else { 0.0 })
                .collect(),
        };
        pcm.samples.resize(n, 0.0);
        if lufs.is_finite() {
            normalize_loudness(&mut pcm, lufs, MIX_CEILING_DBFS);
        }
        duck(&mut pcm.samples, &voice.samples, rate, ducking);
        for (o, b) in out.iter_mut().zip(&pcm.samples) {
            *o += b;
        }
    }
    crate::audio::limit_peaks(&mut out, rate, MIX_CEILING_DBFS);
    Pcm { rate, samples: out }
}

fn finite_or(x: f32, default: f32) -> f32 {
    if x.is_finite() { x } else { default }
}
