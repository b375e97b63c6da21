//! The intermediate form every format reader produces, before chapters are assembled.
//!
//! A reader either knows the book's structure (EPUB navigation, a PDF outline): it returns
//! [`Body::Sections`]; or it only has running text (plain text, a PDF without outline, OCR): it
//! returns [`Body::Blocks`] and [`crate::structure`] finds the chapters from headings.

use visiobook_domain::{Matter, SourceFormat, Warning};

/// One paragraph-like piece of text, already re-flowed (no hard line breaks inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub text: String,
    /// The block was a single short line in the source (headings and titles are).
    pub single_line: bool,
    /// The markup says this is a heading (`<h1>`..`<h3>`, Markdown `#`), or a PDF line set
    /// apart like one.
    pub markup_heading: bool,
}

impl Block {
    pub fn paragraph(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            single_line: false,
            markup_heading: false,
        }
    }
    pub fn line(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            single_line: true,
            markup_heading: false,
        }
    }
    pub fn heading(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            single_line: true,
            markup_heading: true,
        }
    }
}

/// A chapter as a structured source defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub matter: Matter,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Sections(Vec<Section>),
    Blocks(Vec<Block>),
}

/// What a format reader found.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub format: SourceFormat,
    pub title: Option<String>,
    pub author: Option<String>,
    /// The language the file declares (EPUB `dc:language`), as a BCP 47 tag.
    pub language: Option<String>,
    pub body: Body,
    pub warnings: Vec<Warning>,
}

impl Extracted {
    pub fn new(format: SourceFormat, body: Body) -> Self {
        Self {
            format,
            title: None,
            author: None,
            language: None,
            body,
            warnings: Vec::new(),
        }
    }
}

/// Splits typeset text (PDF, OCR) into blocks at blank lines, joining hard-wrapped lines. A
/// line ending in a hyphen after a letter joins the next without the hyphen when the next line
/// starts in lower case, as typesetters hyphenate words (`rab-` + `bit` = `rabbit`), and keeps
/// it otherwise (`WAISTCOAT-` + `POCKET`).
pub fn blocks_from_text(text: &str) -> Vec<Block> {
    split_blocks(text, true)
}

/// Splits plain text into blocks like [`blocks_from_text`], but never removes a hyphen: plain
/// text is wrapped at spaces and existing hyphens only (`looking-` + `glass` = `looking-glass`).
pub fn blocks_from_plain_text(text: &str) -> Vec<Block> {
    split_blocks(text, false)
}

fn split_blocks(text: &str, dehyphenate: bool) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let flush = |lines: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if lines.is_empty() {
            return;
        }
        let single_line = lines.len() == 1;
        let mut joined = String::new();
        for line in lines.iter() {
            if joined.is_empty() {
                joined.push_str(line);
                continue;
            }
            let hyphenated = dehyphenate
                && joined.ends_with('-')
                && joined[..joined.len() - 1].ends_with(char::is_alphabetic)
                && line.starts_with(char::is_lowercase);
            if hyphenated {
                joined.pop();
            } else if !joined.ends_with('-') {
                joined.push(' ');
            }
            joined.push_str(line);
        }
        let text = joined.split_whitespace().collect::<Vec<_>>().join(" ");
        blocks.push(Block {
            text,
            single_line,
            markup_heading: false,
        });
        lines.clear();
    };
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut lines, &mut blocks);
        } else {
            lines.push(line);
        }
    }
    flush(&mut lines, &mut blocks);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_keeps_its_hyphens() {
        let blocks = blocks_from_plain_text("the looking-\nglass and the woman--\nbut then");
        assert_eq!(blocks[0].text, "the looking-glass and the woman--but then");
    }

    #[test]
    fn lines_reflow_and_hyphens_join_only_split_words() {
        let blocks =
            blocks_from_text("  A rab-\nbit ran\nby.\n\nWAISTCOAT-\nPOCKET\n\n\nCHAPTER I\n");
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["A rabbit ran by.", "WAISTCOAT-POCKET", "CHAPTER I"]);
        assert!(!blocks[0].single_line);
        assert!(blocks[2].single_line);
    }
}
