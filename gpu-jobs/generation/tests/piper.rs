//! The Piper voice through ONNX Runtime, when `scripts/fetch-models` installed it (the test
//! scripts always do): it loads, reads a sentence at a natural pace, and its castings differ in
//! pitch and not in pace.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::path::{Path, PathBuf};

use visiobook_generation::audio;
use visiobook_generation::speech::piper::{Piper, PiperAssets};
use visiobook_generation::speech::{Casting, SpeechEngine};

fn models_dir() -> PathBuf {
    std::env::var_os("VISIOBOOK_MODELS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/visiobook/models")
        },
        PathBuf::from,
    )
}

#[tokio::test]
async fn piper_reads_english_with_a_pitch_per_casting() {
    let models = models_dir();
    let Some(assets) = PiperAssets::discover(&models) else {
        panic!(
            "the Piper voice is not installed in {}: run scripts/fetch-models",
            models.display()
        );
    };
    let environment =
        visiobook_analysis::embedding::environment(&models.join("libonnxruntime.so")).unwrap();
    let piper = Piper::load(&environment, &assets, Path::new("espeak-ng")).unwrap();
    assert!(piper.fingerprint().starts_with("piper "));
    let text = "Alice was beginning to get very tired of sitting by her sister on the bank.";
    let read = |slot: &str| {
        let voice = piper.cast(
            &Casting {
                slot: slot.into(),
                pitch: 0,
                rate: 1.0,
            },
            "en",
        );
        let piper = &piper;
        async move { piper.synthesize(text, &voice, "en").await.unwrap().pcm }
    };
    let narrator = read("narrator").await;
    assert_eq!(narrator.rate, 22_050);
    // 15 words at a natural pace: between 3 and 8 seconds.
    let seconds = narrator.duration_ms() as f64 / 1000.0;
    assert!((3.0..8.0).contains(&seconds), "{seconds} s");
    assert!(audio::peak_dbfs(&narrator) > -20.0, "audible");
    let female = read("female-1").await;
    let (n, f) = (
        audio::median_pitch_hz(&narrator).unwrap(),
        audio::median_pitch_hz(&female).unwrap(),
    );
    assert!(f > n * 1.2, "narrator {n} Hz, female-1 {f} Hz");
    let ratio = female.duration_ms() as f64 / narrator.duration_ms() as f64;
    assert!((0.75..1.33).contains(&ratio), "pace changed: {ratio}");
}
