//! Tests of the epub reader: real books, hostile archives and lenient reading.

use std::io::{Cursor, Read, Write};
use std::sync::Mutex;

use visiobook_domain::{Book, Matter};
use visiobook_ingestion::extract::Body;
use visiobook_ingestion::{IngestError, IngestOptions, epub, ingest};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::fixture;

fn read_book(bytes: &[u8]) -> Result<Book, IngestError> {
    ingest(bytes, &IngestOptions::default(), &|_, _| {})
}

fn error_code(bytes: &[u8]) -> &'static str {
    match read_book(bytes) {
        Ok(book) => panic!("expected an error, got a book titled {:?}", book.title),
        Err(error) => error.code(),
    }
}

fn body_chapters(book: &Book) -> Vec<&visiobook_domain::Chapter> {
    book.chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .collect()
}

/// Words of an XHTML document counted independently of the reader: tags stripped, a few
/// entities decoded, tokens with a letter or digit counted.
fn crude_words(xhtml: &str) -> usize {
    let body = xhtml.split("<body").nth(1).unwrap_or(xhtml);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&nbsp;", " ").replace("&#160;", " ");
    text.split_whitespace()
        .filter(|token| token.chars().any(char::is_alphanumeric))
        .count()
}

/// Builds a ZIP: `mimetype` stored first when given, everything else deflated.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in files {
        let method = if *name == "mimetype" {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        writer
            .start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

const CONTAINER: &str = r#"<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"#;

fn package(spine: &[&str]) -> String {
    let manifest: String = spine
        .iter()
        .map(|id| {
            format!(r#"<item id="{id}" href="{id}.xhtml" media-type="application/xhtml+xml"/>"#)
        })
        .collect();
    let itemrefs: String = spine
        .iter()
        .map(|id| format!(r#"<itemref idref="{id}"/>"#))
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:title>Test Book</dc:title><dc:creator>A. Writer</dc:creator><dc:language>en</dc:language>
  </metadata>
  <manifest>{manifest}</manifest>
  <spine>{itemrefs}</spine>
</package>"#
    )
}

fn chapter(title: &str, paragraphs: usize) -> String {
    let text: String = (0..paragraphs)
        .map(|n| format!("<p>Paragraph {n} of {title} tells the story in plain words.</p>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head>
<body><h1>{title}</h1>{text}</body></html>"#
    )
}

/// A small EPUB without a table of contents; `extra` files are added as given.
fn small_epub(spine: &[&str], chapters: &[(&str, String)], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let opf = package(spine);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("mimetype".into(), b"application/epub+zip".to_vec()),
        (
            "META-INF/container.xml".into(),
            CONTAINER.as_bytes().to_vec(),
        ),
        ("OEBPS/content.opf".into(), opf.into_bytes()),
    ];
    for (id, xhtml) in chapters {
        files.push((format!("OEBPS/{id}.xhtml"), xhtml.clone().into_bytes()));
    }
    for (name, content) in extra {
        files.push(((*name).to_owned(), content.to_vec()));
    }
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, content)| (name.as_str(), content.as_slice()))
        .collect();
    zip_of(&borrowed)
}

#[test]
fn metamorphosis_has_its_three_chapters_and_all_their_words() {
    let bytes = fixture("metamorphosis.epub");
    let calls = Mutex::new(Vec::new());
    let book = ingest(&bytes, &IngestOptions::default(), &|done, total| {
        calls.lock().unwrap().push((done, total));
    })
    .unwrap();
    assert_eq!(book.author.as_deref(), Some("Franz Kafka"));
    assert_eq!(book.language, "en");
    assert_eq!(book.title.trim(), "Metamorphosis");
    let body = body_chapters(&book);
    let titles: Vec<&str> = body.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["CHAPTER I", "CHAPTER II", "CHAPTER III"]);
    for chapter in &body {
        assert!(
            chapter.word_count > 5_000,
            "{}: {}",
            chapter.title,
            chapter.word_count
        );
        assert_ne!(
            chapter.paragraphs[0].text, chapter.title,
            "title repeated as text"
        );
    }
    // Front matter is kept and marked.
    let front: Vec<&str> = book
        .chapters
        .iter()
        .filter(|c| c.matter == Matter::Front)
        .map(|c| c.title.as_str())
        .collect();
    assert!(front.contains(&"Copyright"), "{front:?}");
    assert!(front.contains(&"Table Of Contents"), "{front:?}");

    // Every word of the chapter files is accounted for (the titles are not paragraphs).
    let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let mut expected = 0;
    for name in [
        "OEBPS/chapter-001-chapter-i.html",
        "OEBPS/chapter-002-chapter-ii.html",
        "OEBPS/chapter-003-chapter-iii.html",
    ] {
        let mut text = String::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        expected += crude_words(&text) - 2; // "CHAPTER I" heading
    }
    let found: usize = body.iter().map(|c| c.word_count).sum();
    assert!(expected > 20_000, "{expected}");
    let difference = found.abs_diff(expected) as f64 / expected as f64;
    assert!(
        difference < 0.02,
        "found {found} words, expected about {expected}"
    );

    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), 8);
    assert_eq!(calls.last(), Some(&(8, 8)));
}

#[test]
fn calibre_quickstart_is_french_with_a_flattened_toc() {
    let book = read_book(&fixture("calibre-quickstart-fr.epub")).unwrap();
    assert_eq!(book.language, "fr");
    assert_eq!(book.author.as_deref(), Some("John Schember"));
    let body = body_chapters(&book);
    let titles: Vec<&str> = body.iter().map(|c| c.title.as_str()).collect();
    // Top level, second and third levels of the NCX all start chapters, in order.
    let position = |title: &str| {
        titles
            .iter()
            .position(|t| *t == title)
            .unwrap_or_else(|| panic!("{title} missing from {titles:?}"))
    };
    assert!(position("Introduction") < position("Tâche 1 : Organiser"));
    assert!(position("Tâche 2 : Conversion") < position("2.1: Contexte"));
    assert!(position("2.1: Contexte") < position("2.7: DRM : Le fléau de la conversion"));
    assert!(position("2.7: DRM : Le fléau de la conversion") < position("Où trouver de l'aide"));
    assert!(body.len() >= 15, "{titles:?}");
    let contents = book
        .chapters
        .iter()
        .find(|c| c.title == "Table des Matières")
        .unwrap();
    assert_eq!(contents.matter, Matter::Front);
    let text: String = body
        .iter()
        .flat_map(|c| c.paragraphs.iter().map(|p| p.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("DRM est un acronyme pour Digital Rights Management."));
    assert!(text.contains("Barnes & Noble"));
    assert!(book.word_count > 4_000, "{}", book.word_count);

    // Detected from the text as well as declared.
    let Body::Sections(sections) = epub::read(
        &fixture("calibre-quickstart-fr.epub"),
        &IngestOptions::default(),
        &|_, _| {},
    )
    .unwrap()
    .body
    else {
        panic!("an EPUB has sections");
    };
    let sample: String = sections
        .iter()
        .flat_map(|s| s.blocks.iter().map(|b| b.text.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        visiobook_ingestion::structure::detect_language(&sample),
        "fr"
    );
}

#[test]
fn the_reader_reports_metadata_and_sections_directly() {
    let extracted = epub::read(
        &fixture("metamorphosis.epub"),
        &IngestOptions::default(),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(extracted.format, visiobook_domain::SourceFormat::Epub);
    assert_eq!(extracted.language.as_deref(), Some("en"));
    let Body::Sections(sections) = extracted.body else {
        panic!("an EPUB has sections");
    };
    let chapter_one = sections.iter().find(|s| s.title == "CHAPTER I").unwrap();
    assert_eq!(chapter_one.matter, Matter::Body);
    assert!(
        chapter_one.blocks[0]
            .text
            .starts_with("One morning, when Gregor Samsa")
    );
}

#[test]
fn a_zip_bomb_is_refused() {
    // 200 MiB of zeros deflate to about 200 KiB; written in chunks to stay small in memory.
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    writer
        .start_file(
            "mimetype",
            SimpleFileOptions::default().compression_method(CompressionMethod::Stored),
        )
        .unwrap();
    writer.write_all(b"application/epub+zip").unwrap();
    writer
        .start_file("META-INF/container.xml", deflated)
        .unwrap();
    writer.write_all(CONTAINER.as_bytes()).unwrap();
    writer.start_file("OEBPS/content.opf", deflated).unwrap();
    writer.write_all(package(&["bomb"]).as_bytes()).unwrap();
    writer
        .start_file("OEBPS/bomb.xhtml", deflated.large_file(false))
        .unwrap();
    let zeros = vec![0_u8; 1024 * 1024];
    for _ in 0..200 {
        writer.write_all(&zeros).unwrap();
    }
    let bytes = writer.finish().unwrap().into_inner();
    assert!(bytes.len() < 2 * 1024 * 1024, "{}", bytes.len());
    assert_eq!(error_code(&bytes), "zip_bomb");

    // The same bomb with its headers lying about its size is stopped while it is read.
    let lying = lie_about_size(&bytes, "OEBPS/bomb.xhtml", 10_000);
    let error = epub::read(&lying, &IngestOptions::default(), &|_, _| {}).unwrap_err();
    assert_eq!(error.code(), "zip_bomb");
    assert!(
        error.to_string().contains("expands more than 200 times"),
        "{error}"
    );
}

/// Rewrites the uncompressed size an entry declares (local and central headers).
fn lie_about_size(bytes: &[u8], name: &str, size: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut patched = 0;
    for at in 0..out.len().saturating_sub(46) {
        let (size_at, name_len_at, name_at) = match &out[at..at + 4] {
            b"PK\x03\x04" => (at + 22, at + 26, at + 30),
            b"PK\x01\x02" => (at + 24, at + 28, at + 46),
            _ => continue,
        };
        let name_len = u16::from_le_bytes([out[name_len_at], out[name_len_at + 1]]) as usize;
        if out.get(name_at..name_at + name_len) == Some(name.as_bytes()) {
            out[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
    out
}

#[test]
fn the_decompression_budget_is_global() {
    let mut options = IngestOptions::default();
    options.limits.max_decompressed_bytes = 64 * 1024;
    let error = ingest(&fixture("metamorphosis.epub"), &options, &|_, _| {}).unwrap_err();
    assert_eq!(error.code(), "zip_bomb", "{error}");
}

#[test]
fn unsafe_entry_names_are_refused() {
    let ok = chapter("One", 3);
    for name in [
        "../evil.xhtml",
        "/etc/passwd",
        "OEBPS/../../evil",
        "C:/evil.txt",
        "a\\..\\evil",
    ] {
        let bytes = small_epub(&["one"], &[("one", ok.clone())], &[(name, b"boo")]);
        assert_eq!(error_code(&bytes), "unsafe_archive_path", "{name}");
        let error = epub::read(&bytes, &IngestOptions::default(), &|_, _| {}).unwrap_err();
        assert_eq!(error, IngestError::UnsafePath(name.to_owned()));
    }
}

#[test]
fn dtd_entities_are_never_expanded() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE html [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><p>&lol9;</p></body></html>"#;
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE html [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Secret: &xxe;</p></body></html>"#;
    for hostile in [laughs, external] {
        let bytes = small_epub(
            &["one", "two"],
            &[("one", chapter("One", 3)), ("two", hostile.to_owned())],
            &[],
        );
        assert_eq!(error_code(&bytes), "unsafe_xml");
    }
    // In the package document too.
    let opf = package(&["one"]).replace(
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\"?><!DOCTYPE package [<!ENTITY t SYSTEM \"file:///etc/passwd\">]>",
    );
    let bytes = zip_of(&[
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", CONTAINER.as_bytes()),
        ("OEBPS/content.opf", opf.as_bytes()),
        ("OEBPS/one.xhtml", chapter("One", 3).as_bytes()),
    ]);
    assert_eq!(error_code(&bytes), "unsafe_xml");
}

#[test]
fn drm_and_encrypted_entries_are_refused() {
    let encryption = r#"<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
  xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
    <enc:CipherData><enc:CipherReference URI="OEBPS/one.xhtml"/></enc:CipherData>
  </enc:EncryptedData>
</encryption>"#;
    let bytes = small_epub(
        &["one"],
        &[("one", chapter("One", 3))],
        &[("META-INF/encryption.xml", encryption.as_bytes())],
    );
    assert_eq!(error_code(&bytes), "encrypted_file");

    let rights = small_epub(
        &["one"],
        &[("one", chapter("One", 3))],
        &[("META-INF/rights.xml", b"<rights/>")],
    );
    assert_eq!(error_code(&rights), "encrypted_file");

    // Font obfuscation is not DRM.
    let fonts = encryption
        .replace(
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            "http://www.idpf.org/2008/embedding",
        )
        .replace("OEBPS/one.xhtml", "OEBPS/font.otf");
    let bytes = small_epub(
        &["one"],
        &[("one", chapter("One", 3))],
        &[
            ("META-INF/encryption.xml", fonts.as_bytes()),
            ("OEBPS/font.otf", b"\0\0"),
        ],
    );
    assert!(read_book(&bytes).is_ok());

    // A password-protected (ZIP-encrypted) entry: set the encryption flag in both headers.
    let mut bytes = small_epub(&["one"], &[("one", chapter("One", 3))], &[]);
    for at in 0..bytes.len() - 4 {
        match &bytes[at..at + 4] {
            b"PK\x03\x04" => bytes[at + 6] |= 1,
            b"PK\x01\x02" => bytes[at + 8] |= 1,
            _ => {}
        }
    }
    assert_eq!(error_code(&bytes), "encrypted_file");
}

#[test]
fn broken_and_foreign_archives_are_told_apart() {
    let whole = fixture("metamorphosis.epub");
    assert_eq!(error_code(&whole[..whole.len() / 2]), "corrupt_file");

    let mut random = b"PK\x03\x04".to_vec();
    let mut state = 0x2545_F491_u32;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        random.push(state.to_le_bytes()[0]);
    }
    assert_eq!(error_code(&random), "corrupt_file");

    let not_epub = zip_of(&[("hello.txt", b"Hello there"), ("data.csv", b"a,b\n1,2\n")]);
    let error = read_book(&not_epub).unwrap_err();
    assert_eq!(error.code(), "unsupported_format");
    assert!(error.to_string().contains("not an EPUB"), "{error}");

    let mut options = IngestOptions::default();
    options.limits.max_archive_entries = 5;
    let error = ingest(&whole, &options, &|_, _| {}).unwrap_err();
    assert_eq!(error.code(), "over_limit");
}

#[test]
fn missing_and_broken_items_are_skipped_with_a_warning() {
    let bytes = small_epub(
        &["one", "two", "three", "four"],
        &[
            ("one", chapter("First Chapter", 5)),
            ("three", "\u{0}\u{1}\u{2}<<<<<<".to_owned()),
            ("four", chapter("Fourth Chapter", 5)),
        ],
        &[],
    );
    let book = read_book(&bytes).unwrap();
    let titles: Vec<&str> = book.chapters.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["First Chapter", "Fourth Chapter"]);
    assert_eq!(book.title, "Test Book");
    assert_eq!(book.author.as_deref(), Some("A. Writer"));
    let skipped: Vec<&str> = book
        .warnings
        .iter()
        .filter(|w| w.code == "item_skipped")
        .map(|w| w.message.as_str())
        .collect();
    assert!(
        skipped.iter().any(|m| m.contains("OEBPS/two.xhtml")),
        "{skipped:?}"
    );

    // Nothing readable at all.
    let bytes = small_epub(&["one"], &[], &[]);
    assert_eq!(error_code(&bytes), "no_text");
}

#[test]
fn an_epub3_nav_splits_files_at_fragments() {
    let nav = r##"<?xml version="1.0"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>Nav</title></head><body>
<nav epub:type="toc"><h1>Contents</h1><ol>
  <li><a href="text/book.xhtml#c1">Chapter One</a>
    <ol><li><a href="text/book.xhtml#c1s2">A Second Scene</a></li></ol></li>
  <li><a href="text/book.xhtml#c2">Chapter Two</a></li>
  <li><a href="text/about.xhtml">About the Author</a></li>
</ol></nav>
<nav epub:type="landmarks"><ol><li><a epub:type="bodymatter" href="text/book.xhtml#c1">Start</a></li></ol></nav>
</body></html>"##;
    let book_xhtml = r#"<?xml version="1.0"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Book</title></head><body>
<p class="epigraph">All happy families are alike, said somebody once.</p>
<section id="c1"><h2>Chapter One</h2><p>It began on a Monday, in the rain, with nobody watching.</p>
<h3 id="c1s2">A Second Scene</h3><p>Later that week the rain stopped and everybody looked up.</p></section>
<section id="c2"><h2>Chapter Two</h2><p>The second part of the story was shorter than the first one.</p></section>
</body></html>"#;
    let about = r#"<html><body><h1>About the Author</h1><p>The writer lives by the sea with two cats.</p></body></html>"#;
    let opf = r##"<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:title>Nav Book</dc:title>
    <dc:creator id="a1">Real Author</dc:creator>
    <meta refines="#a1" property="role" scheme="marc:relators">aut</meta>
    <dc:creator id="t1">Some Translator</dc:creator>
    <meta refines="#t1" property="role" scheme="marc:relators">trl</meta>
    <dc:language>en-GB</dc:language>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" properties="nav" media-type="application/xhtml+xml"/>
    <item id="book" href="text/book.xhtml" media-type="application/xhtml+xml"/>
    <item id="about" href="text/about.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine><itemref idref="book"/><itemref idref="about"/></spine>
</package>"##;
    let bytes = zip_of(&[
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", CONTAINER.as_bytes()),
        ("OEBPS/content.opf", opf.as_bytes()),
        ("OEBPS/nav.xhtml", nav.as_bytes()),
        ("OEBPS/text/book.xhtml", book_xhtml.as_bytes()),
        ("OEBPS/text/about.xhtml", about.as_bytes()),
    ]);
    let book = read_book(&bytes).unwrap();
    assert_eq!(book.author.as_deref(), Some("Real Author"));
    assert_eq!(book.language, "en");
    let chapters: Vec<(&str, Matter, usize)> = book
        .chapters
        .iter()
        .map(|c| (c.title.as_str(), c.matter, c.paragraphs.len()))
        .collect();
    assert_eq!(
        chapters,
        [
            ("Book", Matter::Front, 1),
            ("Chapter One", Matter::Body, 1),
            ("A Second Scene", Matter::Body, 1),
            ("Chapter Two", Matter::Body, 1),
            ("About the Author", Matter::Back, 1),
        ]
    );
    assert!(
        book.chapters[2].paragraphs[0]
            .text
            .starts_with("Later that week")
    );
}
