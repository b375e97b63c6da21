//! Ingestion throughput, against the poppler and tesseract command-line tools as baselines.
//!
//! `cargo bench -p visiobook-ingestion --bench ingest` prints a markdown table:
//! 1. a ~260-page text PDF (alice.pdf's 86 pages three times over) read by [`pdf::read`],
//!    against `pdftotext` on the same file;
//! 2. OCR of four copies of the scanned page by [`ocr::ocr_pages`] with one job per core,
//!    against one `tesseract` process reading one page.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its results and fails loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lopdf::{Document, Object};
use visiobook_domain::word_count;
use visiobook_ingestion::extract::Body;
use visiobook_ingestion::{IngestOptions, Tools, ocr, pdf};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// alice.pdf's pages `copies` times over, as one document.
fn repeated_pdf(copies: usize) -> Vec<u8> {
    let source = fixture("alice.pdf");
    let mut document = Document::load_mem(&source).unwrap();
    document.catalog_mut().unwrap().remove(b"Outlines");
    let pages_id = document
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    for _ in 1..copies {
        let mut copy = Document::load_mem(&source).unwrap();
        copy.renumber_objects_with(document.max_id + 1);
        document.max_id = copy.max_id;
        let copy_pages: Vec<_> = copy.get_pages().into_values().collect();
        for (id, object) in std::mem::take(&mut copy.objects) {
            document.objects.entry(id).or_insert(object);
        }
        for page in &copy_pages {
            document
                .get_dictionary_mut(*page)
                .unwrap()
                .set("Parent", pages_id);
        }
        let pages = document.get_dictionary_mut(pages_id).unwrap();
        let mut kids = pages.get(b"Kids").unwrap().as_array().unwrap().clone();
        kids.extend(copy_pages.iter().map(|id| Object::Reference(*id)));
        let count = i64::try_from(kids.len()).unwrap();
        pages.set("Kids", kids);
        pages.set("Count", count);
    }
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).unwrap();
    bytes
}

/// The fastest of `runs` timings (after one warm-up run).
fn best_of(runs: usize, mut work: impl FnMut()) -> Duration {
    work();
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn run_ok(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let dir = tempfile::tempdir().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let options = IngestOptions::default();
    let mut rows: Vec<[String; 5]> = Vec::new();

    // 1. Text PDF.
    let bytes = repeated_pdf(3);
    let pdf_path = dir.path().join("alice-x3.pdf");
    std::fs::write(&pdf_path, &bytes).unwrap();
    let pages = Document::load_mem(&bytes).unwrap().get_pages().len();
    let megabytes = bytes.len() as f64 / 1_000_000.0;
    let ours = best_of(5, || {
        let extracted = pdf::read(&bytes, &options, &|_, _| {}).unwrap();
        std::hint::black_box(extracted);
    });
    let extracted = pdf::read(&bytes, &options, &|_, _| {}).unwrap();
    let Body::Blocks(blocks) = &extracted.body else {
        panic!("the outline was removed, so the reader gives blocks");
    };
    let words: usize = blocks.iter().map(|block| word_count(&block.text)).sum();
    let poppler = best_of(5, || {
        run_ok(
            Command::new("pdftotext")
                .arg("-q")
                .arg(&pdf_path)
                .arg(dir.path().join("out.txt")),
        );
    });
    let per_second = |units: f64, time: Duration| units / time.as_secs_f64();
    rows.push([
        format!("text PDF, {pages} pages, {megabytes:.2} MB: `pdf::read`"),
        format!("{:.1} ms", ours.as_secs_f64() * 1000.0),
        format!("{:.0} pages/s", per_second(pages as f64, ours)),
        format!("{:.2} MB/s", per_second(megabytes, ours)),
        format!(
            "{:.2}× pdftotext's time",
            ours.as_secs_f64() / poppler.as_secs_f64()
        ),
    ]);
    rows.push([
        "same file: `pdftotext` (baseline)".into(),
        format!("{:.1} ms", poppler.as_secs_f64() * 1000.0),
        format!("{:.0} pages/s", per_second(pages as f64, poppler)),
        format!("{:.2} MB/s", per_second(megabytes, poppler)),
        "1.00×".into(),
    ]);

    // 2. OCR.
    let jpeg = fixture("ocr/alice-page-scan.jpg");
    let copies = 4;
    let images: Vec<PathBuf> = (0..copies)
        .map(|index| {
            let path = dir.path().join(format!("scan-{index}.jpg"));
            std::fs::write(&path, &jpeg).unwrap();
            path
        })
        .collect();
    let tools = Tools {
        ocr_jobs: cores,
        ..Tools::default()
    };
    let start = Instant::now();
    let read = ocr::ocr_pages(&images, Some("en"), &tools, &|_, _| {}).unwrap();
    let ocr_time = start.elapsed();
    assert_eq!(read.len(), copies);
    let start = Instant::now();
    run_ok(
        Command::new("tesseract")
            .arg(&images[0])
            .arg(dir.path().join("one"))
            .args(["-l", "eng"]),
    );
    let single = start.elapsed();
    let start = Instant::now();
    run_ok(
        Command::new("tesseract")
            .arg(&images[0])
            .arg(dir.path().join("one-thread"))
            .args(["-l", "eng"])
            .env("OMP_THREAD_LIMIT", "1"),
    );
    let single_thread = start.elapsed();
    let ours_rate = per_second(copies as f64, ocr_time);
    let single_rate = per_second(1.0, single);
    rows.push([
        format!("OCR, {copies} scanned pages, `ocr_pages` with {cores} jobs"),
        format!("{:.2} s", ocr_time.as_secs_f64()),
        format!("{ours_rate:.2} pages/s"),
        "—".into(),
        format!("{:.2}× one tesseract's rate", ours_rate / single_rate),
    ]);
    rows.push([
        "one page: one `tesseract` process (baseline)".into(),
        format!("{:.2} s", single.as_secs_f64()),
        format!("{single_rate:.2} pages/s"),
        "—".into(),
        "1.00×".into(),
    ]);

    rows.push([
        "one page: one `tesseract` process, `OMP_THREAD_LIMIT=1`".into(),
        format!("{:.2} s", single_thread.as_secs_f64()),
        format!("{:.2} pages/s", per_second(1.0, single_thread)),
        "—".into(),
        format!("{:.2}×", per_second(1.0, single_thread) / single_rate),
    ]);

    println!("{cores} cores; the text PDF read gives {words} words (alice.pdf has about 26,400).");
    println!();
    println!("| case | time | pages/s | MB/s | vs baseline |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("| {} |", row.join(" | "));
    }
}
