//! Ingestion: the uploaded bytes of a book to `book.v1`.
//!
//! The format is identified from the bytes ([`sniff_format`]), never from a file name. Each
//! format has a reader that produces an [`extract::Extracted`]: plain text, Markdown and HTML
//! ([`text`], [`markup`]), EPUB 2 and 3 ([`epub`]), PDF with a text layer ([`pdf`]), and scanned
//! PDFs and images through tesseract ([`ocr`]). [`structure`] then turns it into chapters with
//! titles, front and back matter, stable paragraph ids, offsets, word counts and the language.
//!
//! Every reader is bounded by [`Limits`]: archive entries and their decompressed size, pages,
//! and no XML entity expansion at all, so hostile files fail with a specific error instead of
//! exhausting the machine.

pub mod epub;
pub mod extract;
pub mod markup;
pub mod ocr;
pub mod pdf;
pub mod structure;
pub mod text;
pub mod xhtml;

use std::path::PathBuf;

use visiobook_domain::Book;

pub use structure::assemble;

/// Bounds on what a single book may make the reader do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Pages of a PDF (text or scanned).
    pub max_pages: u32,
    /// Total decompressed bytes read from an archive (EPUB).
    pub max_decompressed_bytes: u64,
    /// Entries in an archive.
    pub max_archive_entries: usize,
    /// Largest ratio of decompressed to compressed size of one archive entry.
    pub max_compression_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pages: 2_000,
            max_decompressed_bytes: 512 * 1024 * 1024,
            max_archive_entries: 10_000,
            max_compression_ratio: 200,
        }
    }
}

/// External programs the readers use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub tesseract: PathBuf,
    pub pdftoppm: PathBuf,
    /// Parallel OCR processes (one per core by default).
    pub ocr_jobs: usize,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            tesseract: PathBuf::from("tesseract"),
            pdftoppm: PathBuf::from("pdftoppm"),
            ocr_jobs: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// How to read a book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOptions {
    /// The book's language as the user gave it (`en`, `fr`); detected when `None`.
    pub language: Option<String>,
    pub limits: Limits,
    pub tools: Tools,
}

/// Progress of a long read: `done` of `total` units (pages, or spine items).
pub type Progress<'a> = &'a (dyn Fn(u32, u32) + Send + Sync);

/// The formats Visiobook reads, as identified from their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Html,
    Epub,
    Pdf,
    Png,
    Jpeg,
    Tiff,
}

/// Why a file cannot become a book. Every variant has a stable [`IngestError::code`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IngestError {
    #[error("the file is empty")]
    Empty,
    #[error("this is not a book Visiobook can read: {0}")]
    UnsupportedFormat(String),
    #[error("the text cannot be decoded: {0}")]
    Encoding(String),
    #[error("the file contains no readable words")]
    NoText,
    #[error("the file is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("the file is encrypted or DRM-protected: {0}")]
    Encrypted(String),
    #[error("the archive expands too much ({0}); it looks like a zip bomb")]
    ZipBomb(String),
    #[error("the archive has an unsafe entry name {0:?}")]
    UnsafePath(String),
    #[error("the book is over a limit: {0}")]
    TooLarge(String),
    #[error("the XML is not acceptable: {0}")]
    Xml(String),
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
}

impl IngestError {
    /// Stable snake_case code for HTTP error envelopes and status documents.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Empty => "empty_file",
            IngestError::UnsupportedFormat(_) => "unsupported_format",
            IngestError::Encoding(_) => "bad_encoding",
            IngestError::NoText => "no_text",
            IngestError::Corrupt(_) => "corrupt_file",
            IngestError::Encrypted(_) => "encrypted_file",
            IngestError::ZipBomb(_) => "zip_bomb",
            IngestError::UnsafePath(_) => "unsafe_archive_path",
            IngestError::TooLarge(_) => "over_limit",
            IngestError::Xml(_) => "unsafe_xml",
            IngestError::Tool { .. } => "tool_failed",
        }
    }

    /// Whether retrying the same file could succeed (only tool failures can).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, IngestError::Tool { .. })
    }
}

/// Identifies the format from the first bytes.
pub fn sniff_format(bytes: &[u8]) -> Result<Format, IngestError> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::Empty);
    }
    if starts(b"%PDF-") {
        return Ok(Format::Pdf);
    }
    if starts(b"PK\x03\x04") {
        return Ok(Format::Epub);
    }
    if starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Err(IngestError::UnsupportedFormat(
            "an empty or spanned ZIP archive".into(),
        ));
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if starts(b"\xFF\xD8\xFF") {
        return Ok(Format::Jpeg);
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Ok(Format::Tiff);
    }
    for (magic, name) in [
        (&b"\x1f\x8b"[..], "gzip data"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
        (b"GIF8", "a GIF image"),
        (b"\xD0\xCF\x11\xE0", "an old Microsoft Office file"),
        (b"{\\rtf", "an RTF document"),
        (b"\x7fELF", "a program"),
    ] {
        if starts(magic) {
            return Err(IngestError::UnsupportedFormat(name.into()));
        }
    }
    let has_utf16_bom = starts(b"\xFF\xFE") || starts(b"\xFE\xFF");
    let sample = &bytes[..bytes.len().min(8192)];
    if !has_utf16_bom && looks_binary(sample) {
        return Err(IngestError::UnsupportedFormat("binary data".into()));
    }
    Ok(markup::text_flavour(sample))
}

/// NUL bytes or many control characters mean binary data, not text in any 8-bit encoding.
fn looks_binary(sample: &[u8]) -> bool {
    let controls = sample
        .iter()
        .filter(|&&byte| byte < 0x20 && !matches!(byte, b'\n' | b'\r' | b'\t' | 0x0C))
        .count();
    sample.contains(&0) || controls * 20 > sample.len()
}

/// What an upload checks before accepting a file, so that hostile or broken files get a 4xx
/// at once: the format from the bytes, then the structure where that is cheap and bounded. An
/// EPUB is read in full (its archive checks are the point: zip bombs, unsafe names, DTD
/// entities, DRM); a PDF is opened and its page tree checked; text must decode. Images are
/// left to OCR.
pub fn preflight(bytes: &[u8], options: &IngestOptions) -> Result<Format, IngestError> {
    let format = sniff_format(bytes)?;
    match format {
        Format::Epub => {
            epub::read(bytes, options, &|_, _| {})?;
        }
        Format::Pdf => {
            pdf::preflight(bytes, options)?;
        }
        Format::Text | Format::Markdown | Format::Html => {
            text::decode(bytes)?;
        }
        Format::Png | Format::Jpeg | Format::Tiff => {}
    }
    Ok(format)
}

/// The format a file name's extension claims, if it names one Visiobook knows.
pub fn format_from_extension(file_name: &str) -> Option<Format> {
    let extension = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "txt" | "text" => Format::Text,
        "md" | "markdown" => Format::Markdown,
        "html" | "htm" | "xhtml" => Format::Html,
        "epub" => Format::Epub,
        "pdf" => Format::Pdf,
        "png" => Format::Png,
        "jpg" | "jpeg" => Format::Jpeg,
        "tif" | "tiff" => Format::Tiff,
        _ => return None,
    })
}

/// Reads a book from its bytes. `progress` hears about pages (PDF, OCR) or items (EPUB).
pub fn ingest(
    bytes: &[u8],
    options: &IngestOptions,
    progress: Progress<'_>,
) -> Result<Book, IngestError> {
    let extracted = match sniff_format(bytes)? {
        Format::Text => text::read(bytes)?,
        Format::Markdown => markup::read_markdown(bytes)?,
        Format::Html => markup::read_html(bytes)?,
        Format::Epub => epub::read(bytes, options, progress)?,
        Format::Pdf => pdf::read(bytes, options, progress)?,
        Format::Png | Format::Jpeg | Format::Tiff => ocr::read_image(bytes, options, progress)?,
    };
    assemble(extracted, options.language.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_identified_from_bytes() {
        let check = |bytes: &[u8], expected: Result<Format, &str>| {
            let found = sniff_format(bytes).map_err(|error| error.code());
            assert_eq!(found, expected, "{bytes:?}");
        };
        check(b"", Err("empty_file"));
        check(b" \n\t", Err("empty_file"));
        check(b"%PDF-1.7\n", Ok(Format::Pdf));
        check(b"PK\x03\x04rest", Ok(Format::Epub));
        check(b"\x89PNG\r\n\x1a\nrest", Ok(Format::Png));
        check(b"\xFF\xD8\xFF\xE0", Ok(Format::Jpeg));
        check(b"II*\0", Ok(Format::Tiff));
        check(b"\x1f\x8b\x08", Err("unsupported_format"));
        check(b"abc\0def", Err("unsupported_format"));
        check(b"Once upon a time", Ok(Format::Text));
        check(b"\xFF\xFEa\0", Ok(Format::Text));
        check(b"caf\xE9 au lait", Ok(Format::Text));
        check(
            b"<!DOCTYPE html><html><body><p>Hi</p></body></html>",
            Ok(Format::Html),
        );
        check(
            b"# Title\n\nSome *text*.\n\n## Chapter 1\n",
            Ok(Format::Markdown),
        );
    }
}
