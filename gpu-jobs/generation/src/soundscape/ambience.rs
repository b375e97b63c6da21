//! Procedural ambiences from filtered noise and simple synthesised events. Every generator runs
//! sample by sample from a seed, so any length works and nothing loops.

use std::f32::consts::PI;

use super::dsp::{
    Biquad, Drift, MAX_GENERATED_MS, OnePole, Phase, Reverb, Rng, Shape, Svf, Wavetable,
    apply_fades, hump, samples_for, set_loudness,
};

/// A background ambience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ambience {
    /// No ambience (silence).
    None,
    /// Steady rain: bright hiss with drop clicks.
    Rain,
    /// Gusting wind.
    Wind,
    /// A murmuring crowd in a room.
    Crowd,
    /// Waves on a shore.
    Sea,
    /// Leaves in a breeze with birdsong.
    Forest,
    /// Room tone: quiet air and a faint mains hum.
    Room,
    /// A quiet night: soft wind and crickets.
    Night,
    /// A flowing river or stream.
    River,
    /// A crackling fire.
    Fire,
}

impl Ambience {
    /// Every ambience, `None` first.
    pub const ALL: [Ambience; 10] = [
        Ambience::None,
        Ambience::Rain,
        Ambience::Wind,
        Ambience::Crowd,
        Ambience::Sea,
        Ambience::Forest,
        Ambience::Room,
        Ambience::Night,
        Ambience::River,
        Ambience::Fire,
    ];

    /// The ambience called `name` (case-insensitive, a few synonyms such as "storm", "ocean",
    /// "tavern" or "fireplace" accepted); anything unknown is [`Ambience::None`].
    pub fn from_name(name: &str) -> Ambience {
        match name.trim().to_ascii_lowercase().as_str() {
            "rain" | "rainy" | "storm" | "drizzle" => Ambience::Rain,
            "wind" | "windy" | "breeze" | "gale" => Ambience::Wind,
            "crowd" | "people" | "market" | "tavern" | "inn" | "party" | "hall" => Ambience::Crowd,
            "sea" | "ocean" | "waves" | "shore" | "beach" => Ambience::Sea,
            "forest" | "woods" | "birds" | "garden" | "park" => Ambience::Forest,
            "room" | "indoor" | "indoors" | "interior" | "room tone" => Ambience::Room,
            "night" | "crickets" | "evening" => Ambience::Night,
            "river" | "stream" | "brook" | "creek" | "water" => Ambience::River,
            "fire" | "fireplace" | "campfire" | "hearth" => Ambience::Fire,
            _ => Ambience::None,
        }
    }

    /// The canonical lower-case name ("none", "rain", ...), accepted by [`Ambience::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Ambience::None => "none",
            Ambience::Rain => "rain",
            Ambience::Wind => "wind",
            Ambience::Crowd => "crowd",
            Ambience::Sea => "sea",
            Ambience::Forest => "forest",
            Ambience::Room => "room",
            Ambience::Night => "night",
            Ambience::River => "river",
            Ambience::Fire => "fire",
        }
    }

    /// How much quieter than a "full" ambience this kind should sit in a mix, in dB (0 or
    /// negative): room tone and a quiet night are meant to be barely there. Add it to
    /// `MixLevels::ambience_lufs` when leveling a scene.
    pub fn relative_level_db(self) -> f64 {
        match self {
            Ambience::Room => -10.0,
            Ambience::Night => -4.0,
            Ambience::Forest => -2.0,
            _ => 0.0,
        }
    }

    /// Loudness the generator renders this kind at, LUFS.
    fn render_lufs(self) -> f64 {
        -30.0 + self.relative_level_db()
    }
}

/// Highest sample peak of a rendered ambience, dBFS.
pub const AMBIENCE_CEILING_DBFS: f64 = -6.0;

/// Ambience from filtered noise (simple one-pole / biquad filters): rain = bright filtered noise
/// with random drop clicks; wind = low-passed noise with slow gusting amplitude and moving
/// cutoff; crowd = band-passed babble (several amplitude-modulated band-passed noise voices,
/// formant-ish); sea = low-passed noise with ~8-12 s wave swell envelopes; forest = soft wind
/// and occasional chirps (short sine sweeps); room = very quiet low hum/air tone; night = quiet
/// wind and crickets (pulsed ~4.5 kHz tones); river = steady mid-band noise with gentle
/// modulation; fire = crackle (sparse clicks) on low rumble. Deterministic per seed, seamless
/// for any length.
///
/// The result is leveled to about -30 LUFS plus [`Ambience::relative_level_db`] (peaks at most
/// [`AMBIENCE_CEILING_DBFS`]) with 0.5 s fades at both ends; `None` gives silence. Durations
/// beyond two hours are capped at two hours.
pub fn ambience(kind: Ambience, seed: u64, duration_ms: u64, rate: u32) -> Vec<f32> {
    let n = samples_for(rate, duration_ms.min(MAX_GENERATED_MS));
    if n == 0 || rate == 0 {
        return Vec::new();
    }
    if kind == Ambience::None {
        return vec![0.0; n];
    }
    let fs = rate as f32;
    let rng = Rng::new(seed, 0x616d_6269 + kind as u64);
    let mut buf = vec![0.0f32; n];
    match kind {
        Ambience::None => {}
        Ambience::Rain => fill(&mut buf, Rain::new(rng, fs)),
        Ambience::Wind => fill(&mut buf, Wind::new(rng, fs, WindKind::Open)),
        Ambience::Crowd => fill(&mut buf, Crowd::new(rng, fs)),
        Ambience::Sea => fill(&mut buf, Sea::new(rng, fs)),
        Ambience::Forest => fill(&mut buf, Forest::new(rng, fs)),
        Ambience::Room => fill(&mut buf, Room::new(rng, fs)),
        Ambience::Night => fill(&mut buf, Night::new(rng, fs)),
        Ambience::River => fill(&mut buf, River::new(rng, fs)),
        Ambience::Fire => fill(&mut buf, Fire::new(rng, fs)),
    }
    // Remove DC and sub-sonic drift left by the low-passed noise.
    let mut dc = OnePole::low_pass(15.0, fs);
    for x in &mut buf {
        *x = dc.high_pass(*x);
    }
    set_loudness(&mut buf, rate, kind.render_lufs(), AMBIENCE_CEILING_DBFS);
    let fade = samples_for(rate, 500);
    apply_fades(&mut buf, fade, fade);
    buf
}

/// A sample-by-sample sound source.
trait Source {
    fn next(&mut self) -> f32;
}

fn fill(buf: &mut [f32], mut source: impl Source) {
    for x in buf.iter_mut() {
        *x = source.next();
    }
}

/// How many samples between updates of slowly moving filter parameters.
const CONTROL_PERIOD: u32 = 32;

// ---------------------------------------------------------------------------------------------
// Wind (also the soft background of forest and night)

#[derive(Debug, Clone, Copy, PartialEq)]
enum WindKind {
    /// Full gusting wind.
    Open,
    /// A soft breeze in the trees.
    Breeze,
    /// A barely moving night air.
    Still,
}

struct Wind {
    rng: Rng,
    fs: f32,
    gust: Drift,
    flutter: Drift,
    sweep: Drift,
    body: Svf,
    whistle: Svf,
    whistle_drift: Drift,
    counter: u32,
    amp: f32,
    base_cutoff: f32,
    cutoff_range: f32,
    whistle_level: f32,
    floor: f32,
}

impl Wind {
    fn new(mut rng: Rng, fs: f32, kind: WindKind) -> Wind {
        let (gust_s, base_cutoff, cutoff_range, whistle_level, floor) = match kind {
            WindKind::Open => (5.0, 180.0, 900.0, 0.35, 0.15),
            WindKind::Breeze => (4.0, 300.0, 500.0, 0.0, 0.3),
            WindKind::Still => (7.0, 150.0, 250.0, 0.0, 0.4),
        };
        Wind {
            gust: Drift::new(Rng::new(rng.next_u64(), 1), gust_s, fs),
            flutter: Drift::new(Rng::new(rng.next_u64(), 2), 0.6, fs),
            sweep: Drift::new(Rng::new(rng.next_u64(), 3), 3.0, fs),
            whistle_drift: Drift::new(Rng::new(rng.next_u64(), 4), 2.5, fs),
            body: Svf::new(base_cutoff, 0.8, fs),
            whistle: Svf::new(700.0, 7.0, fs),
            rng,
            fs,
            counter: 0,
            amp: 0.0,
            base_cutoff,
            cutoff_range,
            whistle_level,
            floor,
        }
    }
}

impl Source for Wind {
    fn next(&mut self) -> f32 {
        if self.counter == 0 {
            let g = self.gust.next();
            let f = self.flutter.next();
            let s = self.sweep.next();
            let strength = (0.75 * g + 0.25 * f).clamp(0.0, 1.0);
            self.amp = self.floor + (1.0 - self.floor) * strength * strength;
            let cutoff = self.base_cutoff + self.cutoff_range * (0.6 * strength + 0.4 * s);
            self.body.tune(cutoff, 0.8, self.fs);
            let w = self.whistle_drift.next();
            self.whistle
                .tune(500.0 + 900.0 * w * strength, 7.0, self.fs);
        } else {
            // Keep the drifts moving at audio rate between control updates.
            self.gust.next();
            self.flutter.next();
            self.sweep.next();
            self.whistle_drift.next();
        }
        self.counter = (self.counter + 1) % CONTROL_PERIOD;
        let noise = self.rng.bipolar();
        let body = self.body.process(noise).low;
        let whistle = self.whistle.process(noise).band;
        self.amp * (body + self.whistle_level * self.amp * whistle)
    }
}

// ---------------------------------------------------------------------------------------------
// Rain

struct Drop {
    phase: Phase,
    env: f32,
    decay: f32,
    click: f32,
    click_decay: f32,
}

struct Rain {
    rng: Rng,
    fs: f32,
    hiss_hp: Biquad,
    hiss_lp: Biquad,
    swell: Drift,
    drops: Vec<Drop>,
    sine: Wavetable,
    click_hp: OnePole,
    body: OnePole,
}

impl Rain {
    fn new(mut rng: Rng, fs: f32) -> Rain {
        Rain {
            hiss_hp: Biquad::new(Shape::High, 600.0, 0.7, fs),
            hiss_lp: Biquad::new(Shape::Low, 9000.0, 0.7, fs),
            swell: Drift::new(Rng::new(rng.next_u64(), 1), 4.0, fs),
            drops: Vec::with_capacity(64),
            sine: Wavetable::sine(),
            click_hp: OnePole::low_pass(1500.0, fs),
            body: OnePole::low_pass(400.0, fs),
            rng,
            fs,
        }
    }

    fn spawn(&mut self, heavy: bool) {
        if self.drops.len() >= 64 {
            return;
        }
        let u = self.rng.unit();
        let (freq, decay_ms, amp) = if heavy {
            (
                self.rng.range(700.0, 2000.0),
                self.rng.range(8.0, 20.0),
                0.25 + 0.6 * u * u,
            )
        } else {
            (
                self.rng.range(2000.0, 6500.0),
                self.rng.range(1.5, 6.0),
                0.04 + 0.4 * u * u * u,
            )
        };
        let freq = freq.min(self.fs * 0.45);
        self.drops.push(Drop {
            phase: Phase::new(freq, self.fs, self.rng.unit()),
            env: amp,
            decay: (-1.0 / (decay_ms * 0.001 * self.fs)).exp(),
            click: amp * 1.5,
            click_decay: (-1.0 / (0.0006 * self.fs)).exp(),
        });
    }
}

impl Source for Rain {
    fn next(&mut self) -> f32 {
        let fs = self.fs;
        if self.rng.chance(90.0 / fs) {
            self.spawn(false);
        }
        if self.rng.chance(5.0 / fs) {
            self.spawn(true);
        }
        let noise = self.rng.bipolar();
        let hiss = self.hiss_lp.process(self.hiss_hp.process(noise));
        let swell = 0.8 + 0.4 * self.swell.next();
        let click_noise = self.click_hp.high_pass(self.rng.bipolar());
        let mut drops = 0.0;
        let sine = &self.sine;
        self.drops.retain_mut(|d| {
            drops += d.env * sine.at(d.phase.tick()) + d.click * click_noise;
            d.env *= d.decay;
            d.click *= d.click_decay;
            d.env > 1e-4
        });
        // A soft low layer of distant rain on roofs.
        let body = self.body.process(noise);
        0.35 * swell * hiss + 0.25 * drops + 0.4 * body
    }
}

// ---------------------------------------------------------------------------------------------
// Crowd

/// Vowel formants (F1, F2) in Hz.
const VOWELS: [(f32, f32); 8] = [
    (730.0, 1090.0),
    (270.0, 2290.0),
    (300.0, 870.0),
    (530.0, 1840.0),
    (660.0, 1720.0),
    (490.0, 1350.0),
    (440.0, 1020.0),
    (400.0, 1900.0),
];

struct Talker {
    rng: Rng,
    pitch: Phase,
    base_f0: f32,
    intonation: Drift,
    f1: Biquad,
    f2: Biquad,
    f1_now: f32,
    f2_now: f32,
    f1_target: f32,
    f2_target: f32,
    formant_scale: f32,
    source_lp: OnePole,
    /// Samples left in the current syllable, and its length.
    syllable_left: u32,
    syllable_len: u32,
    /// Syllables left in the current phrase; 0 means pausing for `pause_left` samples.
    phrase_left: u32,
    pause_left: u32,
    level: f32,
}

impl Talker {
    fn new(mut rng: Rng, fs: f32) -> Talker {
        let base_f0 = if rng.chance(0.5) {
            rng.range(95.0, 140.0)
        } else {
            rng.range(170.0, 250.0)
        };
        let formant_scale = if base_f0 > 160.0 {
            rng.range(1.05, 1.18)
        } else {
            rng.range(0.92, 1.02)
        };
        let level = rng.range(0.3, 1.0);
        let pause_left = (rng.range(0.0, 2.0) * fs) as u32;
        Talker {
            pitch: Phase::new(base_f0, fs, rng.unit()),
            intonation: Drift::new(Rng::new(rng.next_u64(), 1), 0.35, fs),
            f1: Biquad::new(Shape::Band, 500.0, 4.0, fs),
            f2: Biquad::new(Shape::Band, 1500.0, 6.0, fs),
            f1_now: 500.0,
            f2_now: 1500.0,
            f1_target: 500.0,
            f2_target: 1500.0,
            formant_scale,
            source_lp: OnePole::low_pass(1800.0, fs),
            syllable_left: 0,
            syllable_len: 1,
            phrase_left: 0,
            pause_left,
            base_f0,
            level,
            rng,
        }
    }

    fn next(&mut self, fs: f32, control: bool) -> f32 {
        if self.phrase_left == 0 {
            if self.pause_left > 0 {
                self.pause_left -= 1;
                return 0.0;
            }
            self.phrase_left = 3 + self.rng.below(14) as u32;
            self.syllable_left = 0;
        }
        if self.syllable_left == 0 {
            self.syllable_len = (self.rng.range(0.1, 0.26) * fs) as u32 + 1;
            self.syllable_left = self.syllable_len;
            let (f1, f2) = VOWELS[self.rng.below(VOWELS.len())];
            self.f1_target = f1 * self.formant_scale;
            self.f2_target = f2 * self.formant_scale;
            self.phrase_left -= 1;
            if self.phrase_left == 0 {
                self.pause_left = (self.rng.range(0.3, 2.5) * fs) as u32;
            }
        }
        if control {
            self.f1_now += 0.25 * (self.f1_target - self.f1_now);
            self.f2_now += 0.25 * (self.f2_target - self.f2_now);
            self.f1.design(Shape::Band, self.f1_now, 4.0, fs);
            self.f2.design(Shape::Band, self.f2_now, 6.0, fs);
            let f0 = self.base_f0 * (0.85 + 0.3 * self.intonation.next());
            self.pitch.set_freq(f0, fs);
        }
        let phase = 1.0 - self.syllable_left as f32 / self.syllable_len as f32;
        self.syllable_left -= 1;
        let env = hump(phase);
        // Glottal-ish source: a softened sawtooth with some breath noise.
        let saw = 2.0 * self.pitch.tick_unit() - 1.0;
        let source = self.source_lp.process(saw) + 0.25 * self.rng.bipolar();
        let voiced = self.f1.process(source) + 0.6 * self.f2.process(source);
        self.level * env * env * voiced
    }
}

struct Crowd {
    talkers: Vec<Talker>,
    fs: f32,
    counter: u32,
    murmur: Biquad,
    murmur_rng: Rng,
    murmur_drift: Drift,
    room: Reverb,
    tone: OnePole,
}

impl Crowd {
    fn new(mut rng: Rng, fs: f32) -> Crowd {
        let talkers = (0..12)
            .map(|i| Talker::new(Rng::new(rng.next_u64(), i), fs))
            .collect();
        Crowd {
            talkers,
            fs,
            counter: 0,
            murmur: Biquad::new(Shape::Band, 450.0, 0.8, fs),
            murmur_rng: Rng::new(rng.next_u64(), 99),
            murmur_drift: Drift::new(Rng::new(rng.next_u64(), 98), 1.5, fs),
            room: Reverb::new(fs, 0.6, 0.5),
            tone: OnePole::low_pass(3200.0, fs),
        }
    }
}

impl Source for Crowd {
    fn next(&mut self) -> f32 {
        let control = self.counter == 0;
        self.counter = (self.counter + 1) % CONTROL_PERIOD;
        let fs = self.fs;
        let voices: f32 = self.talkers.iter_mut().map(|t| t.next(fs, control)).sum();
        let murmur =
            self.murmur.process(self.murmur_rng.bipolar()) * (0.5 + 0.5 * self.murmur_drift.next());
        let dry = self.tone.process(0.5 * voices + 0.15 * murmur);
        dry + 0.6 * self.room.process(dry)
    }
}

// ---------------------------------------------------------------------------------------------
// Sea

struct Sea {
    rng: Rng,
    fs: f32,
    wash: Svf,
    rumble1: OnePole,
    rumble2: OnePole,
    foam_hp: Biquad,
    counter: u32,
    wave_pos: f32,
    wave_step: f32,
    wave_height: f32,
    env: f32,
}

impl Sea {
    fn new(mut rng: Rng, fs: f32) -> Sea {
        let wave_step = 1.0 / (rng.range(8.0, 12.0) * fs);
        let wave_pos = rng.range(0.0, 0.5);
        let wave_height = rng.range(0.6, 1.0);
        Sea {
            wash: Svf::new(400.0, 0.7, fs),
            rumble1: OnePole::low_pass(140.0, fs),
            rumble2: OnePole::low_pass(140.0, fs),
            foam_hp: Biquad::new(Shape::High, 2500.0, 0.7, fs),
            rng,
            fs,
            counter: 0,
            wave_pos,
            wave_step,
            wave_height,
            env: 0.0,
        }
    }
}

impl Source for Sea {
    fn next(&mut self) -> f32 {
        if self.counter == 0 {
            // A wave builds quickly, breaks, then washes back slowly.
            let p = self.wave_pos;
            let shape = (PI * p.powf(0.6)).sin();
            self.env = self.wave_height * shape * shape;
            self.wash.tune(250.0 + 1800.0 * self.env, 0.7, self.fs);
        }
        self.counter = (self.counter + 1) % CONTROL_PERIOD;
        self.wave_pos += self.wave_step;
        if self.wave_pos >= 1.0 {
            self.wave_pos -= 1.0;
            self.wave_step = 1.0 / (self.rng.range(8.0, 12.0) * self.fs);
            self.wave_height = self.rng.range(0.55, 1.0);
        }
        let noise = self.rng.bipolar();
        let wash = self.wash.process(noise).low;
        let rumble = self.rumble2.process(self.rumble1.process(noise));
        let foam = self.foam_hp.process(noise);
        let env = self.env;
        (0.12 + 0.88 * env) * wash + 1.0 * rumble + 0.06 * env * env * foam
    }
}

// ---------------------------------------------------------------------------------------------
// Forest

struct Chirp {
    start: u64,
    len: u32,
    f_start: f32,
    f_end: f32,
    amp: f32,
    phase: Phase,
}

#[derive(Clone, Copy)]
struct Species {
    base: f32,
    sweep: f32,
    note_s: f32,
    gap_s: f32,
    notes_min: usize,
    notes_max: usize,
    /// Pitch drift from note to note within a call (ratio per note).
    step: f32,
}

struct Forest {
    rng: Rng,
    fs: f32,
    breeze: Wind,
    leaves: Biquad,
    leaves_drift: Drift,
    species: Vec<Species>,
    chirps: Vec<Chirp>,
    now: u64,
    next_call: u64,
    sine: Wavetable,
}

impl Forest {
    fn new(mut rng: Rng, fs: f32) -> Forest {
        let species = (0..3)
            .map(|_| Species {
                base: rng.range(2200.0, 4800.0),
                sweep: rng.range(-1500.0, 2000.0),
                note_s: rng.range(0.05, 0.16),
                gap_s: rng.range(0.03, 0.12),
                notes_min: 1 + rng.below(2),
                notes_max: 3 + rng.below(5),
                step: rng.range(0.93, 1.06),
            })
            .collect();
        let next_call = (rng.range(0.3, 1.5) * fs) as u64;
        Forest {
            breeze: Wind::new(Rng::new(rng.next_u64(), 1), fs, WindKind::Breeze),
            leaves: Biquad::new(Shape::Band, 2500.0, 0.6, fs),
            leaves_drift: Drift::new(Rng::new(rng.next_u64(), 2), 2.0, fs),
            species,
            chirps: Vec::new(),
            now: 0,
            next_call,
            sine: Wavetable::sine(),
            rng,
            fs,
        }
    }

    fn schedule_call(&mut self) {
        let s = self.species[self.rng.below(self.species.len())];
        let notes = s.notes_min + self.rng.below(s.notes_max - s.notes_min + 1);
        let distance = self.rng.range(0.25, 1.0);
        let mut t = self.now;
        let mut base = s.base * self.rng.range(0.95, 1.05);
        for _ in 0..notes {
            let len = (s.note_s * self.rng.range(0.85, 1.15) * self.fs) as u32 + 1;
            let f_end = (base + s.sweep).clamp(800.0, self.fs * 0.4);
            self.chirps.push(Chirp {
                start: t,
                len,
                f_start: base.min(self.fs * 0.4),
                f_end,
                amp: distance * self.rng.range(0.7, 1.0),
                phase: Phase::new(base, self.fs, 0.0),
            });
            t += u64::from(len) + (s.gap_s * self.rng.range(0.8, 1.2) * self.fs) as u64;
            base *= s.step;
        }
        // Calls come every few seconds, sometimes in quick succession.
        let wait = if self.rng.chance(0.3) {
            self.rng.range(0.3, 0.9)
        } else {
            self.rng.range(1.5, 6.0)
        };
        self.next_call = t + (wait * self.fs) as u64;
    }
}

impl Source for Forest {
    fn next(&mut self) -> f32 {
        if self.now >= self.next_call {
            self.schedule_call();
        }
        let now = self.now;
        self.now += 1;
        let fs = self.fs;
        let sine = &self.sine;
        let mut birds = 0.0;
        self.chirps.retain_mut(|c| {
            if now < c.start {
                return true;
            }
            let i = (now - c.start) as u32;
            if i >= c.len {
                return false;
            }
            let p = i as f32 / c.len as f32;
            // Arched sweep: most of the glide early, like a whistle.
            let glide = 1.0 - (1.0 - p) * (1.0 - p);
            let f = c.f_start + (c.f_end - c.f_start) * glide;
            c.phase.set_freq(f, fs);
            let env = hump(p);
            let ph = c.phase.tick();
            birds += c.amp * env * env * (sine.at(ph) + 0.12 * sine.at(ph.wrapping_mul(2)));
            true
        });
        let breeze = self.breeze.next();
        let rustle = self.leaves.process(self.breeze.rng.bipolar())
            * (0.2 + 0.8 * self.leaves_drift.next().powi(2));
        0.6 * breeze + 0.12 * rustle + 0.05 * birds
    }
}

// ---------------------------------------------------------------------------------------------
// Room

struct Room {
    rng: Rng,
    air: Biquad,
    air2: OnePole,
    hum: [Phase; 3],
    hum_drift: Drift,
    sine: Wavetable,
}

impl Room {
    fn new(mut rng: Rng, fs: f32) -> Room {
        let mains = if rng.chance(0.5) { 50.0 } else { 60.0 };
        Room {
            air: Biquad::new(Shape::Low, 500.0, 0.7, fs),
            air2: OnePole::low_pass(120.0, fs),
            hum: [
                Phase::new(mains, fs, 0.0),
                Phase::new(2.0 * mains, fs, 0.1),
                Phase::new(3.0 * mains, fs, 0.3),
            ],
            hum_drift: Drift::new(Rng::new(rng.next_u64(), 1), 5.0, fs),
            sine: Wavetable::sine(),
            rng,
        }
    }
}

impl Source for Room {
    fn next(&mut self) -> f32 {
        let noise = self.rng.bipolar();
        let air = self.air.process(noise) + 1.5 * self.air2.process(noise);
        let d = 0.8 + 0.4 * self.hum_drift.next();
        let hum = 0.2 * self.sine.at(self.hum[0].tick())
            + 0.3 * self.sine.at(self.hum[1].tick())
            + 0.08 * self.sine.at(self.hum[2].tick());
        air + 0.04 * d * hum
    }
}

// ---------------------------------------------------------------------------------------------
// Night

struct Cricket {
    carrier: Phase,
    period: u32,
    pos: u32,
    pulses: u32,
    pulse_len: u32,
    pulse_spacing: u32,
    level: f32,
}

struct Night {
    rng: Rng,
    fs: f32,
    air: Wind,
    crickets: Vec<Cricket>,
    chorus: Biquad,
    chorus_am: Phase,
    sine: Wavetable,
}

impl Night {
    fn new(mut rng: Rng, fs: f32) -> Night {
        let count = 2 + rng.below(3);
        let crickets = (0..count)
            .map(|i| {
                let carrier = rng.range(4200.0, 4800.0).min(fs * 0.45);
                Cricket {
                    carrier: Phase::new(carrier, fs, 0.0),
                    period: (rng.range(0.5, 0.95) * fs) as u32 + 1,
                    pos: (rng.range(0.0, 0.9) * fs) as u32,
                    pulses: 3 + rng.below(3) as u32,
                    pulse_len: (rng.range(0.012, 0.018) * fs) as u32 + 1,
                    pulse_spacing: (rng.range(0.028, 0.04) * fs) as u32 + 1,
                    level: if i == 0 { 1.0 } else { rng.range(0.3, 0.7) },
                }
            })
            .collect();
        Night {
            air: Wind::new(Rng::new(rng.next_u64(), 1), fs, WindKind::Still),
            chorus: Biquad::new(Shape::Band, 4500.0_f32.min(fs * 0.4), 12.0, fs),
            chorus_am: Phase::new(27.0, fs, 0.0),
            sine: Wavetable::sine(),
            crickets,
            rng,
            fs,
        }
    }
}

impl Source for Night {
    fn next(&mut self) -> f32 {
        let sine = &self.sine;
        let mut song = 0.0;
        for c in &mut self.crickets {
            let ph = c.carrier.tick();
            let pulse = c.pos / c.pulse_spacing;
            let within = c.pos % c.pulse_spacing;
            if pulse < c.pulses && within < c.pulse_len {
                let p = within as f32 / c.pulse_len as f32;
                let env = hump(p);
                song += c.level * env * env * sine.at(ph);
            }
            c.pos += 1;
            if c.pos >= c.period {
                c.pos = 0;
                // A little irregularity from chirp to chirp.
                let jitter = (self.rng.range(-0.03, 0.03) * self.fs) as i64;
                c.period = (i64::from(c.period) + jitter)
                    .clamp((0.45 * self.fs) as i64, (1.0 * self.fs) as i64)
                    as u32;
            }
        }
        // Distant crickets: a faint trilling band of noise.
        let am = 0.5 + 0.5 * sine.at(self.chorus_am.tick());
        let chorus = self.chorus.process(self.rng.bipolar()) * am * am;
        1.2 * self.air.next() + 0.12 * song + 0.12 * chorus
    }
}

// ---------------------------------------------------------------------------------------------
// River

struct Bubble {
    phase: Phase,
    freq: f32,
    rise: f32,
    pos: u32,
    len: u32,
    amp: f32,
}

struct River {
    rng: Rng,
    fs: f32,
    low_band: Biquad,
    mid_band: Biquad,
    high_band: Biquad,
    mod_low: Drift,
    mod_mid: Drift,
    mod_high: Drift,
    bubbles: Vec<Bubble>,
    sine: Wavetable,
}

impl River {
    fn new(mut rng: Rng, fs: f32) -> River {
        River {
            low_band: Biquad::new(Shape::Band, 350.0, 0.7, fs),
            mid_band: Biquad::new(Shape::Band, 1100.0, 0.8, fs),
            high_band: Biquad::new(Shape::Band, 2600.0, 1.0, fs),
            mod_low: Drift::new(Rng::new(rng.next_u64(), 1), 2.0, fs),
            mod_mid: Drift::new(Rng::new(rng.next_u64(), 2), 0.8, fs),
            mod_high: Drift::new(Rng::new(rng.next_u64(), 3), 0.5, fs),
            bubbles: Vec::with_capacity(32),
            sine: Wavetable::sine(),
            rng,
            fs,
        }
    }
}

impl Source for River {
    fn next(&mut self) -> f32 {
        let fs = self.fs;
        if self.bubbles.len() < 32 && self.rng.chance(14.0 / fs) {
            let freq = self.rng.range(350.0, 900.0);
            let len_s = self.rng.range(0.012, 0.04);
            let len = (len_s * fs) as u32 + 1;
            // Rises by a factor of 1.5-2.5 over its life.
            let rise = self.rng.range(1.5, 2.5).powf(1.0 / len as f32);
            self.bubbles.push(Bubble {
                phase: Phase::new(freq, fs, 0.0),
                freq,
                rise,
                pos: 0,
                len,
                amp: self.rng.range(0.2, 1.0),
            });
        }
        let sine = &self.sine;
        let mut bubbles = 0.0;
        self.bubbles.retain_mut(|b| {
            let p = b.pos as f32 / b.len as f32;
            let env = hump(p);
            b.phase.set_freq(b.freq.min(fs * 0.45), fs);
            bubbles += b.amp * env * sine.at(b.phase.tick());
            b.freq *= b.rise;
            b.pos += 1;
            b.pos < b.len
        });
        let noise = self.rng.bipolar();
        let low = self.low_band.process(noise) * (0.8 + 0.4 * self.mod_low.next());
        let mid = self.mid_band.process(noise) * (0.7 + 0.6 * self.mod_mid.next());
        let high = self.high_band.process(noise) * (0.6 + 0.8 * self.mod_high.next());
        0.8 * low + 0.7 * mid + 0.35 * high + 0.05 * bubbles
    }
}

// ---------------------------------------------------------------------------------------------
// Fire

struct Crackle {
    env: f32,
    decay: f32,
    tone: OnePole,
    hp: bool,
}

struct Fire {
    rng: Rng,
    fs: f32,
    rumble: Biquad,
    rumble2: OnePole,
    flicker: Drift,
    hiss: Biquad,
    hiss_drift: Drift,
    crackles: Vec<Crackle>,
    pending: Vec<u32>,
}

impl Fire {
    fn new(mut rng: Rng, fs: f32) -> Fire {
        Fire {
            rumble: Biquad::new(Shape::Low, 180.0, 0.7, fs),
            rumble2: OnePole::low_pass(400.0, fs),
            flicker: Drift::new(Rng::new(rng.next_u64(), 1), 0.35, fs),
            hiss: Biquad::new(Shape::High, 3000.0, 0.7, fs),
            hiss_drift: Drift::new(Rng::new(rng.next_u64(), 2), 1.2, fs),
            crackles: Vec::with_capacity(32),
            pending: Vec::new(),
            rng,
            fs,
        }
    }

    fn spawn(&mut self) {
        if self.crackles.len() >= 32 {
            return;
        }
        let u = self.rng.unit();
        let pop = self.rng.chance(0.2);
        let (decay_ms, cutoff) = if pop {
            (self.rng.range(3.0, 8.0), self.rng.range(600.0, 1500.0))
        } else {
            (self.rng.range(0.3, 2.0), self.rng.range(1500.0, 4000.0))
        };
        self.crackles.push(Crackle {
            env: 0.1 + 0.9 * u * u,
            decay: (-1.0 / (decay_ms * 0.001 * self.fs)).exp(),
            tone: OnePole::low_pass(cutoff, self.fs),
            hp: !pop,
        });
        // Crackles come in little clusters.
        if self.rng.chance(0.35) {
            for _ in 0..1 + self.rng.below(4) {
                let delay = (self.rng.range(0.01, 0.09) * self.fs) as u32;
                self.pending.push(delay);
            }
        }
    }
}

impl Source for Fire {
    fn next(&mut self) -> f32 {
        if self.rng.chance(7.0 / self.fs) {
            self.spawn();
        }
        let mut due = 0;
        self.pending.retain_mut(|d| {
            if *d == 0 {
                due += 1;
                false
            } else {
                *d -= 1;
                true
            }
        });
        for _ in 0..due {
            self.spawn();
        }
        let noise = self.rng.bipolar();
        let mut crackle = 0.0;
        let rng = &mut self.rng;
        self.crackles.retain_mut(|c| {
            let n = rng.bipolar();
            let y = if c.hp {
                c.tone.high_pass(n)
            } else {
                c.tone.process(n) * 2.0
            };
            crackle += c.env * y;
            c.env *= c.decay;
            c.env > 1e-4
        });
        let flicker = 0.55 + 0.45 * self.flicker.next();
        let rumble = self.rumble2.process(self.rumble.process(noise)) * flicker;
        let hiss = self.hiss.process(noise) * (0.2 + 0.8 * self.hiss_drift.next());
        2.0 * rumble + 0.03 * hiss + 1.2 * crackle
    }
}
