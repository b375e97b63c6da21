//! EPUB 3 read-along books with Media Overlays (SMIL).
//!
//! [`write_epub`] turns a [`ReadAlong`] (chapters of timed sentences plus one
//! narration audio file per chapter) into the bytes of an EPUB 3 publication in
//! which every sentence is highlighted while it is spoken, in reading systems
//! that support EPUB 3 Media Overlays.
//!
//! Layout of the container (all names are ASCII):
//!
//! ```text
//! mimetype                      (first entry, stored)
//! META-INF/container.xml
//! OEBPS/content.opf             package document
//! OEBPS/nav.xhtml               navigation document (toc + landmarks)
//! OEBPS/style.css               includes the media overlay active class
//! OEBPS/cover.xhtml             only with a cover
//! OEBPS/images/cover.png        only with a cover
//! OEBPS/chapter-N.xhtml         one per chapter, N from 1
//! OEBPS/chapter-N.smil          one per chapter that has sentences
//! OEBPS/audio/chapter-N.m4a     one per chapter that has sentences
//! ```
//!
//! The output is deterministic: the same input gives the same bytes (fixed
//! entry order, zip timestamps taken from [`ReadAlong::modified`], fixed
//! permissions and host system).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// The CSS class that reading systems put on the sentence being spoken
/// (declared with `media:active-class` in the package document).
pub const ACTIVE_CLASS: &str = "-epub-media-overlay-active";

/// The CSS class that reading systems put on the document element while
/// narration plays (declared with `media:playback-active-class`).
pub const PLAYBACK_ACTIVE_CLASS: &str = "-epub-media-overlay-playing";

/// A read-along book: metadata plus narrated chapters.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAlong {
    /// Unique identifier of the publication, e.g. `"urn:visiobook:<book id>"`.
    pub identifier: String,
    /// Title of the book.
    pub title: String,
    /// Author, written as `dc:creator` when present.
    pub author: Option<String>,
    /// BCP 47 language tag, e.g. `"en"` or `"fr"`.
    pub language: String,
    /// Last modification time, `CCYY-MM-DDThh:mm:ssZ` (e.g. `"2026-11-24T12:00:00Z"`),
    /// given by the caller so that the output is deterministic.
    pub modified: String,
    /// A PNG cover image, if any. A JPEG is also accepted (recognised by its
    /// signature and stored as `images/cover.jpg`); anything else is
    /// [`EpubError::BadCover`].
    pub cover_png: Option<Vec<u8>>,
    /// The chapters, in reading order.
    pub chapters: Vec<ReadAlongChapter>,
}

/// One chapter of a [`ReadAlong`] with its narration.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAlongChapter {
    /// Chapter title, shown as the `h1` and in the table of contents.
    pub title: String,
    /// The chapter's narration: AAC in an MP4 container (`.m4a`, media type audio/mp4), one file per chapter.
    pub audio_m4a: Vec<u8>,
    /// Length of [`Self::audio_m4a`] in milliseconds.
    pub audio_duration_ms: u64,
    /// Paragraphs of sentences, in reading order.
    pub paragraphs: Vec<Vec<ReadAlongSentence>>,
}

/// One sentence of a chapter and where it is spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAlongSentence {
    /// The sentence text (plain text, escaped on output).
    pub text: String,
    /// Where it is spoken in the chapter's audio: start, in milliseconds.
    pub start_ms: u64,
    /// Where it is spoken in the chapter's audio: end, in milliseconds (exclusive).
    pub end_ms: u64,
}

/// Why a [`ReadAlong`] could not be written as an EPUB.
///
/// Chapter, paragraph and sentence indices are 0-based; `sentence` counts
/// within its paragraph.
#[derive(Debug, thiserror::Error)]
pub enum EpubError {
    /// The book has no chapters.
    #[error("the book has no chapters")]
    Empty,
    /// A required metadata field (identifier, title, language) is blank.
    #[error("the book's {0} is empty")]
    MissingMetadata(&'static str),
    /// The language is not a well-formed BCP 47 tag.
    #[error("language {0:?} is not a well-formed BCP 47 tag")]
    BadLanguage(String),
    /// `modified` is not of the form `CCYY-MM-DDThh:mm:ssZ`.
    #[error("modified date {0:?} is not of the form CCYY-MM-DDThh:mm:ssZ")]
    BadModified(String),
    /// The cover bytes are neither a PNG nor a JPEG image.
    #[error("the cover image is neither a PNG nor a JPEG file")]
    BadCover,
    /// A chapter with sentences has no audio bytes.
    #[error("chapter {chapter} has sentences but no audio")]
    MissingAudio {
        /// Index of the chapter.
        chapter: usize,
    },
    /// A sentence's timing is unusable: it is empty or reversed (`end_ms <= start_ms`),
    /// runs past the chapter's audio, or starts before the previous sentence ends.
    #[error("chapter {chapter}, paragraph {paragraph}, sentence {sentence}: {reason}")]
    BadTiming {
        /// Index of the chapter.
        chapter: usize,
        /// Index of the paragraph within the chapter.
        paragraph: usize,
        /// Index of the sentence within the paragraph.
        sentence: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Writing the zip container failed.
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// An I/O error while writing the container.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The EPUB file bytes. Deterministic: same input, same bytes (fixed zip timestamps, stable ordering).
///
/// Chapters without any sentence get a content document but no Media Overlay
/// (and their audio is left out, since nothing would reference it).
pub fn write_epub(book: &ReadAlong) -> Result<Vec<u8>, EpubError> {
    validate(book)?;
    let zip_time = zip_time(&book.modified);
    let lang = book.language.trim();

    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(zip_time)
        .unix_permissions(0o644)
        .system(System::Unix);
    let deflated = stored.compression_method(CompressionMethod::Deflated);

    let chapters: Vec<ChapterPlan> = book
        .chapters
        .iter()
        .enumerate()
        .map(|(i, c)| ChapterPlan::new(i, c))
        .collect();

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));

    // The mimetype must be first, stored, without extra field.
    zip.start_file("mimetype", stored)?;
    zip.write_all(b"application/epub+zip")?;

    zip.start_file("META-INF/container.xml", deflated)?;
    zip.write_all(container_xml().as_bytes())?;

    zip.start_file("OEBPS/content.opf", deflated)?;
    zip.write_all(package_document(book, &chapters).as_bytes())?;

    zip.start_file("OEBPS/nav.xhtml", deflated)?;
    zip.write_all(nav_document(book, &chapters).as_bytes())?;

    zip.start_file("OEBPS/style.css", deflated)?;
    zip.write_all(stylesheet().as_bytes())?;

    if let Some((bytes, kind)) = cover(book) {
        zip.start_file("OEBPS/cover.xhtml", deflated)?;
        zip.write_all(cover_document(book, kind).as_bytes())?;
        zip.start_file(format!("OEBPS/{}", kind.href()), stored)?;
        zip.write_all(bytes)?;
    }

    for (plan, chapter) in chapters.iter().zip(&book.chapters) {
        zip.start_file(format!("OEBPS/{}", plan.xhtml_href()), deflated)?;
        zip.write_all(content_document(lang, plan, chapter).as_bytes())?;
        if plan.has_overlay {
            zip.start_file(format!("OEBPS/{}", plan.smil_href()), deflated)?;
            zip.write_all(smil_document(plan, chapter).as_bytes())?;
            zip.start_file(format!("OEBPS/{}", plan.audio_href()), stored)?;
            zip.write_all(&chapter.audio_m4a)?;
        }
    }

    Ok(zip.finish()?.into_inner())
}

/// Image format of the cover, from its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CoverKind {
    Png,
    Jpeg,
}

impl CoverKind {
    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else {
            None
        }
    }
    fn href(self) -> &'static str {
        match self {
            Self::Png => "images/cover.png",
            Self::Jpeg => "images/cover.jpg",
        }
    }
    fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// The cover bytes and their format, when there is a usable cover.
fn cover(book: &ReadAlong) -> Option<(&[u8], CoverKind)> {
    let bytes = book.cover_png.as_deref()?;
    CoverKind::sniff(bytes).map(|kind| (bytes, kind))
}

/// Per-chapter names, computed once so that every document agrees on them.
#[derive(Debug)]
struct ChapterPlan {
    /// 1-based chapter number used in file names and ids.
    number: usize,
    /// Title to display (a fallback when the given one is blank).
    title: String,
    /// Whether the chapter has sentences, hence a SMIL file and audio.
    has_overlay: bool,
}

impl ChapterPlan {
    fn new(index: usize, chapter: &ReadAlongChapter) -> Self {
        let number = index + 1;
        let title = if chapter.title.trim().is_empty() {
            format!("{number}")
        } else {
            chapter.title.trim().to_owned()
        };
        let has_overlay = chapter.paragraphs.iter().any(|p| !p.is_empty());
        Self {
            number,
            title,
            has_overlay,
        }
    }
    fn xhtml_id(&self) -> String {
        format!("chapter-{}", self.number)
    }
    fn xhtml_href(&self) -> String {
        format!("chapter-{}.xhtml", self.number)
    }
    fn smil_id(&self) -> String {
        format!("mo-{}", self.number)
    }
    fn smil_href(&self) -> String {
        format!("chapter-{}.smil", self.number)
    }
    fn audio_id(&self) -> String {
        format!("audio-{}", self.number)
    }
    fn audio_href(&self) -> String {
        format!("audio/chapter-{}.m4a", self.number)
    }
    /// Id of the `section` wrapping the chapter body.
    fn section_id(&self) -> String {
        format!("c{}", self.number)
    }
    /// Id of the `k`-th sentence (1-based, counted over the whole chapter).
    fn sentence_id(&self, k: usize) -> String {
        format!("s{}-{k}", self.number)
    }
}

fn validate(book: &ReadAlong) -> Result<(), EpubError> {
    if book.chapters.is_empty() {
        return Err(EpubError::Empty);
    }
    if book.identifier.trim().is_empty() {
        return Err(EpubError::MissingMetadata("identifier"));
    }
    if book.title.trim().is_empty() {
        return Err(EpubError::MissingMetadata("title"));
    }
    if book.language.trim().is_empty() {
        return Err(EpubError::MissingMetadata("language"));
    }
    if !is_language_tag(book.language.trim()) {
        return Err(EpubError::BadLanguage(book.language.clone()));
    }
    if parse_modified(&book.modified).is_none() {
        return Err(EpubError::BadModified(book.modified.clone()));
    }
    if let Some(bytes) = &book.cover_png
        && CoverKind::sniff(bytes).is_none()
    {
        return Err(EpubError::BadCover);
    }
    for (ci, chapter) in book.chapters.iter().enumerate() {
        let mut previous_end = 0u64;
        let mut any = false;
        for (pi, paragraph) in chapter.paragraphs.iter().enumerate() {
            for (si, s) in paragraph.iter().enumerate() {
                any = true;
                let bad = |reason| EpubError::BadTiming {
                    chapter: ci,
                    paragraph: pi,
                    sentence: si,
                    reason,
                };
                if s.end_ms < s.start_ms {
                    return Err(bad("ends before it starts"));
                }
                if s.end_ms == s.start_ms {
                    return Err(bad("has zero duration"));
                }
                if s.end_ms > chapter.audio_duration_ms {
                    return Err(bad("ends after the chapter's audio"));
                }
                if s.start_ms < previous_end {
                    return Err(bad("starts before the previous sentence ends"));
                }
                previous_end = s.end_ms;
            }
        }
        if any && chapter.audio_m4a.is_empty() {
            return Err(EpubError::MissingAudio { chapter: ci });
        }
    }
    Ok(())
}

/// Loose BCP 47 well-formedness: ASCII alphanumeric subtags of 1 to 8
/// characters separated by `-`, the first one made of letters.
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Parses `CCYY-MM-DDThh:mm:ssZ` into (year, month, day, hour, minute, second).
fn parse_modified(s: &str) -> Option<(u16, u8, u8, u8, u8, u8)> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u16> {
        let part = s.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = num(0..4)?;
    let month = u8::try_from(num(5..7)?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    let hour = u8::try_from(num(11..13)?).ok()?;
    let minute = u8::try_from(num(14..16)?).ok()?;
    let second = u8::try_from(num(17..19)?).ok()?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    valid.then_some((year, month, day, hour, minute, second))
}

/// Zip entry timestamp: the book's modification time when zip can represent
/// it (1980..=2107), else the zip epoch. Never the current time.
fn zip_time(modified: &str) -> DateTime {
    parse_modified(modified)
        .and_then(|(y, mo, d, h, mi, s)| {
            DateTime::from_date_and_time(y, mo, d, h, mi, s.min(59)).ok()
        })
        .unwrap_or_default()
}

/// Escapes text for XML character data and attribute values (both quote
/// kinds), dropping characters that XML 1.0 does not allow or that HTML
/// forbids in documents (C0/C1 controls other than tab, newline and
/// carriage return).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{FFFE}' | '\u{FFFF}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// A SMIL clock value `H:MM:SS.mmm` (full clock value).
fn clock(ms: u64) -> String {
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let seconds = (ms / 1000) % 60;
    let millis = ms % 1000;
    format!("{hours}:{minutes:02}:{seconds:02}.{millis:03}")
}

/// A few user-visible labels, in the book's language where known.
#[derive(Debug)]
struct Labels {
    contents: &'static str,
    landmarks: &'static str,
    cover: &'static str,
    start: &'static str,
}

fn labels(language: &str) -> Labels {
    let primary = language
        .split('-')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match primary.as_str() {
        "fr" => Labels {
            contents: "Table des matières",
            landmarks: "Repères",
            cover: "Couverture",
            start: "Début",
        },
        _ => Labels {
            contents: "Contents",
            landmarks: "Landmarks",
            cover: "Cover",
            start: "Start",
        },
    }
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

fn container_xml() -> String {
    let mut s = String::from(XML_DECL);
    s.push_str(
        "<container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">\n\
         \x20 <rootfiles>\n\
         \x20   <rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>\n\
         \x20 </rootfiles>\n\
         </container>\n",
    );
    s
}

fn package_document(book: &ReadAlong, chapters: &[ChapterPlan]) -> String {
    let lang = xml_escape(book.language.trim());
    let mut s = String::from(XML_DECL);
    s.push_str(&format!(
        "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"pub-id\" xml:lang=\"{lang}\">\n"
    ));
    s.push_str("  <metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n");
    s.push_str(&format!(
        "    <dc:identifier id=\"pub-id\">{}</dc:identifier>\n",
        xml_escape(book.identifier.trim())
    ));
    s.push_str(&format!(
        "    <dc:title id=\"title\">{}</dc:title>\n",
        xml_escape(book.title.trim())
    ));
    s.push_str(&format!("    <dc:language>{lang}</dc:language>\n"));
    if let Some(author) = book
        .author
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        s.push_str(&format!(
            "    <dc:creator id=\"creator\">{}</dc:creator>\n",
            xml_escape(author)
        ));
        s.push_str("    <meta refines=\"#creator\" property=\"role\" scheme=\"marc:relators\">aut</meta>\n");
    }
    s.push_str(&format!(
        "    <meta property=\"dcterms:modified\">{}</meta>\n",
        xml_escape(&book.modified)
    ));
    let cover = cover(book).map(|(_, kind)| kind);
    if cover.is_some() {
        // EPUB 2 style cover hint, still read by some reading systems.
        s.push_str("    <meta name=\"cover\" content=\"cover-image\"/>\n");
    }
    let mut total_ms = 0u64;
    for (plan, chapter) in chapters.iter().zip(&book.chapters) {
        if plan.has_overlay {
            total_ms = total_ms.saturating_add(chapter.audio_duration_ms);
            s.push_str(&format!(
                "    <meta property=\"media:duration\" refines=\"#{}\">{}</meta>\n",
                plan.smil_id(),
                clock(chapter.audio_duration_ms)
            ));
        }
    }
    if chapters.iter().any(|c| c.has_overlay) {
        s.push_str(&format!(
            "    <meta property=\"media:duration\">{}</meta>\n",
            clock(total_ms)
        ));
        s.push_str(&format!(
            "    <meta property=\"media:active-class\">{ACTIVE_CLASS}</meta>\n"
        ));
        s.push_str(&format!(
            "    <meta property=\"media:playback-active-class\">{PLAYBACK_ACTIVE_CLASS}</meta>\n"
        ));
    }
    s.push_str("  </metadata>\n  <manifest>\n");
    s.push_str("    <item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>\n");
    s.push_str("    <item id=\"css\" href=\"style.css\" media-type=\"text/css\"/>\n");
    if let Some(kind) = cover {
        s.push_str(&format!(
            "    <item id=\"cover-image\" href=\"{}\" media-type=\"{}\" properties=\"cover-image\"/>\n",
            kind.href(),
            kind.media_type()
        ));
        s.push_str(
            "    <item id=\"cover\" href=\"cover.xhtml\" media-type=\"application/xhtml+xml\"/>\n",
        );
    }
    for plan in chapters {
        if plan.has_overlay {
            s.push_str(&format!(
                "    <item id=\"{}\" href=\"{}\" media-type=\"application/xhtml+xml\" media-overlay=\"{}\"/>\n",
                plan.xhtml_id(),
                plan.xhtml_href(),
                plan.smil_id()
            ));
            s.push_str(&format!(
                "    <item id=\"{}\" href=\"{}\" media-type=\"application/smil+xml\"/>\n",
                plan.smil_id(),
                plan.smil_href()
            ));
            s.push_str(&format!(
                "    <item id=\"{}\" href=\"{}\" media-type=\"audio/mp4\"/>\n",
                plan.audio_id(),
                plan.audio_href()
            ));
        } else {
            s.push_str(&format!(
                "    <item id=\"{}\" href=\"{}\" media-type=\"application/xhtml+xml\"/>\n",
                plan.xhtml_id(),
                plan.xhtml_href()
            ));
        }
    }
    s.push_str("  </manifest>\n  <spine>\n");
    if cover.is_some() {
        s.push_str("    <itemref idref=\"cover\"/>\n");
    }
    for plan in chapters {
        s.push_str(&format!("    <itemref idref=\"{}\"/>\n", plan.xhtml_id()));
    }
    s.push_str("  </spine>\n</package>\n");
    s
}

/// Start of an XHTML document, up to and including `<body>`.
fn xhtml_head(lang: &str, title: &str) -> String {
    let lang = xml_escape(lang);
    let mut s = String::from(XML_DECL);
    s.push_str("<!DOCTYPE html>\n");
    s.push_str(&format!(
        "<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:epub=\"http://www.idpf.org/2007/ops\" xml:lang=\"{lang}\" lang=\"{lang}\">\n"
    ));
    s.push_str("  <head>\n    <meta charset=\"UTF-8\"/>\n");
    s.push_str(&format!("    <title>{}</title>\n", xml_escape(title)));
    s.push_str("    <link rel=\"stylesheet\" type=\"text/css\" href=\"style.css\"/>\n");
    s.push_str("  </head>\n  <body>\n");
    s
}

const XHTML_TAIL: &str = "  </body>\n</html>\n";

fn nav_document(book: &ReadAlong, chapters: &[ChapterPlan]) -> String {
    let lang = book.language.trim();
    let l = labels(lang);
    let mut s = xhtml_head(lang, book.title.trim());
    s.push_str("    <nav epub:type=\"toc\" id=\"toc\">\n");
    s.push_str(&format!(
        "      <h1>{}</h1>\n      <ol>\n",
        xml_escape(l.contents)
    ));
    for plan in chapters {
        s.push_str(&format!(
            "        <li><a href=\"{}\">{}</a></li>\n",
            plan.xhtml_href(),
            xml_escape(&plan.title)
        ));
    }
    s.push_str("      </ol>\n    </nav>\n");
    s.push_str("    <nav epub:type=\"landmarks\" id=\"landmarks\" hidden=\"hidden\">\n");
    s.push_str(&format!(
        "      <h2>{}</h2>\n      <ol>\n",
        xml_escape(l.landmarks)
    ));
    if cover(book).is_some() {
        s.push_str(&format!(
            "        <li><a epub:type=\"cover\" href=\"cover.xhtml\">{}</a></li>\n",
            xml_escape(l.cover)
        ));
    }
    if let Some(first) = chapters.first() {
        s.push_str(&format!(
            "        <li><a epub:type=\"bodymatter\" href=\"{}\">{}</a></li>\n",
            first.xhtml_href(),
            xml_escape(l.start)
        ));
    }
    s.push_str("      </ol>\n    </nav>\n");
    s.push_str(XHTML_TAIL);
    s
}

fn cover_document(book: &ReadAlong, kind: CoverKind) -> String {
    let lang = book.language.trim();
    let title = xml_escape(book.title.trim());
    let mut s = xhtml_head(lang, labels(lang).cover);
    s.push_str("    <section class=\"cover\" epub:type=\"cover\">\n");
    s.push_str(&format!(
        "      <img src=\"{}\" alt=\"{title}\"/>\n",
        kind.href()
    ));
    s.push_str("    </section>\n");
    s.push_str(XHTML_TAIL);
    s
}

fn content_document(lang: &str, plan: &ChapterPlan, chapter: &ReadAlongChapter) -> String {
    let mut s = xhtml_head(lang, &plan.title);
    s.push_str(&format!(
        "    <section id=\"{}\" epub:type=\"chapter\">\n",
        plan.section_id()
    ));
    s.push_str(&format!("      <h1>{}</h1>\n", xml_escape(&plan.title)));
    let mut k = 0usize;
    for (pi, paragraph) in chapter.paragraphs.iter().enumerate() {
        if paragraph.is_empty() {
            continue;
        }
        s.push_str(&format!("      <p id=\"p{}-{}\">", plan.number, pi + 1));
        for (si, sentence) in paragraph.iter().enumerate() {
            k += 1;
            if si > 0 {
                s.push(' ');
            }
            s.push_str(&format!(
                "<span id=\"{}\">{}</span>",
                plan.sentence_id(k),
                xml_escape(sentence.text.trim())
            ));
        }
        s.push_str("</p>\n");
    }
    s.push_str("    </section>\n");
    s.push_str(XHTML_TAIL);
    s
}

fn smil_document(plan: &ChapterPlan, chapter: &ReadAlongChapter) -> String {
    let xhtml = plan.xhtml_href();
    let audio = plan.audio_href();
    let mut s = String::from(XML_DECL);
    s.push_str("<smil xmlns=\"http://www.w3.org/ns/SMIL\" xmlns:epub=\"http://www.idpf.org/2007/ops\" version=\"3.0\">\n");
    s.push_str("  <body>\n");
    s.push_str(&format!(
        "    <seq id=\"seq-{}\" epub:textref=\"{xhtml}#{}\" epub:type=\"chapter\">\n",
        plan.number,
        plan.section_id()
    ));
    let mut k = 0usize;
    for sentence in chapter.paragraphs.iter().flatten() {
        k += 1;
        s.push_str(&format!(
            "      <par id=\"par-{}-{k}\"><text src=\"{xhtml}#{}\"/><audio src=\"{audio}\" clipBegin=\"{}\" clipEnd=\"{}\"/></par>\n",
            plan.number,
            plan.sentence_id(k),
            clock(sentence.start_ms),
            clock(sentence.end_ms)
        ));
    }
    s.push_str("    </seq>\n  </body>\n</smil>\n");
    s
}

fn stylesheet() -> String {
    format!(
        "@charset \"UTF-8\";\n\
         \n\
         body {{\n  margin: 0 5%;\n  line-height: 1.5;\n}}\n\
         \n\
         h1 {{\n  text-align: center;\n  margin: 1.5em 0 1em 0;\n}}\n\
         \n\
         p {{\n  text-indent: 1.5em;\n  margin: 0 0 0.5em 0;\n}}\n\
         \n\
         section.cover {{\n  text-align: center;\n}}\n\
         \n\
         section.cover img {{\n  max-width: 100%;\n  height: auto;\n}}\n\
         \n\
         /* The sentence being read aloud (media:active-class). */\n\
         .{ACTIVE_CLASS} {{\n  background-color: #ffe066;\n  color: #000000;\n  border-radius: 0.2em;\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;

    fn sentence(text: &str, start_ms: u64, end_ms: u64) -> ReadAlongSentence {
        ReadAlongSentence {
            text: text.to_owned(),
            start_ms,
            end_ms,
        }
    }

    fn png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend_from_slice(b"not really an image");
        v
    }

    fn sample() -> ReadAlong {
        ReadAlong {
            identifier: "urn:visiobook:test-book".to_owned(),
            title: "Tom & Jerry <\"quoted\"> 'book'".to_owned(),
            author: Some("Émile Zola".to_owned()),
            language: "fr".to_owned(),
            modified: "2026-11-24T12:00:00Z".to_owned(),
            cover_png: Some(png()),
            chapters: vec![
                ReadAlongChapter {
                    title: "Chapitre « un » — l’été".to_owned(),
                    audio_m4a: vec![1, 2, 3],
                    audio_duration_ms: 10_000,
                    paragraphs: vec![
                        vec![
                            sentence("« Bonjour », dit-il.", 0, 1_500),
                            sentence("Il fait chaud & <lourd>.", 1_500, 3_250),
                        ],
                        vec![],
                        vec![sentence("“Curly” — quotes’.", 4_000, 9_999)],
                    ],
                },
                ReadAlongChapter {
                    title: String::new(),
                    audio_m4a: vec![4, 5, 6],
                    audio_duration_ms: 3_723_456,
                    paragraphs: vec![vec![sentence("Long.", 3_600_000, 3_723_456)]],
                },
            ],
        }
    }

    /// All entries, in archive order, with their bytes.
    fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("valid zip");
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).expect("entry");
                let mut data = Vec::new();
                f.read_to_end(&mut data).expect("read entry");
                (f.name().to_owned(), data)
            })
            .collect()
    }

    fn text_map(bytes: &[u8]) -> BTreeMap<String, String> {
        unzip(bytes)
            .into_iter()
            .filter(|(name, _)| !name.contains("audio/") && !name.contains("images/"))
            .map(|(name, data)| (name, String::from_utf8(data).expect("utf-8 text")))
            .collect()
    }

    /// Values of `attr="..."` in `text`, in order.
    fn attr_values(text: &str, attr: &str) -> Vec<String> {
        let needle = format!(" {attr}=\"");
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(pos) = rest.find(&needle) {
            rest = &rest[pos + needle.len()..];
            let end = rest.find('"').expect("closing quote");
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        out
    }

    fn parse_clock(c: &str) -> u64 {
        let (hms, millis) = c.split_once('.').expect("fraction");
        let parts: Vec<u64> = hms.split(':').map(|p| p.parse().expect("number")).collect();
        assert_eq!(parts.len(), 3, "full clock value {c}");
        assert_eq!(millis.len(), 3);
        ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + millis.parse::<u64>().expect("millis")
    }

    #[test]
    fn mimetype_is_first_and_stored() {
        let bytes = write_epub(&sample()).expect("epub");
        // Local file header: 30 bytes, then the name, then (no) extra field, then the data.
        assert_eq!(&bytes[0..4], b"PK\x03\x04");
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 0, "stored");
        assert_eq!(u16::from_le_bytes([bytes[26], bytes[27]]), 8, "name length");
        assert_eq!(
            u16::from_le_bytes([bytes[28], bytes[29]]),
            0,
            "extra field length"
        );
        assert_eq!(&bytes[30..38], b"mimetype");
        assert_eq!(&bytes[38..58], b"application/epub+zip");

        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).expect("zip");
        let mut first = archive.by_index(0).expect("first entry");
        assert_eq!(first.name(), "mimetype");
        assert_eq!(first.compression(), CompressionMethod::Stored);
        let mut content = String::new();
        first.read_to_string(&mut content).expect("read");
        assert_eq!(content, "application/epub+zip");
    }

    #[test]
    fn manifest_and_archive_agree() {
        let bytes = write_epub(&sample()).expect("epub");
        let files = text_map(&bytes);
        let names: Vec<String> = unzip(&bytes).into_iter().map(|(n, _)| n).collect();
        assert!(names.iter().all(|n| n.is_ascii()), "{names:?}");

        let container = &files["META-INF/container.xml"];
        let opf_path = &attr_values(container, "full-path")[0];
        let opf = &files[opf_path.as_str()];
        let manifest =
            &opf[opf.find("<manifest>").expect("manifest")..opf.find("</manifest>").expect("end")];
        let hrefs = attr_values(manifest, "href");
        for href in &hrefs {
            assert!(names.contains(&format!("OEBPS/{href}")), "missing {href}");
        }
        // And every file except the fixed ones is declared.
        for name in &names {
            if name == "mimetype" || name == "META-INF/container.xml" || name == opf_path {
                continue;
            }
            let href = name.strip_prefix("OEBPS/").expect("under OEBPS");
            assert!(hrefs.iter().any(|h| h == href), "undeclared {name}");
        }
        // Each manifest id is unique, and spine/media-overlay references resolve.
        let ids = attr_values(manifest, "id");
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        for idref in attr_values(opf, "idref")
            .iter()
            .chain(&attr_values(opf, "media-overlay"))
        {
            assert!(ids.contains(idref), "dangling {idref}");
        }
        for r in attr_values(opf, "refines") {
            let id = r.strip_prefix('#').expect("fragment");
            assert!(
                opf.contains(&format!("id=\"{id}\"")),
                "dangling refines {r}"
            );
        }
        assert!(opf.contains("properties=\"cover-image\""));
        assert!(opf.contains(&format!(
            "<meta property=\"media:active-class\">{ACTIVE_CLASS}</meta>"
        )));
        assert!(files["OEBPS/style.css"].contains(&format!(".{ACTIVE_CLASS} {{")));
        assert!(files["OEBPS/nav.xhtml"].contains("epub:type=\"toc\""));
    }

    #[test]
    fn media_durations_add_up() {
        let book = sample();
        let bytes = write_epub(&book).expect("epub");
        let files = text_map(&bytes);
        let opf = &files["OEBPS/content.opf"];
        assert!(
            opf.contains("<meta property=\"media:duration\" refines=\"#mo-1\">0:00:10.000</meta>")
        );
        assert!(
            opf.contains("<meta property=\"media:duration\" refines=\"#mo-2\">1:02:03.456</meta>")
        );
        assert!(opf.contains("<meta property=\"media:duration\">1:02:13.456</meta>"));
        assert!(opf.contains(
            "href=\"chapter-1.xhtml\" media-type=\"application/xhtml+xml\" media-overlay=\"mo-1\""
        ));
    }

    #[test]
    fn sentences_and_clips_match_input() {
        let book = sample();
        let bytes = write_epub(&book).expect("epub");
        let files = text_map(&bytes);
        for (i, chapter) in book.chapters.iter().enumerate() {
            let n = i + 1;
            let xhtml = &files[&format!("OEBPS/chapter-{n}.xhtml")];
            let smil = &files[&format!("OEBPS/chapter-{n}.smil")];
            let sentence_ids: Vec<String> = attr_values(xhtml, "id")
                .into_iter()
                .filter(|id| id.starts_with('s'))
                .collect();
            let expected: Vec<&ReadAlongSentence> = chapter.paragraphs.iter().flatten().collect();
            assert_eq!(sentence_ids.len(), expected.len());
            for id in &sentence_ids {
                let target = format!("\"chapter-{n}.xhtml#{id}\"");
                assert_eq!(smil.matches(&target).count(), 1, "{id} in SMIL");
                assert_eq!(
                    xhtml.matches(&format!("id=\"{id}\"")).count(),
                    1,
                    "{id} in XHTML"
                );
            }
            // Text sources in SMIL are exactly the sentence ids, in order.
            let srcs = attr_values(smil, "src");
            let texts: Vec<&String> = srcs.iter().filter(|s| s.contains(".xhtml#")).collect();
            let audio: Vec<&String> = srcs.iter().filter(|s| s.ends_with(".m4a")).collect();
            assert_eq!(texts.len(), expected.len());
            assert_eq!(audio.len(), expected.len());
            for (t, id) in texts.iter().zip(&sentence_ids) {
                assert_eq!(**t, format!("chapter-{n}.xhtml#{id}"));
            }
            assert!(
                audio
                    .iter()
                    .all(|a| **a == format!("audio/chapter-{n}.m4a"))
            );
            let begins: Vec<u64> = attr_values(smil, "clipBegin")
                .iter()
                .map(|c| parse_clock(c))
                .collect();
            let ends: Vec<u64> = attr_values(smil, "clipEnd")
                .iter()
                .map(|c| parse_clock(c))
                .collect();
            let mut last_end = 0;
            for ((b, e), s) in begins.iter().zip(&ends).zip(&expected) {
                assert_eq!((*b, *e), (s.start_ms, s.end_ms));
                assert!(*b >= last_end && e > b, "monotonic");
                last_end = *e;
            }
            assert_eq!(begins.len(), expected.len());
            assert_eq!(ends.len(), expected.len());
            assert!(smil.contains(&format!("epub:textref=\"chapter-{n}.xhtml#c{n}\"")));
            assert!(xhtml.contains(&format!("<section id=\"c{n}\"")));
        }
    }

    #[test]
    fn text_is_escaped_and_utf8() {
        let bytes = write_epub(&sample()).expect("epub");
        let files = text_map(&bytes);
        let opf = &files["OEBPS/content.opf"];
        let escaped_title = "Tom &amp; Jerry &lt;&quot;quoted&quot;&gt; &apos;book&apos;";
        assert!(opf.contains(&format!(">{escaped_title}</dc:title>")));
        assert!(opf.contains(">Émile Zola</dc:creator>"));
        assert!(files["OEBPS/cover.xhtml"].contains(&format!("alt=\"{escaped_title}\"")));
        let ch1 = &files["OEBPS/chapter-1.xhtml"];
        assert!(ch1.contains("<h1>Chapitre « un » — l’été</h1>"));
        assert!(ch1.contains(">« Bonjour », dit-il.</span>"));
        assert!(ch1.contains(">Il fait chaud &amp; &lt;lourd&gt;.</span>"));
        assert!(ch1.contains(">“Curly” — quotes’.</span>"));
        assert!(!ch1.contains("<lourd>"));
        assert!(files["OEBPS/nav.xhtml"].contains(">Chapitre « un » — l’été</a>"));
        assert!(files["OEBPS/nav.xhtml"].contains("Table des matières"));
        // Blank chapter titles get a fallback so that the toc entry has text.
        assert!(files["OEBPS/nav.xhtml"].contains("<a href=\"chapter-2.xhtml\">2</a>"));
    }

    #[test]
    fn escape_drops_invalid_xml_characters() {
        assert_eq!(xml_escape("a\u{0}b\u{1b}c\u{85}d\te\nf"), "abcd\te\nf");
        assert_eq!(xml_escape("<&>\"'"), "&lt;&amp;&gt;&quot;&apos;");
        assert_eq!(xml_escape("«é»"), "«é»");
    }

    #[test]
    fn clock_values() {
        assert_eq!(clock(0), "0:00:00.000");
        assert_eq!(clock(62_345), "0:01:02.345");
        assert_eq!(clock(3_723_456), "1:02:03.456");
        assert_eq!(clock(36_000_000), "10:00:00.000");
    }

    #[test]
    fn deterministic() {
        let book = sample();
        let a = write_epub(&book).expect("epub");
        let b = write_epub(&book.clone()).expect("epub");
        assert_eq!(a, b);
        let mut other = book;
        other.modified = "2027-01-02T03:04:05Z".to_owned();
        assert_ne!(a, write_epub(&other).expect("epub"));
    }

    #[test]
    fn without_cover_and_with_title_only_chapter() {
        let mut book = sample();
        book.cover_png = None;
        book.author = None;
        book.chapters.push(ReadAlongChapter {
            title: "Fin".to_owned(),
            audio_m4a: Vec::new(),
            audio_duration_ms: 0,
            paragraphs: vec![vec![]],
        });
        let bytes = write_epub(&book).expect("epub");
        let files = text_map(&bytes);
        let opf = &files["OEBPS/content.opf"];
        assert!(!opf.contains("cover"));
        assert!(!opf.contains("dc:creator"));
        assert!(opf.contains(
            "<item id=\"chapter-3\" href=\"chapter-3.xhtml\" media-type=\"application/xhtml+xml\"/>"
        ));
        assert!(!files.contains_key("OEBPS/chapter-3.smil"));
        assert!(!files.contains_key("OEBPS/cover.xhtml"));
        assert!(opf.contains("<meta property=\"media:duration\">1:02:13.456</meta>"));
    }

    #[test]
    fn jpeg_cover_is_declared_as_jpeg() {
        let mut book = sample();
        book.cover_png = Some(vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F',
        ]);
        let bytes = write_epub(&book).expect("epub");
        let files = text_map(&bytes);
        assert!(files["OEBPS/content.opf"].contains(
            "<item id=\"cover-image\" href=\"images/cover.jpg\" media-type=\"image/jpeg\" properties=\"cover-image\"/>"
        ));
        assert!(files["OEBPS/cover.xhtml"].contains("<img src=\"images/cover.jpg\""));
        let names: Vec<String> = unzip(&bytes).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"OEBPS/images/cover.jpg".to_owned()));
        assert!(!names.contains(&"OEBPS/images/cover.png".to_owned()));
    }

    fn timing_error(book: &ReadAlong) -> (usize, usize, usize) {
        match write_epub(book) {
            Err(EpubError::BadTiming {
                chapter,
                paragraph,
                sentence,
                ..
            }) => (chapter, paragraph, sentence),
            other => panic!("expected BadTiming, got {other:?}"),
        }
    }

    #[test]
    fn bad_timings_are_errors() {
        let mut reversed = sample();
        reversed.chapters[0].paragraphs[2][0] = sentence("x", 5_000, 4_000);
        assert_eq!(timing_error(&reversed), (0, 2, 0));

        let mut empty = sample();
        empty.chapters[0].paragraphs[0][1].end_ms = empty.chapters[0].paragraphs[0][1].start_ms;
        assert_eq!(timing_error(&empty), (0, 0, 1));

        let mut too_long = sample();
        too_long.chapters[1].paragraphs[0][0].end_ms = 3_723_457;
        assert_eq!(timing_error(&too_long), (1, 0, 0));

        let mut overlap = sample();
        overlap.chapters[0].paragraphs[0][1].start_ms = 1_499;
        assert_eq!(timing_error(&overlap), (0, 0, 1));

        let mut huge = sample();
        huge.chapters[0].paragraphs[0][0] = sentence("x", u64::MAX - 1, u64::MAX);
        assert_eq!(timing_error(&huge), (0, 0, 0));
    }

    #[test]
    fn other_invalid_input_is_an_error() {
        let mut book = sample();
        book.chapters.clear();
        assert!(matches!(write_epub(&book), Err(EpubError::Empty)));

        let mut book = sample();
        book.title = "  ".to_owned();
        assert!(matches!(
            write_epub(&book),
            Err(EpubError::MissingMetadata("title"))
        ));

        let mut book = sample();
        book.language = "fr_FR".to_owned();
        assert!(matches!(write_epub(&book), Err(EpubError::BadLanguage(_))));

        let mut book = sample();
        book.modified = "2026-11-24 12:00:00".to_owned();
        assert!(matches!(write_epub(&book), Err(EpubError::BadModified(_))));

        let mut book = sample();
        book.cover_png = Some(b"GIF89a".to_vec());
        assert!(matches!(write_epub(&book), Err(EpubError::BadCover)));

        let mut book = sample();
        book.chapters[1].audio_m4a.clear();
        assert!(matches!(
            write_epub(&book),
            Err(EpubError::MissingAudio { chapter: 1 })
        ));
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "fr", "en-US", "zh-Hant-TW", "sr-Latn", "x-private"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "fr_FR", "en-", "-en", "toolongtag", "é", "12"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
