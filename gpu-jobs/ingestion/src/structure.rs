//! From what a reader extracted to `book.v1`: chapters (from the source's structure or from
//! headings in the text), titles, front and back matter, paragraph ids, offsets, word counts
//! and the language.

use visiobook_domain::book::BOOK_SCHEMA;
use visiobook_domain::{Book, Chapter, Matter, Paragraph, Warning, word_count};

use crate::IngestError;
use crate::extract::{Block, Body, Extracted, Section};

/// Chapter length the fallback split aims for when a text has no headings, in words.
pub const FALLBACK_CHAPTER_WORDS: usize = 3_000;

/// Builds the book. `language` is the user's choice; otherwise the declared language, and
/// otherwise the language detected from the text.
pub fn assemble(extracted: Extracted, language: Option<&str>) -> Result<Book, IngestError> {
    let Extracted {
        format,
        mut title,
        mut author,
        language: declared,
        body,
        mut warnings,
    } = extracted;
    let sections = match body {
        Body::Sections(sections) => sections,
        Body::Blocks(blocks) => {
            sections_from_blocks(blocks, &mut title, &mut author, &mut warnings)
        }
    };

    let mut chapters = Vec::new();
    let mut offset = 0_usize;
    let mut seen_body = false;
    for section in sections {
        let paragraphs: Vec<&Block> = section
            .blocks
            .iter()
            .filter(|block| word_count(&block.text) > 0 || is_scene_break(&block.text))
            .collect();
        if paragraphs.iter().all(|block| word_count(&block.text) == 0) {
            if !section.title.trim().is_empty() && !paragraphs.is_empty() {
                warnings.push(Warning::new(
                    "empty_section",
                    format!("\"{}\" has no text and was left out", section.title),
                ));
            }
            continue;
        }
        let matter = match section.matter {
            Matter::Body => classify_matter(&section.title, seen_body),
            other => other,
        };
        seen_body |= matter == Matter::Body;
        let ordinal = u32::try_from(chapters.len() + 1).unwrap_or(u32::MAX);
        let paragraphs: Vec<Paragraph> = paragraphs
            .into_iter()
            .enumerate()
            .map(|(index, block)| {
                let paragraph = Paragraph {
                    id: format!("c{ordinal}-p{}", index + 1),
                    text: block.text.clone(),
                    char_offset: offset,
                    word_count: word_count(&block.text),
                };
                offset += block.text.chars().count() + 2;
                paragraph
            })
            .collect();
        chapters.push(Chapter {
            ordinal,
            title: section.title,
            matter,
            word_count: paragraphs.iter().map(|p| p.word_count).sum(),
            paragraphs,
        });
    }
    let word_total: usize = chapters.iter().map(|c| c.word_count).sum();
    if word_total == 0 {
        return Err(IngestError::NoText);
    }
    let body_text: String = chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .flat_map(|chapter| chapter.paragraphs.iter().map(|p| p.text.as_str()))
        .take(2_000)
        .collect::<Vec<_>>()
        .join(" ");
    let language = language
        .or(declared.as_deref())
        .map(primary_language)
        .unwrap_or_else(|| detect_language(&body_text).to_owned());
    Ok(Book {
        schema: BOOK_SCHEMA.to_owned(),
        title: title
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "Untitled".to_owned()),
        author: author.filter(|a| !a.trim().is_empty()),
        language,
        source_format: format,
        word_count: word_total,
        chapters,
        warnings,
    })
}

/// `en-GB` to `en`, `FR` to `fr`.
fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or(tag)
        .trim()
        .to_ascii_lowercase()
}

/// A paragraph made only of break marks (`* * *`, `#`, `~~~`).
fn is_scene_break(text: &str) -> bool {
    let trimmed = text.trim();
    !trimmed.is_empty() && trimmed.chars().count() <= 12 && word_count(trimmed) == 0
}

/// Contents pages and licences are matter, not story.
fn classify_matter(title: &str, seen_body: bool) -> Matter {
    let lowered = title.trim().to_lowercase();
    const FRONT: &[&str] = &[
        "contents",
        "table of contents",
        "table des matières",
        "sommaire",
        "title page",
        "cover",
        "copyright",
        "dedication",
        "front matter",
    ];
    const BACK: &[&str] = &[
        "about the author",
        "à propos de l'auteur",
        "index",
        "colophon",
        "licence",
        "license",
        "acknowledgements",
        "acknowledgments",
        "remerciements",
        "notes",
    ];
    if FRONT.iter().any(|name| lowered == *name) {
        return if seen_body {
            Matter::Back
        } else {
            Matter::Front
        };
    }
    if BACK.iter().any(|name| lowered == *name) {
        return if seen_body {
            Matter::Back
        } else {
            Matter::Front
        };
    }
    Matter::Body
}

/// A heading found in running text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Heading {
    /// `Chapter I`, `Part Two`, `Prologue`.
    label: String,
    /// The name on the same line (`Chapter 1. The Beginning`), if any.
    name: Option<String>,
    /// Part-like headings (book, part, act, volume) group chapters.
    grouping: bool,
}

/// Finds chapters in running text.
fn sections_from_blocks(
    blocks: Vec<Block>,
    title: &mut Option<String>,
    author: &mut Option<String>,
    warnings: &mut Vec<Warning>,
) -> Vec<Section> {
    let keyword: Vec<usize> = (0..blocks.len())
        .filter(|&i| keyword_heading(&blocks[i]).is_some())
        .collect();
    let markup: Vec<usize> = (0..blocks.len())
        .filter(|&i| blocks[i].markup_heading)
        .collect();
    let capitals: Vec<usize> = (0..blocks.len())
        .filter(|&i| is_capitals_heading(&blocks[i]))
        .collect();
    let (starts, kind) = if !keyword.is_empty() {
        (keyword, HeadingKind::Keyword)
    } else if markup.len() >= 2 {
        (markup, HeadingKind::Markup)
    } else if capitals.len() >= 2 {
        (capitals, HeadingKind::Capitals)
    } else {
        (Vec::new(), HeadingKind::Keyword)
    };

    // A leading heading directly followed by another one names the book (`# The Voyage` then
    // `## The Harbour`).
    let mut starts = starts;
    if kind != HeadingKind::Keyword
        && title.is_none()
        && starts.len() >= 2
        && starts[0] == 0
        && starts[1] == 1
    {
        *title = Some(display_case(&blocks[0].text));
        starts.remove(0);
    }
    let first_start = starts.first().copied().unwrap_or(blocks.len());
    let mut sections = Vec::new();
    // Before the first heading: the title page. Take the title and author from it when the
    // format did not say, and keep the rest as front matter.
    let mut front: Vec<Block> = blocks[..first_start].to_vec();
    if starts.is_empty() {
        front.clear();
    }
    if !front.is_empty() || starts.is_empty() {
        let candidates = if starts.is_empty() {
            &blocks[..blocks.len().min(3)]
        } else {
            &front[..]
        };
        let (found_title, found_author, used) = title_page(candidates);
        if title.is_none() {
            *title = found_title;
        }
        if author.is_none() {
            *author = found_author;
        }
        if !starts.is_empty() {
            front.drain(..used.min(front.len()));
            if !front.is_empty() {
                sections.push(Section {
                    title: "Front matter".into(),
                    matter: Matter::Front,
                    blocks: front,
                });
            }
        }
    }

    if starts.is_empty() {
        warnings.push(Warning::new(
            "no_headings",
            "no chapter headings were found; the text was split into parts of similar length",
        ));
        let (_, _, used) = title_page(&blocks[..blocks.len().min(3)]);
        let body = if used < blocks.len() {
            &blocks[used..]
        } else {
            &blocks[..]
        };
        sections.extend(balanced_sections(body));
        return sections;
    }

    let mut pending_group: Option<String> = None;
    for (position, &start) in starts.iter().enumerate() {
        let end = starts.get(position + 1).copied().unwrap_or(blocks.len());
        let heading_block = &blocks[start];
        let mut body = &blocks[start + 1..end];
        let (mut label, mut name, grouping) = match kind {
            HeadingKind::Keyword => match keyword_heading(heading_block) {
                Some(heading) => (heading.label, heading.name, heading.grouping),
                None => (heading_block.text.clone(), None, false),
            },
            HeadingKind::Markup | HeadingKind::Capitals => {
                (display_case(&heading_block.text), None, false)
            }
        };
        // A short line right after a bare heading is the chapter's name.
        if name.is_none()
            && let Some(next) = body.first()
            && is_subtitle(next)
        {
            name = Some(next.text.clone());
            body = &body[1..];
        }
        let has_words = body.iter().any(|block| word_count(&block.text) > 0);
        if grouping && !has_words {
            // `PART ONE` directly followed by `CHAPTER I`: the part names the next chapters.
            pending_group = Some(join_title(&label, name.as_deref()));
            continue;
        }
        if let Some(group) = &pending_group
            && !grouping
        {
            label = format!("{group} — {label}");
        }
        if grouping {
            pending_group = Some(join_title(&label, name.as_deref()));
        }
        sections.push(Section {
            title: join_title(&label, name.as_deref()),
            matter: Matter::Body,
            blocks: body.to_vec(),
        });
    }
    sections
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadingKind {
    Keyword,
    Markup,
    Capitals,
}

fn join_title(label: &str, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{label} — {name}"),
        _ => label.to_owned(),
    }
}

/// Title and author from the first short lines; returns how many blocks they used.
fn title_page(blocks: &[Block]) -> (Option<String>, Option<String>, usize) {
    let mut iter = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.single_line && b.text.chars().count() <= 100);
    let Some((title_index, title_block)) = iter.next() else {
        return (None, None, 0);
    };
    if title_index != 0 || keyword_heading(title_block).is_some() {
        return (None, None, 0);
    }
    let title = display_case(&title_block.text);
    let author = blocks
        .get(1)
        .filter(|block| block.single_line)
        .and_then(|block| {
            let text = block.text.trim();
            let stripped = text
                .strip_prefix("by ")
                .or_else(|| text.strip_prefix("By "))
                .or_else(|| text.strip_prefix("BY "))
                .or_else(|| text.strip_prefix("par "))
                .unwrap_or(text);
            let words = stripped.split_whitespace().count();
            ((1..=5).contains(&words)
                && !stripped.chars().any(|c| c.is_ascii_digit())
                && keyword_heading(block).is_none())
            .then(|| display_case(stripped))
        });
    let used = 1 + usize::from(author.is_some());
    (Some(title), author, used)
}

/// Splits text without headings into parts of similar length at paragraph boundaries.
fn balanced_sections(blocks: &[Block]) -> Vec<Section> {
    let total: usize = blocks.iter().map(|b| word_count(&b.text)).sum();
    let parts = total.div_ceil(FALLBACK_CHAPTER_WORDS).max(1);
    let target = total.div_ceil(parts).max(1);
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Vec<Block> = Vec::new();
    let mut words = 0;
    for block in blocks {
        words += word_count(&block.text);
        current.push(block.clone());
        if words >= target && sections.len() + 1 < parts {
            sections.push(Section {
                title: format!("Part {}", sections.len() + 1),
                matter: Matter::Body,
                blocks: std::mem::take(&mut current),
            });
            words = 0;
        }
    }
    if !current.is_empty() {
        sections.push(Section {
            title: format!("Part {}", sections.len() + 1),
            matter: Matter::Body,
            blocks: current,
        });
    }
    if sections.len() == 1 {
        sections[0].title = "Text".into();
    }
    sections
}

const CHAPTER_WORDS: &[&str] = &["chapter", "chapitre", "chap."];
const GROUP_WORDS: &[&str] = &[
    "book", "part", "partie", "livre", "act", "acte", "volume", "tome",
];
const STANDALONE: &[&str] = &[
    "prologue",
    "epilogue",
    "épilogue",
    "introduction",
    "preface",
    "préface",
    "foreword",
    "afterword",
    "avant-propos",
    "postface",
    "conclusion",
    "interlude",
];
const NUMBER_WORDS: &[&str] = &[
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "last",
    "final",
    "premier",
    "première",
    "un",
    "une",
    "deux",
    "trois",
    "quatre",
    "cinq",
    "sept",
    "huit",
    "neuf",
    "dix",
    "onze",
    "douze",
    "treize",
    "quatorze",
    "quinze",
    "seize",
    "dix-sept",
    "dix-huit",
    "dix-neuf",
    "vingt",
    "deuxième",
    "seconde",
    "troisième",
    "quatrième",
    "cinquième",
    "sixième",
    "septième",
    "huitième",
    "neuvième",
    "dixième",
    "dernier",
];

/// `CHAPTER I`, `Chapter 12. Name`, `CHAPITRE PREMIER`, `PART TWO`, `ACT III`, `Prologue`.
fn keyword_heading(block: &Block) -> Option<Heading> {
    if !block.single_line || block.text.chars().count() > 90 {
        return None;
    }
    let text = block.text.trim();
    let bare = text.trim_end_matches(['.', ':']).trim();
    let lowered = bare.to_lowercase();
    if STANDALONE.contains(&lowered.as_str()) {
        return Some(Heading {
            label: display_case(bare),
            name: None,
            grouping: false,
        });
    }
    let mut words = text.splitn(2, char::is_whitespace);
    let keyword = words.next()?;
    let keyword_lowered = keyword.to_lowercase();
    let grouping = GROUP_WORDS.contains(&keyword_lowered.as_str());
    if !grouping && !CHAPTER_WORDS.contains(&keyword_lowered.as_str()) {
        return None;
    }
    let rest = words.next()?.trim();
    let (number, name) = match rest.find(['.', ':', '—', '–']).or_else(|| rest.find(" - ")) {
        Some(split) => {
            let name = rest[split..]
                .trim_start_matches(['.', ':', '—', '–', '-', ' '])
                .trim();
            (
                rest[..split].trim(),
                (!name.is_empty()).then(|| name.to_owned()),
            )
        }
        None => match rest.split_once(char::is_whitespace) {
            Some((number, name)) if is_number(number) => (number, Some(name.trim().to_owned())),
            _ => (rest, None),
        },
    };
    if !is_number(number) {
        return None;
    }
    let label = format!("{} {}", display_case(keyword), display_number(number));
    Some(Heading {
        label,
        name,
        grouping,
    })
}

fn is_number(token: &str) -> bool {
    let lowered = token.to_lowercase();
    let roman = !token.is_empty() && token.chars().all(|c| "IVXLCDM".contains(c))
        || (!token.is_empty() && token.len() <= 6 && token.chars().all(|c| "ivxlcdm".contains(c)));
    let arabic = !token.is_empty() && token.len() <= 4 && token.chars().all(|c| c.is_ascii_digit());
    roman || arabic || NUMBER_WORDS.contains(&lowered.as_str())
}

fn display_number(number: &str) -> String {
    if number.chars().all(|c| "IVXLCDMivxlcdm".contains(c)) {
        number.to_uppercase()
    } else if number.chars().all(|c| c.is_ascii_digit()) {
        number.to_owned()
    } else {
        display_case(number)
    }
}

/// A line in capitals on its own (`THE POOL OF TEARS`), as in books without numbered chapters.
fn is_capitals_heading(block: &Block) -> bool {
    let text = block.text.trim();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    block.single_line
        && letters >= 3
        && text.chars().count() <= 60
        && text.split_whitespace().count() <= 8
        && !text.chars().any(char::is_lowercase)
        && !text.ends_with([',', ';'])
        && text.to_lowercase() != "the end"
        && text.to_lowercase() != "fin"
}

/// A chapter name on its own line: short, no closing full stop, and in title case or capitals
/// (`Down the Rabbit-Hole`, `Who Stole the Tarts?`), unlike a one-line opening sentence.
fn is_subtitle(block: &Block) -> bool {
    let text = block.text.trim();
    let significant: Vec<&str> = text
        .split_whitespace()
        .filter(|word| word.chars().filter(|c| c.is_alphabetic()).count() > 3)
        .collect();
    let capitalised = significant
        .iter()
        .filter(|word| {
            word.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(char::is_uppercase)
        })
        .count();
    block.single_line
        && text.chars().count() <= 80
        && text.split_whitespace().count() <= 12
        && !text.ends_with(['.', ',', ';', ':'])
        && capitalised * 2 >= significant.len()
        && keyword_heading(block).is_none()
        && word_count(text) > 0
}

/// `ALICE'S ADVENTURES` to `Alice's Adventures`; mixed-case text is left alone.
fn display_case(text: &str) -> String {
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
pub fn detect_language(text: &str) -> &'static str {
    const ENGLISH: &[&str] = &[
        "the", "and", "of", "to", "was", "she", "he", "it", "that", "in", "is", "with",
    ];
    const FRENCH: &[&str] = &[
        "le", "la", "les", "et", "de", "des", "un", "une", "est", "que", "il", "elle", "dans",
        "pour", "vous",
    ];
    let (mut english, mut french) = (0, 0);
    for word in text.split_whitespace().take(20_000) {
        let word = word
            .trim_matches(|c: char| !c.is_alphabetic())
            .to_lowercase();
        english += usize::from(ENGLISH.contains(&word.as_str()));
        french += usize::from(FRENCH.contains(&word.as_str()));
    }
    if french > english { "fr" } else { "en" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visiobook_domain::SourceFormat;

    fn book_from(text: &str) -> Book {
        let extracted = crate::text::read(text.as_bytes()).expect("reads");
        assemble(extracted, None).expect("assembles")
    }

    fn titles(book: &Book) -> Vec<(&str, Matter)> {
        book.chapters
            .iter()
            .map(|c| (c.title.as_str(), c.matter))
            .collect()
    }

    #[test]
    fn headings_are_recognised_in_their_common_forms() {
        let check = |line: &str, expected: Option<(&str, Option<&str>)>| {
            let found = keyword_heading(&Block::line(line));
            let found = found
                .as_ref()
                .map(|h| (h.label.as_str(), h.name.as_deref()));
            assert_eq!(found, expected, "{line:?}");
        };
        check("CHAPTER I", Some(("Chapter I", None)));
        check(
            "Chapter 12. The End of It",
            Some(("Chapter 12", Some("The End of It"))),
        );
        check(
            "Chapter 3 The Storm",
            Some(("Chapter 3", Some("The Storm"))),
        );
        check(
            "CHAPITRE III : La Mer",
            Some(("Chapitre III", Some("La Mer"))),
        );
        check("CHAPITRE PREMIER", Some(("Chapitre Premier", None)));
        check("Chapitre 2", Some(("Chapitre 2", None)));
        check("Chapter One", Some(("Chapter One", None)));
        check("BOOK IV", Some(("Book IV", None)));
        check("PART TWO", Some(("Part Two", None)));
        check("ACT III", Some(("Act III", None)));
        check("Prologue", Some(("Prologue", None)));
        check("Épilogue.", Some(("Épilogue", None)));
        check("Chapter and verse were quoted", None);
        check("The chapter ended", None);
        check("Part of the problem was the rain", None);
    }

    #[test]
    fn a_gutenberg_style_text_becomes_titled_chapters() {
        let book = book_from(
            "\r\n\r\n   ALICE'S ADVENTURES IN WONDERLAND\r\n\r\n   Lewis Carroll\r\n\r\n   THE MILLENNIUM FULCRUM EDITION 2.9\r\n\r\n\r\n   CHAPTER I\r\n\r\n   Down the Rabbit-Hole\r\n\r\n  Alice was beginning to get very tired of sitting by her sister\r\non the bank, `and what is the use of a book,'\r\nthought Alice.\r\n\r\n  So she was considering.\r\n\r\n   CHAPTER II\r\n\r\n   The Pool of Tears\r\n\r\n  `Curiouser and curiouser!' cried Alice.\r\n\r\n   THE END\r\n",
        );
        assert_eq!(book.title, "Alice's Adventures In Wonderland");
        assert_eq!(book.author.as_deref(), Some("Lewis Carroll"));
        assert_eq!(book.language, "en");
        assert_eq!(
            titles(&book),
            [
                ("Front matter", Matter::Front),
                ("Chapter I — Down the Rabbit-Hole", Matter::Body),
                ("Chapter II — The Pool of Tears", Matter::Body),
            ]
        );
        let first = &book.chapters[1].paragraphs[0];
        assert_eq!(first.id, "c2-p1");
        assert!(first.text.starts_with("Alice was beginning"));
        assert!(
            first
                .text
                .contains("\u{2018}and what is the use of a book,' thought Alice.")
        );
        assert_eq!(
            book.chapters[2].paragraphs.last().map(|p| p.text.as_str()),
            Some("THE END")
        );
    }

    #[test]
    fn offsets_index_the_joined_paragraph_text() {
        let book = book_from("CHAPTER 1\n\nOne two.\n\nThree four.\n\nCHAPTER 2\n\nFive six.");
        let joined: String = book
            .chapters
            .iter()
            .flat_map(|c| c.paragraphs.iter().map(|p| p.text.clone()))
            .collect::<Vec<_>>()
            .join("\n\n");
        for paragraph in book.chapters.iter().flat_map(|c| &c.paragraphs) {
            let at: String = joined
                .chars()
                .skip(paragraph.char_offset)
                .take(paragraph.text.chars().count())
                .collect();
            assert_eq!(at, paragraph.text);
        }
    }

    #[test]
    fn parts_name_the_chapters_they_contain() {
        let book = book_from(
            "PART ONE\n\nCHAPTER 1\n\nIt began.\n\nCHAPTER 2\n\nIt went on.\n\nPART TWO\n\nCHAPTER 3\n\nIt ended.",
        );
        let names: Vec<&str> = book.chapters.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            names,
            [
                "Part One — Chapter 1",
                "Part One — Chapter 2",
                "Part Two — Chapter 3"
            ]
        );
    }

    #[test]
    fn french_headings_and_language() {
        let book = book_from(
            "CHAPITRE PREMIER\n\nLe chat et la souris sont dans le jardin.\n\nCHAPITRE DEUXIÈME\n\nIl est tard et elle dort dans la maison.",
        );
        assert_eq!(book.language, "fr");
        assert_eq!(book.chapters.len(), 2);
        assert_eq!(book.chapters[1].title, "Chapitre Deuxième");
    }

    #[test]
    fn capital_headings_are_used_when_there_are_no_numbered_ones() {
        let book = book_from(
            "THE FIRST DAY\n\nIt rained all morning.\n\nTHE SECOND DAY\n\nThe sun came out at last.",
        );
        let names: Vec<&str> = book.chapters.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(names, ["The First Day", "The Second Day"]);
    }

    #[test]
    fn text_without_headings_is_split_evenly_with_a_warning() {
        let paragraph = "word ".repeat(500);
        let text: String = (0..14).map(|_| format!("{paragraph}\nmore.\n\n")).collect();
        let book = book_from(&text);
        assert!(book.chapters.len() >= 2, "{} chapters", book.chapters.len());
        let sizes: Vec<usize> = book.chapters.iter().map(|c| c.word_count).collect();
        let (min, max) = (
            sizes.iter().min().copied().unwrap_or(0),
            sizes.iter().max().copied().unwrap_or(0),
        );
        assert!(max - min <= 1_100, "{sizes:?}");
        assert!(book.warnings.iter().any(|w| w.code == "no_headings"));
        assert_eq!(book.word_count, 14 * 501);
    }

    #[test]
    fn a_declared_or_chosen_language_wins() {
        let mut extracted =
            crate::text::read(b"The cat sat on the mat and it was happy.").expect("reads");
        extracted.language = Some("fr-CA".into());
        assert_eq!(
            assemble(extracted.clone(), None).expect("ok").language,
            "fr"
        );
        assert_eq!(assemble(extracted, Some("de")).expect("ok").language, "de");
    }

    #[test]
    fn sections_keep_their_matter_and_empty_ones_are_reported() {
        let extracted = Extracted {
            format: SourceFormat::Epub,
            title: Some("T".into()),
            author: None,
            language: Some("en".into()),
            body: Body::Sections(vec![
                Section {
                    title: "Contents".into(),
                    matter: Matter::Body,
                    blocks: vec![Block::paragraph("One, Two")],
                },
                Section {
                    title: "One".into(),
                    matter: Matter::Body,
                    blocks: vec![Block::paragraph("It began here.")],
                },
                Section {
                    title: "Blank".into(),
                    matter: Matter::Body,
                    blocks: vec![Block::paragraph("* * *")],
                },
                Section {
                    title: "Licence".into(),
                    matter: Matter::Body,
                    blocks: vec![Block::paragraph("Free to share.")],
                },
            ]),
            warnings: Vec::new(),
        };
        let book = assemble(extracted, None).expect("assembles");
        assert_eq!(
            titles(&book),
            [
                ("Contents", Matter::Front),
                ("One", Matter::Body),
                ("Licence", Matter::Back)
            ]
        );
        assert!(book.warnings.iter().any(|w| w.code == "empty_section"));
    }

    #[test]
    fn no_words_is_an_error() {
        let extracted = crate::text::read(b"\n\n* * *\n\n---\n").expect("reads");
        assert_eq!(assemble(extracted, None), Err(IngestError::NoText));
    }
}
