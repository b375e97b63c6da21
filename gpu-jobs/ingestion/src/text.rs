//! Plain text: encoding detection, normalisation, Project Gutenberg boilerplate, blocks.

use visiobook_domain::{SourceFormat, Warning};

use crate::IngestError;
use crate::extract::{Body, Extracted, blocks_from_plain_text};

/// Reads a plain-text book.
pub fn read(bytes: &[u8]) -> Result<Extracted, IngestError> {
    let (text, warnings) = decode(bytes)?;
    let normalised = normalise(&text);
    let body = strip_gutenberg(&normalised);
    let mut extracted = Extracted::new(
        SourceFormat::Txt,
        Body::Blocks(blocks_from_plain_text(body)),
    );
    extracted.warnings = warnings;
    Ok(extracted)
}

/// Decodes text: UTF-8 (BOM optional), UTF-16 LE/BE with a BOM, and otherwise Windows-1252
/// (a superset of Latin-1's printable range), which is then reported as a guess.
pub fn decode(bytes: &[u8]) -> Result<(String, Vec<Warning>), IngestError> {
    if let Some((encoding, bom_length)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_length..]);
        if had_errors {
            return Err(IngestError::Encoding(format!(
                "the file starts with a {} byte-order mark but is not valid {}",
                encoding.name(),
                encoding.name()
            )));
        }
        return Ok((text.into_owned(), Vec::new()));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), Vec::new()));
    }
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
    Ok((
        text.into_owned(),
        vec![Warning::new(
            "encoding_guessed",
            "the text is not UTF-8; it was read as Windows-1252 (Latin-1)",
        )],
    ))
}

/// CRLF and CR to LF; Gutenberg's `` `quote' `` convention to typographic quotes; no-break
/// and other odd spaces to plain spaces.
pub fn normalise(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('`', "\u{2018}")
        .replace(['\u{00A0}', '\u{2007}', '\u{202F}'], " ")
        .replace('\u{00AD}', "")
}

/// Keeps the text between Project Gutenberg's `*** START OF` and `*** END OF` markers.
pub fn strip_gutenberg(text: &str) -> &str {
    let mut start = 0;
    let mut end = text.len();
    if let Some(marker) = text.find("*** START OF") {
        start = text[marker..]
            .find('\n')
            .map_or(text.len(), |newline| marker + newline + 1);
    }
    if let Some(marker) = text[start..].find("*** END OF") {
        end = start + marker;
    } else if let Some(marker) = text[start..].find("End of the Project Gutenberg") {
        end = start + marker;
    }
    &text[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_decode_or_are_guessed() {
        let check = |bytes: &[u8], expected: &str, guessed: bool| {
            let (text, warnings) = decode(bytes).expect("decodes");
            assert_eq!(text, expected);
            assert_eq!(!warnings.is_empty(), guessed, "{bytes:?}");
        };
        check(b"\xEF\xBB\xBFcaf\xC3\xA9", "café", false);
        check(b"\xFF\xFEh\0i\0", "hi", false);
        check(b"\xFE\xFF\0h\0i", "hi", false);
        check("café".as_bytes(), "café", false);
        check(
            b"caf\xE9 \x93quoted\x94",
            "café \u{201C}quoted\u{201D}",
            true,
        );
        assert_eq!(
            decode(b"\xFF\xFEa").map_err(|e| e.code()).err(),
            Some("bad_encoding")
        );
    }

    #[test]
    fn gutenberg_licence_blocks_are_dropped() {
        let text = "Header licence\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nCHAPTER 1\n\nReal text.\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence words";
        assert_eq!(strip_gutenberg(text), "CHAPTER 1\n\nReal text.\n");
    }

    #[test]
    fn normalisation_fixes_line_endings_and_quotes() {
        assert_eq!(
            normalise("`Oh dear!'\r\nsoft\u{00AD}ly\u{00A0}now\r"),
            "\u{2018}Oh dear!'\nsoftly now\n"
        );
    }
}
