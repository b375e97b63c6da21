//! Tests of the pdf reader: alice.pdf against its source text, PDFs built here to exercise
//! running headers, page breaks, hyphenation, missing outlines and scans, and hostile files.

use std::process::Command;

use lopdf::{
    Document, EncryptionState, EncryptionVersion, Object, Permissions, Stream, dictionary,
};
use visiobook_domain::{Book, Matter, SourceFormat, word_count};
use visiobook_ingestion::extract::Body;
use visiobook_ingestion::{IngestOptions, ingest, pdf};

use crate::fixture;
use crate::ocr::word_accuracy;

const ALICE_CHAPTERS: [&str; 12] = [
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

fn read_book(bytes: &[u8]) -> Book {
    ingest(bytes, &IngestOptions::default(), &|_, _| {}).unwrap()
}

fn body_titles(book: &Book) -> Vec<&str> {
    book.chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .map(|chapter| chapter.title.as_str())
        .collect()
}

fn assert_alice_chapters(book: &Book) {
    let titles = body_titles(book);
    assert_eq!(titles.len(), 12, "{titles:?}");
    for (title, expected) in titles.iter().zip(ALICE_CHAPTERS) {
        assert!(
            title.contains(expected),
            "{title:?} should contain {expected:?}"
        );
    }
}

fn paragraphs(book: &Book) -> impl Iterator<Item = &str> {
    book.chapters
        .iter()
        .flat_map(|chapter| chapter.paragraphs.iter().map(|p| p.text.as_str()))
}

fn is_bare_number(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && (text.chars().all(|c| c.is_ascii_digit())
            || text.chars().all(|c| "ivxlcdmIVXLCDM".contains(c)))
}

/// The words of alice.txt from `CHAPTER I` to `THE END`.
fn alice_txt_body_words() -> usize {
    let bytes = fixture("alice.txt");
    let text = String::from_utf8_lossy(&bytes);
    let start = text.find("CHAPTER I").unwrap();
    let end = text.find("THE END").unwrap();
    word_count(&text[start..end])
}

fn save(document: &mut Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).unwrap();
    bytes
}

#[test]
fn alice_pdf_has_its_twelve_chapters_from_the_outline() {
    let bytes = fixture("alice.pdf");
    let calls = std::sync::Mutex::new(Vec::new());
    let book = ingest(&bytes, &IngestOptions::default(), &|done, total| {
        calls.lock().unwrap().push((done, total));
    })
    .unwrap();
    assert_eq!(book.source_format, SourceFormat::Pdf);
    assert_eq!(book.title, "Alice's Adventures in Wonderland");
    assert_eq!(book.author.as_deref(), Some("Lewis Carroll"));
    assert_eq!(book.language, "en");
    assert_alice_chapters(&book);
    // The title page is kept as front matter, before the chapters.
    assert_eq!(book.chapters[0].matter, Matter::Front);
    // Titles are not repeated as the chapters' first paragraphs.
    let first = &book.chapters[1];
    assert!(first.paragraphs[0].text.starts_with("Alice was beginning"));
    assert!(book.warnings.iter().all(|w| w.code != "ocr_page"));

    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), 86);
    assert_eq!(calls.last(), Some(&(86, 86)));
}

#[test]
fn alice_pdf_keeps_every_word_and_the_paragraphs() {
    let book = read_book(&fixture("alice.pdf"));
    let body_words: usize = book
        .chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .map(|chapter| chapter.word_count)
        .sum();
    let expected = alice_txt_body_words();
    let difference = body_words.abs_diff(expected) as f64 / expected as f64;
    assert!(
        difference <= 0.02,
        "{body_words} words, alice.txt has {expected}"
    );

    for chapter in &book.chapters {
        for paragraph in &chapter.paragraphs {
            let text = paragraph.text.as_str();
            assert!(!is_bare_number(text), "a page number was kept: {text:?}");
            if chapter.matter == Matter::Body {
                assert!(
                    !text.contains("ALICE'S ADVENTURES"),
                    "title repeated in {text:?}"
                );
                assert!(
                    !text.contains("Lewis Carroll"),
                    "author repeated in {text:?}"
                );
            }
        }
    }
    // A paragraph broken across pages 3 and 4 (pdftotext shows "perhaps I shall" at the bottom
    // of page 3 and "see it written up somewhere." at the top of page 4) stays one paragraph.
    let all: Vec<&str> = paragraphs(&book).collect();
    assert!(
        all.iter()
            .any(|p| p.starts_with("Presently she began again.")
                && p.ends_with("perhaps I shall see it written up somewhere.'"))
    );
    // `WAISTCOAT-` ends a line and `POCKET` starts the next: one word, its hyphen kept.
    assert!(
        all.iter()
            .any(|p| p.contains("OUT OF ITS WAISTCOAT-POCKET, and looked at it"))
    );
    // About as many paragraphs as the source (823 between CHAPTER I and THE END).
    let body_paragraphs = book
        .chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .map(|chapter| chapter.paragraphs.len())
        .sum::<usize>();
    assert!(
        (760..=860).contains(&body_paragraphs),
        "{body_paragraphs} paragraphs"
    );
}

#[test]
fn alice_pdf_reader_gives_sections_with_the_outline_labels() {
    let extracted =
        pdf::read(&fixture("alice.pdf"), &IngestOptions::default(), &|_, _| {}).unwrap();
    let Body::Sections(sections) = &extracted.body else {
        panic!("expected sections");
    };
    assert_eq!(sections[0].matter, Matter::Front);
    assert_eq!(sections[1].title, "CHAPTER I: Down the Rabbit-Hole");
    assert_eq!(sections[12].title, "CHAPTER XII: Alice's Evidence");
    for section in &sections[1..] {
        let first = &section.blocks[0].text;
        assert!(!first.starts_with("CHAPTER"), "{first}");
    }
}

#[test]
fn alice_pdf_without_outline_finds_chapters_from_headings() {
    let mut document = Document::load_mem(&fixture("alice.pdf")).unwrap();
    document.catalog_mut().unwrap().remove(b"Outlines");
    let bytes = save(&mut document);
    let extracted = pdf::read(&bytes, &IngestOptions::default(), &|_, _| {}).unwrap();
    let Body::Blocks(blocks) = &extracted.body else {
        panic!("expected blocks without an outline");
    };
    assert!(
        blocks
            .iter()
            .any(|b| b.markup_heading && b.text == "CHAPTER I")
    );
    let book = read_book(&bytes);
    assert_alice_chapters(&book);
}

// ---------------------------------------------------------------------------------------------
// PDFs built here

/// One line of text: x, baseline y, font size, text (Courier, WinAnsi).
type Placed<'a> = (f32, f32, f32, &'a str);

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

/// A PDF of A5 pages in Courier; `outline` adds bookmarks `(title, 0-based page)`.
fn text_pdf(pages: &[Vec<Placed<'_>>], outline: &[(&str, usize)]) -> Vec<u8> {
    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Courier",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = document.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for lines in pages {
        let mut content = String::new();
        for (x, y, size, text) in lines {
            content.push_str(&format!(
                "BT /F1 {size} Tf {x} {y} Td ({}) Tj ET\n",
                escape(text)
            ));
        }
        let content_id = document.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = document.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 420.into(), 595.into()],
        });
        kids.push(Object::Reference(page_id));
    }
    let count = i64::try_from(kids.len()).unwrap();
    document.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => kids.clone(), "Count" => count },
        ),
    );
    let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
    if !outline.is_empty() {
        let outlines_id = document.new_object_id();
        let ids: Vec<_> = outline.iter().map(|_| document.new_object_id()).collect();
        for (index, (title, page)) in outline.iter().enumerate() {
            let mut item = dictionary! {
                "Title" => Object::string_literal(*title),
                "Parent" => outlines_id,
                "Dest" => vec![kids[*page].clone(), "XYZ".into(), 0.into(), 595.into(), Object::Null],
            };
            if index + 1 < ids.len() {
                item.set("Next", ids[index + 1]);
            }
            if index > 0 {
                item.set("Prev", ids[index - 1]);
            }
            document
                .objects
                .insert(ids[index], Object::Dictionary(item));
        }
        document.objects.insert(
            outlines_id,
            Object::Dictionary(dictionary! {
                "Type" => "Outlines",
                "First" => ids[0],
                "Last" => ids[ids.len() - 1],
                "Count" => i64::try_from(ids.len()).unwrap(),
            }),
        );
        catalog.set("Outlines", outlines_id);
    }
    let catalog_id = document.add_object(catalog);
    document.trailer.set("Root", catalog_id);
    save(&mut document)
}

/// Lines set from the top of the body area, 12 pt apart, with 6 pt more between paragraphs.
/// Each page gets a running header, and a page number at the foot.
fn book_pages(pages: &[&[&[&str]]]) -> Vec<Vec<Placed<'static>>> {
    pages
        .iter()
        .enumerate()
        .map(|(index, paragraphs)| {
            let mut placed: Vec<Placed<'static>> = Vec::new();
            let header: &'static str = if index % 2 == 0 {
                "THE TESTING TALE"
            } else {
                "A Story of Running Heads"
            };
            placed.push((150.0, 560.0, 9.0, header));
            let mut y = 530.0;
            for paragraph in paragraphs.iter() {
                for line in paragraph.iter() {
                    // `#` marks a heading line, set larger.
                    let heading = line.starts_with('#');
                    let size = if heading { 14.0 } else { 10.0 };
                    let text = line.trim_start_matches('#').to_owned();
                    let line: &'static str = Box::leak(text.into_boxed_str());
                    placed.push((40.0, y, size, line));
                    y -= if heading { 20.0 } else { 12.0 };
                }
                y -= 6.0;
            }
            let number: &'static str = Box::leak((index + 1).to_string().into_boxed_str());
            placed.push((205.0, 30.0, 9.0, number));
            placed
        })
        .collect()
}

const FULL: &str = "she walked on and on through the wood and over the";

fn testing_tale() -> Vec<Vec<Placed<'static>>> {
    book_pages(&[
        &[
            &["#CHAPTER I"],
            &["#The Beginning"],
            &[
                "Once upon a time a small rabbit lived under a",
                "hedge by the river, and every morning it ran to",
                "the water.",
            ],
            &[
                "It was a fine day and the rabbit was hungry, so",
                FULL,
                "fields, until the end of page one was reached and",
            ],
        ],
        &[
            &[
                "the paragraph went on to page two without a pause,",
                "where a white rab-",
                "bit looked at its watch in a hurry.",
            ],
            &["Another short paragraph ends the first chapter."],
        ],
        &[
            &["#CHAPTER II"],
            &["#The Middle"],
            &[
                "The second chapter begins with a long sentence that",
                "runs over several lines of the page, as sentences",
                "in books often do.",
            ],
        ],
        &[
            &["A few more words stand on the fourth page, and they"],
            &["are followed by a second paragraph of the chapter."],
        ],
        &[
            &["#CHAPTER III"],
            &["#The End"],
            &["And that was the end of the tale."],
        ],
        &[&["Only this last page was left, and then it was over."]],
    ])
}

#[test]
fn running_heads_and_page_numbers_go_and_paragraphs_cross_pages() {
    let bytes = text_pdf(&testing_tale(), &[]);
    let book = read_book(&bytes);
    let titles = body_titles(&book);
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles[0].contains("The Beginning"), "{titles:?}");
    assert!(titles[1].contains("The Middle"), "{titles:?}");
    assert!(titles[2].contains("The End"), "{titles:?}");
    for text in paragraphs(&book) {
        assert!(!is_bare_number(text), "{text:?}");
        assert!(!text.contains("TESTING TALE"), "{text:?}");
        assert!(!text.contains("Running Heads"), "{text:?}");
    }
    let first = &book
        .chapters
        .iter()
        .find(|c| c.title.contains("Beginning"))
        .unwrap()
        .paragraphs;
    let texts: Vec<&str> = first.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(texts[0].ends_with("ran to the water."));
    assert!(
        texts[1].contains("end of page one was reached and the paragraph went on to page two"),
        "{texts:#?}"
    );
    assert!(
        texts[1].contains("a white rabbit looked at its watch"),
        "{texts:#?}"
    );
    assert_eq!(texts[2], "Another short paragraph ends the first chapter.");
}

#[test]
fn an_outline_splits_built_pdfs_where_the_titles_stand() {
    let bytes = text_pdf(
        &testing_tale(),
        &[
            ("I. The Beginning", 0),
            ("II. The Middle", 2),
            ("III. The End", 4),
        ],
    );
    let extracted = pdf::read(&bytes, &IngestOptions::default(), &|_, _| {}).unwrap();
    let Body::Sections(sections) = &extracted.body else {
        panic!("expected sections");
    };
    let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        ["I. The Beginning", "II. The Middle", "III. The End"]
    );
    // The printed `CHAPTER I` / `The Beginning` lines are not kept as text.
    assert!(sections[0].blocks[0].text.starts_with("Once upon a time"));
    assert!(sections[1].blocks[0].text.starts_with("The second chapter"));
    assert_eq!(sections[2].blocks.len(), 2, "{:#?}", sections[2]);
}

// ---------------------------------------------------------------------------------------------
// Scans

/// The scanned page as a one-page PDF: the JPEG drawn over the whole page, at 300 dpi.
fn scanned_pdf(copies: usize) -> Vec<u8> {
    let jpeg = fixture("ocr/alice-page-scan.jpg");
    let (width, height) = (1785_i64, 2507_i64);
    let (page_width, page_height) = (width as f32 * 72.0 / 300.0, height as f32 * 72.0 / 300.0);
    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let image_id = document.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => width,
            "Height" => height,
            "ColorSpace" => "DeviceGray",
            "BitsPerComponent" => 8,
            "Filter" => "DCTDecode",
        },
        jpeg,
    ));
    let mut kids = Vec::new();
    for _ in 0..copies {
        let content = format!("q {page_width} 0 0 {page_height} 0 0 cm /Im0 Do Q\n");
        let content_id = document.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = document.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
            "MediaBox" => vec![0.into(), 0.into(), page_width.into(), page_height.into()],
        });
        kids.push(Object::Reference(page_id));
    }
    let count = i64::try_from(kids.len()).unwrap();
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog_id);
    save(&mut document)
}

#[test]
fn a_scanned_pdf_is_read_by_ocr() {
    let bytes = scanned_pdf(1);
    let calls = std::sync::Mutex::new(Vec::new());
    let book = ingest(&bytes, &IngestOptions::default(), &|done, total| {
        calls.lock().unwrap().push((done, total));
    })
    .unwrap();
    assert_eq!(book.source_format, SourceFormat::Pdf);
    let warning = book.warnings.iter().find(|w| w.code == "ocr_page").unwrap();
    assert_eq!(warning.page, Some(1));
    let confidence = warning.confidence.unwrap();
    assert!((50.0..=100.0).contains(&confidence), "{confidence}");
    let text = paragraphs(&book).collect::<Vec<_>>().join("\n");
    let truth = String::from_utf8(fixture("ocr/alice-page-scan.truth.txt")).unwrap();
    let accuracy = word_accuracy(&truth, &text);
    eprintln!("scanned PDF word accuracy: {:.2}%", accuracy * 100.0);
    assert!(accuracy >= 0.97, "word accuracy {accuracy}");
    assert_eq!(calls.into_inner().unwrap().last(), Some(&(1, 1)));
}

#[test]
fn scanned_pages_among_text_pages_are_ocrd_in_place() {
    // alice.pdf's pages 1-3, then the scan (page 5 of the book), then alice's page 6.
    let mut alice = Document::load_mem(&fixture("alice.pdf")).unwrap();
    alice.delete_pages(&(7..=86).collect::<Vec<u32>>());
    alice.delete_pages(&[4, 5]);
    alice.catalog_mut().unwrap().remove(b"Outlines");
    let scan = Document::load_mem(&scanned_pdf(1)).unwrap();
    let merged = merge(alice, scan, 3);
    let extracted = pdf::read(&merged, &IngestOptions::default(), &|_, _| {}).unwrap();
    let pages: Vec<Option<u32>> = extracted
        .warnings
        .iter()
        .filter(|w| w.code == "ocr_page")
        .map(|w| w.page)
        .collect();
    assert_eq!(pages, [Some(4)]);
    let Body::Blocks(blocks) = &extracted.body else {
        panic!("expected blocks");
    };
    let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
    let presently = texts
        .iter()
        .position(|t| t.starts_with("Presently she began again."))
        .unwrap();
    let scanned = texts
        .iter()
        .position(|t| t.starts_with("Alice opened the door"))
        .unwrap();
    assert!(presently < scanned);
    // The scan's last paragraph runs on to the text page after it.
    assert!(
        texts[scanned..]
            .iter()
            .any(|t| t.starts_with("It was all very well")
                && t.contains("almost certain to disagree with you")),
        "{texts:#?}"
    );
}

/// `first` with the pages of `second` inserted after page `after` (1-based).
fn merge(mut first: Document, mut second: Document, after: usize) -> Vec<u8> {
    second.renumber_objects_with(first.max_id + 1);
    first.max_id = second.max_id;
    let second_pages: Vec<_> = second.get_pages().into_values().collect();
    let pages_id = first
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    for (id, object) in std::mem::take(&mut second.objects) {
        first.objects.insert(id, object);
    }
    for page in &second_pages {
        first
            .get_dictionary_mut(*page)
            .unwrap()
            .set("Parent", pages_id);
    }
    let pages = first.get_dictionary_mut(pages_id).unwrap();
    let mut kids = pages.get(b"Kids").unwrap().as_array().unwrap().clone();
    for (offset, page) in second_pages.iter().enumerate() {
        kids.insert(after + offset, Object::Reference(*page));
    }
    let count = i64::try_from(kids.len()).unwrap();
    pages.set("Kids", kids);
    pages.set("Count", count);
    save(&mut first)
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken files

fn read_error(bytes: &[u8], options: &IngestOptions) -> &'static str {
    match ingest(bytes, options, &|_, _| {}) {
        Ok(book) => panic!("expected an error, got a book of {} words", book.word_count),
        Err(error) => error.code(),
    }
}

#[test]
fn a_truncated_pdf_is_corrupt() {
    let bytes = fixture("alice.pdf");
    assert_eq!(
        read_error(&bytes[..bytes.len() / 2], &IngestOptions::default()),
        "corrupt_file"
    );
    assert_eq!(
        read_error(&bytes[..2000], &IngestOptions::default()),
        "corrupt_file"
    );
}

#[test]
fn garbage_after_a_pdf_header_is_corrupt() {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    let mut state = 0x2545_4446_u32;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.push(state as u8);
    }
    assert_eq!(
        read_error(&bytes, &IngestOptions::default()),
        "corrupt_file"
    );
}

fn encrypted_alice(user_password: &str) -> Vec<u8> {
    let mut document = Document::load_mem(&fixture("alice.pdf")).unwrap();
    let version = EncryptionVersion::V2 {
        document: &document,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: Permissions::all(),
    };
    let state = EncryptionState::try_from(version).unwrap();
    document.encrypt(&state).unwrap();
    save(&mut document)
}

#[test]
fn an_encrypted_pdf_is_refused_unless_its_password_is_empty() {
    let locked = encrypted_alice("secret");
    assert!(locked.windows(8).any(|w| w == b"/Encrypt"));
    assert_eq!(
        read_error(&locked, &IngestOptions::default()),
        "encrypted_file"
    );

    // Encrypted with an empty user password: anyone can open it, so it is read.
    let open = encrypted_alice("");
    let book = read_book(&open);
    assert_alice_chapters(&book);
}

#[test]
fn a_hand_made_encrypt_entry_is_refused() {
    // A standard security handler dictionary whose password checks cannot pass.
    let mut document = Document::load_mem(&fixture("alice.pdf")).unwrap();
    let encrypt = document.add_object(dictionary! {
        "Filter" => "Standard",
        "V" => 2,
        "R" => 3,
        "Length" => 128,
        "P" => -4,
        "O" => Object::string_literal(vec![7_u8; 32]),
        "U" => Object::string_literal(vec![9_u8; 32]),
    });
    document.trailer.set("Encrypt", encrypt);
    document.trailer.set(
        "ID",
        vec![
            Object::string_literal(vec![1_u8; 16]),
            Object::string_literal(vec![1_u8; 16]),
        ],
    );
    let bytes = save(&mut document);
    assert_eq!(
        read_error(&bytes, &IngestOptions::default()),
        "encrypted_file"
    );
}

#[test]
fn too_many_pages_is_over_the_limit() {
    let mut options = IngestOptions::default();
    options.limits.max_pages = 10;
    assert_eq!(read_error(&fixture("alice.pdf"), &options), "over_limit");
}

#[test]
fn a_missing_pdftoppm_is_a_tool_failure() {
    let mut options = IngestOptions::default();
    options.tools.pdftoppm = "/nonexistent/pdftoppm".into();
    assert_eq!(read_error(&scanned_pdf(1), &options), "tool_failed");
}

#[test]
fn pdftotext_agrees_on_the_words() {
    // An independent oracle: the words pdftotext finds in alice.pdf and the words read here.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alice.pdf");
    let Ok(output) = Command::new("pdftotext")
        .arg("-q")
        .arg(&path)
        .arg("-")
        .output()
    else {
        eprintln!("pdftotext is not installed; skipped");
        return;
    };
    let oracle = word_count(&String::from_utf8_lossy(&output.stdout));
    let book = read_book(&fixture("alice.pdf"));
    let ours = book.word_count;
    let difference = ours.abs_diff(oracle) as f64 / oracle as f64;
    assert!(
        difference <= 0.01,
        "{ours} words here, {oracle} from pdftotext"
    );
}
