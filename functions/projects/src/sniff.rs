//! The content type of a file from its first bytes, never from the name the client sent.

/// How many leading bytes [`content_type`] looks at.
pub const SNIFF_BYTES: usize = 512;

/// The media type the bytes announce; `application/octet-stream` when unknown.
pub fn content_type(head: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if starts(b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "image/tiff"
    } else if starts(b"PK\x03\x04") && at(30, b"mimetypeapplication/epub+zip") {
        "application/epub+zip"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if at(4, b"ftyp") {
        if at(8, b"M4A ") || at(8, b"M4B ") {
            "audio/mp4"
        } else {
            "video/mp4"
        }
    } else if starts(b"\x1a\x45\xdf\xa3") {
        "video/webm"
    } else if starts(b"OggS") {
        "audio/ogg"
    } else if starts(b"ID3") || (head.len() > 1 && head[0] == 0xff && head[1] & 0xe0 == 0xe0) {
        "audio/mpeg"
    } else if starts(b"WEBVTT") {
        "text/vtt"
    } else if looks_like_text(head) {
        let trimmed = trim_bom(head).trim_ascii_start();
        if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
            "application/json"
        } else if trimmed.len() >= 5
            && (trimmed[..5].eq_ignore_ascii_case(b"<!doc")
                || trimmed[..5].eq_ignore_ascii_case(b"<html"))
        {
            "text/html"
        } else {
            "text/plain"
        }
    } else {
        "application/octet-stream"
    }
}

fn trim_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// UTF-8 (a multi-byte character cut at the end of the window is fine) without NULs or most
/// control characters.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && error.valid_up_to() + 4 > head.len(),
    };
    valid
        && !head.iter().any(|&byte| {
            byte == 0 || (byte < 0x20 && !matches!(byte, b'\n' | b'\r' | b'\t' | 0x0c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n\0\0"), "image/png");
        assert_eq!(content_type(b"\0\0\0\x20ftypisom"), "video/mp4");
        assert_eq!(content_type(b"\0\0\0\x20ftypM4B "), "audio/mp4");
        assert_eq!(content_type(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0mimetypeapplication/epub+zip"), "application/epub+zip");
        assert_eq!(
            content_type("Il était une fois… «»".as_bytes()),
            "text/plain"
        );
        assert_eq!(content_type(b"  {\"a\": 1}"), "application/json");
        assert_eq!(content_type(b"<!DOCTYPE html><p>"), "text/html");
        assert_eq!(
            content_type(b"\0\x01\x02binary"),
            "application/octet-stream"
        );
        // A name saying .txt changes nothing: only bytes are read.
        assert_eq!(content_type(b"MZ\x90\0\x03"), "application/octet-stream");
    }

    #[test]
    fn a_character_cut_by_the_window_is_still_text() {
        let text = "é".repeat(300);
        let head = &text.as_bytes()[..SNIFF_BYTES - 1];
        assert_eq!(content_type(head), "text/plain");
    }
}
