//! PDF with a text layer; pages without one go to OCR.
//!
//! Each page's content stream is interpreted (text and graphics state, form XObjects) into
//! positioned text runs, which become lines by baseline. Running headers and footers (lines
//! that repeat at the top or bottom of several pages) and page numbers are dropped. Lines
//! become paragraphs by the layout the document uses: extra space between paragraphs, first
//! line indentation, or short last lines; a paragraph that runs over a page break stays one.
//! The outline, when there is one, gives the chapters; otherwise the text goes to
//! [`crate::structure`] as blocks, with lines set in a larger type marked as headings.
//!
//! Pages whose text layer is empty or unreadable but that show an image are rendered with
//! `pdftoppm` and read by [`crate::ocr`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Encoding, LoadOptions, Object, ObjectId};
use visiobook_domain::{Matter, SourceFormat};

use crate::extract::{Block, Body, Extracted, Section, blocks_from_text};
use crate::ocr::{self, OcrPage};
use crate::{IngestError, IngestOptions, Progress};

/// A page with fewer visible characters than this has no usable text layer.
const MIN_PAGE_CHARS: usize = 20;
/// Largest decompressed size of one stream (a content stream, a font's CMap).
const MAX_STREAM_BYTES: u64 = 256 * 1024 * 1024;
/// Nesting of form XObjects followed.
const MAX_FORM_DEPTH: usize = 8;
/// Glyph widths kept for one font (two-byte fonts have at most 65,536 glyphs).
const MAX_WIDTHS: usize = 65_536;
/// Pages rendered and OCR'd per batch, to bound the temporary disk used.
const OCR_BATCH_PAGES: usize = 32;

pub fn read(
    bytes: &[u8],
    options: &IngestOptions,
    progress: Progress<'_>,
) -> Result<Extracted, IngestError> {
    let stream_limit = usize::try_from(options.limits.max_decompressed_bytes.min(MAX_STREAM_BYTES))
        .unwrap_or(usize::MAX);
    let document = load(bytes, stream_limit)?;
    let page_ids = page_ids(&document, options.limits.max_pages)?;
    let total = u32::try_from(page_ids.len()).unwrap_or(u32::MAX);

    let mut pages = extract_pages(&document, &page_ids, stream_limit, progress, total);
    let needs_ocr: Vec<usize> = (0..pages.len())
        .filter(|&index| pages[index].needs_ocr())
        .collect();
    let mut warnings = Vec::new();
    if !needs_ocr.is_empty() {
        let text_done = total.saturating_sub(u32::try_from(needs_ocr.len()).unwrap_or(u32::MAX));
        let ocr_progress = |done: u32, _: u32| progress(text_done + done, total);
        let read = ocr_pdf_pages(bytes, &needs_ocr, options, &ocr_progress)?;
        for (&index, page) in needs_ocr.iter().zip(read) {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            warnings.push(ocr::ocr_warning(Some(number), page.confidence));
            pages[index].set_ocr_text(&page.text);
        }
    }

    // Running lines go first (they only need the body type size), so that they do not count
    // in the margins and line ends the paragraphs are measured by.
    let first_measure = Layout::measure(&pages);
    remove_running_lines(&mut pages, &first_measure);
    let layout = Layout::measure(&pages);
    let paragraphs = paragraphs(&pages, &layout);

    let entries = outline(&document, &page_ids);
    let body = match entries {
        Some(entries) => Body::Sections(sections(&paragraphs, &entries)),
        None => Body::Blocks(paragraphs.iter().map(Paragraph::block).collect()),
    };
    let mut extracted = Extracted::new(SourceFormat::Pdf, body);
    extracted.title = info_text(&document, b"Title");
    extracted.author = info_text(&document, b"Author");
    extracted.warnings = warnings;
    Ok(extracted)
}

/// Opens the PDF and checks its page tree without extracting text: what an upload can check
/// before accepting the file (corrupt, encrypted, too many pages). Returns the page count.
pub fn preflight(bytes: &[u8], options: &IngestOptions) -> Result<u32, IngestError> {
    let stream_limit = usize::try_from(options.limits.max_decompressed_bytes.min(MAX_STREAM_BYTES))
        .unwrap_or(usize::MAX);
    let document = load(bytes, stream_limit)?;
    let pages = page_ids(&document, options.limits.max_pages)?;
    Ok(u32::try_from(pages.len()).unwrap_or(u32::MAX))
}

// ---------------------------------------------------------------------------------------------
// Loading

fn load(bytes: &[u8], stream_limit: usize) -> Result<Document, IngestError> {
    let options = LoadOptions {
        max_decompressed_size: Some(stream_limit),
        ..LoadOptions::default()
    };
    let document = match Document::load_mem_with_options(bytes, options) {
        Ok(document) => document,
        Err(
            error @ (lopdf::Error::Decryption(_)
            | lopdf::Error::InvalidPassword
            | lopdf::Error::AlreadyEncrypted),
        ) => return Err(IngestError::Encrypted(error.to_string())),
        Err(error) if mentions_encryption(bytes) => {
            return Err(IngestError::Encrypted(format!(
                "it has an /Encrypt entry and cannot be opened: {error}"
            )));
        }
        Err(error) => {
            return Err(IngestError::Corrupt(format!(
                "the PDF cannot be read: {error}"
            )));
        }
    };
    // lopdf opens a document whose user password is empty by itself; one that needs a
    // password keeps its /Encrypt entry and has no readable objects.
    if document.is_encrypted() {
        return Err(IngestError::Encrypted(
            "the PDF needs a password to be opened".into(),
        ));
    }
    Ok(document)
}

fn mentions_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|window| window == b"/Encrypt")
}

/// The pages in order, checked against the page tree's own count and the limit.
fn page_ids(document: &Document, max_pages: u32) -> Result<Vec<ObjectId>, IngestError> {
    let pages: Vec<ObjectId> = document.get_pages().into_values().collect();
    let declared = document
        .catalog()
        .ok()
        .and_then(|catalog| catalog.get_deref(b"Pages", document).ok())
        .and_then(|pages| pages.as_dict().ok())
        .and_then(|pages| pages.get(b"Count").ok())
        .and_then(|count| count.as_i64().ok())
        .and_then(|count| usize::try_from(count).ok());
    if pages.is_empty() {
        return Err(IngestError::Corrupt("the PDF has no pages".into()));
    }
    if let Some(declared) = declared
        && declared > pages.len()
    {
        return Err(IngestError::Corrupt(format!(
            "only {} of its {declared} pages can be found; the file is truncated",
            pages.len()
        )));
    }
    if pages.len() > usize::try_from(max_pages).unwrap_or(usize::MAX) {
        return Err(IngestError::TooLarge(format!(
            "{} pages, more than the {max_pages} allowed",
            pages.len()
        )));
    }
    // Every content stream a page refers to must exist: a truncated file loses them.
    for &page in &pages {
        let dictionary = document
            .get_dictionary(page)
            .map_err(|error| IngestError::Corrupt(format!("a page is missing: {error}")))?;
        let references: Vec<ObjectId> = match dictionary.get(b"Contents") {
            Ok(Object::Reference(id)) => match document.get_object(*id) {
                Ok(Object::Array(items)) => {
                    items.iter().filter_map(|o| o.as_reference().ok()).collect()
                }
                _ => vec![*id],
            },
            Ok(Object::Array(items)) => {
                items.iter().filter_map(|o| o.as_reference().ok()).collect()
            }
            _ => Vec::new(),
        };
        for id in references {
            if document.get_object(id).is_err() {
                return Err(IngestError::Corrupt(format!(
                    "the content of a page (object {} {}) is missing; the file is truncated",
                    id.0, id.1
                )));
            }
        }
    }
    Ok(pages)
}

fn info_text(document: &Document, key: &[u8]) -> Option<String> {
    let info = document
        .trailer
        .get_deref(b"Info", document)
        .ok()?
        .as_dict()
        .ok()?;
    let text = text_string(info.get_deref(key, document).ok()?)?;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// A PDF text string: UTF-16 with a byte order mark, UTF-8, or PDFDocEncoding.
fn text_string(object: &Object) -> Option<String> {
    let bytes = object.as_str().ok()?;
    if !bytes.starts_with(b"\xFE\xFF")
        && !bytes.starts_with(b"\xEF\xBB\xBF")
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        // Many producers write UTF-8 without a byte order mark.
        return Some(text.to_owned());
    }
    lopdf::decode_text_string(object).ok()
}

// ---------------------------------------------------------------------------------------------
// Content streams to text runs

#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix([f32; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn translate(x: f32, y: f32) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, x, y])
    }

    /// `self` then `other` (PDF row-vector convention: `self × other`).
    fn then(self, other: Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn apply(self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    /// How much the matrix scales a vertical distance.
    fn vertical_scale(self) -> f32 {
        let [_, _, c, d, _, _] = self.0;
        (c * c + d * d).sqrt()
    }

    fn from_operands(operands: &[Object]) -> Option<Matrix> {
        if operands.len() < 6 {
            return None;
        }
        let mut values = [0.0_f32; 6];
        for (value, operand) in values.iter_mut().zip(operands) {
            *value = number(operand)?;
        }
        values
            .iter()
            .all(|v| v.is_finite())
            .then_some(Matrix(values))
    }
}

fn number(object: &Object) -> Option<f32> {
    object.as_float().ok().filter(|value| value.is_finite())
}

/// What text extraction needs of a font.
struct Font<'a> {
    encoding: Option<Encoding<'a>>,
    /// Composite (Type0) fonts use two-byte codes.
    two_byte: bool,
    widths: HashMap<u32, f32>,
    default_width: f32,
    /// Glyph space to text space (1/1000, or a Type3 font's matrix).
    scale: f32,
}

impl<'a> Font<'a> {
    fn load(document: &'a Document, dictionary: &'a Dictionary, limit: usize) -> Font<'a> {
        let subtype = dictionary
            .get(b"Subtype")
            .and_then(Object::as_name)
            .unwrap_or(b"Type1");
        let two_byte = subtype == b"Type0";
        let encoding = if two_byte && dictionary.get(b"ToUnicode").is_err() {
            // Identity-H without a ToUnicode map: the codes are glyph ids, not text.
            None
        } else {
            dictionary
                .get_font_encoding_with_limit(document, limit)
                .ok()
        };
        let mut widths = HashMap::new();
        let mut default_width;
        let mut scale = 0.001;
        if two_byte {
            default_width = 1000.0;
            let descendant = dictionary
                .get_deref(b"DescendantFonts", document)
                .and_then(Object::as_array)
                .ok()
                .and_then(|fonts| fonts.first())
                .and_then(|font| deref(document, font).as_dict().ok());
            if let Some(descendant) = descendant {
                if let Some(width) = descendant.get(b"DW").ok().and_then(number) {
                    default_width = width;
                }
                if let Ok(array) = descendant
                    .get_deref(b"W", document)
                    .and_then(Object::as_array)
                {
                    cid_widths(document, array, &mut widths);
                }
            }
        } else {
            let base_font = dictionary
                .get(b"BaseFont")
                .and_then(Object::as_name)
                .unwrap_or(b"");
            default_width = if base_font.windows(7).any(|w| w == b"Courier") {
                600.0
            } else {
                500.0
            };
            let descriptor = dictionary
                .get_deref(b"FontDescriptor", document)
                .and_then(Object::as_dict)
                .ok();
            if let Some(width) = descriptor
                .and_then(|descriptor| descriptor.get(b"MissingWidth").ok())
                .and_then(number)
                .filter(|width| *width > 0.0)
            {
                default_width = width;
            }
            let first = dictionary
                .get(b"FirstChar")
                .and_then(Object::as_i64)
                .unwrap_or(0);
            if let Ok(array) = dictionary
                .get_deref(b"Widths", document)
                .and_then(Object::as_array)
            {
                for (offset, width) in array.iter().enumerate() {
                    let code = first.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX));
                    if let (Ok(code), Some(width)) =
                        (u32::try_from(code), number(deref(document, width)))
                    {
                        widths.insert(code, width);
                    }
                }
            }
            if subtype == b"Type3"
                && let Ok(matrix) = dictionary
                    .get_deref(b"FontMatrix", document)
                    .and_then(Object::as_array)
                && let Some(a) = matrix.first().and_then(number)
            {
                scale = a.abs();
            }
        }
        Font {
            encoding,
            two_byte,
            widths,
            default_width,
            scale,
        }
    }

    fn width(&self, code: u32) -> f32 {
        self.widths
            .get(&code)
            .copied()
            .unwrap_or(self.default_width)
            * self.scale
    }

    fn decode(&self, bytes: &[u8]) -> Option<String> {
        let text = self.encoding.as_ref()?.bytes_to_string(bytes).ok()?;
        Some(text)
    }
}

/// `/W` of a CIDFont: `c [w1 w2 ...]` and `cfirst clast w`.
fn cid_widths(document: &Document, array: &[Object], widths: &mut HashMap<u32, f32>) {
    let mut index = 0;
    while index < array.len() {
        let Some(first) = deref(document, &array[index])
            .as_i64()
            .ok()
            .and_then(|c| u32::try_from(c).ok())
        else {
            return;
        };
        match array.get(index + 1).map(|o| deref(document, o)) {
            Some(Object::Array(list)) => {
                for (offset, width) in list.iter().enumerate() {
                    if widths.len() >= MAX_WIDTHS {
                        return;
                    }
                    if let Some(width) = number(deref(document, width)) {
                        let code = first.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX));
                        widths.insert(code, width);
                    }
                }
                index += 2;
            }
            Some(last) => {
                let last = last.as_i64().ok().and_then(|c| u32::try_from(c).ok());
                let width = array
                    .get(index + 2)
                    .and_then(|o| number(deref(document, o)));
                let (Some(last), Some(width)) = (last, width) else {
                    return;
                };
                // A hostile range must not allocate without bound.
                for code in first..=last.min(first.saturating_add(65_535)) {
                    if widths.len() >= MAX_WIDTHS {
                        return;
                    }
                    widths.insert(code, width);
                }
                index += 3;
            }
            None => return,
        }
    }
}

fn deref<'a>(document: &'a Document, object: &'a Object) -> &'a Object {
    match object {
        Object::Reference(id) => document.get_object(*id).unwrap_or(object),
        _ => object,
    }
}

/// Text shown at one position.
#[derive(Debug, Clone)]
struct Run {
    text: String,
    x: f32,
    y: f32,
    end_x: f32,
    size: f32,
}

#[derive(Debug, Clone, Copy)]
struct GraphicsState {
    ctm: Matrix,
    char_spacing: f32,
    word_spacing: f32,
    horizontal_scale: f32,
    leading: f32,
    rise: f32,
    font_size: f32,
    font: Option<usize>,
}

/// Interprets the content streams of one page.
struct Interpreter<'a> {
    document: &'a Document,
    limit: usize,
    fonts: Vec<Rc<Font<'a>>>,
    font_index: HashMap<FontKey, usize>,
    runs: Vec<Run>,
    image_area: f32,
    /// Glyphs drawn whose text cannot be decoded.
    undecodable: usize,
    forms: Vec<ObjectId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FontKey {
    Object(ObjectId),
    Name(usize, Vec<u8>),
}

/// The resource dictionaries in scope, innermost first.
type Resources<'a> = Vec<&'a Dictionary>;

impl<'a> Interpreter<'a> {
    fn lookup(
        &self,
        resources: &Resources<'a>,
        category: &[u8],
        name: &[u8],
    ) -> Option<(Option<ObjectId>, &'a Object)> {
        for dictionary in resources {
            let Ok(category) = dictionary
                .get_deref(category, self.document)
                .and_then(Object::as_dict)
            else {
                continue;
            };
            if let Ok(object) = category.get(name) {
                return Some(match object {
                    Object::Reference(id) => (Some(*id), self.document.get_object(*id).ok()?),
                    other => (None, other),
                });
            }
        }
        None
    }

    fn font(&mut self, resources: &Resources<'a>, name: &[u8]) -> Option<usize> {
        let (id, object) = self.lookup(resources, b"Font", name)?;
        let key = match id {
            Some(id) => FontKey::Object(id),
            None => FontKey::Name(resources.len(), name.to_vec()),
        };
        if let Some(&index) = self.font_index.get(&key) {
            return Some(index);
        }
        let dictionary = object.as_dict().ok()?;
        self.fonts
            .push(Rc::new(Font::load(self.document, dictionary, self.limit)));
        let index = self.fonts.len() - 1;
        self.font_index.insert(key, index);
        Some(index)
    }

    fn run(&mut self, data: &[u8], resources: &Resources<'a>, state: GraphicsState) {
        let mut state = state;
        let mut stack: Vec<GraphicsState> = Vec::new();
        let mut text_matrix = Matrix::IDENTITY;
        let mut line_matrix = Matrix::IDENTITY;
        for operation in Content::decode_iter(data) {
            let Ok(operation) = operation else {
                break;
            };
            let Operation { operator, operands } = operation;
            let operand = |index: usize| operands.get(index).and_then(number);
            match operator.as_str() {
                "q" if stack.len() < 256 => stack.push(state),
                "Q" => {
                    if let Some(saved) = stack.pop() {
                        state = saved;
                    }
                }
                "cm" => {
                    if let Some(matrix) = Matrix::from_operands(&operands) {
                        state.ctm = matrix.then(state.ctm);
                    }
                }
                "BT" => {
                    text_matrix = Matrix::IDENTITY;
                    line_matrix = Matrix::IDENTITY;
                }
                "Tf" => {
                    if let Some(name) = operands.first().and_then(|o| o.as_name().ok()) {
                        state.font = self.font(resources, name);
                    }
                    if let Some(size) = operand(1) {
                        state.font_size = size;
                    }
                }
                "Tc" => state.char_spacing = operand(0).unwrap_or(0.0),
                "Tw" => state.word_spacing = operand(0).unwrap_or(0.0),
                "Tz" => state.horizontal_scale = operand(0).unwrap_or(100.0) / 100.0,
                "TL" => state.leading = operand(0).unwrap_or(0.0),
                "Ts" => state.rise = operand(0).unwrap_or(0.0),
                "Td" | "TD" => {
                    let (x, y) = (operand(0).unwrap_or(0.0), operand(1).unwrap_or(0.0));
                    if operator == "TD" {
                        state.leading = -y;
                    }
                    line_matrix = Matrix::translate(x, y).then(line_matrix);
                    text_matrix = line_matrix;
                }
                "Tm" => {
                    if let Some(matrix) = Matrix::from_operands(&operands) {
                        line_matrix = matrix;
                        text_matrix = matrix;
                    }
                }
                "T*" => {
                    line_matrix = Matrix::translate(0.0, -state.leading).then(line_matrix);
                    text_matrix = line_matrix;
                }
                "Tj" | "'" | "\"" => {
                    let string = match operator.as_str() {
                        "\"" => {
                            state.word_spacing = operand(0).unwrap_or(state.word_spacing);
                            state.char_spacing = operand(1).unwrap_or(state.char_spacing);
                            operands.get(2)
                        }
                        _ => operands.first(),
                    };
                    if operator != "Tj" {
                        line_matrix = Matrix::translate(0.0, -state.leading).then(line_matrix);
                        text_matrix = line_matrix;
                    }
                    if let Some(Ok(bytes)) = string.map(Object::as_str) {
                        self.show(bytes, &state, &mut text_matrix);
                    }
                }
                "TJ" => {
                    let Some(Ok(items)) = operands.first().map(Object::as_array) else {
                        continue;
                    };
                    for item in items {
                        match item {
                            Object::String(bytes, _) => self.show(bytes, &state, &mut text_matrix),
                            other => {
                                if let Some(adjustment) = number(other) {
                                    let tx = -adjustment / 1000.0
                                        * state.font_size
                                        * state.horizontal_scale;
                                    text_matrix = Matrix::translate(tx, 0.0).then(text_matrix);
                                }
                            }
                        }
                    }
                }
                "Do" => {
                    if let Some(name) = operands.first().and_then(|o| o.as_name().ok()) {
                        self.xobject(resources, name, &state);
                    }
                }
                "BI" => self.add_image(&state),
                _ => {}
            }
        }
    }

    fn xobject(&mut self, resources: &Resources<'a>, name: &[u8], state: &GraphicsState) {
        let Some((id, object)) = self.lookup(resources, b"XObject", name) else {
            return;
        };
        let Ok(stream) = object.as_stream() else {
            return;
        };
        let subtype = stream.dict.get(b"Subtype").and_then(Object::as_name).ok();
        match subtype {
            Some(b"Image") => self.add_image(state),
            Some(b"Form") => {
                if self.forms.len() >= MAX_FORM_DEPTH
                    || id.is_some_and(|id| self.forms.contains(&id))
                {
                    return;
                }
                let Ok(data) = stream
                    .decompressed_content_with_limit(self.limit)
                    .or_else(|_| {
                        if stream.dict.get(b"Filter").is_err() {
                            Ok(stream.content.clone())
                        } else {
                            Err(())
                        }
                    })
                else {
                    return;
                };
                let mut inner = state.ctm;
                if let Ok(matrix) = stream.dict.get(b"Matrix").and_then(Object::as_array)
                    && let Some(matrix) = Matrix::from_operands(matrix)
                {
                    inner = matrix.then(state.ctm);
                }
                let mut scoped = resources.clone();
                if let Ok(own) = stream
                    .dict
                    .get_deref(b"Resources", self.document)
                    .and_then(Object::as_dict)
                {
                    scoped.insert(0, own);
                }
                if let Some(id) = id {
                    self.forms.push(id);
                }
                let form_state = GraphicsState {
                    ctm: inner,
                    ..*state
                };
                self.run(&data, &scoped, form_state);
                if id.is_some() {
                    self.forms.pop();
                }
            }
            _ => {}
        }
    }

    /// An image covers the unit square mapped by the current matrix.
    fn add_image(&mut self, state: &GraphicsState) {
        let corners =
            [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)].map(|(x, y)| state.ctm.apply(x, y));
        let xs = corners.map(|c| c.0);
        let ys = corners.map(|c| c.1);
        let width = xs.iter().copied().fold(f32::MIN, f32::max)
            - xs.iter().copied().fold(f32::MAX, f32::min);
        let height = ys.iter().copied().fold(f32::MIN, f32::max)
            - ys.iter().copied().fold(f32::MAX, f32::min);
        if width.is_finite() && height.is_finite() {
            self.image_area += (width * height).abs();
        }
    }

    fn show(&mut self, bytes: &[u8], state: &GraphicsState, text_matrix: &mut Matrix) {
        let Some(font) = state.font.and_then(|index| self.fonts.get(index)).cloned() else {
            return;
        };
        let size = state.font_size;
        let start = Matrix::translate(0.0, state.rise)
            .then(*text_matrix)
            .then(state.ctm);
        let mut advance = 0.0;
        let mut glyphs = 0_usize;
        let mut add = |code: u32, single_byte_space: bool| {
            let mut tx = font.width(code) * size + state.char_spacing;
            if single_byte_space {
                tx += state.word_spacing;
            }
            advance += tx * state.horizontal_scale;
            glyphs += 1;
        };
        if font.two_byte {
            for pair in bytes.chunks(2) {
                let code = pair
                    .iter()
                    .fold(0_u32, |code, byte| code << 8 | u32::from(*byte));
                add(code, false);
            }
        } else {
            for &byte in bytes {
                add(u32::from(byte), byte == b' ');
            }
        }
        *text_matrix = Matrix::translate(advance, 0.0).then(*text_matrix);
        let end = Matrix::translate(0.0, state.rise)
            .then(*text_matrix)
            .then(state.ctm);
        let text = match font.decode(bytes) {
            Some(text) => text,
            None => {
                self.undecodable += glyphs;
                return;
            }
        };
        let replacement = text.chars().filter(|c| *c == '\u{FFFD}').count();
        self.undecodable += replacement;
        let text: String = text
            .chars()
            .filter(|c| *c != '\u{FFFD}' && (!c.is_control() || *c == '\t'))
            .collect();
        if text.trim().is_empty() {
            return;
        }
        let (x, y) = start.apply(0.0, 0.0);
        let (end_x, _) = end.apply(0.0, 0.0);
        let size = (size * start.vertical_scale()).abs();
        if !(x.is_finite() && y.is_finite() && end_x.is_finite() && size.is_finite()) {
            return;
        }
        self.runs.push(Run {
            text,
            x,
            y,
            end_x: end_x.max(x),
            size,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Pages and lines

#[derive(Debug, Clone)]
struct Line {
    text: String,
    x0: f32,
    x1: f32,
    /// Baseline; larger is higher on the page.
    y: f32,
    size: f32,
    /// OCR lines have no geometry; they carry tesseract's paragraph starts instead.
    paragraph_start: bool,
}

#[derive(Debug, Clone, Default)]
struct Page {
    lines: Vec<Line>,
    /// Share of the page covered by images.
    image_fraction: f32,
    undecodable: usize,
    ocr: bool,
}

impl Page {
    fn visible_chars(&self) -> usize {
        self.lines
            .iter()
            .map(|line| line.text.chars().filter(|c| !c.is_whitespace()).count())
            .sum()
    }

    fn needs_ocr(&self) -> bool {
        self.visible_chars() < MIN_PAGE_CHARS
            && (self.image_fraction >= 0.3 || self.undecodable >= MIN_PAGE_CHARS)
    }

    fn set_ocr_text(&mut self, text: &str) {
        self.ocr = true;
        self.lines.clear();
        let mut paragraph_start = true;
        let mut y = 0.0;
        for line in text.lines() {
            let line = clean_text(line);
            if line.trim().is_empty() {
                paragraph_start = true;
                continue;
            }
            y -= 1.0;
            self.lines.push(Line {
                text: line.trim().to_owned(),
                x0: 0.0,
                x1: 0.0,
                y,
                size: 0.0,
                paragraph_start,
            });
            paragraph_start = false;
        }
    }
}

fn extract_pages(
    document: &Document,
    page_ids: &[ObjectId],
    limit: usize,
    progress: Progress<'_>,
    total: u32,
) -> Vec<Page> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(page_ids.len().div_ceil(8).max(1));
    let done = std::sync::Mutex::new(0_u32);
    let next = AtomicUsize::new(0);
    // Reported under the lock, so that the counts arrive in order.
    let report = |page: &Page| {
        if !page.needs_ocr()
            && let Ok(mut done) = done.lock()
        {
            *done += 1;
            progress(*done, total);
        }
    };
    let mut pages: Vec<Option<Page>> = vec![None; page_ids.len()];
    let results = std::sync::Mutex::new(&mut pages);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&page_id) = page_ids.get(index) else {
                        return;
                    };
                    let page = extract_page(document, page_id, limit);
                    report(&page);
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(page);
                    }
                }
            });
        }
    });
    pages.into_iter().map(Option::unwrap_or_default).collect()
}

fn inherited<'a>(document: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..32 {
        if let Ok(value) = node.get_deref(key, document) {
            return Some(value);
        }
        node = node.get_deref(b"Parent", document).ok()?.as_dict().ok()?;
    }
    None
}

fn extract_page(document: &Document, page_id: ObjectId, limit: usize) -> Page {
    let Ok(dictionary) = document.get_dictionary(page_id) else {
        return Page::default();
    };
    let media_box: Vec<f32> = inherited(document, dictionary, b"MediaBox")
        .and_then(|o| o.as_array().ok())
        .map(|values| {
            values
                .iter()
                .filter_map(|v| number(deref(document, v)))
                .collect()
        })
        .unwrap_or_default();
    let area = match media_box.as_slice() {
        [x0, y0, x1, y1] => ((x1 - x0) * (y1 - y0)).abs(),
        _ => 612.0 * 792.0,
    }
    .max(1.0);
    let rotation = inherited(document, dictionary, b"Rotate")
        .and_then(|o| o.as_i64().ok())
        .unwrap_or(0)
        .rem_euclid(360);
    // Text reads left to right in the displayed orientation.
    let ctm = match rotation {
        90 => Matrix([0.0, -1.0, 1.0, 0.0, 0.0, 0.0]),
        180 => Matrix([-1.0, 0.0, 0.0, -1.0, 0.0, 0.0]),
        270 => Matrix([0.0, 1.0, -1.0, 0.0, 0.0, 0.0]),
        _ => Matrix::IDENTITY,
    };
    let mut resources: Resources<'_> = Vec::new();
    if let Ok((direct, ids)) = document.get_page_resources(page_id) {
        resources.extend(direct);
        resources.extend(
            ids.into_iter()
                .filter_map(|id| document.get_dictionary(id).ok()),
        );
    }
    let data = document
        .get_page_content_with_limit(page_id, limit)
        .unwrap_or_default();
    let mut interpreter = Interpreter {
        document,
        limit,
        fonts: Vec::new(),
        font_index: HashMap::new(),
        runs: Vec::new(),
        image_area: 0.0,
        undecodable: 0,
        forms: Vec::new(),
    };
    let state = GraphicsState {
        ctm,
        char_spacing: 0.0,
        word_spacing: 0.0,
        horizontal_scale: 1.0,
        leading: 0.0,
        rise: 0.0,
        font_size: 12.0,
        font: None,
    };
    interpreter.run(&data, &resources, state);
    Page {
        lines: lines_from_runs(interpreter.runs),
        image_fraction: (interpreter.image_area / area).min(1.0),
        undecodable: interpreter.undecodable,
        ocr: false,
    }
}

/// Groups runs into lines by baseline, in content order, and joins each line's runs left to
/// right with a space where there is a gap.
fn lines_from_runs(runs: Vec<Run>) -> Vec<Line> {
    let mut groups: Vec<Vec<Run>> = Vec::new();
    for run in runs {
        let same_line = groups
            .last()
            .and_then(|group| group.last())
            .is_some_and(|last| {
                let tolerance = 0.35 * last.size.max(run.size).max(1.0);
                (last.y - run.y).abs() <= tolerance
            });
        match groups.last_mut() {
            Some(group) if same_line => group.push(run),
            _ => groups.push(vec![run]),
        }
    }
    groups
        .into_iter()
        .filter_map(|mut group| {
            group.sort_by(|a, b| a.x.total_cmp(&b.x));
            let mut text = String::new();
            let mut previous: Option<&Run> = None;
            let mut size_weight = 0.0;
            let mut size_chars = 0.0;
            for run in &group {
                if let Some(previous) = previous {
                    // Fake bold: the same text drawn twice, slightly offset.
                    if previous.text == run.text && (run.x - previous.x).abs() < 0.2 * run.size {
                        continue;
                    }
                    let gap = run.x - previous.end_x;
                    if gap > 0.15 * run.size.max(previous.size)
                        && !text.ends_with(char::is_whitespace)
                        && !run.text.starts_with(char::is_whitespace)
                    {
                        text.push(' ');
                    }
                }
                text.push_str(&run.text);
                let chars = run.text.chars().count() as f32;
                size_weight += run.size * chars;
                size_chars += chars;
                previous = Some(run);
            }
            let text = clean_text(&text);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() {
                return None;
            }
            let x0 = group.iter().map(|r| r.x).fold(f32::MAX, f32::min);
            let x1 = group.iter().map(|r| r.end_x).fold(f32::MIN, f32::max);
            let y = group.iter().map(|r| r.y).sum::<f32>() / group.len() as f32;
            Some(Line {
                text,
                x0,
                x1,
                y,
                size: if size_chars > 0.0 {
                    size_weight / size_chars
                } else {
                    0.0
                },
                paragraph_start: false,
            })
        })
        .collect()
}

/// Ligatures spelled out, no-break and odd spaces made plain.
fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{3000}' | '\t' => out.push(' '),
            '\u{200B}' | '\u{FEFF}' => {}
            '\u{2010}' | '\u{2011}' => out.push('-'),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Layout: the document's body type, line spacing and paragraph style

#[derive(Debug, Clone)]
struct Layout {
    body_size: f32,
    /// Baseline distance over type size between lines of a paragraph.
    leading: Option<f32>,
    /// Paragraphs are set apart by extra space.
    gaps: bool,
    /// Paragraphs start with an indented line.
    indents: bool,
    /// A line ending this many ems before the right edge is a paragraph's last.
    short_line_ems: f32,
    left: Vec<f32>,
    right: Vec<f32>,
}

fn mode(values: impl Iterator<Item = (f32, f32)>, bin: f32) -> Option<f32> {
    let mut counts: HashMap<i64, f32> = HashMap::new();
    for (value, weight) in values {
        if value.is_finite() {
            *counts.entry((value / bin).round() as i64).or_default() += weight;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(key, _)| key as f32 * bin)
}

fn percentile(mut values: Vec<f32>, share: f32) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    let index = ((values.len() - 1) as f32 * share).round() as usize;
    values.get(index).copied()
}

impl Layout {
    fn measure(pages: &[Page]) -> Layout {
        let geometric = || pages.iter().filter(|page| !page.ocr);
        let body_size = mode(
            geometric()
                .flat_map(|page| &page.lines)
                .map(|line| (line.size, line.text.chars().count() as f32)),
            0.25,
        )
        .filter(|size| *size > 0.0)
        .unwrap_or(10.0);
        let is_body = |line: &Line| (line.size - body_size).abs() <= 0.1 * body_size;

        let mut ratios = Vec::new();
        for page in geometric() {
            for pair in page.lines.windows(2) {
                if is_body(&pair[0]) && is_body(&pair[1]) {
                    let ratio = (pair[0].y - pair[1].y) / body_size;
                    if ratio > 0.5 && ratio < 3.0 {
                        ratios.push(ratio);
                    }
                }
            }
        }
        let leading = mode(ratios.iter().map(|r| (*r, 1.0)), 0.02);
        let gaps = leading.is_some_and(|leading| {
            let wide = ratios.iter().filter(|r| **r > leading * 1.1).count();
            wide >= 3 && wide * 40 >= ratios.len()
        });

        fn body_lines(page: &Page, body_size: f32) -> Vec<&Line> {
            page.lines
                .iter()
                .filter(|line| (line.size - body_size).abs() <= 0.1 * body_size)
                .collect()
        }
        let all_left: Vec<f32> = geometric()
            .flat_map(|page| body_lines(page, body_size))
            .map(|l| l.x0)
            .collect();
        let all_right: Vec<f32> = geometric()
            .flat_map(|page| body_lines(page, body_size))
            .map(|l| l.x1)
            .collect();
        let default_left = mode(all_left.iter().map(|x| (*x, 1.0)), 1.0).unwrap_or(0.0);
        let default_right = percentile(all_right, 0.9).unwrap_or(f32::MAX);
        let mut left = Vec::with_capacity(pages.len());
        let mut right = Vec::with_capacity(pages.len());
        for page in pages {
            let lines = body_lines(page, body_size);
            if lines.len() >= 5 && !page.ocr {
                left.push(mode(lines.iter().map(|l| (l.x0, 1.0)), 1.0).unwrap_or(default_left));
                right.push(
                    percentile(lines.iter().map(|l| l.x1).collect(), 0.9).unwrap_or(default_right),
                );
            } else {
                left.push(default_left);
                right.push(default_right);
            }
        }

        let mut indented = 0;
        let mut counted = 0;
        let mut ends = Vec::new();
        for (index, page) in pages.iter().enumerate() {
            if page.ocr {
                continue;
            }
            for line in page.lines.iter().filter(|l| is_body(l)) {
                counted += 1;
                let indent = (line.x0 - left[index]) / body_size;
                if (0.8..=4.0).contains(&indent) {
                    indented += 1;
                }
                ends.push((right[index] - line.x1) / body_size);
            }
        }
        let indents = indented >= 3 && indented * 40 >= counted;
        let typical_end = percentile(ends, 0.5).unwrap_or(0.0).max(0.0);
        let short_line_ems = if typical_end < 0.3 {
            1.5
        } else {
            typical_end * 2.0 + 1.0
        };
        Layout {
            body_size,
            leading,
            gaps,
            indents,
            short_line_ems,
            left,
            right,
        }
    }

    fn is_heading_size(&self, size: f32) -> bool {
        size >= self.body_size * 1.15
    }

    fn is_short(&self, page: usize, line: &Line) -> bool {
        let right = self.right.get(page).copied().unwrap_or(f32::MAX);
        line.x1 < right - self.short_line_ems * line.size.max(self.body_size * 0.5)
    }

    fn is_indented(&self, page: usize, line: &Line) -> bool {
        let left = self.left.get(page).copied().unwrap_or(0.0);
        line.x0 - left > 0.8 * line.size.max(1.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Running headers, footers and page numbers

/// A line that is only a page number: `12`, `- 12 -`, `xiv`, `Page 12`, `12 / 80`.
fn is_page_number(text: &str) -> bool {
    let trimmed = text.trim().trim_matches(|c: char| {
        matches!(c, '-' | '–' | '—' | '[' | ']' | '(' | ')' | '|' | '.' | ' ')
    });
    let lowered = trimmed.to_lowercase();
    let bare = lowered
        .strip_prefix("page")
        .or_else(|| lowered.strip_prefix("p."))
        .unwrap_or(&lowered)
        .trim();
    let first = bare
        .split(|c: char| c == '/' || c.is_whitespace())
        .filter(|part| !part.is_empty() && *part != "of" && *part != "sur")
        .collect::<Vec<_>>();
    !first.is_empty()
        && first.len() <= 2
        && first.iter().all(|part| {
            (part.len() <= 5 && part.chars().all(|c| c.is_ascii_digit()))
                || (part.len() <= 7 && part.chars().all(|c| "ivxlcdm".contains(c)))
        })
}

/// Digits become `#`, so that `12 Alice` and `13 Alice` are the same running line.
fn running_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    let mut last_digit = false;
    for c in text.to_lowercase().chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                key.push('#');
            }
            last_digit = true;
        } else {
            last_digit = false;
            if !c.is_whitespace() {
                key.push(c);
            }
        }
    }
    key
}

fn is_numbered_heading(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("").to_lowercase();
    const KEYWORDS: &[&str] = &[
        "chapter", "chapitre", "part", "partie", "book", "livre", "volume", "act", "acte",
    ];
    KEYWORDS.contains(&first.as_str())
}

fn remove_running_lines(pages: &mut [Page], layout: &Layout) {
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    enum Edge {
        Top,
        Bottom,
    }
    // Candidates: the two highest and two lowest lines of every page.
    let mut candidates: Vec<(usize, usize, Edge)> = Vec::new();
    for (page_index, page) in pages.iter().enumerate() {
        let mut order: Vec<usize> = (0..page.lines.len()).collect();
        order.sort_by(|&a, &b| page.lines[b].y.total_cmp(&page.lines[a].y));
        let take = 2.min(order.len());
        for &line in &order[..take] {
            candidates.push((page_index, line, Edge::Top));
        }
        for &line in order.iter().rev().take(take) {
            if !order[..take].contains(&line) {
                candidates.push((page_index, line, Edge::Bottom));
            }
        }
    }
    let removable = |line: &Line| line.size == 0.0 || !layout.is_heading_size(line.size);
    let mut groups: HashMap<(Edge, String), Vec<(usize, usize)>> = HashMap::new();
    let mut remove: HashSet<(usize, usize)> = HashSet::new();
    for &(page, index, edge) in &candidates {
        let line = &pages[page].lines[index];
        if !removable(line) {
            continue;
        }
        if is_page_number(&line.text) {
            remove.insert((page, index));
            continue;
        }
        let key = running_key(&line.text);
        if !key.chars().any(char::is_alphanumeric) || is_numbered_heading(&line.text) {
            continue;
        }
        groups.entry((edge, key)).or_default().push((page, index));
    }
    for occurrences in groups.values() {
        let mut distinct: Vec<usize> = occurrences.iter().map(|(page, _)| *page).collect();
        distinct.dedup();
        if distinct.len() < 3 {
            continue;
        }
        // Lines with geometry must sit at the same height.
        let ys: Vec<f32> = occurrences
            .iter()
            .map(|&(page, index)| &pages[page].lines[index])
            .filter(|line| line.size > 0.0)
            .map(|line| line.y)
            .collect();
        let middle = percentile(ys, 0.5);
        let kept: Vec<(usize, usize)> = occurrences
            .iter()
            .copied()
            .filter(|&(page, index)| {
                let line = &pages[page].lines[index];
                line.size == 0.0
                    || middle.is_none_or(|y| (line.y - y).abs() <= 0.5 * line.size.max(2.0))
            })
            .collect();
        // A running line runs: it is on nearby pages (every page, or every other one), not
        // on a few pages far apart, as a line of text repeated by chance would be.
        let mut pages_kept: Vec<usize> = kept.iter().map(|(page, _)| *page).collect();
        pages_kept.dedup();
        let mut running: HashSet<usize> = HashSet::new();
        let mut run: Vec<usize> = Vec::new();
        for &page in &pages_kept {
            if run.last().is_some_and(|&last| page > last + 2) {
                if run.len() >= 3 {
                    running.extend(run.iter().copied());
                }
                run.clear();
            }
            run.push(page);
        }
        if run.len() >= 3 {
            running.extend(run);
        }
        remove.extend(kept.into_iter().filter(|(page, _)| running.contains(page)));
    }
    for (page_index, page) in pages.iter_mut().enumerate() {
        let mut index = 0;
        page.lines.retain(|_| {
            let keep = !remove.contains(&(page_index, index));
            index += 1;
            keep
        });
        if let Some(first) = page.lines.first_mut() {
            first.paragraph_start |= page.ocr;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paragraphs

#[derive(Debug, Clone)]
struct Paragraph {
    lines: Vec<String>,
    /// The 0-based page it starts on.
    page: usize,
    /// Baseline of its first line.
    top: f32,
    heading: bool,
}

impl Paragraph {
    fn text(&self) -> String {
        let mut joined = String::new();
        for line in &self.lines {
            // A soft hyphen at a line end splits a word; elsewhere it is invisible.
            if let Some(stem) = joined.strip_suffix('\u{AD}') {
                joined.truncate(stem.len());
            } else if !joined.is_empty() {
                joined.push('\n');
            }
            joined.push_str(line);
        }
        let joined = joined.replace('\u{AD}', "");
        blocks_from_text(&joined)
            .into_iter()
            .map(|block| block.text)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn block(&self) -> Block {
        let text = self.text();
        if self.heading && self.lines.len() <= 3 {
            Block::heading(text)
        } else if self.lines.len() == 1 {
            Block::line(text)
        } else {
            Block::paragraph(text)
        }
    }

    fn words(&self) -> Vec<String> {
        normal_words(&self.lines.join(" "))
    }
}

fn normal_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end()
        .ends_with(['.', '!', '?', ':', '"', '\'', '”', '’', ')', '»'])
}

fn paragraphs(pages: &[Page], layout: &Layout) -> Vec<Paragraph> {
    let mut paragraphs: Vec<Paragraph> = Vec::new();
    // The previous line and its page, to decide whether the next one continues its paragraph.
    let mut previous: Option<(usize, &Line)> = None;
    for (page_index, page) in pages.iter().enumerate() {
        for line in &page.lines {
            let starts = match previous {
                None => true,
                Some((previous_page, before)) => {
                    starts_paragraph(layout, previous_page, before, page_index, line, pages)
                }
            };
            match paragraphs.last_mut() {
                Some(paragraph) if !starts => paragraph.lines.push(line.text.clone()),
                _ => paragraphs.push(Paragraph {
                    lines: vec![line.text.clone()],
                    page: page_index,
                    top: line.y,
                    heading: line.size > 0.0 && layout.is_heading_size(line.size),
                }),
            }
            previous = Some((page_index, line));
        }
    }
    paragraphs
}

fn starts_paragraph(
    layout: &Layout,
    previous_page: usize,
    before: &Line,
    page: usize,
    line: &Line,
    pages: &[Page],
) -> bool {
    let ocr = pages[page].ocr || pages[previous_page].ocr;
    if ocr {
        if previous_page == page {
            return line.paragraph_start;
        }
        // Across a page break in a scan: a sentence cut off continues in lower case.
        return ends_sentence(&before.text) || !line.text.starts_with(char::is_lowercase);
    }
    let size = before.size.max(line.size).max(1.0);
    if (before.size - line.size).abs() > 0.15 * size {
        return true;
    }
    if layout.is_heading_size(line.size) != layout.is_heading_size(before.size) {
        return true;
    }
    if layout.indents && layout.is_indented(page, line) {
        return true;
    }
    if previous_page != page {
        return layout.is_short(previous_page, before);
    }
    let drop = (before.y - line.y) / size;
    if drop < 0.3 {
        // Back up the page: another column or a misplaced line.
        return true;
    }
    if let Some(leading) = layout.leading
        && drop > leading * 1.1
    {
        return true;
    }
    if drop > 2.5 {
        return true;
    }
    !layout.gaps && !layout.indents && layout.is_short(page, before)
}

// ---------------------------------------------------------------------------------------------
// Outline

#[derive(Debug, Clone)]
struct Entry {
    title: String,
    level: usize,
    /// 0-based page.
    page: usize,
    /// Top of the destination on the page, when it says.
    top: Option<f32>,
}

/// The outline's chapter entries, or `None` when it has none that can be used.
fn outline(document: &Document, page_ids: &[ObjectId]) -> Option<Vec<Entry>> {
    let catalog = document.catalog().ok()?;
    let root = catalog
        .get_deref(b"Outlines", document)
        .ok()?
        .as_dict()
        .ok()?;
    let first = root.get(b"First").ok()?;
    let page_numbers: HashMap<ObjectId, usize> = page_ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    walk_outline(
        document,
        catalog,
        first,
        1,
        &page_numbers,
        &mut seen,
        &mut entries,
    );
    let level = (1..=8).find(|level| entries.iter().filter(|e| e.level == *level).count() >= 2)?;
    let mut chosen: Vec<Entry> = entries.into_iter().filter(|e| e.level == level).collect();
    chosen.sort_by_key(|entry| entry.page);
    let distinct: HashSet<usize> = chosen.iter().map(|e| e.page).collect();
    if distinct.len() < 2 && page_ids.len() > 10 {
        return None;
    }
    Some(chosen)
}

fn walk_outline(
    document: &Document,
    catalog: &Dictionary,
    first: &Object,
    level: usize,
    page_numbers: &HashMap<ObjectId, usize>,
    seen: &mut HashSet<ObjectId>,
    entries: &mut Vec<Entry>,
) {
    if level > 16 {
        return;
    }
    let mut next = Some(first);
    while let Some(object) = next.take() {
        let Ok(id) = object.as_reference() else {
            return;
        };
        if !seen.insert(id) || entries.len() > 10_000 {
            return;
        }
        let Ok(item) = document.get_dictionary(id) else {
            return;
        };
        let title = item
            .get_deref(b"Title", document)
            .ok()
            .and_then(text_string)
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let destination = item.get_deref(b"Dest", document).ok().or_else(|| {
            let action = item.get_deref(b"A", document).ok()?.as_dict().ok()?;
            let kind = action.get(b"S").ok()?.as_name().ok()?;
            (kind == b"GoTo").then(|| action.get_deref(b"D", document).ok())?
        });
        if let Some((page, top)) =
            destination.and_then(|dest| resolve_destination(document, catalog, dest, page_numbers))
            && !title.is_empty()
        {
            entries.push(Entry {
                title,
                level,
                page,
                top,
            });
        }
        if let Ok(child) = item.get(b"First") {
            walk_outline(
                document,
                catalog,
                child,
                level + 1,
                page_numbers,
                seen,
                entries,
            );
        }
        next = item.get(b"Next").ok();
    }
}

fn resolve_destination(
    document: &Document,
    catalog: &Dictionary,
    destination: &Object,
    page_numbers: &HashMap<ObjectId, usize>,
) -> Option<(usize, Option<f32>)> {
    let array = match destination {
        Object::Array(array) => array,
        Object::Name(name) => {
            let dests = catalog.get_deref(b"Dests", document).ok()?.as_dict().ok()?;
            explicit_destination(document, dests.get_deref(name, document).ok()?)?
        }
        Object::String(name, _) => {
            let tree = catalog
                .get_deref(b"Names", document)
                .ok()?
                .as_dict()
                .ok()?
                .get_deref(b"Dests", document)
                .ok()?
                .as_dict()
                .ok()?;
            explicit_destination(document, name_tree_lookup(document, tree, name, 0)?)?
        }
        Object::Dictionary(dictionary) => {
            explicit_destination(document, dictionary.get_deref(b"D", document).ok()?)?
        }
        _ => return None,
    };
    let page = match array.first()? {
        Object::Reference(id) => *page_numbers.get(id)?,
        Object::Integer(index) => usize::try_from(*index).ok()?,
        _ => return None,
    };
    let kind = array
        .get(1)
        .and_then(|o| o.as_name().ok())
        .unwrap_or(b"Fit");
    let top = match kind {
        b"XYZ" => array.get(3),
        b"FitH" | b"FitBH" => array.get(2),
        _ => None,
    }
    .and_then(number);
    Some((page, top))
}

fn explicit_destination<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Vec<Object>> {
    match deref(document, object) {
        Object::Array(array) => Some(array),
        Object::Dictionary(dictionary) => {
            dictionary.get_deref(b"D", document).ok()?.as_array().ok()
        }
        _ => None,
    }
}

fn name_tree_lookup<'a>(
    document: &'a Document,
    node: &'a Dictionary,
    name: &[u8],
    depth: usize,
) -> Option<&'a Object> {
    if depth > 16 {
        return None;
    }
    if let Ok(names) = node
        .get_deref(b"Names", document)
        .and_then(Object::as_array)
    {
        for pair in names.chunks(2) {
            if let [key, value] = pair
                && key.as_str().ok() == Some(name)
            {
                return Some(value);
            }
        }
    }
    let kids = node.get_deref(b"Kids", document).ok()?.as_array().ok()?;
    kids.iter().find_map(|kid| {
        let kid = deref(document, kid).as_dict().ok()?;
        if let Ok(limits) = kid
            .get_deref(b"Limits", document)
            .and_then(Object::as_array)
            && let [low, high] = limits.as_slice()
            && let (Ok(low), Ok(high)) = (low.as_str(), high.as_str())
            && (name < low || name > high)
        {
            return None;
        }
        name_tree_lookup(document, kid, name, depth + 1)
    })
}

/// Splits the paragraphs at the outline's entries: each section starts at its entry's page,
/// where the entry's title is printed if it can be found there; the printed title is dropped.
fn sections(paragraphs: &[Paragraph], entries: &[Entry]) -> Vec<Section> {
    let mut starts: Vec<(usize, usize)> = Vec::with_capacity(entries.len());
    let mut lower = 0;
    for entry in entries {
        let title_words = normal_words(&entry.title);
        let on_page: Vec<usize> = (lower..paragraphs.len())
            .filter(|&i| paragraphs[i].page == entry.page)
            .filter(|&i| {
                entry.top.is_none_or(|top| paragraphs[i].top <= top + 2.0)
                    || paragraphs[i].top < 0.0
            })
            .collect();
        let is_title_part = |paragraph: &Paragraph| {
            let words = paragraph.words();
            !words.is_empty()
                && paragraph.lines.len() <= 3
                && words.iter().all(|word| title_words.contains(word))
                && (paragraph.heading || words.len() >= 2 || words.len() == title_words.len())
        };
        let found = on_page
            .iter()
            .copied()
            .find(|&i| is_title_part(&paragraphs[i]));
        let (start, body) = match found {
            Some(found) => {
                // Heading lines just above (`CHAPTER I` over the name) belong to the title.
                let mut start = found;
                while start > lower.max(on_page[0])
                    && found - start < 2
                    && paragraphs[start - 1].heading
                    && paragraphs[start - 1].lines.len() <= 2
                    && paragraphs[start - 1].page == entry.page
                {
                    start -= 1;
                }
                let mut body = found;
                while body < paragraphs.len()
                    && body < found + 3
                    && is_title_part(&paragraphs[body])
                {
                    body += 1;
                }
                (start, body)
            }
            None => {
                let start = on_page.first().copied().unwrap_or_else(|| {
                    (lower..paragraphs.len())
                        .find(|&i| paragraphs[i].page >= entry.page)
                        .unwrap_or(paragraphs.len())
                });
                (start, start)
            }
        };
        starts.push((start, body));
        lower = start;
    }
    let mut sections = Vec::new();
    let first = starts.first().map_or(paragraphs.len(), |(start, _)| *start);
    if first > 0 {
        sections.push(Section {
            title: "Front matter".into(),
            matter: Matter::Front,
            blocks: paragraphs[..first].iter().map(Paragraph::block).collect(),
        });
    }
    for (position, (entry, &(_, body))) in entries.iter().zip(&starts).enumerate() {
        let end = starts
            .get(position + 1)
            .map_or(paragraphs.len(), |(start, _)| *start)
            .max(body);
        sections.push(Section {
            title: entry.title.clone(),
            matter: Matter::Body,
            blocks: paragraphs[body.min(end)..end]
                .iter()
                .map(Paragraph::block)
                .collect(),
        });
    }
    sections
}

// ---------------------------------------------------------------------------------------------
// OCR of pages without a text layer

fn ocr_pdf_pages(
    bytes: &[u8],
    pages: &[usize],
    options: &IngestOptions,
    progress: Progress<'_>,
) -> Result<Vec<OcrPage>, IngestError> {
    let dir = ocr::temp_dir()?;
    let pdf = dir.path().join("book.pdf");
    ocr::write_file(&pdf, bytes)?;
    let total = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    let mut read = Vec::with_capacity(pages.len());
    let mut language = options.language.clone();
    for batch in pages.chunks(OCR_BATCH_PAGES) {
        let images = render_pages(
            &options.tools.pdftoppm,
            &pdf,
            dir.path(),
            batch,
            options.tools.ocr_jobs,
        )?;
        let offset = u32::try_from(read.len()).unwrap_or(u32::MAX);
        let batch_progress = |done: u32, _: u32| progress(offset + done, total);
        let batch_read = ocr::ocr_pages(
            &images,
            language.as_deref(),
            &options.tools,
            &batch_progress,
        )?;
        if language.is_none() {
            // Detect once, on the first batch, and keep it for the rest of the book.
            let text: String = batch_read
                .iter()
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            language = Some(detected_code(&text).to_owned());
        }
        read.extend(batch_read);
        for image in images {
            // Best effort: the directory goes at the end anyway.
            let _ = std::fs::remove_file(image);
        }
    }
    Ok(read)
}

fn detected_code(text: &str) -> &'static str {
    crate::structure::detect_language(text)
}

/// Renders pages (0-based) at 300 dpi in grey, several `pdftoppm` processes at a time.
fn render_pages(
    program: &std::path::Path,
    pdf: &std::path::Path,
    dir: &std::path::Path,
    pages: &[usize],
    jobs: usize,
) -> Result<Vec<PathBuf>, IngestError> {
    let next = AtomicUsize::new(0);
    let failure = std::sync::Mutex::new(None::<IngestError>);
    let workers = jobs.clamp(1, pages.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some(&page) = pages.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    if let Err(error) = render_page(program, pdf, dir, page)
                        && let Ok(mut failure) = failure.lock()
                    {
                        failure.get_or_insert(error);
                        return;
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().ok().flatten() {
        return Err(error);
    }
    Ok(pages.iter().map(|page| image_path(dir, *page)).collect())
}

fn image_path(dir: &std::path::Path, page: usize) -> PathBuf {
    dir.join(format!("page-{}.png", page + 1))
}

fn render_page(
    program: &std::path::Path,
    pdf: &std::path::Path,
    dir: &std::path::Path,
    page: usize,
) -> Result<(), IngestError> {
    let number = (page + 1).to_string();
    let output = Command::new(program)
        .args([
            "-r",
            "300",
            "-gray",
            "-png",
            "-singlefile",
            "-f",
            &number,
            "-l",
            &number,
        ])
        .arg(pdf)
        .arg(dir.join(format!("page-{number}")))
        .output()
        .map_err(|error| IngestError::Tool {
            tool: "pdftoppm",
            message: if error.kind() == std::io::ErrorKind::NotFound {
                format!("{} was not found", program.display())
            } else {
                format!("cannot run {}: {error}", program.display())
            },
        })?;
    if !output.status.success() || !image_path(dir, page).exists() {
        return Err(IngestError::Tool {
            tool: "pdftoppm",
            message: format!(
                "page {number} could not be rendered: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_recognised() {
        for text in ["12", "- 12 -", "xiv", "Page 7", "12 / 80", "[3]"] {
            assert!(is_page_number(text), "{text}");
        }
        for text in ["CHAPTER I", "1984 was a year", "I said", "Lewis Carroll"] {
            assert!(!is_page_number(text), "{text}");
        }
    }

    #[test]
    fn running_keys_ignore_numbers_and_case() {
        assert_eq!(
            running_key("12  ALICE in Wonderland"),
            running_key("13 Alice in wonderland")
        );
        assert_ne!(running_key("Alice"), running_key("Bob"));
    }

    #[test]
    fn ligatures_and_spaces_are_cleaned() {
        assert_eq!(
            clean_text("\u{FB01}ne \u{FB02}ower\u{00A0}o\u{FB00}"),
            "fine flower off"
        );
    }

    #[test]
    fn soft_hyphens_join_and_hyphens_follow_the_text_rules() {
        let paragraph = Paragraph {
            lines: vec![
                "a rab\u{AD}".into(),
                "bit ran to-".into(),
                "day, WAIST-".into(),
                "COAT".into(),
            ],
            page: 0,
            top: 0.0,
            heading: false,
        };
        assert_eq!(paragraph.text(), "a rabbit ran today, WAIST-COAT");
    }

    fn line(text: &str, y: f32) -> Line {
        Line {
            text: text.into(),
            x0: 50.0,
            x1: 350.0,
            y,
            size: 10.0,
            paragraph_start: false,
        }
    }

    #[test]
    fn running_lines_repeat_on_nearby_pages_only() {
        let mut pages: Vec<Page> = (0..12)
            .map(|index| Page {
                lines: vec![
                    line(
                        if index % 3 == 0 {
                            "Same first line of text"
                        } else {
                            "Other text"
                        },
                        560.0,
                    ),
                    line(&format!("{} A Running Head", index + 1), 580.0),
                    line("Body text in the middle", 400.0),
                    line("more body text", 388.0),
                    line(&format!("Body text at the foot {index}"), 100.0),
                ],
                ..Page::default()
            })
            .collect();
        // Running heads only on pages 1 to 5; the repeated first line is on pages 1, 4, 7, 10.
        for page in &mut pages[5..] {
            page.lines.remove(1);
        }
        let layout = Layout::measure(&pages);
        remove_running_lines(&mut pages, &layout);
        for (index, page) in pages.iter().enumerate() {
            assert!(
                page.lines.iter().all(|l| !l.text.contains("Running Head")),
                "{index}"
            );
            if index % 3 == 0 {
                assert_eq!(page.lines[0].text, "Same first line of text");
            }
        }
    }

    #[test]
    fn matrices_compose_in_pdf_order() {
        let scale = Matrix([2.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
        let moved = Matrix::translate(10.0, 5.0).then(scale);
        assert_eq!(moved.apply(0.0, 0.0), (20.0, 10.0));
        assert!((moved.vertical_scale() - 2.0).abs() < 1e-6);
    }
}
