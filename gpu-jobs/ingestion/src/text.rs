//! Plain text to `book.v1`.

use visiobook_domain::book::BOOK_SCHEMA;
use visiobook_domain::{Book, Chapter, Paragraph, SourceFormat, word_count};

use crate::IngestError;

/// A block of text between blank lines, re-flowed, with its offset in the normalised text.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    text: String,
    char_offset: usize,
    /// The block was a single line (headings and titles are).
    single_line: bool,
}

/// Parses normalised-or-not plain text into a book.
pub fn parse_text(raw: &str) -> Result<Book, IngestError> {
    let normalised = normalise(raw);
    let body = strip_gutenberg(&normalised);
    let blocks = blocks(body.text, body.offset);
    if blocks.iter().all(|block| word_count(&block.text) == 0) {
        return Err(IngestError::NoText);
    }
    let mut warnings = Vec::new();
    let headings: Vec<usize> = blocks
        .iter()
        .enumerate()
        .filter(|(_, block)| chapter_heading(block).is_some())
        .map(|(index, _)| index)
        .collect();

    let (front, chapter_starts) = if headings.is_empty() {
        warnings.push("no chapter headings found; the whole text is one chapter".to_owned());
        (&blocks[..0], vec![0])
    } else {
        (&blocks[..headings[0]], headings.clone())
    };
    let (title, author) = front_matter(front);

    let mut chapters = Vec::new();
    for (position, &start) in chapter_starts.iter().enumerate() {
        let end = chapter_starts
            .get(position + 1)
            .copied()
            .unwrap_or(blocks.len());
        let ordinal = u32::try_from(chapters.len() + 1).unwrap_or(u32::MAX);
        let mut body = &blocks[start..end];
        let chapter_title = if headings.is_empty() {
            title.clone().unwrap_or_else(|| "Text".to_owned())
        } else {
            let heading = chapter_heading(&body[0]).unwrap_or_default();
            body = &body[1..];
            // A short single line right after a bare heading is the chapter's name.
            match body.first() {
                Some(next) if heading.1.is_none() && is_subtitle(next) => {
                    body = &body[1..];
                    format!("{} — {}", heading.0, next.text)
                }
                _ => match heading.1 {
                    Some(name) => format!("{} — {name}", heading.0),
                    None => heading.0,
                },
            }
        };
        let paragraphs: Vec<Paragraph> = body
            .iter()
            .filter(|block| word_count(&block.text) > 0)
            .enumerate()
            .map(|(index, block)| Paragraph {
                id: format!("c{ordinal}-p{}", index + 1),
                word_count: word_count(&block.text),
                text: block.text.clone(),
                char_offset: block.char_offset,
            })
            .collect();
        if paragraphs.is_empty() {
            warnings.push(format!(
                "chapter {ordinal} ({chapter_title}) has no text and was skipped"
            ));
            continue;
        }
        chapters.push(Chapter {
            ordinal,
            word_count: paragraphs.iter().map(|p| p.word_count).sum(),
            title: chapter_title,
            paragraphs,
        });
    }
    for (index, chapter) in chapters.iter_mut().enumerate() {
        chapter.ordinal = u32::try_from(index + 1).unwrap_or(u32::MAX);
        for (position, paragraph) in chapter.paragraphs.iter_mut().enumerate() {
            paragraph.id = format!("c{}-p{}", chapter.ordinal, position + 1);
        }
    }
    let all_text: String = chapters
        .iter()
        .flat_map(|chapter| chapter.paragraphs.iter().map(|p| p.text.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Book {
        schema: BOOK_SCHEMA.to_owned(),
        title: title.unwrap_or_else(|| "Untitled".to_owned()),
        author,
        language: detect_language(&all_text).to_owned(),
        source_format: SourceFormat::Txt,
        word_count: chapters.iter().map(|c| c.word_count).sum(),
        chapters,
        warnings,
    })
}

/// CRLF and CR to LF; Gutenberg's `` `quote' `` convention to typographic quotes.
fn normalise(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('`', "\u{2018}")
}

struct Body<'a> {
    text: &'a str,
    offset: usize,
}

/// Keeps the text between Project Gutenberg's `*** START OF` and `*** END OF` markers.
fn strip_gutenberg(text: &str) -> Body<'_> {
    let mut start = 0;
    let mut end = text.len();
    if let Some(marker) = text.find("*** START OF") {
        start = text[marker..]
            .find('\n')
            .map_or(text.len(), |newline| marker + newline + 1);
    }
    if let Some(marker) = text[start..].find("*** END OF") {
        end = start + marker;
    }
    Body {
        text: &text[start..end],
        offset: text[..start].chars().count(),
    }
}

fn blocks(text: &str, base_offset: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut block_offset = 0;
    let mut offset = base_offset;
    for line in text.split('\n') {
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(reflow(&current, block_offset));
                current.clear();
            }
        } else {
            if current.is_empty() {
                block_offset = offset + (line.chars().count() - line.trim_start().chars().count());
            }
            current.push(line.trim());
        }
        offset += line.chars().count() + 1;
    }
    if !current.is_empty() {
        blocks.push(reflow(&current, block_offset));
    }
    blocks
}

/// Joins hard-wrapped lines; a line ending in a hyphen joins without a space only when the
/// hyphen splits a word across lines (`WAISTCOAT-` + `POCKET` keeps its hyphen).
fn reflow(lines: &[&str], char_offset: usize) -> Block {
    let mut text = String::new();
    for line in lines {
        if !text.is_empty() && !text.ends_with('-') {
            text.push(' ');
        }
        text.push_str(line);
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Block {
        text,
        char_offset,
        single_line: lines.len() == 1,
    }
}

/// `("Chapter I", Some(name))` when the block is a chapter heading.
fn chapter_heading(block: &Block) -> Option<(String, Option<String>)> {
    if !block.single_line || block.text.chars().count() > 80 {
        return None;
    }
    let mut words = block.text.splitn(2, char::is_whitespace);
    let keyword = words.next()?;
    let lowered = keyword.to_lowercase();
    if !matches!(
        lowered.as_str(),
        "chapter" | "chapitre" | "book" | "part" | "livre"
    ) {
        return None;
    }
    let rest = words.next()?.trim();
    let (number, name) = match rest.find(['.', ':', '—', '-']) {
        Some(split) => (
            rest[..split].trim(),
            Some(
                rest[split..]
                    .trim_start_matches(['.', ':', '—', '-'])
                    .trim(),
            ),
        ),
        None => match rest.split_once(char::is_whitespace) {
            Some((number, name)) => (number, Some(name.trim())),
            None => (rest, None),
        },
    };
    let is_roman = !number.is_empty() && number.chars().all(|c| "IVXLCDMivxlcdm".contains(c));
    let is_arabic = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit());
    let is_word = matches!(
        number.to_lowercase().as_str(),
        "one"
            | "two"
            | "three"
            | "four"
            | "five"
            | "six"
            | "seven"
            | "eight"
            | "nine"
            | "ten"
            | "first"
            | "last"
    );
    if !(is_roman || is_arabic || is_word) {
        return None;
    }
    let label = format!(
        "{}{} {}",
        keyword[..1].to_uppercase(),
        keyword[1..].to_lowercase(),
        number
    );
    Some((
        label,
        name.filter(|name| !name.is_empty()).map(str::to_owned),
    ))
}

fn is_subtitle(block: &Block) -> bool {
    block.single_line
        && block.text.chars().count() <= 70
        && !block.text.ends_with(['.', ',', ';'])
        && chapter_heading(block).is_none()
}

/// Title and author from the short lines before the first chapter.
fn front_matter(front: &[Block]) -> (Option<String>, Option<String>) {
    let short: Vec<&Block> = front
        .iter()
        .filter(|block| block.single_line && block.text.chars().count() <= 100)
        .collect();
    let title = short.first().map(|block| title_case(&block.text));
    let author = short
        .get(1)
        .map(|block| {
            block
                .text
                .trim_start_matches("by ")
                .trim_start_matches("By ")
                .to_owned()
        })
        .filter(|author| {
            let words = author.split_whitespace().count();
            (1..=5).contains(&words) && !author.chars().any(|c| c.is_ascii_digit())
        });
    (title, author)
}

/// `ALICE'S ADVENTURES` to `Alice's Adventures`; mixed-case text is left alone.
fn title_case(text: &str) -> String {
    if text.chars().any(char::is_lowercase) {
        return text.to_owned();
    }
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// English or French, from the frequency of common short words.
fn detect_language(text: &str) -> &'static str {
    const ENGLISH: &[&str] = &[
        "the", "and", "of", "to", "was", "she", "he", "it", "that", "in",
    ];
    const FRENCH: &[&str] = &[
        "le", "la", "les", "et", "de", "des", "un", "une", "est", "que", "il", "elle",
    ];
    let (mut english, mut french) = (0, 0);
    for word in text.split_whitespace().take(20_000) {
        let word = word
            .trim_matches(|c: char| !c.is_alphabetic())
            .to_lowercase();
        if ENGLISH.contains(&word.as_str()) {
            english += 1;
        }
        if FRENCH.contains(&word.as_str()) {
            french += 1;
        }
    }
    if french > english { "fr" } else { "en" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\r\n\r\n                ALICE'S ADVENTURES IN WONDERLAND\r\n\r\n                          Lewis Carroll\r\n\r\n               THE MILLENNIUM FULCRUM EDITION 2.9\r\n\r\n\r\n                            CHAPTER I\r\n\r\n                      Down the Rabbit-Hole\r\n\r\n\r\n  Alice was beginning to get very tired of sitting by her sister\r\non the bank, `and what is the use of a book,'\r\nthought Alice.\r\n\r\n  So she was considering in her own mind.\r\n\r\n                           CHAPTER II\r\n\r\n                        The Pool of Tears\r\n\r\n  `Curiouser and curiouser!' cried Alice.\r\n";

    #[test]
    fn a_gutenberg_style_text_becomes_chapters() {
        let book = parse_text(SAMPLE).expect("parses");
        assert_eq!(book.title, "Alice's Adventures In Wonderland");
        assert_eq!(book.author.as_deref(), Some("Lewis Carroll"));
        assert_eq!(book.language, "en");
        let titles: Vec<&str> = book.chapters.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Chapter I — Down the Rabbit-Hole",
                "Chapter II — The Pool of Tears"
            ]
        );
        let first = &book.chapters[0].paragraphs[0];
        assert_eq!(first.id, "c1-p1");
        assert_eq!(
            first.text,
            "Alice was beginning to get very tired of sitting by her sister on the bank, \u{2018}and what is the use of a book,' thought Alice."
        );
        assert_eq!(book.chapters[0].paragraphs.len(), 2);
        assert_eq!(book.chapters[1].paragraphs[0].id, "c2-p1");
        assert_eq!(
            book.word_count,
            book.chapters.iter().map(|c| c.word_count).sum::<usize>()
        );
        assert!(book.warnings.is_empty());
    }

    #[test]
    fn paragraph_offsets_point_at_the_paragraph_in_the_normalised_text() {
        let book = parse_text(SAMPLE).expect("parses");
        let normalised: Vec<char> = normalise(SAMPLE).chars().collect();
        let paragraph = &book.chapters[1].paragraphs[0];
        let at: String = normalised[paragraph.char_offset..paragraph.char_offset + 12]
            .iter()
            .collect();
        assert_eq!(at, "\u{2018}Curiouser a");
    }

    #[test]
    fn headings_are_recognised_in_their_common_forms() {
        let check = |line: &str, expected: Option<(&str, Option<&str>)>| {
            let block = Block {
                text: line.into(),
                char_offset: 0,
                single_line: true,
            };
            let found = chapter_heading(&block);
            let found = found
                .as_ref()
                .map(|(label, name)| (label.as_str(), name.as_deref()));
            assert_eq!(found, expected, "{line:?}");
        };
        check("CHAPTER I", Some(("Chapter I", None)));
        check(
            "Chapter 12. The End of It",
            Some(("Chapter 12", Some("The End of It"))),
        );
        check(
            "CHAPITRE III : La Mer",
            Some(("Chapitre III", Some("La Mer"))),
        );
        check("Chapter One", Some(("Chapter One", None)));
        check("Chapter and verse were quoted", None);
        check("The chapter ended", None);
    }

    #[test]
    fn text_without_headings_is_one_chapter_with_a_warning() {
        let book = parse_text("A Tale\n\nIt was a dark night.\n\nThe end came.").expect("parses");
        assert_eq!(book.chapters.len(), 1);
        assert_eq!(book.chapters[0].paragraphs.len(), 3);
        assert_eq!(book.warnings.len(), 1);
    }

    #[test]
    fn gutenberg_licence_blocks_are_dropped() {
        let text = "Header licence\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nCHAPTER 1\n\nReal text here.\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence words";
        let book = parse_text(text).expect("parses");
        let words: Vec<&str> = book
            .chapters
            .iter()
            .flat_map(|c| c.paragraphs.iter().map(|p| p.text.as_str()))
            .collect();
        assert_eq!(words, ["Real text here."]);
    }

    #[test]
    fn french_is_detected() {
        let book =
            parse_text("Le chat et la souris sont dans le jardin. Il est tard et elle dort.")
                .expect("parses");
        assert_eq!(book.language, "fr");
    }

    #[test]
    fn text_without_words_is_refused() {
        assert_eq!(parse_text("\n\n* * *\n\n---\n"), Err(IngestError::NoText));
    }
}
