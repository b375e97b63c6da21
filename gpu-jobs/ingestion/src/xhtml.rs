//! XHTML and HTML to blocks.
//!
//! One lenient reader serves EPUB content documents and plain HTML books: mismatched end tags,
//! HTML void elements written without a slash (`<br>`, `<img>`), unquoted attributes and stray
//! ampersands are all accepted. Entities are resolved from a fixed table (the XML ones, numeric
//! character references and the common HTML names); entities a document declares in its own
//! DTD are never expanded: such a document is refused, which defuses both the "billion laughs"
//! bomb and external entities (`SYSTEM "file:///etc/passwd"`).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, BytesText, Event};

use crate::IngestError;
use crate::extract::Block;

/// What a content document holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XhtmlDocument {
    /// The text of `<title>`, whitespace collapsed.
    pub title: Option<String>,
    pub blocks: Vec<Block>,
    /// Each `id` (and `<a name>`) with the index of the first block at or after it; an anchor
    /// after the last block has `blocks.len()`.
    pub anchors: Vec<(String, usize)>,
}

/// Headings longer than this are paragraphs that a broken document left inside a heading.
const MAX_HEADING_CHARS: usize = 200;
/// Longest block that may count as a line set on its own.
const MAX_LINE_CHARS: usize = 80;

/// Reads an XHTML or HTML document into blocks.
///
/// Fails with [`IngestError::Xml`] when the document declares entities in a DTD, and with
/// [`IngestError::Corrupt`] when the markup breaks down before any text was read (markup that
/// breaks down later keeps the text read so far).
pub fn xhtml_to_blocks(text: &str) -> Result<XhtmlDocument, IngestError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut reader = lenient_reader(text);
    let mut builder = Builder::default();
    let mut failure = None;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::DocType(doctype)) => refuse_entity_declarations(&doctype)?,
            Ok(Event::Start(tag)) => {
                builder.open(&tag, false);
                let name = lowercase_local(tag.name().as_ref());
                if matches!(name.as_str(), "script" | "style") {
                    skip_raw_text(&mut reader, &name);
                }
            }
            Ok(Event::Empty(tag)) => builder.open(&tag, true),
            Ok(Event::End(tag)) => builder.close(&lowercase_local(tag.name().as_ref())),
            Ok(Event::Text(content)) => builder.text(&legacy_references(&text_of(&content))),
            Ok(Event::CData(data)) => builder.text(&String::from_utf8_lossy(&data)),
            Ok(Event::GeneralRef(reference)) => {
                builder.text(&reference_text(&String::from_utf8_lossy(&reference)));
            }
            Ok(_) => {}
            Err(error) => {
                failure = Some(error.to_string());
                break;
            }
        }
    }
    builder.flush();
    if let Some(error) = failure
        && builder.blocks.is_empty()
    {
        return Err(IngestError::Corrupt(format!(
            "the markup cannot be read: {error}"
        )));
    }
    let title = collapse(&builder.title);
    Ok(XhtmlDocument {
        title: (!title.is_empty()).then_some(title),
        blocks: builder.blocks,
        anchors: builder.anchors,
    })
}

/// Moves past the raw text of `<script>` or `<style>` (where `<` is no markup in HTML) to its
/// end tag.
fn skip_raw_text(reader: &mut Reader<&[u8]>, name: &str) {
    let closing = format!("</{name}");
    let mut stream = reader.stream();
    let Ok(rest) = std::io::BufRead::fill_buf(&mut stream) else {
        return;
    };
    let skip = rest
        .windows(closing.len())
        .position(|window| window.eq_ignore_ascii_case(closing.as_bytes()))
        .unwrap_or(rest.len());
    std::io::BufRead::consume(&mut stream, skip);
}

/// HTML's references written without their semicolon (`&amp `, `&nbsp `), which the reader
/// hands over as text starting with a stray ampersand.
fn legacy_references(text: &str) -> String {
    let Some(after) = text.strip_prefix('&') else {
        return text.to_owned();
    };
    for (name, replacement) in [
        ("amp", "&"),
        ("lt", "<"),
        ("gt", ">"),
        ("quot", "\""),
        ("nbsp", "\u{A0}"),
        ("copy", "©"),
    ] {
        if let Some(rest) = after.strip_prefix(name)
            && !rest.starts_with(char::is_alphanumeric)
        {
            return format!("{replacement}{rest}");
        }
    }
    text.to_owned()
}

/// A quick-xml reader that accepts HTML as it is found in the wild.
pub(crate) fn lenient_reader(text: &str) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.allow_unmatched_ends = true;
    config.check_end_names = false;
    config.check_comments = false;
    config.expand_empty_elements = false;
    config.trim_text(false);
    reader
}

/// Refuses a `<!DOCTYPE>` whose internal subset declares entities. Nothing is ever expanded,
/// but a document that relies on its own entities is either hostile or unreadable without them.
pub(crate) fn refuse_entity_declarations(doctype: &BytesText<'_>) -> Result<(), IngestError> {
    let declaration = String::from_utf8_lossy(doctype).to_ascii_uppercase();
    let compact: String = declaration.split_whitespace().collect();
    if compact.contains("<!ENTITY") {
        return Err(IngestError::Xml(
            "the document declares its own entities in a DTD (entity expansion and external \
             entities are refused)"
                .into(),
        ));
    }
    Ok(())
}

/// The text a reference `&name;` stands for, from the fixed table; an unknown reference is
/// kept as written.
pub(crate) fn reference_text(name: &str) -> String {
    resolve_reference(name).unwrap_or_else(|| format!("&{name};"))
}

/// The decoded text of a text event (references come as separate events).
pub(crate) fn text_of(content: &BytesText<'_>) -> String {
    String::from_utf8_lossy(content).into_owned()
}

/// The value of an attribute matched by its local name (`type` finds `epub:type`), with
/// references resolved.
pub(crate) fn attribute(tag: &BytesStart<'_>, name: &str) -> Option<String> {
    tag.html_attributes().flatten().find_map(|attr| {
        let key = lowercase_local(attr.key.as_ref());
        (key == name).then(|| decode_references(&String::from_utf8_lossy(&attr.value)))
    })
}

/// The local part of a tag or attribute name, in lower case (`html:P` is `p`).
pub(crate) fn lowercase_local(name: &[u8]) -> String {
    let local = name
        .iter()
        .rposition(|&byte| byte == b':')
        .map_or(name, |colon| &name[colon + 1..]);
    String::from_utf8_lossy(local).to_ascii_lowercase()
}

/// Resolves `&...;` references in an attribute value or other raw text.
pub(crate) fn decode_references(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let name_end = after
            .find(';')
            .filter(|&end| end <= 32 && !after[..end].contains(char::is_whitespace));
        match name_end.and_then(|end| resolve_reference(&after[..end]).map(|text| (end, text))) {
            Some((end, text)) => {
                out.push_str(&text);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Collapses runs of whitespace to single spaces and trims; drops soft hyphens and zero-width
/// characters.
pub(crate) fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|c| {
            !matches!(
                c,
                '\u{AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}'
            )
        }));
    }
    out
}

fn resolve_reference(name: &str) -> Option<String> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        // Windows-1252 code points that HTML maps to their typographic meaning.
        let code = match code {
            0x91 => 0x2018,
            0x92 => 0x2019,
            0x93 => 0x201C,
            0x94 => 0x201D,
            0x96 => 0x2013,
            0x97 => 0x2014,
            0x85 => 0x2026,
            other => other,
        };
        let character = char::from_u32(code)?;
        if character == '\0' {
            return Some(String::new());
        }
        return Some(character.to_string());
    }
    let text = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return html_entity(name).map(|c| c.to_string()),
    };
    Some(text.to_owned())
}

/// The common HTML named character references.
fn html_entity(name: &str) -> Option<char> {
    let character = match name {
        "nbsp" => '\u{A0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "lrm" => '\u{200E}',
        "rlm" => '\u{200F}',
        "shy" => '\u{AD}',
        "mdash" => '—',
        "ndash" => '–',
        "minus" => '−',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "prime" => '′',
        "Prime" => '″',
        "bull" => '•',
        "middot" => '·',
        "dagger" => '†',
        "Dagger" => '‡',
        "sect" => '§',
        "para" => '¶',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "sup1" => '¹',
        "sup2" => '²',
        "sup3" => '³',
        "ordf" => 'ª',
        "ordm" => 'º',
        "iexcl" => '¡',
        "iquest" => '¿',
        "cent" => '¢',
        "pound" => '£',
        "euro" => '€',
        "yen" => '¥',
        "curren" => '¤',
        "macr" => '¯',
        "acute" => '´',
        "cedil" => '¸',
        "uml" => '¨',
        "micro" => 'µ',
        "not" => '¬',
        "brvbar" => '¦',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "atilde" => 'ã',
        "auml" => 'ä',
        "aring" => 'å',
        "aelig" => 'æ',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "igrave" => 'ì',
        "iacute" => 'í',
        "icirc" => 'î',
        "iuml" => 'ï',
        "eth" => 'ð',
        "ntilde" => 'ñ',
        "ograve" => 'ò',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "otilde" => 'õ',
        "ouml" => 'ö',
        "oslash" => 'ø',
        "oelig" => 'œ',
        "ugrave" => 'ù',
        "uacute" => 'ú',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "yacute" => 'ý',
        "yuml" => 'ÿ',
        "thorn" => 'þ',
        "szlig" => 'ß',
        "Agrave" => 'À',
        "Aacute" => 'Á',
        "Acirc" => 'Â',
        "Atilde" => 'Ã',
        "Auml" => 'Ä',
        "Aring" => 'Å',
        "AElig" => 'Æ',
        "Ccedil" => 'Ç',
        "Egrave" => 'È',
        "Eacute" => 'É',
        "Ecirc" => 'Ê',
        "Euml" => 'Ë',
        "Igrave" => 'Ì',
        "Iacute" => 'Í',
        "Icirc" => 'Î',
        "Iuml" => 'Ï',
        "ETH" => 'Ð',
        "Ntilde" => 'Ñ',
        "Ograve" => 'Ò',
        "Oacute" => 'Ó',
        "Ocirc" => 'Ô',
        "Otilde" => 'Õ',
        "Ouml" => 'Ö',
        "Oslash" => 'Ø',
        "OElig" => 'Œ',
        "Ugrave" => 'Ù',
        "Uacute" => 'Ú',
        "Ucirc" => 'Û',
        "Uuml" => 'Ü',
        "Yacute" => 'Ý',
        "Yuml" => 'Ÿ',
        "THORN" => 'Þ',
        _ => return None,
    };
    Some(character)
}

/// Elements whose start and end separate blocks.
fn is_block_element(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "tfoot"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Elements whose content is never text of the book.
fn is_skipped_element(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "template" | "noscript" | "svg" | "math" | "object" | "iframe"
    )
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Builder {
    blocks: Vec<Block>,
    anchors: Vec<(String, usize)>,
    title: String,
    /// Text of the block being read.
    buffer: String,
    /// A `<br>` or a line break inside the block's text.
    broken: bool,
    /// Open headings, by level.
    headings: Vec<u8>,
    /// Open `<pre>` elements.
    pre: usize,
    /// Inside `<head>` (only `<title>` is read there).
    in_head: bool,
    in_title: bool,
    /// The skipped element being read through, and how deeply it nests in itself.
    skipping: Option<(String, usize)>,
}

impl Builder {
    fn open(&mut self, tag: &BytesStart<'_>, empty: bool) {
        let name = lowercase_local(tag.name().as_ref());
        if let Some((skipped, depth)) = &mut self.skipping {
            if !empty && *skipped == name {
                *depth += 1;
            }
            return;
        }
        match name.as_str() {
            "head" => {
                self.in_head = !empty;
                return;
            }
            "body" => self.in_head = false,
            "title" if self.in_head || self.blocks.is_empty() && self.buffer.trim().is_empty() => {
                self.in_title = !empty;
                return;
            }
            _ => {}
        }
        if is_skipped_element(&name) {
            if !empty {
                self.skipping = Some((name, 1));
            }
            return;
        }
        if self.in_head {
            return;
        }
        if is_epub_page_break(tag) {
            if !empty {
                self.skipping = Some((name, 1));
            }
            return;
        }
        if name == "br" {
            self.line_break();
        } else if matches!(name.as_str(), "td" | "th") {
            self.buffer.push(' ');
        } else if is_block_element(&name) {
            self.flush();
            if !empty {
                if let Some(level) = heading_level(&name) {
                    self.headings.push(level);
                } else if name == "pre" {
                    self.pre += 1;
                }
            }
        }
        let id = attribute(tag, "id")
            .or_else(|| (name == "a").then(|| attribute(tag, "name")).flatten());
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            self.anchors.push((id, self.blocks.len()));
        }
    }

    fn close(&mut self, name: &str) {
        if let Some((skipped, depth)) = &mut self.skipping {
            if skipped == name {
                *depth -= 1;
                if *depth == 0 {
                    self.skipping = None;
                }
            }
            return;
        }
        match name {
            "head" => self.in_head = false,
            "title" if self.in_title => self.in_title = false,
            "br" => self.line_break(),
            "td" | "th" => self.buffer.push(' '),
            _ if is_block_element(name) => {
                self.flush();
                if let Some(level) = heading_level(name) {
                    if let Some(open) = self.headings.iter().rposition(|&l| l == level) {
                        self.headings.remove(open);
                    }
                } else if name == "pre" {
                    self.pre = self.pre.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.skipping.is_some() {
            return;
        }
        if self.in_title {
            self.title.push_str(text);
            return;
        }
        if self.in_head {
            return;
        }
        if text.trim().contains('\n') || (!self.buffer.trim().is_empty() && text.contains('\n')) {
            self.broken = true;
        }
        self.buffer.push_str(text);
    }

    fn line_break(&mut self) {
        if self.pre > 0 {
            self.buffer.push('\n');
        } else {
            self.buffer.push(' ');
            if !self.buffer.trim().is_empty() {
                self.broken = true;
            }
        }
    }

    /// Ends the block being read.
    fn flush(&mut self) {
        let raw = std::mem::take(&mut self.buffer);
        let broken = std::mem::take(&mut self.broken);
        if self.pre > 0 {
            for line in raw.split('\n') {
                let text = collapse(line);
                if !text.is_empty() {
                    self.blocks.push(Block::line(text));
                }
            }
            return;
        }
        let text = collapse(&raw);
        if text.is_empty() {
            return;
        }
        let chars = text.chars().count();
        let block = match self.headings.iter().min() {
            Some(&level) if chars <= MAX_HEADING_CHARS && level <= 3 => Block::heading(text),
            Some(_) if chars <= MAX_HEADING_CHARS => Block::line(text),
            _ if !broken && chars <= MAX_LINE_CHARS => Block::line(text),
            _ => Block::paragraph(text),
        };
        self.blocks.push(block);
    }
}

/// EPUB page-break markers (`<span epub:type="pagebreak" title="12"/>`) carry page numbers,
/// not text.
fn is_epub_page_break(tag: &BytesStart<'_>) -> bool {
    attribute(tag, "type").is_some_and(|kind| {
        kind.split_whitespace()
            .any(|token| token == "pagebreak" || token == "page-break")
    }) || attribute(tag, "role").is_some_and(|role| role == "doc-pagebreak")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(document: &XhtmlDocument) -> Vec<&str> {
        document.blocks.iter().map(|b| b.text.as_str()).collect()
    }

    #[test]
    fn blocks_headings_and_entities() {
        let document = xhtml_to_blocks(
            "<?xml version='1.0'?><html><head><title> The  Book </title>\
             <style>p { color: red }</style></head><body>\
             <h2 id='c1'>Chapter&#160;I</h2><p>It was&nbsp;a <i>dark</i>\n and stormy night &mdash; \
             &ldquo;caf&eacute;&rdquo; &amp; &#x2019;t&lt;</p><script>if (a < b) {}</script>\
             <div>One<br>two<br/>three</div><pre>line one\nline  two</pre>\
             <p>   </p><h4>Small</h4><p>&unknown; &#0; x</p></body></html>",
        )
        .expect("reads");
        assert_eq!(document.title.as_deref(), Some("The Book"));
        assert_eq!(
            texts(&document),
            [
                "Chapter I",
                "It was a dark and stormy night — “café” & ’t<",
                "One two three",
                "line one",
                "line two",
                "Small",
                "&unknown; x",
            ]
        );
        assert!(document.blocks[0].markup_heading);
        assert!(!document.blocks[5].markup_heading && document.blocks[5].single_line);
        assert_eq!(document.anchors, [("c1".to_owned(), 0)]);
    }

    #[test]
    fn sloppy_html_is_read() {
        let document = xhtml_to_blocks(
            "<!DOCTYPE html><HTML><BODY><P class=x>First<P>Second</b></i> part\
             <img src=a.png><p>Third &amp stray</div></span><a name=n1></a><p>Fourth",
        )
        .expect("reads");
        assert_eq!(
            texts(&document),
            ["First", "Second part", "Third & stray", "Fourth"]
        );
        assert_eq!(document.anchors, [("n1".to_owned(), 3)]);
    }

    #[test]
    fn dtd_entities_are_refused() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
             <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
             <html><body><p>&lol2;</p></body></html>";
        let external = "<?xml version=\"1.0\"?><!DOCTYPE html [<!ENTITY xxe SYSTEM \
             \"file:///etc/passwd\">]><html><body><p>&xxe;</p></body></html>";
        for document in [laughs, external] {
            let error = xhtml_to_blocks(document).expect_err("fails");
            assert_eq!(error.code(), "unsafe_xml", "{error}");
        }
        let plain = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.1//EN\" \
             \"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\"><html><body><p>Fine</p></body></html>";
        assert_eq!(texts(&xhtml_to_blocks(plain).expect("reads")), ["Fine"]);
    }

    #[test]
    fn broken_markup_keeps_what_was_read() {
        for broken in [
            "",
            "just text",
            "<p>a < b and c > d</p>",
            "<p>kept</p><!-- unclosed comment",
            "<p>kept</p><![CDATA[ unclosed",
            "<p>kept</p><p attr='unclosed>text",
            "<p>kept</p></</>",
            "<p>kept &#xFFFFFFFF; &#55296; &#x; &;</p>",
        ] {
            match xhtml_to_blocks(broken) {
                Ok(document) => {
                    if broken.contains("kept") {
                        assert!(document.blocks[0].text.starts_with("kept"), "{broken}");
                    }
                }
                Err(error) => assert_eq!(error.code(), "corrupt_file", "{broken}"),
            }
        }
    }

    #[test]
    fn attribute_references_decode() {
        assert_eq!(
            decode_references("a&amp;b&#233;&nbsp;&x; & c"),
            "a&bé\u{A0}&x; & c"
        );
        assert_eq!(lowercase_local(b"epub:Type"), "type");
    }
}
