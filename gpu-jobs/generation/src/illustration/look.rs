//! The colour grade of a picture: time-of-day light, mood toning and accent colours.

use super::canvas::{Rgb, WHITE};
use super::{MoodLook, Picture, TimeOfDay};

/// Everything that decides how scenery colours are turned into final colours.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    /// Time of day of the scene.
    pub time: TimeOfDay,
    shadow_tint: Rgb,
    highlight_tint: Rgb,
    saturation: f32,
    contrast: f32,
    brightness: f32,
    warmth: f32,
    lift: f32,
    light: Rgb,
    haze: Rgb,
    haze_amount: f32,
    accents: Vec<Rgb>,
    /// Colour of the caption band.
    pub band: Rgb,
}

fn finite_or(v: f32, default: f32) -> f32 {
    if v.is_finite() { v } else { default }
}

impl Look {
    /// The grade for a picture.
    pub fn new(picture: &Picture) -> Self {
        let MoodLook {
            label,
            valence,
            intensity,
        } = &picture.mood;
        let v = finite_or(*valence, 0.0).clamp(-1.0, 1.0);
        let i = finite_or(*intensity, 0.5).clamp(0.0, 1.0);
        let label = label.trim().to_lowercase();
        let mut look = Look {
            time: picture.time_of_day,
            shadow_tint: WHITE,
            highlight_tint: WHITE,
            saturation: 0.82 + 0.36 * i + 0.08 * v,
            contrast: 0.94 + 0.16 * i,
            brightness: 1.0 + 0.08 * v,
            warmth: 0.05 * v,
            lift: 0.0,
            light: WHITE,
            haze: WHITE,
            haze_amount: 0.0,
            accents: Vec::new(),
            band: Rgb::hex(0x14121c),
        };
        let (shadow, high, defaults): (u32, u32, [u32; 3]) = match label.as_str() {
            "calm" | "serene" | "peaceful" => {
                look.saturation *= 0.9;
                (0xe8f4f4, 0xf8fff6, [0x7fb8a4, 0x9cc3e0, 0xe9d8a6])
            }
            "joyful" | "happy" | "joy" => {
                look.saturation *= 1.12;
                look.brightness += 0.04;
                look.warmth += 0.03;
                (0xfff0e6, 0xfff4dc, [0xf2b134, 0xef6f6c, 0x5fb49c])
            }
            "tense" | "fearful" | "suspense" => {
                look.contrast += 0.16;
                look.brightness -= 0.06;
                look.saturation *= 0.95;
                look.band = Rgb::hex(0x1a0b0d);
                (0xc8b8c0, 0xfff0e8, [0xc0392b, 0x8e2a2a, 0xe0a458])
            }
            "sad" | "melancholy" | "sorrowful" => {
                look.saturation *= 0.55;
                look.brightness -= 0.05;
                look.warmth -= 0.04;
                look.band = Rgb::hex(0x0f1420);
                (0xd4e0f4, 0xeef2fa, [0x7d97b8, 0xa7b4c6, 0xc9c2d8])
            }
            "eerie" | "mysterious" | "uncanny" => {
                look.saturation *= 0.85;
                look.brightness -= 0.06;
                look.band = Rgb::hex(0x130f1c);
                (0xd8c0f0, 0xe4ffe0, [0x8fd694, 0x9b6fd1, 0x5fb8a9])
            }
            "whimsical" | "playful" | "curious" => {
                look.lift = 0.08;
                look.saturation *= 1.02;
                look.band = Rgb::hex(0x2a1830);
                (0xd4f4f0, 0xfff0f6, [0xf4a7c4, 0x6cc7c2, 0xffd36e])
            }
            "angry" | "furious" | "rage" => {
                look.contrast += 0.2;
                look.saturation *= 1.1;
                look.warmth += 0.05;
                look.band = Rgb::hex(0x1e0a08);
                (0xf0c4c0, 0xfff0e0, [0xd7263d, 0xf46036, 0x2e294e])
            }
            _ => {
                if v >= 0.0 {
                    (0xf4f4f4, 0xfffaf0, [0xe9c46a, 0x2a9d8f, 0xe76f51])
                } else {
                    (0xe0e4f0, 0xf4f4f8, [0x6d83a6, 0x9a8c98, 0xc9ada7])
                }
            }
        };
        look.shadow_tint = Rgb::hex(shadow);
        look.highlight_tint = Rgb::hex(high);
        match picture.time_of_day {
            TimeOfDay::Morning => {
                look.light = Rgb::new(1.02, 0.97, 0.92);
                look.haze = Rgb::hex(0xffe6cc);
                look.haze_amount = 0.10;
            }
            TimeOfDay::Day => {}
            TimeOfDay::Evening => {
                look.light = Rgb::new(0.98, 0.78, 0.68);
                look.haze = Rgb::hex(0x6a3a5a);
                look.haze_amount = 0.14;
            }
            TimeOfDay::Night => {
                look.light = Rgb::new(0.36, 0.42, 0.62);
                look.haze = Rgb::hex(0x0c1430);
                look.haze_amount = 0.22;
            }
        }
        let given: Vec<Rgb> = picture.palette.iter().map(|c| Rgb::from_u8(*c)).collect();
        look.accents = if given.is_empty() {
            defaults.iter().map(|&h| Rgb::hex(h)).collect()
        } else {
            given
        };
        look
    }

    /// The same grade for an interior: in the evening and at night surfaces are lit by
    /// warm lamps instead of the cold sky.
    pub fn interior(&self) -> Look {
        let mut look = self.clone();
        match self.time {
            TimeOfDay::Evening => {
                look.light = Rgb::new(0.92, 0.8, 0.7);
                look.haze = Rgb::hex(0x3a2020);
                look.haze_amount = 0.08;
            }
            TimeOfDay::Night => {
                look.light = Rgb::new(0.7, 0.6, 0.54);
                look.haze = Rgb::hex(0x1a1020);
                look.haze_amount = 0.12;
            }
            _ => {}
        }
        look
    }

    /// Applies the mood grade to a colour (sky, light sources, accents).
    pub fn grade(&self, c: Rgb) -> Rgb {
        let l = c.luma().clamp(0.0, 1.0);
        let t = l * l * (3.0 - 2.0 * l);
        let tint = self.shadow_tint.mix(self.highlight_tint, t);
        let mut c = c.mul(tint);
        c.r *= 1.0 + self.warmth;
        c.b *= 1.0 - self.warmth;
        c = c.saturate(self.saturation);
        let pivot = 0.42;
        c = Rgb::new(
            pivot + (c.r - pivot) * self.contrast,
            pivot + (c.g - pivot) * self.contrast,
            pivot + (c.b - pivot) * self.contrast,
        );
        c = c.scale(self.brightness).clamped();
        c.mix(WHITE, self.lift).clamped()
    }

    /// Lights a surface colour by the time of day, then grades it.
    pub fn land(&self, c: Rgb) -> Rgb {
        self.grade(c.mul(self.light).mix(self.haze, self.haze_amount))
    }

    /// The `i`-th accent colour (from the visual brief when given), graded lightly so it
    /// stays recognisable.
    pub fn accent(&self, i: usize) -> Rgb {
        let c = self
            .accents
            .get(i % self.accents.len().max(1))
            .copied()
            .unwrap_or(Rgb::hex(0xe9c46a));
        c.mix(self.grade(c), 0.5)
    }

    /// An accent lit by the time of day (for objects in the scene).
    pub fn accent_lit(&self, i: usize) -> Rgb {
        let c = self
            .accents
            .get(i % self.accents.len().max(1))
            .copied()
            .unwrap_or(Rgb::hex(0xe9c46a));
        self.land(c)
    }

    /// Whether the brief supplied its own colours.
    pub fn accent_count(&self) -> usize {
        self.accents.len()
    }
}
