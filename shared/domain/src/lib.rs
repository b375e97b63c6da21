//! Pure domain types of Visiobook: the versioned artifacts that flow between pipeline stages and
//! the pipeline's status document. No I/O, no knowledge of HTTP, SQLite or Azure.

pub mod analysis;
pub mod artifacts;
pub mod book;
pub mod schema;
pub mod status;
pub mod timeline;

pub use analysis::{Analysis, Character, Mood, NarrationLine, Place, Scene};
pub use book::{Book, Chapter, Matter, Paragraph, SourceFormat, Warning};
pub use status::{BookState, BookStatus, Stage, StageMessage, StageRecord};
pub use timeline::{Shot, Timeline};

/// Counts words the way every stage does, so that counts agree across artifacts.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace()
        .filter(|token| token.chars().any(char::is_alphanumeric))
        .count()
}

/// A stable 64-bit seed from a string (FNV-1a): the same text gives the same seed on every
/// machine and in every version, for looks, layouts and music that must not change.
pub fn stable_seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Splits text into sentences at `.`, `!`, `?` followed by a space (quotes kept).
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (position, &(index, c)) in chars.iter().enumerate() {
        if matches!(c, '.' | '!' | '?') {
            let mut end = index + c.len_utf8();
            let mut next = position + 1;
            while let Some(&(at, closer)) = chars.get(next) {
                if matches!(closer, '\'' | '’' | '"' | '”' | '»' | ')' | '.' | '!' | '?') {
                    end = at + closer.len_utf8();
                    next += 1;
                } else {
                    break;
                }
            }
            if chars.get(next).is_none_or(|(_, c)| c.is_whitespace()) && end - start > 1 {
                out.push(text[start..end].trim());
                start = end;
            }
        }
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        out.push(text[start..].trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::word_count;

    #[test]
    fn word_count_ignores_punctuation_tokens() {
        let check =
            |text: &str, expected: usize| assert_eq!(word_count(text), expected, "{text:?}");
        check("", 0);
        check("Alice was beginning", 3);
        check("'Oh dear! -- Oh dear!'", 4);
        check("* * *", 0);
        check("l'été  est   là", 3);
    }
}
