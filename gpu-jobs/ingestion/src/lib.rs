//! Ingestion: the uploaded bytes of a book to `book.v1`.
//!
//! This first version reads plain text (UTF-8 with or without BOM, UTF-16 with BOM): it
//! normalises line endings and Gutenberg-style backtick quotes, drops Project Gutenberg
//! licence blocks, re-flows hard-wrapped lines into paragraphs, finds the title and author in
//! the front matter and splits chapters at their headings (`CHAPTER I`, `Chapter 2. Title`,
//! `CHAPITRE III`). Other formats are recognised from their bytes and refused clearly.

mod text;

use visiobook_domain::Book;

pub use text::parse_text;

/// Why a file cannot become a book.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IngestError {
    #[error("the file is empty")]
    Empty,
    #[error("{0} files are not supported yet; upload a plain-text (.txt) book")]
    UnsupportedFormat(&'static str),
    #[error("the file is not valid UTF-8 or UTF-16 text (byte {offset} is invalid)")]
    Encoding { offset: usize },
    #[error("the file contains no readable words")]
    NoText,
}

/// Names the format of a file from its first bytes (never from its name).
pub fn sniff_format(bytes: &[u8]) -> Result<&'static str, IngestError> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    if starts(b"%PDF-") {
        return Err(IngestError::UnsupportedFormat("PDF"));
    }
    if starts(b"PK\x03\x04") {
        return Err(IngestError::UnsupportedFormat("EPUB or ZIP"));
    }
    if starts(b"\x89PNG") || starts(b"\xFF\xD8\xFF") || starts(b"II*\0") || starts(b"MM\0*") {
        return Err(IngestError::UnsupportedFormat("Image"));
    }
    let has_utf16_bom = starts(b"\xFF\xFE") || starts(b"\xFE\xFF");
    let sample = &bytes[..bytes.len().min(8192)];
    if !has_utf16_bom && sample.contains(&0) {
        return Err(IngestError::UnsupportedFormat("Binary"));
    }
    Ok("txt")
}

/// Ingests a book from its bytes.
pub fn ingest(bytes: &[u8]) -> Result<Book, IngestError> {
    sniff_format(bytes)?;
    let text = decode(bytes)?;
    parse_text(&text)
}

/// Decodes text: UTF-8 (BOM optional) or UTF-16 with a BOM.
pub fn decode(bytes: &[u8]) -> Result<String, IngestError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest, 3);
    }
    for (bom, little_endian) in [(b"\xFF\xFE", true), (b"\xFE\xFF", false)] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|pair| {
                    let pair = [pair[0], pair[1]];
                    if little_endian {
                        u16::from_le_bytes(pair)
                    } else {
                        u16::from_be_bytes(pair)
                    }
                })
                .collect();
            return String::from_utf16(&units).map_err(|_| IngestError::Encoding { offset: 0 });
        }
    }
    utf8(bytes, 0)
}

fn utf8(bytes: &[u8], skipped: usize) -> Result<String, IngestError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|error| IngestError::Encoding {
            offset: skipped + error.valid_up_to(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_identified_from_bytes() {
        let check = |bytes: &[u8], expected: Result<&'static str, IngestError>| {
            assert_eq!(sniff_format(bytes), expected, "{bytes:?}");
        };
        check(b"", Err(IngestError::Empty));
        check(b"%PDF-1.7\n", Err(IngestError::UnsupportedFormat("PDF")));
        check(
            b"PK\x03\x04rest",
            Err(IngestError::UnsupportedFormat("EPUB or ZIP")),
        );
        check(b"\x89PNG\r\n", Err(IngestError::UnsupportedFormat("Image")));
        check(b"abc\0def", Err(IngestError::UnsupportedFormat("Binary")));
        check(b"Once upon a time", Ok("txt"));
        check(b"\xFF\xFEa\0", Ok("txt"));
    }

    #[test]
    fn encodings_decode_or_fail_with_the_offset() {
        assert_eq!(decode(b"\xEF\xBB\xBFcaf\xC3\xA9").as_deref(), Ok("café"));
        assert_eq!(decode(b"\xFF\xFEh\0i\0").as_deref(), Ok("hi"));
        assert_eq!(decode(b"\xFE\xFF\0h\0i").as_deref(), Ok("hi"));
        assert_eq!(
            decode(b"ok \xFF bad"),
            Err(IngestError::Encoding { offset: 3 })
        );
    }
}
