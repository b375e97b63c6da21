//! Narration real-time factor with Piper and with espeak-ng, and illustration time per scene,
//! each against a baseline taken in the same run (the audio's own duration; encoding a blank
//! frame of the same size as PNG).
//!
//! `cargo bench -p visiobook-generation --bench generate`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its table and fails loudly"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use visiobook_generation::illustration::{
    self, Figure, MoodLook, Picture, Scenery, Shape, TimeOfDay,
};
use visiobook_generation::speech::espeak::Espeak;
use visiobook_generation::speech::piper::{Piper, PiperAssets};
use visiobook_generation::speech::{Casting, SpeechEngine};

/// The first paragraphs of Alice's chapter I, about 500 words.
fn passage() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingestion/tests/fixtures/alice.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("Alice was beginning").unwrap();
    let words: Vec<&str> = text[start..].split_whitespace().take(500).collect();
    visiobook_domain::sentences(&words.join(" "))
        .into_iter()
        .map(|s| s.replace(['`', '\''], ""))
        .collect()
}

/// Seconds of audio and seconds of work for reading every sentence.
async fn read(engine: &dyn SpeechEngine, sentences: &[String]) -> (f64, Duration) {
    let voice = engine.cast(&Casting::narrator(), "en");
    let started = Instant::now();
    let mut audio = 0.0;
    for sentence in sentences {
        let speech = engine.synthesize(sentence, &voice, "en").await.unwrap();
        audio += speech.pcm.samples.len() as f64 / f64::from(speech.pcm.rate);
    }
    (audio, started.elapsed())
}

fn picture(index: u64, width: u32, height: u32) -> Picture {
    let sceneries = [
        Scenery::Forest,
        Scenery::Room,
        Scenery::Sea,
        Scenery::City,
        Scenery::Garden,
        Scenery::Hall,
        Scenery::NightSky,
        Scenery::Field,
    ];
    let figure = |name: &str, color: [u8; 3], shape: Shape, emblem: &str| Figure {
        name: name.into(),
        color,
        shape,
        emblem: emblem.into(),
        seed: index,
    };
    Picture {
        width,
        height,
        scenery: sceneries[index as usize % sceneries.len()],
        time_of_day: [
            TimeOfDay::Morning,
            TimeOfDay::Day,
            TimeOfDay::Evening,
            TimeOfDay::Night,
        ][index as usize % 4],
        mood: MoodLook {
            label: "whimsical".into(),
            valence: 0.4,
            intensity: 0.5,
        },
        palette: vec![[0xe4, 0x57, 0x2e], [0x17, 0xbe, 0xbb]],
        figures: vec![
            figure("Alice", [0xe4, 0x57, 0x2e], Shape::Circle, "key"),
            figure(
                "the White Rabbit",
                [0x17, 0xbe, 0xbb],
                Shape::Triangle,
                "watch",
            ),
            figure("the Hatter", [0x7b, 0x5e, 0xa7], Shape::Hexagon, "hat"),
        ],
        heading: "Chapter I — Down the Rabbit-Hole".into(),
        caption: "« Oh dear! Oh dear! I shall be late! » said the Rabbit, who looked at its watch."
            .into(),
        seed: index,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sentences = passage();
    let words: usize = sentences.iter().map(|s| s.split_whitespace().count()).sum();
    println!(
        "{} sentences, {words} words of Alice, chapter I",
        sentences.len()
    );
    println!();
    println!("| narration engine | audio | synthesis time | real-time factor |");
    println!("|---|---|---|---|");

    let espeak = runtime
        .block_on(Espeak::new(Path::new("espeak-ng")))
        .unwrap();
    let (audio, took) = runtime.block_on(read(&espeak, &sentences));
    println!(
        "| espeak-ng | {audio:.1} s | {:.2} s | {:.0}x real time |",
        took.as_secs_f64(),
        audio / took.as_secs_f64()
    );

    let models = std::env::var_os("VISIOBOOK_MODELS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/visiobook/models")
        },
        PathBuf::from,
    );
    match PiperAssets::discover(&models) {
        Some(assets) => {
            let environment =
                visiobook_analysis::embedding::environment(&models.join("libonnxruntime.so"))
                    .unwrap();
            let piper = Piper::load(&environment, &assets, Path::new("espeak-ng")).unwrap();
            // One warm-up sentence: the first run of a session plans its graph.
            runtime.block_on(read(&piper, &sentences[..1]));
            let (audio, took) = runtime.block_on(read(&piper, &sentences));
            println!(
                "| piper (en_US-joe-medium, {} threads) | {audio:.1} s | {:.2} s | {:.1}x real time |",
                std::thread::available_parallelism().map_or(1, usize::from),
                took.as_secs_f64(),
                audio / took.as_secs_f64()
            );
        }
        None => println!("| piper | not installed (run scripts/fetch-models) | | |"),
    }

    println!();
    println!(
        "| illustration | per picture (mean of 24) | blank PNG of that size (same run) | ratio |"
    );
    println!("|---|---|---|---|");
    for (width, height) in [(1280, 720), (720, 1280), (1920, 1080)] {
        let runs = 24;
        let started = Instant::now();
        for index in 0..runs {
            let png = illustration::draw(&picture(index, width, height)).unwrap();
            assert!(png.len() > 1000);
        }
        let each = started.elapsed().as_secs_f64() / runs as f64;
        let started = Instant::now();
        for _ in 0..runs {
            let mut blank = tiny_skia::Pixmap::new(width, height).unwrap();
            blank.fill(tiny_skia::Color::from_rgba8(40, 50, 60, 255));
            blank.encode_png().unwrap();
        }
        let blank = started.elapsed().as_secs_f64() / runs as f64;
        println!(
            "| procedural {width}x{height} | {:.1} ms | {:.1} ms | {:.1}x |",
            each * 1000.0,
            blank * 1000.0,
            each / blank
        );
    }
}
