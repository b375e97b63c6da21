//! EPUB 2 and 3.
//!
//! The archive is checked before anything is read: the number of entries, entry names that
//! could escape a directory, ZIP encryption and DRM. Every entry is then read through a reader
//! capped by the remaining decompression budget and by the largest compression ratio, so a zip
//! bomb stops with [`IngestError::ZipBomb`] after a bounded amount of work whatever sizes its
//! headers declare.
//!
//! The package document gives the metadata and the reading order (spine); the EPUB 3
//! navigation document, or else the EPUB 2 NCX, gives the chapters: every entry of the table of
//! contents, flattened in document order, starts a section at its file and fragment. Items that
//! are missing or unreadable are skipped with an `item_skipped` warning.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::Event;
use visiobook_domain::{Matter, SourceFormat, Warning, word_count};
use zip::ZipArchive;
use zip::result::ZipError;

use crate::extract::{Block, Body, Extracted, Section};
use crate::xhtml::{
    XhtmlDocument, attribute, collapse, lenient_reader, lowercase_local, reference_text,
    refuse_entity_declarations, text_of, xhtml_to_blocks,
};
use crate::{IngestError, IngestOptions, Limits, Progress};

/// Decompressed bytes any entry may produce whatever its compression ratio, so small, highly
/// compressible files (a CSS file of spaces) are not mistaken for bombs.
const SMALL_ENTRY_ALLOWANCE: u64 = 1024 * 1024;

/// Font obfuscation is not DRM: the text stays readable.
const FONT_OBFUSCATION: [&str; 2] = [
    "http://www.idpf.org/2008/embedding",
    "http://ns.adobe.com/pdf/enc#RC",
];

/// Sections before the start of the text shorter than this are front matter.
const SHORT_FRONT_WORDS: usize = 1_500;

/// Reads an EPUB 2 or 3 book.
pub fn read(
    bytes: &[u8],
    options: &IngestOptions,
    progress: Progress<'_>,
) -> Result<Extracted, IngestError> {
    let mut archive = Archive::open(bytes, &options.limits)?;
    let mut warnings = Vec::new();

    let opf_path = archive.package_path()?;
    archive.refuse_drm()?;
    let opf_bytes = archive.read(&opf_path)?;
    let package = parse_package(&decode_text(&opf_bytes, &mut warnings), &opf_path)?;

    let toc = table_of_contents(&mut archive, &package, &mut warnings)?;
    let sections = build_sections(&mut archive, &package, &toc, &mut warnings, progress)?;
    if sections.is_empty() {
        return Err(IngestError::NoText);
    }

    let mut extracted = Extracted::new(SourceFormat::Epub, Body::Sections(sections));
    extracted.title = package.title;
    extracted.author = package.author;
    extracted.language = package.language;
    extracted.warnings = warnings;
    Ok(extracted)
}

// ---------------------------------------------------------------------------------------------
// The archive.

/// A ZIP archive whose entries are only read within the limits.
struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    /// Entry name to index.
    names: HashMap<String, usize>,
    /// Lower-cased entry name to index, for books whose links differ in case from the names.
    folded: HashMap<String, usize>,
    /// Decompressed bytes left to read.
    remaining: u64,
    max_decompressed: u64,
    max_ratio: u64,
}

impl<'a> Archive<'a> {
    /// Opens the archive and checks every entry before anything is decompressed.
    fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, IngestError> {
        let mut zip =
            ZipArchive::new(Cursor::new(bytes)).map_err(|error| zip_error(error, "the archive"))?;
        if zip.len() > limits.max_archive_entries {
            return Err(IngestError::TooLarge(format!(
                "the archive has {} entries; at most {} are read",
                zip.len(),
                limits.max_archive_entries
            )));
        }
        let mut names = HashMap::new();
        let mut folded = HashMap::new();
        for index in 0..zip.len() {
            let entry = zip
                .by_index_raw(index)
                .map_err(|error| zip_error(error, "an entry"))?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            if is_unsafe_name(&name) {
                return Err(IngestError::UnsafePath(name));
            }
            if entry.encrypted() {
                return Err(IngestError::Encrypted(format!(
                    "the archive entry {name:?} is password-protected"
                )));
            }
            let declared_limit = entry
                .compressed_size()
                .saturating_mul(limits.max_compression_ratio)
                .saturating_add(SMALL_ENTRY_ALLOWANCE);
            if entry.size() > declared_limit {
                return Err(IngestError::ZipBomb(format!(
                    "{name} declares {} bytes from {} compressed bytes",
                    entry.size(),
                    entry.compressed_size()
                )));
            }
            folded.entry(name.to_lowercase()).or_insert(index);
            names.insert(name, index);
        }
        Ok(Self {
            zip,
            names,
            folded,
            remaining: limits.max_decompressed_bytes,
            max_decompressed: limits.max_decompressed_bytes,
            max_ratio: limits.max_compression_ratio,
        })
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.names
            .get(path)
            .or_else(|| self.folded.get(&path.to_lowercase()))
            .copied()
    }

    fn contains(&self, path: &str) -> bool {
        self.find(path).is_some()
    }

    /// Reads an entry, never more than the limits allow whatever its header declares.
    fn read(&mut self, path: &str) -> Result<Vec<u8>, IngestError> {
        let index = self
            .find(path)
            .ok_or_else(|| IngestError::Corrupt(format!("{path} is missing from the archive")))?;
        let entry = self
            .zip
            .by_index(index)
            .map_err(|error| zip_error(error, path))?;
        let ratio_cap = entry
            .compressed_size()
            .saturating_mul(self.max_ratio)
            .saturating_add(SMALL_ENTRY_ALLOWANCE);
        let cap = ratio_cap.min(self.remaining);
        let mut data = Vec::new();
        entry
            .take(cap.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|error| {
                IngestError::Corrupt(format!("{path} cannot be decompressed: {error}"))
            })?;
        let read = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if read > cap {
            return Err(IngestError::ZipBomb(if cap < ratio_cap {
                format!(
                    "the archive expands past {} MiB (at {path})",
                    self.max_decompressed / (1024 * 1024)
                )
            } else {
                format!(
                    "{path} expands more than {} times its compressed size",
                    self.max_ratio
                )
            }));
        }
        self.remaining -= read;
        Ok(data)
    }

    /// The package document named by `META-INF/container.xml`.
    fn package_path(&mut self) -> Result<String, IngestError> {
        const NOT_EPUB: &str = "a ZIP archive that is not an EPUB";
        if !self.contains("META-INF/container.xml") {
            // A book that says it is an EPUB but lost its container may still have one package.
            let is_epub = self.contains("mimetype")
                && self
                    .read("mimetype")
                    .is_ok_and(|m| m.trim_ascii() == b"application/epub+zip");
            let packages: Vec<&String> = self
                .names
                .keys()
                .filter(|name| name.to_lowercase().ends_with(".opf"))
                .collect();
            return match packages.as_slice() {
                [only] if is_epub => Ok((*only).clone()),
                _ => Err(IngestError::UnsupportedFormat(NOT_EPUB.into())),
            };
        }
        let mut ignored = Vec::new();
        let container = self.read("META-INF/container.xml")?;
        let text = decode_text(&container, &mut ignored);
        let mut reader = lenient_reader(&text);
        let mut found: Option<String> = None;
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::DocType(doctype)) => refuse_entity_declarations(&doctype)?,
                Ok(Event::Start(tag) | Event::Empty(tag))
                    if lowercase_local(tag.name().as_ref()) == "rootfile" =>
                {
                    let Some(path) = attribute(&tag, "full-path") else {
                        continue;
                    };
                    let is_package = attribute(&tag, "media-type")
                        .is_none_or(|media| media == "application/oebps-package+xml");
                    if is_package && found.is_none() {
                        found = Some(path);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(IngestError::Corrupt(format!(
                        "META-INF/container.xml cannot be read: {error}"
                    )));
                }
            }
        }
        let path = found.ok_or_else(|| {
            IngestError::Corrupt("META-INF/container.xml names no package document".into())
        })?;
        let path = resolve_href("", &path)
            .map(|(path, _)| path)
            .ok_or_else(|| IngestError::UnsafePath(path.clone()))?;
        if !self.contains(&path) {
            return Err(IngestError::Corrupt(format!(
                "the package document {path} is missing"
            )));
        }
        Ok(path)
    }

    /// Refuses books under DRM: `rights.xml`, or `encryption.xml` encrypting more than fonts.
    fn refuse_drm(&mut self) -> Result<(), IngestError> {
        if self.contains("META-INF/rights.xml") || self.contains("META-INF/sinf.xml") {
            return Err(IngestError::Encrypted(
                "the book is protected by DRM (META-INF/rights.xml)".into(),
            ));
        }
        if !self.contains("META-INF/encryption.xml") {
            return Ok(());
        }
        let mut ignored = Vec::new();
        let bytes = self.read("META-INF/encryption.xml")?;
        let text = decode_text(&bytes, &mut ignored);
        let mut reader = lenient_reader(&text);
        let mut algorithm: Option<String> = None;
        let mut target: Option<String> = None;
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::DocType(doctype)) => refuse_entity_declarations(&doctype)?,
                Ok(Event::Start(tag) | Event::Empty(tag)) => {
                    match lowercase_local(tag.name().as_ref()).as_str() {
                        "encrypteddata" => {
                            algorithm = None;
                            target = None;
                        }
                        "encryptionmethod" => algorithm = attribute(&tag, "algorithm"),
                        "cipherreference" => target = attribute(&tag, "uri"),
                        _ => {}
                    }
                }
                Ok(Event::End(tag)) if lowercase_local(tag.name().as_ref()) == "encrypteddata" => {
                    let obfuscated = algorithm
                        .as_deref()
                        .is_some_and(|algorithm| FONT_OBFUSCATION.contains(&algorithm.trim()));
                    let font = target.as_deref().is_some_and(is_font);
                    if !obfuscated && !font {
                        return Err(IngestError::Encrypted(format!(
                            "the book is protected by DRM: META-INF/encryption.xml encrypts {}",
                            target.as_deref().unwrap_or("its content")
                        )));
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(IngestError::Encrypted(format!(
                        "the book has an unreadable META-INF/encryption.xml ({error}); it may be \
                         DRM-protected"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Names that could write or read outside an extraction directory.
fn is_unsafe_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
        || name.split('/').any(|component| component == "..")
}

fn is_font(uri: &str) -> bool {
    let lowered = uri.to_lowercase();
    [".ttf", ".otf", ".woff", ".woff2", ".ttc"]
        .iter()
        .any(|extension| lowered.ends_with(extension))
}

fn zip_error(error: ZipError, what: &str) -> IngestError {
    match error {
        ZipError::UnsupportedArchive(message) if message == ZipError::PASSWORD_REQUIRED => {
            IngestError::Encrypted(format!("{what} is password-protected"))
        }
        ZipError::InvalidPassword => {
            IngestError::Encrypted(format!("{what} is password-protected"))
        }
        ZipError::UnsupportedArchive(message) => {
            IngestError::Corrupt(format!("{what} uses an unsupported ZIP feature: {message}"))
        }
        other => IngestError::Corrupt(format!("{what}: {other}")),
    }
}

/// XML text: a byte-order mark, else UTF-8, else the encoding the XML declaration names, else
/// Windows-1252 (with a warning).
fn decode_text(bytes: &[u8], warnings: &mut Vec<Warning>) -> String {
    if let Some((encoding, bom_length)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding
            .decode_without_bom_handling(&bytes[bom_length..])
            .0
            .into_owned();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    let declared = head
        .find("encoding=")
        .map(|at| &head[at + "encoding=".len()..])
        .and_then(|rest| {
            let quote = rest.chars().next()?;
            let value = rest.get(1..)?;
            value.split(quote).next()
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()));
    match declared {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        None => {
            warnings.push(Warning::new(
                "encoding_guessed",
                "a document of the book is not UTF-8; it was read as Windows-1252",
            ));
            encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paths.

/// Resolves a link relative to the file `base` into an archive path and a fragment. Links to
/// other sites and links climbing out of the archive resolve to nothing.
fn resolve_href(base: &str, href: &str) -> Option<(String, Option<String>)> {
    let href = href.trim();
    if has_scheme(href) {
        return None;
    }
    let (path, fragment) = match href.split_once('#') {
        Some((path, fragment)) => (path, Some(percent_decode(fragment))),
        None => (href, None),
    };
    let fragment = fragment.filter(|fragment| !fragment.is_empty());
    let path = percent_decode(path.split('?').next().unwrap_or(path));
    if path.is_empty() {
        return Some((base.to_owned(), fragment));
    }
    let mut segments: Vec<&str> = if path.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').collect()
    };
    if !path.starts_with('/') {
        segments.pop();
    }
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            other => segments.push(other),
        }
    }
    Some((segments.join("/"), fragment))
}

/// `http:`, `mailto:`, `data:`; not a Windows drive letter.
fn has_scheme(href: &str) -> bool {
    href.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The package document.

#[derive(Debug)]
struct ManifestItem {
    path: String,
    media_type: String,
    properties: String,
}

#[derive(Debug)]
struct SpineItem {
    idref: String,
    linear: bool,
}

#[derive(Debug, Default)]
struct Package {
    title: Option<String>,
    author: Option<String>,
    language: Option<String>,
    manifest: HashMap<String, ManifestItem>,
    spine: Vec<SpineItem>,
    /// The manifest id of the NCX (`<spine toc>`).
    ncx: Option<String>,
    /// Guide references: type and path.
    guide: Vec<(String, String)>,
}

#[derive(Debug)]
enum Capture {
    Title,
    Creator {
        id: Option<String>,
        role: Option<String>,
    },
    Language,
    Role {
        refines: String,
    },
}

fn parse_package(text: &str, path: &str) -> Result<Package, IngestError> {
    let mut package = Package::default();
    let mut reader = lenient_reader(text);
    let mut in_metadata = false;
    let mut capture: Option<(Capture, String)> = None;
    let mut creators: Vec<(Option<String>, Option<String>, String)> = Vec::new();
    let mut roles: HashMap<String, String> = HashMap::new();
    loop {
        let event = reader.read_event().map_err(|error| {
            IngestError::Corrupt(format!(
                "the package document {path} cannot be read: {error}"
            ))
        })?;
        match event {
            Event::Eof => break,
            Event::DocType(doctype) => refuse_entity_declarations(&doctype)?,
            Event::Start(tag) | Event::Empty(tag) => {
                let name = lowercase_local(tag.name().as_ref());
                match name.as_str() {
                    "metadata" => in_metadata = true,
                    "title" if in_metadata => capture = Some((Capture::Title, String::new())),
                    "creator" if in_metadata => {
                        let creator = Capture::Creator {
                            id: attribute(&tag, "id"),
                            role: attribute(&tag, "role"),
                        };
                        capture = Some((creator, String::new()));
                    }
                    "language" if in_metadata => {
                        capture = Some((Capture::Language, String::new()));
                    }
                    "meta" if in_metadata => {
                        if attribute(&tag, "property").as_deref() == Some("role")
                            && let Some(refines) = attribute(&tag, "refines")
                        {
                            let refines = refines.trim_start_matches('#').to_owned();
                            capture = Some((Capture::Role { refines }, String::new()));
                        }
                    }
                    "item" => {
                        let (Some(id), Some(href)) =
                            (attribute(&tag, "id"), attribute(&tag, "href"))
                        else {
                            continue;
                        };
                        let Some((item_path, _)) = resolve_href(path, &href) else {
                            continue;
                        };
                        package.manifest.insert(
                            id,
                            ManifestItem {
                                path: item_path,
                                media_type: attribute(&tag, "media-type")
                                    .unwrap_or_default()
                                    .to_lowercase(),
                                properties: attribute(&tag, "properties").unwrap_or_default(),
                            },
                        );
                    }
                    "spine" => package.ncx = attribute(&tag, "toc"),
                    "itemref" => {
                        if let Some(idref) = attribute(&tag, "idref") {
                            let linear = attribute(&tag, "linear").as_deref() != Some("no");
                            package.spine.push(SpineItem { idref, linear });
                        }
                    }
                    "reference" => {
                        if let (Some(kind), Some(href)) =
                            (attribute(&tag, "type"), attribute(&tag, "href"))
                            && let Some((reference, _)) = resolve_href(path, &href)
                        {
                            package.guide.push((kind.to_lowercase(), reference));
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(content) => {
                if let Some((_, text)) = &mut capture {
                    text.push_str(&text_of(&content));
                }
            }
            Event::CData(data) => {
                if let Some((_, text)) = &mut capture {
                    text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::GeneralRef(reference) => {
                if let Some((_, text)) = &mut capture {
                    text.push_str(&reference_text(&String::from_utf8_lossy(&reference)));
                }
            }
            Event::End(tag) => {
                let name = lowercase_local(tag.name().as_ref());
                if name == "metadata" {
                    in_metadata = false;
                }
                let Some((kind, text)) = capture.take() else {
                    continue;
                };
                let text = collapse(&text);
                match kind {
                    Capture::Title => {
                        if package.title.is_none() && !text.is_empty() {
                            package.title = Some(text);
                        }
                    }
                    Capture::Language => {
                        if package.language.is_none() && !text.is_empty() {
                            package.language = Some(text);
                        }
                    }
                    Capture::Creator { id, role } => {
                        if !text.is_empty() {
                            creators.push((id, role, text));
                        }
                    }
                    Capture::Role { refines } => {
                        roles.insert(refines, text.to_lowercase());
                    }
                }
            }
            _ => {}
        }
    }
    let role_of = |id: &Option<String>, role: &Option<String>| {
        role.clone()
            .or_else(|| id.as_ref().and_then(|id| roles.get(id).cloned()))
            .map(|role| role.to_lowercase())
    };
    let mut authors: Vec<&str> = creators
        .iter()
        .filter(|(id, role, _)| role_of(id, role).is_none_or(|role| role == "aut"))
        .map(|(_, _, name)| name.as_str())
        .collect();
    if authors.is_empty() {
        authors = creators.iter().map(|(_, _, name)| name.as_str()).collect();
    }
    authors.dedup();
    if !authors.is_empty() {
        package.author = Some(authors.join(", "));
    }
    if package.spine.is_empty() {
        return Err(IngestError::Corrupt(format!(
            "the package document {path} has no reading order (spine)"
        )));
    }
    Ok(package)
}

// ---------------------------------------------------------------------------------------------
// The table of contents.

#[derive(Debug, Clone, PartialEq, Eq)]
struct TocEntry {
    path: String,
    fragment: Option<String>,
    label: String,
}

/// Where the book says things are: its table of contents, and landmarks (EPUB 3) that name
/// the kind of a file (`cover`, `bodymatter`, `copyright-page`).
#[derive(Debug, Default)]
struct Navigation {
    entries: Vec<TocEntry>,
    landmarks: Vec<(String, String)>,
}

/// The EPUB 3 navigation document if it has entries, else the EPUB 2 NCX.
fn table_of_contents(
    archive: &mut Archive<'_>,
    package: &Package,
    warnings: &mut Vec<Warning>,
) -> Result<Navigation, IngestError> {
    let mut navigation = Navigation::default();
    let nav_item = package.manifest.values().find(|item| {
        item.properties
            .split_whitespace()
            .any(|property| property == "nav")
    });
    if let Some(item) = nav_item {
        match read_document(archive, &item.path, warnings)
            .and_then(|text| parse_nav(&text, &item.path))
        {
            Ok(found) => navigation = found,
            Err(
                error @ (IngestError::ZipBomb(_) | IngestError::Xml(_) | IngestError::Encrypted(_)),
            ) => {
                return Err(error);
            }
            Err(error) => warnings.push(Warning::new(
                "toc_unreadable",
                format!(
                    "the navigation document {} was not used: {error}",
                    item.path
                ),
            )),
        }
    }
    if navigation.entries.is_empty() {
        let ncx_item = package
            .ncx
            .as_ref()
            .and_then(|id| package.manifest.get(id))
            .or_else(|| {
                package
                    .manifest
                    .values()
                    .find(|item| item.media_type == "application/x-dtbncx+xml")
            });
        if let Some(item) = ncx_item {
            match read_document(archive, &item.path, warnings)
                .and_then(|text| parse_ncx(&text, &item.path))
            {
                Ok(entries) => navigation.entries = entries,
                Err(
                    error @ (IngestError::ZipBomb(_)
                    | IngestError::Xml(_)
                    | IngestError::Encrypted(_)),
                ) => {
                    return Err(error);
                }
                Err(error) => warnings.push(Warning::new(
                    "toc_unreadable",
                    format!("the table of contents {} was not used: {error}", item.path),
                )),
            }
        }
    }
    Ok(navigation)
}

fn read_document(
    archive: &mut Archive<'_>,
    path: &str,
    warnings: &mut Vec<Warning>,
) -> Result<String, IngestError> {
    let bytes = archive.read(path)?;
    Ok(decode_text(&bytes, warnings))
}

/// EPUB 3: `<nav epub:type="toc">` with nested `<ol><li><a href>`; `<nav epub:type="landmarks">`.
fn parse_nav(text: &str, path: &str) -> Result<Navigation, IngestError> {
    #[derive(PartialEq)]
    enum Kind {
        Toc,
        Landmarks,
        Other,
    }
    let mut reader = lenient_reader(text);
    // Entries of each `<nav>` with their `epub:type`, and the kind of the `<nav>`.
    type Links = Vec<(TocEntry, Option<String>)>;
    let mut navs: Vec<(Kind, Links)> = Vec::new();
    let mut depth = 0_usize;
    let mut link: Option<(String, Option<String>, String)> = None;
    let mut skip_depth = 0_usize;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) if navs.iter().any(|(_, entries)| !entries.is_empty()) => {
                tracing::debug!(%error, "navigation document ends badly");
                break;
            }
            Err(error) => {
                return Err(IngestError::Corrupt(format!(
                    "{path} cannot be read: {error}"
                )));
            }
        };
        match event {
            Event::Eof => break,
            Event::DocType(doctype) => refuse_entity_declarations(&doctype)?,
            Event::Start(tag) => {
                let name = lowercase_local(tag.name().as_ref());
                if skip_depth > 0 {
                    skip_depth += usize::from(matches!(name.as_str(), "script" | "style"));
                    continue;
                }
                match name.as_str() {
                    "script" | "style" => skip_depth = 1,
                    "nav" => {
                        depth += 1;
                        if depth == 1 {
                            let kind = attribute(&tag, "type").unwrap_or_default();
                            let kind = if kind.split_whitespace().any(|k| k == "toc") {
                                Kind::Toc
                            } else if kind.split_whitespace().any(|k| k == "landmarks") {
                                Kind::Landmarks
                            } else {
                                Kind::Other
                            };
                            navs.push((kind, Vec::new()));
                        }
                    }
                    "a" if depth > 0 => {
                        link = Some((
                            attribute(&tag, "href").unwrap_or_default(),
                            attribute(&tag, "type"),
                            String::new(),
                        ));
                    }
                    _ => {}
                }
            }
            Event::End(tag) => {
                let name = lowercase_local(tag.name().as_ref());
                if skip_depth > 0 {
                    skip_depth -= usize::from(matches!(name.as_str(), "script" | "style"));
                    continue;
                }
                match name.as_str() {
                    "nav" => depth = depth.saturating_sub(1),
                    "a" => {
                        let Some((href, kind, label)) = link.take() else {
                            continue;
                        };
                        let Some((target, fragment)) = resolve_href(path, &href) else {
                            continue;
                        };
                        if let Some((_, entries)) = navs.last_mut() {
                            let entry = TocEntry {
                                path: target,
                                fragment,
                                label: collapse(&label),
                            };
                            entries.push((entry, kind));
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(content) if skip_depth == 0 => {
                if let Some((_, _, label)) = &mut link {
                    label.push_str(&text_of(&content));
                }
            }
            Event::GeneralRef(reference) if skip_depth == 0 => {
                if let Some((_, _, label)) = &mut link {
                    label.push_str(&reference_text(&String::from_utf8_lossy(&reference)));
                }
            }
            _ => {}
        }
    }
    let mut navigation = Navigation::default();
    let toc_index = navs
        .iter()
        .position(|(kind, _)| *kind == Kind::Toc)
        .or_else(|| navs.iter().position(|(kind, _)| *kind == Kind::Other));
    for (index, (kind, entries)) in navs.into_iter().enumerate() {
        if Some(index) == toc_index {
            navigation.entries = entries.into_iter().map(|(entry, _)| entry).collect();
        } else if kind == Kind::Landmarks {
            navigation.landmarks.extend(
                entries
                    .into_iter()
                    .filter_map(|(entry, kind)| Some((kind?.to_lowercase(), entry.path))),
            );
        }
    }
    Ok(navigation)
}

/// EPUB 2: `navMap` of nested `navPoint`s, each with `navLabel/text` and `content@src`,
/// flattened in document order.
fn parse_ncx(text: &str, path: &str) -> Result<Vec<TocEntry>, IngestError> {
    /// A `navPoint` being read: its label, its target, and whether it was emitted yet.
    struct Point {
        label: String,
        src: Option<String>,
        emitted: bool,
    }
    fn emit(point: &mut Point, path: &str, entries: &mut Vec<TocEntry>) {
        if point.emitted {
            return;
        }
        point.emitted = true;
        let Some(src) = &point.src else { return };
        if let Some((target, fragment)) = resolve_href(path, src) {
            entries.push(TocEntry {
                path: target,
                fragment,
                label: collapse(&point.label),
            });
        }
    }
    let mut reader = lenient_reader(text);
    let mut entries = Vec::new();
    let mut stack: Vec<Point> = Vec::new();
    let mut in_label = false;
    let mut in_text = false;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) if !entries.is_empty() => {
                tracing::debug!(%error, "NCX ends badly");
                break;
            }
            Err(error) => {
                return Err(IngestError::Corrupt(format!(
                    "{path} cannot be read: {error}"
                )));
            }
        };
        match event {
            Event::Eof => break,
            Event::DocType(doctype) => refuse_entity_declarations(&doctype)?,
            Event::Start(tag) | Event::Empty(tag) => {
                match lowercase_local(tag.name().as_ref()).as_str() {
                    "navpoint" => {
                        if let Some(parent) = stack.last_mut() {
                            emit(parent, path, &mut entries);
                        }
                        stack.push(Point {
                            label: String::new(),
                            src: None,
                            emitted: false,
                        });
                    }
                    "navlabel" => in_label = true,
                    "text" if in_label => in_text = true,
                    "content" => {
                        if let Some(point) = stack.last_mut()
                            && point.src.is_none()
                        {
                            point.src = attribute(&tag, "src");
                        }
                    }
                    _ => {}
                }
            }
            Event::End(tag) => match lowercase_local(tag.name().as_ref()).as_str() {
                "navpoint" => {
                    if let Some(mut point) = stack.pop() {
                        emit(&mut point, path, &mut entries);
                    }
                }
                "navlabel" => in_label = false,
                "text" => in_text = false,
                _ => {}
            },
            Event::Text(content) if in_text => {
                if let Some(point) = stack.last_mut() {
                    point.label.push_str(&text_of(&content));
                }
            }
            Event::GeneralRef(reference) if in_text => {
                if let Some(point) = stack.last_mut() {
                    point
                        .label
                        .push_str(&reference_text(&String::from_utf8_lossy(&reference)));
                }
            }
            _ => {}
        }
    }
    Ok(entries)
}

// ---------------------------------------------------------------------------------------------
// Sections.

/// A section being built, with what decides its matter.
#[derive(Debug)]
struct Draft {
    title: String,
    blocks: Vec<Block>,
    /// Matter the book states for the file it starts in (landmarks, guide, `linear="no"`).
    stated: Option<Matter>,
    /// It comes before the text proper starts (the `bodymatter` landmark, or the first entry
    /// of the table of contents): front matter unless it is long.
    before_text: bool,
}

impl Draft {
    /// A section for the blocks of a file that no TOC entry covers, before the first entry.
    fn untitled(title: Option<&str>, stated: Option<Matter>) -> Self {
        Self {
            title: title
                .filter(|title| !title.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| "Front matter".to_owned()),
            blocks: Vec::new(),
            stated,
            before_text: true,
        }
    }
}

fn build_sections(
    archive: &mut Archive<'_>,
    package: &Package,
    navigation: &Navigation,
    warnings: &mut Vec<Warning>,
    progress: Progress<'_>,
) -> Result<Vec<Section>, IngestError> {
    let spine: Vec<Option<&ManifestItem>> = package
        .spine
        .iter()
        .map(|item| package.manifest.get(&item.idref))
        .collect();
    // Spine position of each content path (first occurrence wins).
    let mut position: HashMap<String, usize> = HashMap::new();
    for (index, item) in spine.iter().enumerate() {
        if let Some(item) = item {
            position.entry(item.path.to_lowercase()).or_insert(index);
        }
    }
    // TOC entries grouped by the spine item they point into, in TOC order.
    let mut entries_at: Vec<Vec<&TocEntry>> = vec![Vec::new(); spine.len()];
    for entry in &navigation.entries {
        if let Some(&index) = position.get(&entry.path.to_lowercase()) {
            entries_at[index].push(entry);
        }
    }
    let has_toc = entries_at.iter().any(|entries| !entries.is_empty());
    let first_toc = entries_at.iter().position(|entries| !entries.is_empty());
    let text_start = text_start(package, navigation, &position);

    let total = u32::try_from(spine.len()).unwrap_or(u32::MAX);
    let mut drafts: Vec<Draft> = Vec::new();
    let mut readable = 0_usize;
    for (index, item) in spine.iter().enumerate() {
        let done = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let Some(document) = load_item(archive, package, index, *item, warnings)? else {
            progress(done, total);
            continue;
        };
        readable += 1;
        let linear = package.spine.get(index).is_none_or(|item| item.linear);
        let path = item.map(|item| item.path.as_str()).unwrap_or_default();
        let mut stated = landmark_matter(package, navigation, path);
        if !linear && stated.is_none() {
            stated = Some(Matter::Front);
        }
        let before_text = text_start.is_some_and(|start| index < start);

        if !has_toc {
            let title =
                item_title(&document).unwrap_or_else(|| format!("Section {}", drafts.len() + 1));
            drafts.push(Draft {
                title,
                blocks: document.blocks,
                stated,
                before_text,
            });
            progress(done, total);
            continue;
        }

        // Where each TOC entry starts in this file; entries at the same place share a section.
        let mut starts: Vec<(usize, String)> = Vec::new();
        for entry in &entries_at[index] {
            let block = entry
                .fragment
                .as_ref()
                .and_then(|fragment| {
                    document
                        .anchors
                        .iter()
                        .find(|(id, _)| id == fragment)
                        .map(|(_, block)| *block)
                })
                .unwrap_or(0)
                .min(document.blocks.len());
            starts.push((block, entry.label.clone()));
        }
        starts.sort_by_key(|(block, _)| *block);
        let mut merged: Vec<(usize, Vec<String>)> = Vec::new();
        for (block, label) in starts {
            match merged.last_mut() {
                Some((at, labels)) if *at == block => {
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                _ => merged.push((block, vec![label])),
            }
        }

        let document_title = document.title;
        let mut blocks = document.blocks.into_iter().enumerate().peekable();
        let mut pending = merged.into_iter().peekable();
        if first_toc.is_some_and(|first| index < first) {
            // Before the table of contents starts: a section of its own per file.
            drafts.push(Draft::untitled(document_title.as_deref(), stated));
        }
        loop {
            if let Some((at, _)) = pending.peek()
                && blocks.peek().is_none_or(|(block, _)| block >= at)
            {
                let Some((_, labels)) = pending.next() else {
                    break;
                };
                let title = labels
                    .into_iter()
                    .filter(|label| !label.is_empty())
                    .collect::<Vec<_>>()
                    .join(" — ");
                drafts.push(Draft {
                    title,
                    blocks: Vec::new(),
                    stated,
                    before_text,
                });
                continue;
            }
            let Some((_, block)) = blocks.next() else {
                break;
            };
            if drafts.is_empty() {
                drafts.push(Draft::untitled(document_title.as_deref(), stated));
            }
            if let Some(draft) = drafts.last_mut() {
                draft.blocks.push(block);
            }
        }
        progress(done, total);
    }
    if readable == 0 {
        return Err(IngestError::NoText);
    }
    Ok(finish_sections(drafts, package.title.as_deref()))
}

/// Reads one spine item; `None` when it is skipped (with a warning) or holds no document.
fn load_item(
    archive: &mut Archive<'_>,
    package: &Package,
    index: usize,
    item: Option<&ManifestItem>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<XhtmlDocument>, IngestError> {
    let Some(item) = item else {
        let idref = package
            .spine
            .get(index)
            .map(|item| item.idref.as_str())
            .unwrap_or_default();
        warnings.push(Warning::new(
            "item_skipped",
            format!("spine item {} ({idref}) is not in the manifest", index + 1),
        ));
        return Ok(None);
    };
    let media = item.media_type.as_str();
    if media.starts_with("image/") || media.starts_with("audio/") || media.starts_with("video/") {
        return Ok(None);
    }
    if !archive.contains(&item.path) {
        warnings.push(Warning::new(
            "item_skipped",
            format!(
                "{} is listed in the book but missing from the archive",
                item.path
            ),
        ));
        return Ok(None);
    }
    let text = match archive.read(&item.path) {
        Ok(bytes) => decode_text(&bytes, warnings),
        Err(error @ (IngestError::ZipBomb(_) | IngestError::Encrypted(_))) => return Err(error),
        Err(error) => {
            warnings.push(Warning::new(
                "item_skipped",
                format!("{} was skipped: {error}", item.path),
            ));
            return Ok(None);
        }
    };
    match xhtml_to_blocks(&text) {
        Ok(document) => Ok(Some(document)),
        Err(error @ IngestError::Xml(_)) => Err(error),
        Err(error) => {
            warnings.push(Warning::new(
                "item_skipped",
                format!("{} was skipped: {error}", item.path),
            ));
            Ok(None)
        }
    }
}

/// A title for a file without a TOC entry: its first heading, else its `<title>`.
fn item_title(document: &XhtmlDocument) -> Option<String> {
    document
        .blocks
        .iter()
        .take(3)
        .find(|block| block.markup_heading)
        .map(|block| block.text.clone())
        .or_else(|| document.title.clone())
        .filter(|title| !title.trim().is_empty())
}

/// The spine position where the text proper starts: the `bodymatter` landmark or the guide's
/// `text` reference.
fn text_start(
    package: &Package,
    navigation: &Navigation,
    position: &HashMap<String, usize>,
) -> Option<usize> {
    navigation
        .landmarks
        .iter()
        .find(|(kind, _)| kind.split_whitespace().any(|k| k == "bodymatter"))
        .or_else(|| package.guide.iter().find(|(kind, _)| kind == "text"))
        .and_then(|(_, path)| position.get(&path.to_lowercase()).copied())
}

/// The matter landmarks or guide references give a file.
fn landmark_matter(package: &Package, navigation: &Navigation, path: &str) -> Option<Matter> {
    const FRONT: &[&str] = &[
        "cover",
        "title-page",
        "titlepage",
        "toc",
        "copyright-page",
        "dedication",
        "frontmatter",
        "halftitlepage",
        "imprint",
    ];
    const BACK: &[&str] = &[
        "colophon",
        "index",
        "backmatter",
        "acknowledgements",
        "acknowledgments",
        "bibliography",
        "glossary",
        "loi",
        "lot",
    ];
    navigation
        .landmarks
        .iter()
        .chain(package.guide.iter())
        .filter(|(_, target)| target.eq_ignore_ascii_case(path))
        .find_map(|(kind, _)| {
            let kind = kind.as_str();
            if FRONT.contains(&kind) {
                Some(Matter::Front)
            } else if BACK.contains(&kind) {
                Some(Matter::Back)
            } else {
                None
            }
        })
}

/// Drops the section's own title from its text and empty sections, and marks matter.
fn finish_sections(drafts: Vec<Draft>, book_title: Option<&str>) -> Vec<Section> {
    let book_title = book_title.map(normalised).unwrap_or_default();
    let mut sections = Vec::new();
    let mut seen_body = false;
    for mut draft in drafts {
        if draft.title.trim().is_empty() {
            draft.title = item_title(&XhtmlDocument {
                title: None,
                blocks: draft.blocks.clone(),
                anchors: Vec::new(),
            })
            .unwrap_or_default();
        }
        let title = normalised(&draft.title);
        if !title.is_empty() {
            let first = draft.blocks.first().map(|b| normalised(&b.text));
            let second = draft.blocks.get(1).map(|b| normalised(&b.text));
            if first.as_deref() == Some(title.as_str()) {
                draft.blocks.remove(0);
            } else if let (Some(first), Some(second)) = (first, second)
                && draft.blocks[0].single_line
                && draft.blocks[1].single_line
                && format!("{first}{second}") == title
            {
                draft.blocks.drain(..2);
            }
        }
        let words: usize = draft.blocks.iter().map(|b| word_count(&b.text)).sum();
        if words == 0 {
            continue;
        }
        if draft.title.trim().is_empty() {
            draft.title = format!("Section {}", sections.len() + 1);
        }
        let by_title = title_matter(&draft.title, seen_body);
        let is_title_page = !seen_body
            && !book_title.is_empty()
            && normalised(&draft.title).starts_with(&book_title)
            && words < 300;
        let matter = match (by_title, draft.stated) {
            (Some(matter), _) => matter,
            (None, _) if is_title_page => Matter::Front,
            (None, Some(Matter::Front)) if !seen_body => Matter::Front,
            (None, Some(Matter::Front | Matter::Back)) => Matter::Back,
            _ if draft.before_text && !seen_body && words < SHORT_FRONT_WORDS => Matter::Front,
            _ => Matter::Body,
        };
        seen_body |= matter == Matter::Body;
        sections.push(Section {
            title: draft.title,
            matter,
            blocks: draft.blocks,
        });
    }
    sections
}

/// Letters and digits only, in lower case: `CHAPTER I.` and `Chapter  I` compare equal.
fn normalised(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Matter a title names: front before the body starts, back after it.
fn title_matter(title: &str, seen_body: bool) -> Option<Matter> {
    const EXACT: &[&str] = &[
        "cover",
        "couverture",
        "title",
        "title page",
        "titlepage",
        "half title",
        "page de titre",
        "contents",
        "table of contents",
        "toc",
        "table des matières",
        "sommaire",
        "copyright",
        "copyright page",
        "colophon",
        "dedication",
        "dédicace",
        "front matter",
        "imprint",
        "index",
        "acknowledgements",
        "acknowledgments",
        "acknowledgement",
        "acknowledgment",
        "remerciements",
        "about the author",
        "about the authors",
        "about the publisher",
        "about this book",
        "à propos",
        "license",
        "licence",
        "notes",
        "endnotes",
        "bibliography",
        "glossary",
        "back matter",
    ];
    const CONTAINS: &[&str] = &[
        "table of contents",
        "table des matières",
        "about the author",
        "à propos de l'auteur",
        "project gutenberg",
        "gutenberg license",
        "gutenberg licence",
        "other books by",
        "du même auteur",
    ];
    const PREFIX: &[&str] = &[
        "copyright",
        "license",
        "licence",
        "also by",
        "praise for",
        "by the same author",
    ];
    let lowered = title
        .to_lowercase()
        .replace('\u{2019}', "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let lowered = lowered.trim_matches(|c: char| !c.is_alphanumeric());
    let named = EXACT.contains(&lowered)
        || CONTAINS.iter().any(|part| lowered.contains(part))
        || PREFIX.iter().any(|start| lowered.starts_with(start));
    named.then_some(if seen_body {
        Matter::Back
    } else {
        Matter::Front
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_resolve_against_their_document() {
        assert_eq!(
            resolve_href("OEBPS/content.opf", "../text/a%20b.xhtml#c%C3%A9"),
            Some(("text/a b.xhtml".to_owned(), Some("cé".to_owned())))
        );
        assert_eq!(
            resolve_href("OEBPS/text/nav.xhtml", "ch1.xhtml"),
            Some(("OEBPS/text/ch1.xhtml".to_owned(), None))
        );
        assert_eq!(
            resolve_href("OEBPS/toc.ncx", "#x"),
            Some(("OEBPS/toc.ncx".to_owned(), Some("x".to_owned())))
        );
        assert_eq!(resolve_href("a.opf", "../../etc/passwd"), None);
        assert_eq!(resolve_href("a.opf", "http://example.com/x.html"), None);
        assert_eq!(
            resolve_href("OEBPS/a.opf", "/root.xhtml"),
            Some(("root.xhtml".to_owned(), None))
        );
    }

    #[test]
    fn unsafe_names_are_recognised() {
        for name in [
            "../evil",
            "a/../../b",
            "/etc/passwd",
            "C:/x",
            "a\\b",
            "a\0b",
        ] {
            assert!(is_unsafe_name(name), "{name}");
        }
        for name in ["OEBPS/ch1.xhtml", "mimetype", "a/..b/c", "META-INF/"] {
            assert!(!is_unsafe_name(name), "{name}");
        }
    }

    #[test]
    fn titles_name_matter() {
        assert_eq!(
            title_matter("Table Of Contents", false),
            Some(Matter::Front)
        );
        assert_eq!(
            title_matter("Table des Matières", false),
            Some(Matter::Front)
        );
        assert_eq!(title_matter("Cover", false), Some(Matter::Front));
        assert_eq!(title_matter("About the Author", true), Some(Matter::Back));
        assert_eq!(
            title_matter("The Full Project Gutenberg License", true),
            Some(Matter::Back)
        );
        assert_eq!(title_matter("CHAPTER I", false), None);
        assert_eq!(title_matter("Index", true), Some(Matter::Back));
        assert_eq!(
            title_matter("À propos de l’auteur", true),
            Some(Matter::Back)
        );
        assert_eq!(title_matter("Copyright © 2010", false), Some(Matter::Front));
        assert_eq!(title_matter("The License to Kill", false), None);
    }

    #[test]
    fn ncx_points_flatten_in_document_order() {
        let ncx = r#"<ncx><navMap>
            <navPoint><navLabel><text>Part &amp; One</text></navLabel><content src="p1.html"/>
              <navPoint><navLabel><text>Chapter 1</text></navLabel><content src="c1.html#a"/></navPoint>
              <navPoint><navLabel><text>Chapter 2</text></navLabel><content src="c2.html"/></navPoint>
            </navPoint>
            <navPoint><navLabel><text>End</text></navLabel><content src="end.html"/></navPoint>
            </navMap></ncx>"#;
        let entries = parse_ncx(ncx, "OEBPS/toc.ncx").expect("reads");
        let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["Part & One", "Chapter 1", "Chapter 2", "End"]);
        assert_eq!(entries[1].path, "OEBPS/c1.html");
        assert_eq!(entries[1].fragment.as_deref(), Some("a"));
    }

    #[test]
    fn nav_documents_give_toc_and_landmarks() {
        let nav = r#"<html xmlns:epub="http://www.idpf.org/2007/ops"><body>
            <nav epub:type="toc"><ol>
              <li><a href="c1.xhtml">One</a><ol><li><a href="c1.xhtml#s2"><span>One</span>.two</a></li></ol></li>
              <li><span>No link</span></li>
              <li><a href="c2.xhtml">Two</a></li></ol></nav>
            <nav epub:type="landmarks"><ol><li><a epub:type="bodymatter" href="c1.xhtml">Start</a></li></ol></nav>
            </body></html>"#;
        let navigation = parse_nav(nav, "EPUB/nav.xhtml").expect("reads");
        let labels: Vec<&str> = navigation
            .entries
            .iter()
            .map(|e| e.label.as_str())
            .collect();
        assert_eq!(labels, ["One", "One.two", "Two"]);
        assert_eq!(
            navigation.landmarks,
            [("bodymatter".to_owned(), "EPUB/c1.xhtml".to_owned())]
        );
    }
}
