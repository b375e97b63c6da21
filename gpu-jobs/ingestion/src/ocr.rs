//! Scanned pages through tesseract.
//!
//! Each page is one `tesseract IMAGE stdout -l LANG tsv` process (with `OMP_THREAD_LIMIT=1`,
//! so that parallelism comes from running [`crate::Tools::ocr_jobs`] processes at once rather
//! than from tesseract's own threads). The TSV output gives every word with its block,
//! paragraph and line numbers and its confidence: the page text keeps tesseract's paragraphs
//! (separated by blank lines) and the page confidence is the mean word confidence.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use visiobook_domain::{SourceFormat, Warning};

use crate::extract::{Body, Extracted, blocks_from_text};
use crate::{IngestError, IngestOptions, Progress, Tools};

const TOOL: &str = "tesseract";

/// The text tesseract read on one page.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrPage {
    /// Lines joined by `\n`, paragraphs separated by a blank line.
    pub text: String,
    /// Mean word confidence, 0..=100 (0 when no word was found).
    pub confidence: f32,
}

/// Reads a single scanned image (PNG, JPEG, TIFF; all pages of a multi-page TIFF).
pub fn read_image(
    bytes: &[u8],
    options: &IngestOptions,
    progress: Progress<'_>,
) -> Result<Extracted, IngestError> {
    let suffix = match bytes {
        [0x89, b'P', b'N', b'G', ..] => ".png",
        [0xFF, 0xD8, 0xFF, ..] => ".jpg",
        _ => ".tif",
    };
    let dir = temp_dir()?;
    let path = dir.path().join(format!("page{suffix}"));
    write_file(&path, bytes)?;
    let pages = ocr_pages(
        std::slice::from_ref(&path),
        options.language.as_deref(),
        &options.tools,
        progress,
    )?;
    let mut blocks = Vec::new();
    let mut warnings = Vec::new();
    for page in pages {
        blocks.extend(blocks_from_text(&page.text));
        warnings.push(ocr_warning(None, page.confidence));
    }
    let mut extracted = Extracted::new(SourceFormat::Image, Body::Blocks(blocks));
    extracted.warnings = warnings;
    Ok(extracted)
}

/// The `ocr_page` warning for a page read by OCR.
pub(crate) fn ocr_warning(page: Option<u32>, confidence: f32) -> Warning {
    let message = match page {
        Some(page) => format!(
            "page {page} has no text layer and was read by OCR (mean word confidence {confidence:.0}%)"
        ),
        None => format!("the image was read by OCR (mean word confidence {confidence:.0}%)"),
    };
    Warning {
        page,
        confidence: Some(confidence),
        ..Warning::new("ocr_page", message)
    }
}

pub(crate) fn temp_dir() -> Result<tempfile::TempDir, IngestError> {
    tempfile::Builder::new()
        .prefix("visiobook-ocr-")
        .tempdir()
        .map_err(|error| IngestError::Tool {
            tool: TOOL,
            message: format!("cannot create a temporary directory: {error}"),
        })
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), IngestError> {
    std::fs::File::create(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|error| IngestError::Tool {
            tool: TOOL,
            message: format!("cannot write {}: {error}", path.display()),
        })
}

/// OCRs `images` in order, at most `tools.ocr_jobs` tesseract processes at a time.
///
/// `language` is the book's language as the user gave it (`en`, `fr`, or a tesseract code such
/// as `eng`); without it the first page is read with every installed language of
/// English and French and the language of its text is used for the other pages.
pub fn ocr_pages(
    images: &[PathBuf],
    language: Option<&str>,
    tools: &Tools,
    progress: Progress<'_>,
) -> Result<Vec<OcrPage>, IngestError> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let total = u32::try_from(images.len()).unwrap_or(u32::MAX);
    let installed = installed_languages(&tools.tesseract)?;
    let mut results: Vec<Option<OcrPage>> = vec![None; images.len()];
    // Reported under the lock, so that the counts arrive in order.
    let done = Mutex::new(0_u32);
    let report = || {
        if let Ok(mut done) = done.lock() {
            *done += 1;
            progress(*done, total);
        }
    };

    let language = match language.and_then(tesseract_language) {
        Some(code) if installed.contains(code) => code.to_owned(),
        _ => {
            // Detect: read the first page with every candidate, then pick one by its text.
            let candidates: Vec<&str> = ["eng", "fra"]
                .into_iter()
                .filter(|code| installed.contains(*code))
                .collect();
            let first_language = if candidates.is_empty() {
                installed
                    .iter()
                    .find(|code| code.as_str() != "osd")
                    .cloned()
                    .unwrap_or_else(|| "eng".to_owned())
            } else {
                candidates.join("+")
            };
            let first = run_tesseract(&tools.tesseract, &images[0], &first_language)?;
            report();
            let detected = if candidates.len() > 1 {
                detect_language(&first.text).to_owned()
            } else {
                first_language
            };
            results[0] = Some(first);
            detected
        }
    };

    let pending: Vec<usize> = (0..images.len())
        .filter(|&index| results[index].is_none())
        .collect();
    let next = AtomicUsize::new(0);
    let slots = Mutex::new(results);
    let failure: Mutex<Option<IngestError>> = Mutex::new(None);
    let workers = tools.ocr_jobs.clamp(1, pending.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let position = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&index) = pending.get(position) else {
                        return;
                    };
                    match run_tesseract(&tools.tesseract, &images[index], &language) {
                        Ok(page) => {
                            if let Ok(mut slots) = slots.lock() {
                                slots[index] = Some(page);
                            }
                            report();
                        }
                        Err(error) => {
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(error);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().ok().flatten() {
        return Err(error);
    }
    let results = slots.into_inner().map_err(|_| IngestError::Tool {
        tool: TOOL,
        message: "an OCR worker panicked".into(),
    })?;
    results
        .into_iter()
        .map(|page| {
            page.ok_or_else(|| IngestError::Tool {
                tool: TOOL,
                message: "a page was not read".into(),
            })
        })
        .collect()
}

/// `en` to `eng`, `fr-FR` to `fra`; tesseract codes pass through.
fn tesseract_language(language: &str) -> Option<&'static str> {
    let primary = language
        .split(['-', '_'])
        .next()
        .unwrap_or(language)
        .trim()
        .to_ascii_lowercase();
    let code = match primary.as_str() {
        "en" | "eng" => "eng",
        "fr" | "fra" | "fre" => "fra",
        "de" | "deu" | "ger" => "deu",
        "es" | "spa" => "spa",
        "it" | "ita" => "ita",
        "pt" | "por" => "por",
        "nl" | "nld" | "dut" => "nld",
        _ => return None,
    };
    Some(code)
}

/// English or French, from the frequency of their commonest short words.
fn detect_language(text: &str) -> &'static str {
    const ENGLISH: &[&str] = &[
        "the", "and", "to", "of", "a", "was", "she", "it", "in", "that", "is", "you", "he", "i",
        "with", "for", "on", "said", "her", "his", "not", "but", "at", "as", "had", "be",
    ];
    const FRENCH: &[&str] = &[
        "le", "la", "les", "de", "des", "et", "un", "une", "est", "que", "qui", "dans", "pas",
        "il", "elle", "je", "vous", "du", "au", "pour", "sur", "ne", "se", "en", "avec", "son",
    ];
    let (mut english, mut french) = (0_usize, 0_usize);
    for word in text.split(|c: char| !c.is_alphabetic()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        english += usize::from(ENGLISH.contains(&word.as_str()));
        french += usize::from(FRENCH.contains(&word.as_str()));
    }
    if french > english { "fra" } else { "eng" }
}

fn tool_error(message: impl Into<String>) -> IngestError {
    IngestError::Tool {
        tool: TOOL,
        message: message.into(),
    }
}

fn spawn_error(program: &Path, error: &std::io::Error) -> IngestError {
    if error.kind() == std::io::ErrorKind::NotFound {
        tool_error(format!("{} was not found", program.display()))
    } else {
        tool_error(format!("cannot run {}: {error}", program.display()))
    }
}

/// The languages tesseract has data for (`tesseract --list-langs`).
fn installed_languages(program: &Path) -> Result<BTreeSet<String>, IngestError> {
    let output = Command::new(program)
        .arg("--list-langs")
        .env("OMP_THREAD_LIMIT", "1")
        .output()
        .map_err(|error| spawn_error(program, &error))?;
    if !output.status.success() {
        return Err(tool_error(format!(
            "--list-langs failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    // The list goes to stdout in tesseract 4 and 5 (stderr in some older builds).
    let mut listing = String::from_utf8_lossy(&output.stdout).into_owned();
    listing.push('\n');
    listing.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(listing
        .lines()
        .skip_while(|line| !line.starts_with("List of available languages"))
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains(' '))
        .map(str::to_owned)
        .collect())
}

fn run_tesseract(program: &Path, image: &Path, language: &str) -> Result<OcrPage, IngestError> {
    let output = Command::new(program)
        .arg(image)
        .arg("stdout")
        .args(["-l", language, "--psm", "3", "tsv"])
        .env("OMP_THREAD_LIMIT", "1")
        .output()
        .map_err(|error| spawn_error(program, &error))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let unreadable = [
            "pixRead",
            "cannot be read",
            "Error during processing",
            "truncated",
        ];
        if unreadable.iter().any(|marker| stderr.contains(marker))
            && !stderr.contains("Could not initialize")
        {
            return Err(IngestError::Corrupt(format!(
                "the image cannot be read: {}",
                last_line(&stderr)
            )));
        }
        return Err(tool_error(format!(
            "exit status {}: {}",
            output.status,
            last_line(&stderr)
        )));
    }
    if stderr.contains("Could not initialize tesseract") {
        return Err(tool_error(last_line(&stderr)));
    }
    Ok(parse_tsv(&String::from_utf8_lossy(&output.stdout)))
}

fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("no message")
        .to_owned()
}

/// Page text and mean word confidence from tesseract's TSV: words are grouped into lines by
/// `(page, block, paragraph, line)` and lines into paragraphs by `(page, block, paragraph)`.
pub(crate) fn parse_tsv(tsv: &str) -> OcrPage {
    let mut text = String::new();
    let mut paragraph_key: Option<(u32, u32, u32)> = None;
    let mut line_key: Option<u32> = None;
    let (mut confidence_sum, mut words) = (0.0_f64, 0_u32);
    for row in tsv.lines() {
        let fields: Vec<&str> = row.split('\t').collect();
        if fields.len() < 12 || fields[0] != "5" {
            continue;
        }
        let word = fields[11].trim();
        if word.is_empty() {
            continue;
        }
        let number = |index: usize| fields[index].trim().parse::<u32>().unwrap_or(0);
        let paragraph = (number(1), number(2), number(3));
        let line = number(4);
        if paragraph_key != Some(paragraph) {
            if paragraph_key.is_some() {
                text.push_str("\n\n");
            }
            paragraph_key = Some(paragraph);
            line_key = Some(line);
        } else if line_key != Some(line) {
            text.push('\n');
            line_key = Some(line);
        } else {
            text.push(' ');
        }
        text.push_str(word);
        if let Ok(confidence) = fields[10].trim().parse::<f64>()
            && confidence >= 0.0
        {
            confidence_sum += confidence;
            words += 1;
        }
    }
    let confidence = if words == 0 {
        0.0
    } else {
        (confidence_sum / f64::from(words)) as f32
    };
    OcrPage { text, confidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_keeps_paragraphs_and_averages_confidence() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
            1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t\n\
            5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\tA\n\
            5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t80\trab-\n\
            5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t70\tbit.\n\
            5\t1\t2\t1\t1\t1\t0\t0\t1\t1\t60\tNext\n\
            5\t1\t2\t1\t1\t2\t0\t0\t1\t1\t-1\t \n";
        let page = parse_tsv(tsv);
        assert_eq!(page.text, "A rab-\nbit.\n\nNext");
        assert!((page.confidence - 75.0).abs() < 1e-3);
        let blocks = blocks_from_text(&page.text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].text, "A rabbit.");
    }

    #[test]
    fn languages_map_and_detect() {
        assert_eq!(tesseract_language("en"), Some("eng"));
        assert_eq!(tesseract_language("fr-CA"), Some("fra"));
        assert_eq!(tesseract_language("xx"), None);
        assert_eq!(detect_language("the cat and the dog said it was"), "eng");
        assert_eq!(
            detect_language("le chat et la souris, elle est dans la maison"),
            "fra"
        );
    }
}
