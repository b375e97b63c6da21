//! Tests of the generators and the mix, on numbers that tell sounds apart.

use super::*;
use crate::audio::{Pcm, SAMPLE_RATE, integrated_loudness, peak_dbfs};

const RATE: u32 = SAMPLE_RATE;

fn spec(mood: &str, seed: u64) -> MusicSpec {
    MusicSpec {
        mood: mood.to_string(),
        valence: if matches!(mood, "joyful" | "whimsical") {
            0.7
        } else {
            -0.5
        },
        intensity: 0.5,
        seed,
    }
}

fn pcm(samples: Vec<f32>) -> Pcm {
    Pcm {
        rate: RATE,
        samples,
    }
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

fn db(x: f64) -> f64 {
    20.0 * x.max(1e-12).log10()
}

/// Share of the energy in the first difference: a rough "brightness" (high frequencies have
/// large sample-to-sample changes).
fn brightness(x: &[f32]) -> f64 {
    let diff: f64 = x.windows(2).map(|w| f64::from(w[1] - w[0]).powi(2)).sum();
    let energy: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
    diff / energy.max(1e-30)
}

/// Zero crossings per second.
fn zcr(x: &[f32]) -> f64 {
    x.windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count() as f64
        / (x.len() as f64 / f64::from(RATE))
}

/// Standard deviation of the 50 ms RMS level in dB: how much the level moves (rhythm, gusts).
fn movement(x: &[f32]) -> f64 {
    let levels: Vec<f64> = x.chunks(RATE as usize / 20).map(|c| db(rms(c))).collect();
    let mean = levels.iter().sum::<f64>() / levels.len() as f64;
    (levels.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / levels.len() as f64).sqrt()
}

/// A fingerprint to tell sounds apart: brightness, zero-crossing rate and level movement.
fn features(x: &[f32]) -> [f64; 3] {
    [brightness(x), zcr(x), movement(x)]
}

/// True when at least one feature differs by more than `ratio` (relative to the larger).
fn distinct(a: &[f64; 3], b: &[f64; 3], ratio: f64) -> bool {
    a.iter()
        .zip(b)
        .any(|(x, y)| (x - y).abs() > ratio * x.abs().max(y.abs()))
}

/// The part of a bed away from its fades.
fn body(x: &[f32]) -> &[f32] {
    let skip = 2 * RATE as usize + RATE as usize / 2;
    &x[skip..x.len() - skip]
}

#[test]
fn music_bed_is_deterministic_exact_and_seeded() {
    let a = music_bed(&spec("calm", 5), 6_000, RATE);
    let b = music_bed(&spec("calm", 5), 6_000, RATE);
    let c = music_bed(&spec("calm", 6), 6_000, RATE);
    assert_eq!(a.len(), 144_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(music_bed(&spec("calm", 5), 1_234, 22_050).len(), 27_210);
    assert!(music_bed(&spec("calm", 5), 0, RATE).is_empty());
    assert!(music_bed(&spec("calm", 5), 1_000, 0).is_empty());
    // Unknown moods are calm.
    assert_eq!(
        music_bed(&spec("melancholic-ish", 5), 6_000, RATE),
        music_bed(&spec("calm", 5), 6_000, RATE)
    );
    // Fades: silent at both ends, full in the middle.
    assert!(a[0].abs() < 1e-3 && a[a.len() - 1].abs() < 1e-3);
    assert!(rms(&a[..2_400]) < 0.3 * rms(&a[60_000..84_000]));
}

#[test]
fn every_mood_is_musical_level_safe_and_different() {
    let moods = [
        "calm",
        "joyful",
        "tense",
        "sad",
        "eerie",
        "whimsical",
        "angry",
    ];
    let beds: Vec<Vec<f32>> = moods
        .iter()
        .map(|m| music_bed(&spec(m, 11), 12_000, RATE))
        .collect();
    let prints: Vec<[f64; 3]> = beds.iter().map(|b| features(body(b))).collect();
    for (mood, bed) in moods.iter().zip(&beds) {
        assert_eq!(bed.len(), 288_000);
        let pcm = pcm(bed.clone());
        let peak = peak_dbfs(&pcm);
        assert!(peak < -1.0, "{mood}: peak {peak:.2} dBFS");
        let lufs = integrated_loudness(&pcm).expect("not silent");
        assert!((-26.0..=-16.0).contains(&lufs), "{mood}: {lufs:.1} LUFS");
        // Never silent for long in the body: every 500 ms has sound.
        for chunk in body(bed).chunks(RATE as usize / 2) {
            assert!(db(rms(chunk)) > -50.0, "{mood} has a hole");
        }
    }
    for i in 0..moods.len() {
        for j in i + 1..moods.len() {
            assert!(
                distinct(&prints[i], &prints[j], 0.08),
                "{} and {} look alike: {:?} vs {:?}",
                moods[i],
                moods[j],
                prints[i],
                prints[j]
            );
        }
    }
    // Rhythmic moods move more than pads; bright ones are brighter than dark ones.
    let by = |m: &str| prints[moods.iter().position(|x| *x == m).unwrap_or(0)];
    assert!(by("whimsical")[2] > by("calm")[2]);
    assert!(by("joyful")[0] > by("sad")[0]);
    assert!(by("tense")[2] > by("sad")[2]);
}

#[test]
fn long_beds_keep_going_without_seams() {
    // Three minutes: no dropouts, no jumps, the progression keeps cycling.
    let spec = MusicSpec {
        mood: "joyful".into(),
        valence: 0.5,
        intensity: 0.8,
        seed: 99,
    };
    let bed = music_bed(&spec, 180_000, RATE);
    assert_eq!(bed.len(), 180 * RATE as usize);
    let peak = bed.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let max_step = bed
        .windows(2)
        .fold(0.0f32, |m, w| m.max((w[1] - w[0]).abs()));
    assert!(max_step < 0.5 * peak, "a jump of {max_step} (peak {peak})");
    for chunk in body(&bed).chunks(RATE as usize) {
        assert!(db(rms(chunk)) > -45.0);
    }
    let first = rms(&bed[20 * RATE as usize..80 * RATE as usize]);
    let last = rms(&bed[110 * RATE as usize..170 * RATE as usize]);
    assert!((db(first) - db(last)).abs() < 3.0);
}

#[test]
fn ambiences_are_present_distinct_and_deterministic() {
    let none = ambience(Ambience::None, 1, 2_000, RATE);
    assert_eq!(none.len(), 48_000);
    assert!(none.iter().all(|&x| x == 0.0));

    let kinds: Vec<Ambience> = Ambience::ALL.into_iter().skip(1).collect();
    let sounds: Vec<Vec<f32>> = kinds.iter().map(|&k| ambience(k, 7, 8_000, RATE)).collect();
    let prints: Vec<[f64; 3]> = sounds.iter().map(|s| features(body(s))).collect();
    for (kind, sound) in kinds.iter().zip(&sounds) {
        assert_eq!(sound.len(), 192_000, "{kind:?}");
        let level = db(rms(body(sound)));
        assert!(level > -60.0, "{kind:?} is silent: {level:.1} dB");
        let peak = peak_dbfs(&pcm(sound.clone()));
        assert!(peak <= AMBIENCE_CEILING_DBFS + 0.01, "{kind:?}: {peak}");
        assert_eq!(&ambience(*kind, 7, 8_000, RATE), sound, "{kind:?}");
        assert_ne!(&ambience(*kind, 8, 8_000, RATE), sound, "{kind:?}");
        assert_eq!(Ambience::from_name(kind.name()), *kind);
    }
    for i in 0..kinds.len() {
        for j in i + 1..kinds.len() {
            assert!(
                distinct(&prints[i], &prints[j], 0.1),
                "{:?} and {:?} look alike: {:?} vs {:?}",
                kinds[i],
                kinds[j],
                prints[i],
                prints[j]
            );
        }
    }
    let rain = brightness(body(&sounds[0]));
    let sea = brightness(body(&sounds[3]));
    assert!(rain > 5.0 * sea, "rain {rain} vs sea {sea}");
    assert_eq!(Ambience::from_name("  Ocean "), Ambience::Sea);
    assert_eq!(Ambience::from_name("spaceship"), Ambience::None);
    assert_eq!(Ambience::None.name(), "none");
}

#[test]
fn sea_swells_and_wind_gusts() {
    // Over half a minute the sea's level rises and falls with the waves (slow movement), and so
    // does the wind; the room tone stays steady.
    let slow_movement = |x: &[f32]| {
        let levels: Vec<f64> = body(x).chunks(RATE as usize).map(|c| db(rms(c))).collect();
        let max = levels.iter().copied().fold(f64::MIN, f64::max);
        let min = levels.iter().copied().fold(f64::MAX, f64::min);
        max - min
    };
    let sea = slow_movement(&ambience(Ambience::Sea, 2, 30_000, RATE));
    let wind = slow_movement(&ambience(Ambience::Wind, 2, 30_000, RATE));
    let room = slow_movement(&ambience(Ambience::Room, 2, 30_000, RATE));
    assert!(sea > 4.0, "sea {sea:.1} dB");
    assert!(wind > 4.0, "wind {wind:.1} dB");
    assert!(room < 3.0, "room {room:.1} dB");
}

/// Speech-like voice: noise bursts shaped into syllables, for `on` seconds, then silence.
fn speech(seconds_on: f64, seconds_off: f64, repeats: usize) -> Vec<f32> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::new();
    for _ in 0..repeats {
        let on = (seconds_on * f64::from(RATE)) as usize;
        for i in 0..on {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            let t = i as f32 / RATE as f32;
            let syllable = 0.3 + 0.7 * (std::f32::consts::PI * 4.0 * t).sin().abs();
            out.push(0.3 * noise * syllable);
        }
        out.resize(out.len() + (seconds_off * f64::from(RATE)) as usize, 0.0);
    }
    out
}

#[test]
fn ducking_drops_the_bed_under_speech_and_restores_it() {
    let voice = speech(2.0, 3.0, 2); // speech 0-2 s, pause 2-5 s, speech 5-7 s, pause 7-10 s
    let mut bed: Vec<f32> = (0..voice.len())
        .map(|i| 0.1 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / RATE as f32).sin())
        .collect();
    let ducking = Ducking::default();
    duck(&mut bed, &voice, RATE, &ducking);
    let s = |t: f64| (t * f64::from(RATE)) as usize;
    let under_speech = db(rms(&bed[s(5.1)..s(6.9)]));
    let in_pause = db(rms(&bed[s(3.2)..s(4.9)]));
    let drop = in_pause - under_speech;
    assert!(
        drop >= f64::from(ducking.depth_db) - 3.0,
        "only {drop:.1} dB of ducking"
    );
    assert!(drop <= f64::from(ducking.depth_db) + 0.5, "{drop:.1} dB");
    // Look-ahead: already well down when the second phrase starts at 5 s.
    let at_onset = db(rms(&bed[s(4.99)..s(5.01)]));
    assert!(in_pause - at_onset > 6.0, "{:.1} dB", in_pause - at_onset);
    // Back up (almost) fully in the pause.
    let undisturbed = db(0.1 / 2f64.sqrt());
    assert!((undisturbed - in_pause).abs() < 1.0);
    // A voice below the threshold does not duck at all.
    let whisper: Vec<f32> = voice.iter().map(|x| x * 0.001).collect();
    let mut bed2 = vec![0.1f32; voice.len()];
    duck(&mut bed2, &whisper, RATE, &ducking);
    assert!(bed2.iter().all(|&x| (x - 0.1).abs() < 1e-6));
}

#[test]
fn mix_scene_keeps_length_rate_and_never_clips() {
    // A hot voice (peaks at full scale) and loud beds.
    let mut voice = speech(1.5, 1.0, 3);
    for x in voice.iter_mut().step_by(997) {
        *x = 1.0;
    }
    let voice = pcm(voice);
    let music = music_bed(&spec("joyful", 3), 10_000, RATE);
    let rain = ambience(Ambience::Rain, 3, 3_000, RATE); // shorter than the voice: padded
    let levels = MixLevels {
        music_lufs: -10.0,
        ambience_lufs: -12.0,
    };
    let mix = mix_scene(&voice, &music, &rain, &levels, &Ducking::default());
    assert_eq!(mix.rate, RATE);
    assert_eq!(mix.samples.len(), voice.samples.len());
    let ceiling = 10f32.powf(MIX_CEILING_DBFS as f32 / 20.0);
    assert!(mix.samples.iter().all(|x| x.abs() <= ceiling + 1e-6));
    assert!(mix.samples.iter().all(|x| x.is_finite()));

    // With ordinary levels the beds sit well under the voice.
    let quiet = mix_scene(
        &voice,
        &music,
        &rain,
        &MixLevels::default(),
        &Ducking::default(),
    );
    let bed_only: Vec<f32> = quiet
        .samples
        .iter()
        .zip(&voice.samples)
        .map(|(m, v)| m - v)
        .collect();
    assert!(db(rms(&bed_only)) < db(rms(&voice.samples)) - 15.0);

    // Empty beds and an empty voice work.
    let alone = mix_scene(&voice, &[], &[], &levels, &Ducking::default());
    assert_eq!(alone.samples.len(), voice.samples.len());
    let nothing = mix_scene(
        &pcm(Vec::new()),
        &music,
        &rain,
        &levels,
        &Ducking::default(),
    );
    assert!(nothing.samples.is_empty());
}

#[test]
fn mix_levels_follow_the_targets() {
    // Without a voice, the beds come out at their target loudness (nothing ducks them).
    let silence = Pcm::silence(RATE, 12_000);
    let music = music_bed(&spec("calm", 4), 12_000, RATE);
    let mix = mix_scene(
        &silence,
        &music,
        &[],
        &MixLevels {
            music_lufs: -30.0,
            ambience_lufs: -36.0,
        },
        &Ducking::default(),
    );
    let lufs = integrated_loudness(&mix).expect("music");
    assert!((lufs + 30.0).abs() < 0.3, "{lufs}");
}

/// Energy of `x` at `freq` (Goertzel).
fn goertzel(x: &[f32], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (x.len() as f64).powi(2)
}

#[test]
fn music_is_in_tune_and_in_key() {
    for (mood, seed) in [("calm", 1), ("joyful", 2), ("sad", 3), ("whimsical", 4)] {
        let bed = music_bed(&spec(mood, seed), 12_000, RATE);
        let window = &bed[4 * RATE as usize..8 * RATE as usize];
        let mut on_pitch = 0.0;
        let mut between = 0.0;
        let mut pitch_classes = [0.0f64; 12];
        for note in 40..92 {
            let f = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
            let e = goertzel(window, f);
            on_pitch += e;
            pitch_classes[note as usize % 12] += e;
            between += goertzel(window, f * 2f64.powf(0.5 / 12.0));
        }
        assert!(
            on_pitch > 10.0 * between,
            "{mood}: not tonal ({on_pitch:e} vs {between:e})"
        );
        // Nearly all the energy sits in one diatonic (major-scale) set of pitch classes.
        let total: f64 = pitch_classes.iter().sum();
        let best = (0..12)
            .map(|root| {
                [0, 2, 4, 5, 7, 9, 11]
                    .iter()
                    .map(|i| pitch_classes[(root + i) % 12])
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        assert!(
            best > 0.9 * total,
            "{mood}: only {:.2} in key",
            best / total
        );
    }
}
