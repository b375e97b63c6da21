//! Plain text, Markdown and HTML books.

use visiobook_domain::{Book, Matter, SourceFormat};
use visiobook_ingestion::{IngestOptions, ingest};

use crate::fixture;

fn read(bytes: &[u8]) -> Book {
    ingest(bytes, &IngestOptions::default(), &|_, _| {}).unwrap()
}

pub const ALICE_TITLES: [&str; 12] = [
    "Down the Rabbit-Hole",
    "The Pool of Tears",
    "A Caucus-Race and a Long Tale",
    "The Rabbit Sends in a Little Bill",
    "Advice from a Caterpillar",
    "Pig and Pepper",
    "A Mad Tea-Party",
    "The Queen's Croquet-Ground",
    "The Mock Turtle's Story",
    "The Lobster Quadrille",
    "Who Stole the Tarts?",
    "Alice's Evidence",
];

/// Words as runs of letters, digits and inner apostrophes, lower-cased, sorted.
fn word_runs(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .map(|word| word.trim_matches(['\'', '\u{2019}']).to_lowercase())
        .filter(|word| !word.is_empty())
        .collect();
    words.sort();
    words
}

fn body_chapters(book: &Book) -> Vec<&visiobook_domain::Chapter> {
    book.chapters
        .iter()
        .filter(|c| c.matter == Matter::Body)
        .collect()
}

#[test]
fn alice_txt_gives_twelve_titled_chapters_and_keeps_every_word() {
    let bytes = fixture("alice.txt");
    let book = read(&bytes);
    assert_eq!(book.source_format, SourceFormat::Txt);
    assert_eq!(book.title, "Alice's Adventures In Wonderland");
    assert_eq!(book.author.as_deref(), Some("Lewis Carroll"));
    assert_eq!(book.language, "en");
    let chapters = body_chapters(&book);
    assert_eq!(chapters.len(), 12);
    for (chapter, (index, title)) in chapters.iter().zip(ALICE_TITLES.iter().enumerate()) {
        assert!(
            chapter.title.ends_with(title),
            "chapter {}: {:?}",
            index + 1,
            chapter.title
        );
        assert!(chapter.word_count > 1_000, "{}", chapter.title);
    }
    assert!(chapters[0].title.starts_with("Chapter I "));
    assert!(chapters[11].title.starts_with("Chapter XII "));

    // Every word of the input is accounted for: the chapters hold the text, the headings became
    // titles, and the title page became the title, author and front matter. Words are counted
    // as runs of letters and digits, so re-flowing (`looking-` + `glass`) cannot hide a loss.
    let raw = String::from_utf8(bytes).unwrap();
    let mut output = vec![book.title.clone(), book.author.clone().unwrap_or_default()];
    for chapter in &book.chapters {
        if chapter.matter == Matter::Body {
            output.push(chapter.title.clone());
        }
        output.extend(chapter.paragraphs.iter().map(|p| p.text.clone()));
    }
    assert_eq!(word_runs(&output.join(" ")), word_runs(&raw));

    // Paragraphs are re-flowed and quotes are typographic.
    let first = &chapters[0].paragraphs[0];
    assert!(
        first.text.starts_with(
            "Alice was beginning to get very tired of sitting by her sister on the bank"
        )
    );
    assert!(
        first
            .text
            .contains("\u{2018}and what is the use of a book,' thought Alice")
    );
    assert!(!first.text.contains('\n'));
    let ids: Vec<&str> = chapters[1]
        .paragraphs
        .iter()
        .take(2)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(ids, ["c3-p1", "c3-p2"]);
}

#[test]
fn the_same_text_in_other_encodings_reads_the_same() {
    let utf8 = "CHAPTER 1\n\nL'été à Noël, «\u{a0}déjà\u{a0}» vu.\n";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(utf8.encode_utf16().flat_map(u16::to_le_bytes));
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(utf8);
    let reference = read(utf8.as_bytes());
    for (name, bytes, guessed) in [
        ("utf-16", utf16, false),
        ("windows-1252", latin.into_owned(), true),
    ] {
        let book = read(&bytes);
        assert_eq!(
            book.chapters[0].paragraphs[0].text, reference.chapters[0].paragraphs[0].text,
            "{name}"
        );
        assert_eq!(
            book.warnings.iter().any(|w| w.code == "encoding_guessed"),
            guessed,
            "{name}"
        );
    }
    assert_eq!(
        reference.chapters[0].paragraphs[0].text,
        "L'été à Noël, « déjà » vu."
    );
}

#[test]
fn markdown_chapters_come_from_headings() {
    let book = read(b"# The Voyage\n\n## The Harbour\n\nThe ship waited in the grey morning.\n\n## The Storm\n\nWaves rose *higher* than the mast.\n");
    assert_eq!(book.source_format, SourceFormat::Markdown);
    let titles: Vec<&str> = book.chapters.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(
        titles,
        ["The Voyage", "The Harbour", "The Storm"]
            .iter()
            .skip(1)
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(book.title, "The Voyage");
    assert_eq!(
        book.chapters[1].paragraphs[0].text,
        "Waves rose higher than the mast."
    );
}

#[test]
fn html_books_are_read_through_their_markup() {
    let html = b"<!DOCTYPE html><html><head><title>Night Tales</title><style>p{}</style></head><body>\
        <h1>Chapter 1</h1><p>The moon&nbsp;rose &mdash; slowly.</p><p>Owls <em>called</em>.<br>Far away.</p>\
        <h1>Chapter 2</h1><p>Dawn came at last.</p></body></html>";
    let book = read(html);
    assert_eq!(book.source_format, SourceFormat::Html);
    assert_eq!(book.title, "Night Tales");
    let titles: Vec<&str> = book.chapters.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["Chapter 1", "Chapter 2"]);
    assert_eq!(
        book.chapters[0].paragraphs[0].text,
        "The moon rose \u{2014} slowly."
    );
    assert_eq!(
        book.chapters[0].paragraphs[1].text,
        "Owls called. Far away."
    );
}

#[test]
fn the_user_language_wins_over_detection() {
    let options = IngestOptions {
        language: Some("fr".into()),
        ..IngestOptions::default()
    };
    let book = ingest(
        b"CHAPTER 1\n\nThe cat sat on the mat.",
        &options,
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(book.language, "fr");
}

#[test]
fn bad_text_inputs_get_specific_errors() {
    let check = |bytes: &[u8], code: &str| {
        let error = ingest(bytes, &IngestOptions::default(), &|_, _| {}).unwrap_err();
        assert_eq!(error.code(), code, "{bytes:?}: {error}");
        assert!(!error.to_string().is_empty());
    };
    check(b"", "empty_file");
    check(b"\n\n \t\n", "empty_file");
    check(b"* * *\n\n---\n", "no_text");
    check(&[0x00, 0x13, 0x37, 0xFE, 0x00, 0x42], "unsupported_format");
    check(b"\x1f\x8b\x08\x00\x00", "unsupported_format");
    check(b"\xFE\xFF\x00", "bad_encoding");
}
