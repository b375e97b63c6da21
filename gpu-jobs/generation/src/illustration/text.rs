//! Text: glyph outlines from the bundled font turned into tiny-skia paths, with kerning,
//! character fallbacks, word wrapping and ellipsis.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve};
use tiny_skia::{Path, PathBuilder};

static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();

/// The bundled font, parsed once; `None` if it cannot be parsed.
pub(crate) fn font() -> Option<&'static FontRef<'static>> {
    FONT.get_or_init(|| FontRef::try_from_slice(crate::BUNDLED_FONT).ok())
        .as_ref()
}

/// Sets text with one font.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Typesetter {
    font: &'static FontRef<'static>,
    units_per_em: f32,
}

/// Characters that close a phrase and must not start a line (French spacing puts a
/// space before them).
fn is_closing(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '»' | '?' | '!' | ':' | ';' | '›' | '”' | '—' | '–'))
        && token.chars().count() <= 2
}

/// Opening marks that must not end a line.
fn is_opening(token: &str) -> bool {
    matches!(token, "«" | "‹" | "“")
}

/// Composes a base letter and a combining mark into one character for the common
/// Latin accents (text arriving in decomposed form).
fn compose(base: char, mark: char) -> Option<char> {
    const TABLE: &[(char, char, char)] = &[
        ('a', '\u{300}', 'à'),
        ('a', '\u{302}', 'â'),
        ('a', '\u{308}', 'ä'),
        ('a', '\u{301}', 'á'),
        ('e', '\u{301}', 'é'),
        ('e', '\u{300}', 'è'),
        ('e', '\u{302}', 'ê'),
        ('e', '\u{308}', 'ë'),
        ('i', '\u{302}', 'î'),
        ('i', '\u{308}', 'ï'),
        ('i', '\u{301}', 'í'),
        ('o', '\u{302}', 'ô'),
        ('o', '\u{308}', 'ö'),
        ('o', '\u{301}', 'ó'),
        ('u', '\u{300}', 'ù'),
        ('u', '\u{302}', 'û'),
        ('u', '\u{308}', 'ü'),
        ('u', '\u{301}', 'ú'),
        ('y', '\u{308}', 'ÿ'),
        ('c', '\u{327}', 'ç'),
        ('n', '\u{303}', 'ñ'),
        ('A', '\u{300}', 'À'),
        ('A', '\u{302}', 'Â'),
        ('E', '\u{301}', 'É'),
        ('E', '\u{300}', 'È'),
        ('E', '\u{302}', 'Ê'),
        ('E', '\u{308}', 'Ë'),
        ('I', '\u{302}', 'Î'),
        ('I', '\u{308}', 'Ï'),
        ('O', '\u{302}', 'Ô'),
        ('U', '\u{300}', 'Ù'),
        ('U', '\u{302}', 'Û'),
        ('U', '\u{308}', 'Ü'),
        ('C', '\u{327}', 'Ç'),
    ];
    TABLE
        .iter()
        .find(|&&(b, m, _)| b == base && m == mark)
        .map(|&(_, _, c)| c)
}

impl Typesetter {
    /// A typesetter for the bundled font, or `None` if the font cannot be parsed.
    pub fn bundled() -> Option<Self> {
        let font = font()?;
        Some(Self {
            font,
            units_per_em: font.units_per_em().unwrap_or(2048.0).max(1.0),
        })
    }

    /// Whether the font has a real glyph (not `.notdef`) for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        self.font.glyph_id(c) != GlyphId(0)
    }

    /// Makes `text` safe to set: whitespace runs become single spaces, decomposed accents
    /// are composed, and every character the font lacks is replaced by a close
    /// equivalent or by `?`. The result only contains characters with real glyphs.
    pub fn sanitize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last_space = true;
        for c in text.chars() {
            if c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{202f}' | '\u{2007}') {
                if !last_space {
                    out.push(' ');
                    last_space = true;
                }
                continue;
            }
            if matches!(
                c,
                '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}'
            ) || c.is_control()
            {
                continue;
            }
            if ('\u{300}'..='\u{36f}').contains(&c) {
                if let Some(prev) = out.pop() {
                    match compose(prev, c) {
                        Some(composed) => out.push(composed),
                        None => {
                            out.push(prev);
                            if self.has_glyph(c) {
                                out.push(c);
                            }
                        }
                    }
                }
                continue;
            }
            last_space = false;
            if self.has_glyph(c) {
                out.push(c);
                continue;
            }
            let fallback: &str = match c {
                '\u{202f}' | '\u{2007}' | '\u{2009}' | '\u{200a}' => "\u{a0}",
                '‘' | '’' | '‚' | '‛' | '′' => "'",
                '“' | '”' | '„' | '‟' | '″' => "\"",
                '–' | '—' | '―' | '‒' | '−' => "-",
                '…' => "...",
                'œ' => "oe",
                'Œ' => "OE",
                'æ' => "ae",
                'Æ' => "AE",
                '«' => "<<",
                '»' => ">>",
                _ => "?",
            };
            for f in fallback.chars() {
                out.push(if self.has_glyph(f) { f } else { '?' });
            }
        }
        while out.ends_with(' ') {
            out.pop();
        }
        out
    }

    fn scale(&self, size: f32) -> f32 {
        size / self.units_per_em
    }

    /// Distance from the baseline to the top of capitals, in pixels.
    pub fn ascent(&self, size: f32) -> f32 {
        self.font.ascent_unscaled() * self.scale(size)
    }

    /// Advance width of `text` at `size`, with kerning.
    pub fn measure(&self, text: &str, size: f32) -> f32 {
        let s = self.scale(size);
        let mut width = 0.0;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            if let Some(p) = prev {
                width += self.font.kern_unscaled(p, id);
            }
            width += self.font.h_advance_unscaled(id);
            prev = Some(id);
        }
        width * s
    }

    /// Appends the outlines of `text` to `pb`, starting at `x` on the baseline `y`.
    pub fn append(&self, pb: &mut PathBuilder, text: &str, size: f32, x: f32, y: f32) {
        let s = self.scale(size);
        let mut pen_x = x;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            if let Some(p) = prev {
                pen_x += self.font.kern_unscaled(p, id) * s;
            }
            if let Some(outline) = self.font.outline(id) {
                let map = |p: ab_glyph::Point| (pen_x + p.x * s, y - p.y * s);
                let mut last: Option<(f32, f32)> = None;
                for curve in &outline.curves {
                    let (start, end) = match curve {
                        OutlineCurve::Line(a, b) => (*a, *b),
                        OutlineCurve::Quad(a, _, b) => (*a, *b),
                        OutlineCurve::Cubic(a, _, _, b) => (*a, *b),
                    };
                    let st = map(start);
                    let continues = last
                        .is_some_and(|l| (l.0 - st.0).abs() < 1e-4 && (l.1 - st.1).abs() < 1e-4);
                    if !continues {
                        if last.is_some() {
                            pb.close();
                        }
                        pb.move_to(st.0, st.1);
                    }
                    match curve {
                        OutlineCurve::Line(_, b) => {
                            let b = map(*b);
                            pb.line_to(b.0, b.1);
                        }
                        OutlineCurve::Quad(_, c1, b) => {
                            let (c1, b) = (map(*c1), map(*b));
                            pb.quad_to(c1.0, c1.1, b.0, b.1);
                        }
                        OutlineCurve::Cubic(_, c1, c2, b) => {
                            let (c1, c2, b) = (map(*c1), map(*c2), map(*b));
                            pb.cubic_to(c1.0, c1.1, c2.0, c2.1, b.0, b.1);
                        }
                    }
                    last = Some(map(end));
                }
                if last.is_some() {
                    pb.close();
                }
            }
            pen_x += self.font.h_advance_unscaled(id) * s;
            prev = Some(id);
        }
    }

    /// The outlines of one line of text as a path.
    pub fn line_path(&self, text: &str, size: f32, x: f32, y: f32) -> Option<Path> {
        let mut pb = PathBuilder::new();
        self.append(&mut pb, text, size, x, y);
        pb.finish()
    }

    /// Splits sanitized text into unbreakable tokens, gluing closing punctuation to the
    /// word before it and opening marks to the word after it.
    fn tokens(text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut glue_next = false;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            if glue_next || (is_closing(word) && !out.is_empty()) {
                if let Some(last) = out.last_mut() {
                    last.push(' ');
                    last.push_str(word);
                } else {
                    out.push(word.to_string());
                }
            } else {
                out.push(word.to_string());
            }
            glue_next = is_opening(word);
        }
        out
    }

    /// Breaks a token wider than `max_width` into pieces that fit.
    fn split_long(&self, token: &str, size: f32, max_width: f32) -> Vec<String> {
        let mut pieces = Vec::new();
        let mut cur = String::new();
        for c in token.chars() {
            cur.push(c);
            if self.measure(&cur, size) > max_width && cur.chars().count() > 1 {
                cur.pop();
                pieces.push(std::mem::take(&mut cur));
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            pieces.push(cur);
        }
        pieces
    }

    /// Greedy word wrap of sanitized text.
    pub fn wrap(&self, text: &str, size: f32, max_width: f32) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut cur = String::new();
        for token in Self::tokens(text) {
            let pieces = if self.measure(&token, size) > max_width {
                self.split_long(&token, size, max_width)
            } else {
                vec![token]
            };
            for piece in pieces {
                if cur.is_empty() {
                    cur = piece;
                    continue;
                }
                let candidate = format!("{cur} {piece}");
                if self.measure(&candidate, size) <= max_width {
                    cur = candidate;
                } else {
                    lines.push(std::mem::replace(&mut cur, piece));
                }
            }
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        lines
    }

    /// Wraps like [`Typesetter::wrap`] but evens out the line lengths: the narrowest width
    /// that still gives the same number of lines is used.
    pub fn balanced(&self, text: &str, size: f32, max_width: f32) -> Vec<String> {
        let lines = self.wrap(text, size, max_width);
        let n = lines.len();
        if n <= 1 {
            return lines;
        }
        let widest = Self::tokens(text)
            .iter()
            .map(|t| self.measure(t, size))
            .fold(0.0_f32, f32::max);
        let (mut lo, mut hi) = ((max_width * 0.4).max(widest).min(max_width), max_width);
        for _ in 0..12 {
            let mid = (lo + hi) / 2.0;
            if self.wrap(text, size, mid).len() <= n {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        self.wrap(text, size, hi)
    }

    /// Shortens `line` until it fits with a trailing ellipsis.
    fn ellipsize(&self, line: &str, size: f32, max_width: f32) -> String {
        let ell = if self.has_glyph('…') { "…" } else { "..." };
        let mut chars: Vec<char> = line.chars().collect();
        loop {
            let base: String = chars.iter().collect();
            let base = base.trim_end_matches([' ', ',', ';', ':', '.', '—', '-']);
            let candidate = format!("{base}{ell}");
            if chars.is_empty() || self.measure(&candidate, size) <= max_width {
                return candidate;
            }
            // Prefer cutting at a word boundary when one is near.
            match chars.iter().rposition(|&c| c == ' ') {
                Some(p) if chars.len() - p <= 12 && p > 0 => chars.truncate(p),
                _ => {
                    chars.pop();
                }
            }
        }
    }

    /// Finds the largest size in `max_size..=min_size` at which `text` wraps into at most
    /// `max_lines` lines of `max_width`; at the smallest size the overflow is ellipsized.
    /// `lines_for` gives the number of lines allowed at a size (for boxes of fixed height).
    pub fn fit(
        &self,
        text: &str,
        max_width: f32,
        max_size: f32,
        min_size: f32,
        lines_for: impl Fn(f32) -> usize,
    ) -> (f32, Vec<String>) {
        let mut size = max_size.max(1.0);
        let min_size = min_size.clamp(1.0, size);
        loop {
            let max_lines = lines_for(size).max(1);
            let lines = self.wrap(text, size, max_width);
            if lines.len() <= max_lines {
                return (size, lines);
            }
            let next = size * 0.93;
            if next < min_size {
                let mut kept: Vec<String> = lines.into_iter().take(max_lines).collect();
                if let Some(last) = kept.last_mut() {
                    *last = self.ellipsize(last, size, max_width);
                }
                return (size, kept);
            }
            size = next;
        }
    }
}
