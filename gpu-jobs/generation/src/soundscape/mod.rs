//! Procedural soundscapes for scenes: music beds, ambiences, sidechain ducking and the scene mix.
//!
//! Everything here is synthesised from a seed (no samples, no models), deterministic, and works
//! for any length without audible loops.

mod ambience;
mod dsp;
mod mix;
mod music;

pub use ambience::{AMBIENCE_CEILING_DBFS, Ambience, ambience};
pub use mix::{
    DUCK_HOLD_MS, DUCK_LOOKAHEAD_MS, Ducking, MIX_CEILING_DBFS, MixLevels, duck, mix_scene,
};
pub use music::{MUSIC_BED_CEILING_DBFS, MUSIC_BED_LUFS, MusicSpec, music_bed};

#[cfg(test)]
mod tests;
