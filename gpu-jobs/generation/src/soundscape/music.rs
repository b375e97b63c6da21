//! Procedural music beds: a slow chord progression on soft detuned pads, a bass, and per mood a
//! plucked or bell-like voice, all rendered note by note so any length works without loops.

use super::dsp::{
    Drift, MAX_GENERATED_MS, OnePole, Phase, Reverb, Rng, Wavetable, apply_fades, midi_hz,
    samples_for, set_loudness,
};

/// What a music bed should feel like; the same spec always renders the same audio.
#[derive(Debug, Clone, PartialEq)]
pub struct MusicSpec {
    /// One of calm, joyful, tense, sad, eerie, whimsical, angry (case-insensitive); anything
    /// else is treated as calm.
    pub mood: String,
    /// Emotional valence, -1 (negative) .. 1 (positive): picks major or minor for calm music
    /// and shifts brightness.
    pub valence: f32,
    /// Energy, 0..1: tempo, note density and brightness.
    pub intensity: f32,
    /// Picks the key, the progression variant and every random detail.
    pub seed: u64,
}

/// Loudness a music bed is rendered at, LUFS (the mixer re-levels it anyway).
pub const MUSIC_BED_LUFS: f64 = -20.0;
/// Highest sample peak of a music bed, dBFS.
pub const MUSIC_BED_CEILING_DBFS: f64 = -3.0;

const FADE_IN_MS: u64 = 1_500;
const FADE_OUT_MS: u64 = 2_000;
/// Samples per block for slowly moving envelopes.
const BLOCK: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mood {
    Calm,
    Joyful,
    Tense,
    Sad,
    Eerie,
    Whimsical,
    Angry,
}

impl Mood {
    fn parse(name: &str) -> Mood {
        match name.trim().to_ascii_lowercase().as_str() {
            "joyful" => Mood::Joyful,
            "tense" => Mood::Tense,
            "sad" => Mood::Sad,
            "eerie" => Mood::Eerie,
            "whimsical" => Mood::Whimsical,
            "angry" => Mood::Angry,
            _ => Mood::Calm,
        }
    }
}

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];
const HARMONIC_MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 11];
const PHRYGIAN: [i32; 7] = [0, 1, 3, 5, 7, 8, 10];
const WHOLE_TONE: [i32; 6] = [0, 2, 4, 6, 8, 10];

/// The voice used for melodic notes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Voice {
    /// Soft, nearly harmonic bell / celesta.
    Bell,
    /// Inharmonic glassy bell (eerie).
    Glass,
    /// Short pizzicato-like pluck.
    Pluck,
}

/// How melodic notes are chosen from the chord.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pattern {
    /// Random walk over chord tones (with an optional downward tendency).
    Wander { down_bias: f32 },
    /// Up and down through the chord tones.
    UpDown,
    /// Jumpy figure that skips around the chord.
    Bounce,
    /// Random notes of the whole-tone scale.
    WholeTone,
}

#[derive(Debug, Clone)]
struct Arp {
    voice: Voice,
    pattern: Pattern,
    /// Notes per beat.
    per_beat: f32,
    /// Probability that a slot sounds.
    density: f32,
    /// Lowest MIDI note offset above the tonic.
    low: i32,
    level: f32,
    decay_s: f32,
}

#[derive(Debug, Clone, Copy)]
enum Bass {
    Sustained {
        level: f32,
    },
    /// Plucked bass on the given beats of each chord (beats counted from 0).
    Plucked {
        level: f32,
        every_beats: f32,
    },
}

#[derive(Debug, Clone)]
struct Ostinato {
    per_beat: f32,
    level: f32,
    decay_s: f32,
    /// Semitone offsets cycled over the pulse (0 = chord root).
    figure: &'static [i32],
}

#[derive(Debug, Clone)]
struct Style {
    tonic: i32,
    tempo: f32,
    beats_per_chord: f32,
    progressions: Vec<Vec<Vec<i32>>>,
    pad_level: f32,
    pad_attack: f32,
    pad_release: f32,
    pad_detune_cents: f32,
    pad_harmonics: &'static [f32],
    /// Pads voice only root, fifth and octave.
    power_chords: bool,
    bass: Option<Bass>,
    ostinato: Option<Ostinato>,
    arp: Option<Arp>,
    cutoff_hz: f32,
    reverb_mix: f32,
    reverb_size: f32,
}

/// Chord built by stacking thirds on `degree` of `scale`, with extra stacked steps (e.g. 8 for
/// an added ninth). Offsets are semitones above the tonic.
fn chord(scale: &[i32; 7], degree: usize, extra: &[usize]) -> Vec<i32> {
    let note = |step: usize| {
        let i = degree + step;
        scale[i % 7] + 12 * (i / 7) as i32
    };
    let mut notes: Vec<i32> = [0, 2, 4].iter().map(|&s| note(s)).collect();
    notes.extend(extra.iter().map(|&s| note(s)));
    notes
}

fn progression(scale: &[i32; 7], degrees: &[usize], extra: &[usize]) -> Vec<Vec<i32>> {
    degrees.iter().map(|&d| chord(scale, d, extra)).collect()
}

fn style_for(mood: Mood, valence: f32, intensity: f32, rng: &mut Rng) -> Style {
    // Tonic between G2 and F#3 so pads sit around middle C.
    let tonic = 43 + rng.below(12) as i32;
    let i = intensity;
    let brightness = 1.0 + 0.25 * valence;
    match mood {
        Mood::Calm if valence < -0.2 => Style {
            tonic,
            tempo: 60.0 + 14.0 * i,
            beats_per_chord: 8.0,
            progressions: vec![
                progression(&MINOR, &[0, 5, 2, 6], &[6]),
                progression(&MINOR, &[0, 3, 5, 4], &[6]),
            ],
            pad_level: 1.0,
            pad_attack: 2.0,
            pad_release: 2.5,
            pad_detune_cents: 6.0,
            pad_harmonics: &[1.0, 0.3, 0.1, 0.04],
            power_chords: false,
            bass: Some(Bass::Sustained { level: 0.9 }),
            ostinato: None,
            arp: Some(Arp {
                voice: Voice::Bell,
                pattern: Pattern::Wander { down_bias: 0.1 },
                per_beat: 1.0,
                density: 0.35 + 0.3 * i,
                low: 19,
                level: 0.55,
                decay_s: 1.2,
            }),
            cutoff_hz: 3200.0 * brightness,
            reverb_mix: 0.35,
            reverb_size: 0.8,
        },
        Mood::Calm => Style {
            tonic,
            tempo: 62.0 + 16.0 * i,
            beats_per_chord: 8.0,
            progressions: vec![
                progression(&MAJOR, &[0, 5, 3, 4], &[8]),
                progression(&MAJOR, &[0, 3, 5, 3], &[8]),
                progression(&MAJOR, &[3, 0, 4, 5], &[8]),
            ],
            pad_level: 1.0,
            pad_attack: 2.0,
            pad_release: 2.5,
            pad_detune_cents: 6.0,
            pad_harmonics: &[1.0, 0.3, 0.12, 0.05],
            power_chords: false,
            bass: Some(Bass::Sustained { level: 0.9 }),
            ostinato: None,
            arp: Some(Arp {
                voice: Voice::Bell,
                pattern: Pattern::Wander { down_bias: 0.0 },
                per_beat: 1.0,
                density: 0.4 + 0.3 * i,
                low: 19,
                level: 0.55,
                decay_s: 1.2,
            }),
            cutoff_hz: 3800.0 * brightness,
            reverb_mix: 0.32,
            reverb_size: 0.8,
        },
        Mood::Joyful => Style {
            tonic,
            tempo: 100.0 + 28.0 * i,
            beats_per_chord: 4.0,
            progressions: vec![
                progression(&MAJOR, &[0, 4, 5, 3], &[]),
                progression(&MAJOR, &[0, 3, 4, 3], &[]),
                progression(&MAJOR, &[0, 5, 3, 4], &[]),
            ],
            pad_level: 0.75,
            pad_attack: 0.5,
            pad_release: 1.0,
            pad_detune_cents: 7.0,
            pad_harmonics: &[1.0, 0.45, 0.25, 0.12, 0.06],
            power_chords: false,
            bass: Some(Bass::Plucked {
                level: 1.0,
                every_beats: 2.0,
            }),
            ostinato: None,
            arp: Some(Arp {
                voice: Voice::Bell,
                pattern: Pattern::UpDown,
                per_beat: 2.0,
                density: 0.8 + 0.2 * i,
                low: 12,
                level: 0.6,
                decay_s: 0.6,
            }),
            cutoff_hz: 6500.0 * brightness,
            reverb_mix: 0.2,
            reverb_size: 0.6,
        },
        Mood::Tense => Style {
            tonic,
            tempo: 84.0 + 40.0 * i,
            beats_per_chord: 4.0,
            progressions: vec![
                progression(&HARMONIC_MINOR, &[0, 0, 5, 4], &[]),
                progression(&HARMONIC_MINOR, &[0, 5, 0, 4], &[]),
            ],
            pad_level: 0.8,
            pad_attack: 1.2,
            pad_release: 1.5,
            pad_detune_cents: 9.0,
            pad_harmonics: &[1.0, 0.2, 0.15, 0.05],
            power_chords: false,
            bass: None,
            ostinato: Some(Ostinato {
                per_beat: 2.0,
                level: 1.5 + 0.6 * i,
                decay_s: 0.2,
                figure: &[0, 0, 0, 0, 0, 0, 1, 0],
            }),
            arp: None,
            cutoff_hz: 2800.0 * brightness,
            reverb_mix: 0.25,
            reverb_size: 0.7,
        },
        Mood::Sad => Style {
            tonic,
            tempo: 54.0 + 12.0 * i,
            beats_per_chord: 8.0,
            progressions: vec![
                progression(&MINOR, &[0, 5, 3, 4], &[6]),
                progression(&MINOR, &[0, 3, 6, 2], &[6]),
            ],
            pad_level: 1.0,
            pad_attack: 2.5,
            pad_release: 3.0,
            pad_detune_cents: 5.0,
            pad_harmonics: &[1.0, 0.25, 0.1],
            power_chords: false,
            bass: Some(Bass::Sustained { level: 0.9 }),
            ostinato: None,
            arp: Some(Arp {
                voice: Voice::Bell,
                pattern: Pattern::Wander { down_bias: 0.35 },
                per_beat: 1.0,
                density: 0.25 + 0.2 * i,
                low: 17,
                level: 0.5,
                decay_s: 1.6,
            }),
            cutoff_hz: 2600.0 * brightness,
            reverb_mix: 0.4,
            reverb_size: 0.9,
        },
        Mood::Eerie => Style {
            tonic,
            tempo: 50.0 + 20.0 * i,
            beats_per_chord: 8.0,
            progressions: vec![
                vec![
                    vec![0, 3, 6, 10],
                    vec![1, 5, 9],
                    vec![0, 3, 6, 9],
                    vec![-2, 2, 6],
                ],
                vec![
                    vec![0, 3, 6, 9],
                    vec![-1, 3, 7],
                    vec![0, 4, 8, 10],
                    vec![1, 4, 7, 10],
                ],
            ],
            pad_level: 1.0,
            pad_attack: 3.0,
            pad_release: 3.0,
            pad_detune_cents: 18.0,
            pad_harmonics: &[1.0, 0.0, 0.22, 0.0, 0.08],
            power_chords: false,
            bass: Some(Bass::Sustained { level: 0.6 }),
            ostinato: None,
            arp: Some(Arp {
                voice: Voice::Glass,
                pattern: Pattern::WholeTone,
                per_beat: 1.0,
                density: 0.18 + 0.2 * i,
                low: 24,
                level: 0.45,
                decay_s: 2.2,
            }),
            cutoff_hz: 3600.0 * brightness,
            reverb_mix: 0.5,
            reverb_size: 0.92,
        },
        Mood::Whimsical => Style {
            tonic,
            tempo: 108.0 + 20.0 * i,
            beats_per_chord: 4.0,
            progressions: vec![
                progression(&MAJOR, &[0, 5, 1, 4], &[]),
                progression(&MAJOR, &[0, 3, 1, 4], &[]),
            ],
            pad_level: 0.45,
            pad_attack: 0.4,
            pad_release: 0.8,
            pad_detune_cents: 5.0,
            pad_harmonics: &[1.0, 0.3, 0.1],
            power_chords: false,
            bass: Some(Bass::Plucked {
                level: 1.1,
                every_beats: 2.0,
            }),
            ostinato: None,
            arp: Some(Arp {
                voice: Voice::Pluck,
                pattern: Pattern::Bounce,
                per_beat: 2.0,
                density: 0.75 + 0.2 * i,
                low: 12,
                level: 0.85,
                decay_s: 0.16,
            }),
            cutoff_hz: 5500.0 * brightness,
            reverb_mix: 0.18,
            reverb_size: 0.5,
        },
        Mood::Angry => Style {
            tonic: tonic - 2,
            tempo: 116.0 + 34.0 * i,
            beats_per_chord: 4.0,
            progressions: vec![
                progression(&PHRYGIAN, &[0, 1, 0, 6], &[]),
                progression(&PHRYGIAN, &[0, 0, 1, 5], &[]),
            ],
            pad_level: 0.7,
            pad_attack: 0.3,
            pad_release: 0.6,
            pad_detune_cents: 12.0,
            pad_harmonics: &[1.0, 0.5, 0.33, 0.25, 0.2, 0.16],
            power_chords: true,
            bass: Some(Bass::Sustained { level: 0.8 }),
            ostinato: Some(Ostinato {
                per_beat: 2.0,
                level: 1.8 + 0.6 * i,
                decay_s: 0.14,
                figure: &[0, 0, 12, 0, 0, 1, 0, 12],
            }),
            arp: None,
            cutoff_hz: 2400.0 + 1200.0 * i,
            reverb_mix: 0.15,
            reverb_size: 0.5,
        },
    }
}

/// Renders a music bed of `duration_ms` at `rate`, deterministic for a spec: a chord
/// progression on soft pads with bass and a mood-dependent plucked or bell voice, low-passed,
/// with a little reverb, at about [`MUSIC_BED_LUFS`] with peaks at most
/// [`MUSIC_BED_CEILING_DBFS`], faded in over 1.5 s and out over 2 s.
///
/// The mood picks the harmony and the voices: calm = slow major (minor when valence is
/// negative) pads with a sparse bell; joyful = brighter, faster major with an up-and-down
/// arpeggio; tense = harmonic minor over a low repeated pulse; sad = slow minor pad with a
/// sparse falling bell; eerie = diminished and whole-tone chords, strongly detuned, with a glassy
/// inharmonic bell; whimsical = bouncy pizzicato arpeggio in major; angry = phrygian power
/// chords over a fast low pulse. Intensity raises tempo, density and brightness. Durations
/// beyond two hours are capped at two hours.
pub fn music_bed(spec: &MusicSpec, duration_ms: u64, rate: u32) -> Vec<f32> {
    let n = samples_for(rate, duration_ms.min(MAX_GENERATED_MS));
    if n == 0 || rate == 0 {
        return Vec::new();
    }
    let mood = Mood::parse(&spec.mood);
    let valence = if spec.valence.is_finite() {
        spec.valence.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let intensity = if spec.intensity.is_finite() {
        spec.intensity.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mut rng = Rng::new(spec.seed, 0x006d_7573_6963);
    let style = style_for(mood, valence, intensity, &mut rng);

    let fs = rate as f32;
    let mut buf = vec![0.0f32; n];
    let mut composer = Composer::new(&style, fs, Rng::new(spec.seed, 1));
    composer.render(&mut buf);

    // Tone: gentle two-pole low-pass, DC/rumble removal, then the room.
    let mut lp1 = OnePole::low_pass(style.cutoff_hz, fs);
    let mut lp2 = OnePole::low_pass(style.cutoff_hz * 1.4, fs);
    let mut hp = OnePole::low_pass(35.0, fs);
    let mut reverb = Reverb::new(fs, style.reverb_size, 0.45);
    for x in &mut buf {
        let dry = hp.high_pass(lp2.process(lp1.process(*x)));
        *x = dry + style.reverb_mix * reverb.process(dry);
    }

    set_loudness(&mut buf, rate, MUSIC_BED_LUFS, MUSIC_BED_CEILING_DBFS);
    apply_fades(
        &mut buf,
        samples_for(rate, FADE_IN_MS),
        samples_for(rate, FADE_OUT_MS),
    );
    buf
}

/// Turns a [`Style`] into notes and renders them.
struct Composer<'a> {
    style: &'a Style,
    fs: f32,
    rng: Rng,
    sine: Wavetable,
    pad_table: Wavetable,
    bass_table: Wavetable,
}

impl<'a> Composer<'a> {
    fn new(style: &'a Style, fs: f32, rng: Rng) -> Composer<'a> {
        Composer {
            style,
            fs,
            rng,
            sine: Wavetable::sine(),
            pad_table: Wavetable::new(style.pad_harmonics),
            bass_table: Wavetable::new(&[1.0, 0.3, 0.08]),
        }
    }

    fn render(&mut self, buf: &mut [f32]) {
        let style = self.style;
        let beat_s = 60.0 / style.tempo;
        let chord_s = beat_s * style.beats_per_chord;
        let total_s = buf.len() as f32 / self.fs;
        let mut progression_index = self.rng.below(style.progressions.len());
        let mut chord_in_cycle = 0usize;
        let mut cycles = 0usize;
        let mut melody_index: i32 = 2;
        let mut density_drift = Drift::new(Rng::new(self.rng.next_u64(), 2), 6.0, 1.0);
        let mut t = 0.0f32;
        let mut chord_number = 0usize;
        while t < total_s {
            let progression = &style.progressions[progression_index];
            let chord = progression[chord_in_cycle % progression.len()].clone();
            let root = chord.first().copied().unwrap_or(0);

            self.pad_chord(buf, t, chord_s, &chord);
            if let Some(bass) = style.bass {
                self.bass_line(buf, t, chord_s, beat_s, root, bass);
            }
            if let Some(ostinato) = &style.ostinato {
                self.ostinato(buf, t, chord_s, beat_s, root, ostinato);
            }
            if let Some(arp) = &style.arp {
                // The density breathes slowly so long beds keep changing.
                let breathe = 0.75 + 0.5 * density_drift.next();
                self.arpeggio(
                    buf,
                    t,
                    chord_s,
                    beat_s,
                    &chord,
                    arp,
                    breathe,
                    &mut melody_index,
                    chord_number,
                );
            }

            t += chord_s;
            chord_number += 1;
            chord_in_cycle += 1;
            if chord_in_cycle == progression.len() {
                chord_in_cycle = 0;
                cycles += 1;
                // Every few cycles, maybe move to another variant of the progression.
                if cycles.is_multiple_of(3) && self.rng.chance(0.6) {
                    progression_index = self.rng.below(style.progressions.len());
                }
            }
        }
    }

    fn pad_chord(&mut self, buf: &mut [f32], t: f32, chord_s: f32, chord: &[i32]) {
        let style = self.style;
        let tonic = style.tonic;
        let mut notes: Vec<i32> = if style.power_chords {
            let root = chord.first().copied().unwrap_or(0);
            vec![root, root + 7, root + 12]
                .into_iter()
                .map(|o| place_near(tonic + o, 52))
                .collect()
        } else {
            chord.iter().map(|&o| place_near(tonic + o, 60)).collect()
        };
        notes.sort_unstable();
        notes.dedup();
        let level = 0.09 * style.pad_level / (notes.len() as f32).sqrt();
        for note in notes {
            self.pad_note(buf, t, chord_s, midi_hz(note as f32), level);
        }
        // A softer low octave of the root under the voicing for body.
        if let Some(&root) = chord.first() {
            let low = place_near(tonic + root, 48);
            self.pad_note(buf, t, chord_s, midi_hz(low as f32), 0.5 * level);
        }
    }

    /// A pad note: two detuned oscillators with a slow attack and release; the release starts
    /// at the end of the chord so consecutive chords crossfade.
    fn pad_note(&mut self, buf: &mut [f32], t: f32, hold_s: f32, freq: f32, level: f32) {
        let style = self.style;
        let fs = self.fs;
        let start = (t * fs) as usize;
        if start >= buf.len() {
            return;
        }
        let hold = (hold_s * fs) as usize;
        let attack = (style.pad_attack * fs).max(1.0);
        let release = (style.pad_release * fs).max(1.0);
        let end = (start + hold + release as usize).min(buf.len());
        let detune = 2f32.powf(style.pad_detune_cents / 1200.0 / 2.0);
        let mut a = Phase::new(freq * detune, fs, self.rng.unit());
        let mut b = Phase::new(freq / detune, fs, self.rng.unit());
        // A very slow tremolo, different per note, keeps the pad alive.
        let mut lfo = Phase::new(self.rng.range(0.07, 0.2), fs, self.rng.unit());
        let table = &self.pad_table;
        let sine = &self.sine;
        let hold = hold as f32;
        // The envelope and tremolo move slowly: compute them per block, interpolate inside.
        let gain_at = |i: f32, trem: f32| {
            let env_a = smoothstep(i / attack);
            let env_r = if i > hold {
                1.0 - smoothstep((i - hold) / release)
            } else {
                1.0
            };
            0.5 * level * env_a * env_r * (1.0 + 0.12 * trem)
        };
        let mut g0 = gain_at(0.0, sine.at(lfo.tick()));
        for (block, outs) in buf[start..end].chunks_mut(BLOCK).enumerate() {
            for _ in 1..BLOCK {
                lfo.tick();
            }
            let next = ((block + 1) * BLOCK) as f32;
            let g1 = gain_at(next, sine.at(lfo.tick()));
            let dg = (g1 - g0) / BLOCK as f32;
            let mut g = g0;
            for out in outs {
                *out += g * (table.at(a.tick()) + table.at(b.tick()));
                g += dg;
            }
            g0 = g1;
        }
    }

    fn bass_line(
        &mut self,
        buf: &mut [f32],
        t: f32,
        chord_s: f32,
        beat_s: f32,
        root: i32,
        bass: Bass,
    ) {
        let note = place_in(self.style.tonic + root, 36, 47);
        let freq = midi_hz(note as f32);
        match bass {
            Bass::Sustained { level } => {
                let fs = self.fs;
                let start = (t * fs) as usize;
                if start >= buf.len() {
                    return;
                }
                let hold = chord_s * fs;
                let attack = 0.25 * fs;
                let release = 1.0 * fs;
                let end = (start + (hold + release) as usize).min(buf.len());
                let mut phase = Phase::new(freq, fs, 0.0);
                let table = &self.bass_table;
                for (i, out) in buf[start..end].iter_mut().enumerate() {
                    let i = i as f32;
                    let env = smoothstep(i / attack)
                        * if i > hold {
                            1.0 - smoothstep((i - hold) / release)
                        } else {
                            1.0
                        };
                    *out += 0.045 * level * env * table.at(phase.tick());
                }
            }
            Bass::Plucked { level, every_beats } => {
                let mut beat = 0.0;
                let mut k = 0;
                while beat < self.style.beats_per_chord {
                    // Root on the downbeat, fifth in between.
                    let f = if k % 2 == 0 {
                        freq
                    } else {
                        freq * 2f32.powf(7.0 / 12.0)
                    };
                    let velocity = if k == 0 { 1.0 } else { 0.8 };
                    self.pluck(
                        buf,
                        t + beat * beat_s,
                        f,
                        0.12 * level * velocity,
                        0.45,
                        Voice::Pluck,
                    );
                    beat += every_beats;
                    k += 1;
                }
            }
        }
    }

    fn ostinato(
        &mut self,
        buf: &mut [f32],
        t: f32,
        chord_s: f32,
        beat_s: f32,
        root: i32,
        ostinato: &Ostinato,
    ) {
        let base = place_in(self.style.tonic + root, 33, 44);
        let step_s = beat_s / ostinato.per_beat;
        let steps = (chord_s / step_s).round() as usize;
        for k in 0..steps {
            let offset = ostinato.figure[k % ostinato.figure.len()];
            let accent = if (k as f32 % ostinato.per_beat) < 0.5 {
                1.0
            } else {
                0.7
            };
            let velocity = accent * self.rng.range(0.9, 1.05);
            self.pluck(
                buf,
                t + k as f32 * step_s,
                midi_hz((base + offset) as f32),
                0.1 * ostinato.level * velocity,
                ostinato.decay_s,
                Voice::Pluck,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn arpeggio(
        &mut self,
        buf: &mut [f32],
        t: f32,
        chord_s: f32,
        beat_s: f32,
        chord: &[i32],
        arp: &Arp,
        breathe: f32,
        melody_index: &mut i32,
        chord_number: usize,
    ) {
        let tonic = self.style.tonic;
        let low = tonic + 12 + arp.low;
        // Chord tones across about an octave and a half above `low`.
        let mut tones: Vec<i32> = Vec::new();
        for octave in 0..3 {
            for &o in chord {
                let pc = (tonic + o).rem_euclid(12);
                let note = low + (pc - low).rem_euclid(12) + 12 * octave;
                if note < low + 19 {
                    tones.push(note);
                }
            }
        }
        tones.sort_unstable();
        tones.dedup();
        if tones.is_empty() {
            return;
        }
        let slot_s = beat_s / arp.per_beat;
        let slots = (chord_s / slot_s).round() as usize;
        let len = tones.len() as i32;
        for k in 0..slots {
            if !self.rng.chance((arp.density * breathe).min(1.0)) {
                continue;
            }
            let note = match arp.pattern {
                Pattern::Wander { down_bias } => {
                    let step = if self.rng.chance(down_bias) {
                        -1
                    } else {
                        self.rng.below(5) as i32 - 2
                    };
                    *melody_index = (*melody_index + step).clamp(0, len - 1);
                    tones[*melody_index as usize]
                }
                Pattern::UpDown => {
                    let period = (2 * len - 2).max(1);
                    let pos = ((chord_number * slots + k) as i32) % period;
                    let idx = if pos < len { pos } else { period - pos };
                    tones[idx.clamp(0, len - 1) as usize]
                }
                Pattern::Bounce => {
                    const FIGURE: [i32; 8] = [0, 2, 1, 3, 2, 4, 1, 3];
                    let idx = FIGURE[k % FIGURE.len()] + (chord_number % 2) as i32;
                    tones[(idx % len) as usize]
                }
                Pattern::WholeTone => {
                    let step = WHOLE_TONE[self.rng.below(WHOLE_TONE.len())];
                    low + step + 12 * self.rng.below(2) as i32
                }
            };
            // Slight human timing and velocity.
            let jitter = self.rng.range(-0.008, 0.008);
            let start = (t + k as f32 * slot_s + jitter).max(0.0);
            let accent = if k % (arp.per_beat as usize).max(1) == 0 {
                1.0
            } else {
                0.8
            };
            let velocity = accent * self.rng.range(0.75, 1.0);
            self.pluck(
                buf,
                start,
                midi_hz(note as f32),
                0.1 * arp.level * velocity,
                arp.decay_s,
                arp.voice,
            );
        }
    }

    /// A struck note: a few partials with exponential decay and a short attack ramp.
    fn pluck(
        &mut self,
        buf: &mut [f32],
        t: f32,
        freq: f32,
        level: f32,
        decay_s: f32,
        voice: Voice,
    ) {
        let fs = self.fs;
        let start = (t * fs) as usize;
        if start >= buf.len() {
            return;
        }
        // (frequency ratio, amplitude, decay multiplier)
        let partials: &[(f32, f32, f32)] = match voice {
            Voice::Bell => &[
                (1.0, 1.0, 1.0),
                (2.0, 0.28, 0.45),
                (3.0, 0.08, 0.3),
                (4.01, 0.04, 0.2),
            ],
            Voice::Glass => &[
                (1.0, 1.0, 1.0),
                (2.76, 0.3, 0.5),
                (5.4, 0.1, 0.25),
                (8.93, 0.03, 0.15),
            ],
            Voice::Pluck => &[
                (1.0, 1.0, 1.0),
                (2.0, 0.5, 0.6),
                (3.0, 0.25, 0.4),
                (4.0, 0.12, 0.3),
            ],
        };
        let attack = ((0.004 * fs) as usize).max(1);
        let nyquist = 0.45 * fs;
        if voice == Voice::Glass {
            for &(ratio, amp, decay_mult) in partials {
                let f = freq * ratio;
                if f >= nyquist {
                    continue;
                }
                let tau = decay_s * decay_mult * fs;
                // Until the partial has decayed by about 50 dB: inaudible under the rest.
                let end = (start + (tau * 5.8) as usize + 1).min(buf.len());
                // A slight 5 Hz vibrato makes the glass voice waver.
                self.wavering_partial(&mut buf[start..end], f, level * amp, tau, attack);
            }
            return;
        }
        let mut lanes = [Lane::default(); LANES];
        let mut longest = 0.0f32;
        for (lane, &(ratio, amp, decay_mult)) in lanes.iter_mut().zip(partials) {
            let f = freq * ratio;
            if f < nyquist {
                let tau = decay_s * decay_mult * fs;
                *lane = Lane::new(f / fs, level * amp, tau);
                longest = longest.max(tau);
            }
        }
        let end = (start + (longest * 5.8) as usize + 1).min(buf.len());
        damped_sines(&mut buf[start..end], &lanes, attack);
    }

    fn wavering_partial(&self, out: &mut [f32], f: f32, amp: f32, tau: f32, attack: usize) {
        let fs = self.fs;
        let mut phase = Phase::new(f, fs, 0.0);
        let mut vib = Phase::new(5.0, fs, 0.0);
        let base = phase.inc() as f32;
        let decay = (-1.0 / tau).exp();
        let mut env = amp;
        for (i, o) in out.iter_mut().enumerate() {
            let ramp = if i < attack {
                i as f32 / attack as f32
            } else {
                1.0
            };
            phase.set_inc((base * (1.0 + 0.004 * self.sine.at(vib.tick()))) as u32);
            *o += env * ramp * self.sine.at(phase.tick());
            env *= decay;
        }
    }
}

/// Partials rendered together by [`damped_sines`].
const LANES: usize = 4;

/// One damped sinusoid `amp * exp(-n / tau) * sin(2 pi cycles n)` as a two-term recurrence.
#[derive(Debug, Clone, Copy, Default)]
struct Lane {
    c: f64,
    r2: f64,
    y1: f64,
    y2: f64,
}

impl Lane {
    fn new(cycles: f32, amp: f32, tau: f32) -> Lane {
        let omega = std::f64::consts::TAU * f64::from(cycles);
        let r = (-1.0 / f64::from(tau.max(1.0))).exp();
        // y[0] = 0 and y[-1] = -amp sin(omega) / r start the recurrence on the sine.
        Lane {
            c: 2.0 * r * omega.cos(),
            r2: r * r,
            y1: 0.0,
            y2: -f64::from(amp) * omega.sin() / r,
        }
    }
}

/// Adds the lanes' damped sinusoids to `out`, with a linear attack ramp over `attack`
/// samples. The lanes advance side by side so their recurrences overlap in the CPU.
fn damped_sines(out: &mut [f32], lanes: &[Lane; LANES], attack: usize) {
    let mut c = [0.0f64; LANES];
    let mut r2 = [0.0f64; LANES];
    let mut y1 = [0.0f64; LANES];
    let mut y2 = [0.0f64; LANES];
    for (k, lane) in lanes.iter().enumerate() {
        c[k] = lane.c;
        r2[k] = lane.r2;
        y1[k] = lane.y1;
        y2[k] = lane.y2;
    }
    let inv_attack = 1.0 / attack.max(1) as f64;
    for (i, o) in out.iter_mut().enumerate() {
        let mut sum = 0.0;
        for k in 0..LANES {
            sum += y1[k];
            let y = c[k] * y1[k] - r2[k] * y2[k];
            y2[k] = y1[k];
            y1[k] = y;
        }
        let ramp = if i < attack {
            i as f64 * inv_attack
        } else {
            1.0
        };
        *o += (sum * ramp) as f32;
    }
}

/// Smooth 0..1 ramp (clamped cubic).
fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// The octave of `note` closest to `center`.
fn place_near(note: i32, center: i32) -> i32 {
    let pc = note.rem_euclid(12);
    let base = center - 6;
    base + (pc - base).rem_euclid(12)
}

/// The octave of `note` within `lo..=hi` (an octave-wide window).
fn place_in(note: i32, lo: i32, hi: i32) -> i32 {
    let n = lo + (note - lo).rem_euclid(12);
    n.min(hi)
}
