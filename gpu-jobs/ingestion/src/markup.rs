//! Markdown and HTML books.

use visiobook_domain::SourceFormat;

use crate::extract::{Block, Body, Extracted};
use crate::{Format, IngestError};

/// Tells HTML and Markdown from plain text by their first bytes.
pub fn text_flavour(sample: &[u8]) -> Format {
    let text = String::from_utf8_lossy(sample);
    let head = text
        .trim_start_matches('\u{FEFF}')
        .trim_start()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || (head.starts_with("<?xml") && head.contains("<html"))
        || (head.starts_with('<') && (head.contains("<body") || head.contains("<p>")))
    {
        return Format::Html;
    }
    let atx_headings = text
        .lines()
        .filter(|line| {
            let hashes = line.chars().take_while(|c| *c == '#').count();
            (1..=6).contains(&hashes) && line[hashes..].starts_with(' ')
        })
        .count();
    if atx_headings >= 1 && (text.starts_with('#') || atx_headings >= 2) {
        return Format::Markdown;
    }
    Format::Text
}

/// Reads a Markdown book: ATX headings (`#`..`###`) are headings, list items and paragraphs are
/// blocks, emphasis markers, links and images are reduced to their text.
pub fn read_markdown(bytes: &[u8]) -> Result<Extracted, IngestError> {
    let (text, warnings) = crate::text::decode(bytes)?;
    let text = crate::text::normalise(&text);
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut in_fence = false;
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            blocks.push(Block::paragraph(inline_text(&paragraph.join(" "))));
            paragraph.clear();
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            flush(&mut paragraph, &mut blocks);
            continue;
        }
        if in_fence {
            if !trimmed.is_empty() {
                blocks.push(Block::paragraph(trimmed.to_owned()));
            }
            continue;
        }
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            flush(&mut paragraph, &mut blocks);
            let title = inline_text(trimmed[hashes..].trim().trim_end_matches('#').trim());
            blocks.push(if hashes <= 3 {
                Block::heading(title)
            } else {
                Block::line(title)
            });
        } else if trimmed.is_empty() || is_rule(trimmed) {
            flush(&mut paragraph, &mut blocks);
            if is_rule(trimmed) {
                blocks.push(Block::line("* * *"));
            }
        } else if let Some(item) = list_item(trimmed) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(Block::paragraph(inline_text(item)));
        } else {
            paragraph.push(trimmed.trim_start_matches('>').trim());
        }
    }
    flush(&mut paragraph, &mut blocks);
    let mut extracted = Extracted::new(SourceFormat::Markdown, Body::Blocks(blocks));
    extracted.warnings = warnings;
    Ok(extracted)
}

/// Reads an HTML book through the lenient XHTML reader.
pub fn read_html(bytes: &[u8]) -> Result<Extracted, IngestError> {
    let (text, warnings) = crate::text::decode(bytes)?;
    let document = crate::xhtml::xhtml_to_blocks(&text)?;
    let mut extracted = Extracted::new(SourceFormat::Html, Body::Blocks(document.blocks));
    extracted.title = document.title.filter(|title| !title.trim().is_empty());
    extracted.warnings = warnings;
    Ok(extracted)
}

fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3
        && (compact.chars().all(|c| c == '*')
            || compact.chars().all(|c| c == '-')
            || compact.chars().all(|c| c == '_'))
}

fn list_item(line: &str) -> Option<&str> {
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return Some(rest);
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(". ") {
        return Some(&line[digits + 2..]);
    }
    None
}

/// Drops emphasis markers, keeps link and image text, unescapes backslashes.
fn inline_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '*' | '_'
                if out.is_empty()
                    || !out.ends_with(char::is_alphanumeric)
                    || chars.peek().is_none_or(|n| !n.is_alphanumeric()) => {}
            '!' if chars.peek() == Some(&'[') => {}
            '[' => {}
            ']' if chars.peek() == Some(&'(') => {
                for skipped in chars.by_ref() {
                    if skipped == ')' {
                        break;
                    }
                }
            }
            '`' => {}
            other => out.push(other),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_headings_lists_and_inline_markup() {
        let extracted = read_markdown(b"# The Book\n\nBy *Someone*.\n\n## Chapter One\n\nIt was a **dark** night, see [the map](http://x).\n\n- first item\n- second\n\n---\n\nAfter the break.\n").expect("reads");
        let Body::Blocks(blocks) = extracted.body else {
            panic!("blocks expected")
        };
        let texts: Vec<(&str, bool)> = blocks
            .iter()
            .map(|b| (b.text.as_str(), b.markup_heading))
            .collect();
        assert_eq!(
            texts,
            [
                ("The Book", true),
                ("By Someone.", false),
                ("Chapter One", true),
                ("It was a dark night, see the map.", false),
                ("first item", false),
                ("second", false),
                ("* * *", false),
                ("After the break.", false),
            ]
        );
    }

    #[test]
    fn flavours_are_told_apart() {
        assert_eq!(text_flavour(b"<!DOCTYPE html><p>x"), Format::Html);
        assert_eq!(text_flavour(b"# Title\n\ntext"), Format::Markdown);
        assert_eq!(text_flavour(b"Intro\n\n# One\n\n# Two\n"), Format::Markdown);
        assert_eq!(
            text_flavour(b"CHAPTER I\n\nIt was #1 in town."),
            Format::Text
        );
    }
}
