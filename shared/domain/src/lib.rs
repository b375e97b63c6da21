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
