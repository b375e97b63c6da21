//! The storyboard page of a book: one self-contained HTML document that opens offline
//! straight from the export folder.
//!
//! The page shows a header (title, author, total duration, counts and a chapter index) and,
//! per chapter, a grid of scene cards: thumbnail (linking to the full-size image), title,
//! time range, mood, summary, the characters present, the scene's text (collapsed in a
//! `<details>` when long) and a player for the scene's audio.
//!
//! Everything comes from book text, so nothing is trusted: text and attribute values are
//! HTML-escaped, colours must be `#rrggbb` (else a neutral grey), and media paths must be
//! plain relative paths (no scheme, no leading `/`, no `..`); they are percent-encoded,
//! and anything else is left out. The CSS is inline, no font or script is fetched, and
//! the only script (pausing the other players when one starts) is optional and pinned by
//! a Content-Security-Policy hash.

use std::collections::HashSet;

/// A whole book, as the storyboard page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Storyboard {
    /// The book's title.
    pub title: String,
    /// The book's author, if known.
    pub author: Option<String>,
    /// The book's language as a BCP 47 tag (`"fr"`, `"en-GB"`); used for the `lang` attribute.
    pub language: String,
    /// Total duration of the narration; `0` means "sum it up from the scenes".
    pub duration_ms: u64,
    /// The chapters, in reading order.
    pub chapters: Vec<BoardChapter>,
}

/// One chapter of the book and its scenes.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardChapter {
    /// The chapter's number (1-based), used for its anchor (`#chapter-1`).
    pub ordinal: u32,
    /// The chapter's title; may be empty.
    pub title: String,
    /// Where the chapter starts in the narration.
    pub start_ms: u64,
    /// The chapter's scenes, in order.
    pub scenes: Vec<BoardScene>,
}

/// One scene: one illustration, one stretch of narration.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardScene {
    /// Stable id, e.g. `"c1-s2"`; used for the card's anchor (`#scene-c1-s2`).
    pub id: String,
    /// Display title, e.g. `"Scene 2"`.
    pub title: String,
    /// Where the scene starts in the narration.
    pub start_ms: u64,
    /// How long the scene lasts.
    pub duration_ms: u64,
    /// A one- or two-sentence summary.
    pub summary: String,
    /// The scene's mood, e.g. `"tense"`; may be empty.
    pub mood: String,
    /// The characters present.
    pub characters: Vec<BoardCharacter>,
    /// The scene's text, sentence by sentence, in order.
    pub sentences: Vec<String>,
    /// Relative path of the full-size image, e.g. `"images/c1-s2.jpg"`.
    pub image: String,
    /// Relative path of the thumbnail, e.g. `"images/c1-s2-thumb.jpg"`.
    pub thumbnail: String,
    /// Relative path of the scene's audio, e.g. `"audio/c1-s2.m4a"`.
    pub audio: String,
}

/// A character present in a scene.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardCharacter {
    /// The character's name.
    pub name: String,
    /// The character's colour, `"#rrggbb"`; anything else is shown grey.
    pub color: String,
}

/// The colour used in place of any colour that is not `#rrggbb`.
const NEUTRAL_GREY: &str = "#8a8a8a";

/// Text longer than this many characters (or with more than [`LONG_TEXT_SENTENCES`]
/// sentences) is collapsed in a `<details>`.
const LONG_TEXT_CHARS: usize = 280;
/// See [`LONG_TEXT_CHARS`].
const LONG_TEXT_SENTENCES: usize = 3;
/// Longest alt text before it is cut with an ellipsis.
const ALT_MAX_CHARS: usize = 160;

/// The only script on the page: when one player starts, pause the others.
/// Its hash is pinned in [`CSP`]; change both together (a test checks them).
const SCRIPT: &str = "document.addEventListener('play',function(e){document.querySelectorAll('audio').forEach(function(a){if(a!==e.target)a.pause();});},true);";

/// Content-Security-Policy: media from the export folder only, inline CSS, and only
/// [`SCRIPT`] may run (whatever might slip into the page, nothing else executes).
const CSP: &str = "default-src 'self' file:; script-src 'sha256-bTaoHrsEf+SGZEPC9CN+ARfA/R7x9wMNmFBK+9XIXIc='; style-src 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'none'";

/// The page's style sheet: calm, readable, responsive (1 column on phones, 3-4 on
/// desktop), light and dark.
const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#f7f5f0;--surface:#fffefb;--text:#26231f;--muted:#6d675e;--line:#e4dfd5;--accent:#8c5a2b;--chip:#efeae1;--shadow:0 1px 2px rgba(60,45,30,.06),0 6px 18px rgba(60,45,30,.07)}
@media (prefers-color-scheme:dark){:root{--bg:#151619;--surface:#1e1f23;--text:#e9e6e0;--muted:#a39e95;--line:#33343a;--accent:#e3b47f;--chip:#2a2b30;--shadow:0 1px 2px rgba(0,0,0,.4)}}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
a{color:var(--accent)}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.wrap{max-width:82rem;margin:0 auto;padding:0 1.25rem}
.book{padding-top:2.75rem;padding-bottom:1rem}
.eyebrow{margin:0 0 .35rem;color:var(--muted);font-size:.8rem;letter-spacing:.08em;text-transform:uppercase}
h1,h2,.text{font-family:"Iowan Old Style","Palatino Linotype",Palatino,Georgia,"Noto Serif",serif}
h1,h2,h3{text-wrap:balance}
h1{margin:0;font-size:clamp(1.9rem,4.5vw,3rem);font-weight:600;line-height:1.12;overflow-wrap:anywhere}
.byline{margin:.45rem 0 0;font-size:1.15rem;color:var(--muted)}
.stats{display:flex;flex-wrap:wrap;gap:.45rem;list-style:none;margin:1.2rem 0 0;padding:0}
.stats li{background:var(--chip);border-radius:999px;padding:.2rem .8rem;font-size:.875rem;font-variant-numeric:tabular-nums}
.toc{margin-top:1.6rem}
.toc h2{margin:0 0 .5rem;font-size:1.1rem}
.toc ol{margin:0;padding:0;list-style:none;columns:2 20rem;column-gap:2rem}
.toc li{display:flex;gap:.6rem;align-items:baseline;break-inside:avoid;padding:.3rem 0;border-bottom:1px dotted var(--line)}
.toc a{display:flex;flex:1;gap:.35rem;min-width:0;text-decoration:none;overflow-wrap:anywhere}
.toc a:hover span:last-child{text-decoration:underline}
.toc .n{flex:none;min-width:1.6rem;color:var(--muted);font-variant-numeric:tabular-nums}
.toc .t{color:var(--muted);font-size:.85rem;font-variant-numeric:tabular-nums;white-space:nowrap}
.chapter{padding:2.25rem 0 1rem;scroll-margin-top:1rem}
.chapter-head{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.25rem 1rem;margin-bottom:1.1rem;padding-bottom:.6rem;border-bottom:1px solid var(--line)}
.chapter h2{margin:0;font-size:clamp(1.35rem,2.6vw,1.75rem);font-weight:600;line-height:1.2;overflow-wrap:anywhere}
.chapter h2 .num{display:block;font-family:system-ui,sans-serif;font-size:.78rem;font-weight:500;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
.chapter-meta{margin:0;color:var(--muted);font-size:.875rem;font-variant-numeric:tabular-nums}
.chapter-meta a{margin-left:.6rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,18rem),1fr));gap:1.25rem}
.scene{display:flex;flex-direction:column;min-width:0;background:var(--surface);border:1px solid var(--line);border-radius:14px;overflow:hidden;box-shadow:var(--shadow);scroll-margin-top:1rem}
.thumb{position:relative;display:block;aspect-ratio:16/9;background:var(--chip)}
.thumb img{display:block;width:100%;height:100%;object-fit:cover}
.thumb.missing{display:flex;align-items:center;justify-content:center;color:var(--muted);font-size:.875rem}
.badge{position:absolute;right:.5rem;bottom:.5rem;padding:.05rem .45rem;border-radius:5px;background:rgba(0,0,0,.68);color:#fff;font-size:.75rem;font-variant-numeric:tabular-nums}
.body{display:flex;flex:1;flex-direction:column;gap:.6rem;padding:.9rem 1rem 1rem}
.scene-head{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.2rem .6rem}
.scene h3{margin:0;font-size:1.05rem;line-height:1.3;overflow-wrap:anywhere}
.mood{padding:.05rem .55rem;border:1px solid var(--line);border-radius:999px;color:var(--muted);font-size:.75rem}
.when{margin:-.35rem 0 0;color:var(--muted);font-size:.825rem;font-variant-numeric:tabular-nums}
.summary{margin:0;font-size:.95rem;overflow-wrap:anywhere}
.cast{display:flex;flex-wrap:wrap;gap:.35rem;margin:0;padding:0;list-style:none}
.cast li{display:inline-flex;align-items:center;gap:.4rem;padding:.1rem .6rem .1rem .45rem;border-radius:999px;background:var(--chip);font-size:.8rem}
.dot{flex:none;width:.7rem;height:.7rem;border-radius:50%;box-shadow:0 0 0 1px rgba(128,128,128,.45)}
.text{margin:0;color:var(--muted);font-size:.95rem;line-height:1.6;overflow-wrap:anywhere}
details{border-top:1px solid var(--line);padding-top:.5rem}
summary{cursor:pointer;color:var(--accent);font-size:.875rem}
details[open] summary{margin-bottom:.4rem}
audio{display:block;width:100%;height:2.5rem;margin-top:auto}
.noaudio{margin:auto 0 0;color:var(--muted);font-size:.875rem}
.empty{color:var(--muted)}
footer{padding-bottom:3rem;color:var(--muted);font-size:.85rem}
footer p{margin:1.5rem 0 0;padding-top:1.25rem;border-top:1px solid var(--line)}
@media (max-width:36rem){.wrap{padding-left:.9rem;padding-right:.9rem}.book{padding-top:1.75rem}}
@media print{audio,.noaudio,.chapter-meta a{display:none}.scene{break-inside:avoid;box-shadow:none}}
"#;

/// Renders the storyboard page as a complete UTF-8 HTML5 document.
pub fn render_html(board: &Storyboard) -> String {
    let mut out = String::with_capacity(16 * 1024 + board.chapters.len() * 4096);
    let mut ids = HashSet::new();
    let chapter_ids: Vec<String> = board
        .chapters
        .iter()
        .map(|chapter| unique_id(&mut ids, "chapter", &chapter.ordinal.to_string()))
        .collect();

    out.push_str("<!doctype html>\n<html lang=\"");
    out.push_str(&language_tag(&board.language));
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
    escape_into(&mut out, CSP);
    out.push_str("\">\n<meta name=\"generator\" content=\"Visiobook\">\n<title>");
    escape_into(&mut out, display_or(&board.title, "Untitled book"));
    out.push_str(" · Storyboard</title>\n<style>");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");

    render_header(&mut out, board, &chapter_ids);

    out.push_str("<main class=\"wrap\">\n");
    for (chapter, id) in board.chapters.iter().zip(&chapter_ids) {
        render_chapter(&mut out, chapter, id, &mut ids);
    }
    if board.chapters.is_empty() {
        out.push_str("<p class=\"empty\">This book has no chapters yet.</p>\n");
    }
    out.push_str("</main>\n<footer class=\"wrap\"><p>Storyboard made by Visiobook. Thumbnails open the full-size illustration; each scene has its own narration.</p></footer>\n<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// Formats a duration or position for display: `0:00`, `2:03`, `1:02:03` (rounded down
/// to the second).
pub fn clock(ms: u64) -> String {
    let seconds = ms / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// The header: title, author, counts, total duration and the chapter index.
fn render_header(out: &mut String, board: &Storyboard, chapter_ids: &[String]) {
    let scenes: usize = board.chapters.iter().map(|c| c.scenes.len()).sum();
    let characters: HashSet<&str> = board
        .chapters
        .iter()
        .flat_map(|c| &c.scenes)
        .flat_map(|s| &s.characters)
        .map(|c| c.name.trim())
        .filter(|name| !name.is_empty())
        .collect();
    let duration = if board.duration_ms > 0 {
        board.duration_ms
    } else {
        board
            .chapters
            .iter()
            .flat_map(|c| &c.scenes)
            .map(|s| s.start_ms.saturating_add(s.duration_ms))
            .max()
            .unwrap_or(0)
    };

    out.push_str(
        "<header class=\"book wrap\" id=\"top\">\n<p class=\"eyebrow\">Storyboard</p>\n<h1>",
    );
    escape_into(out, display_or(&board.title, "Untitled book"));
    out.push_str("</h1>\n");
    if let Some(author) = board.author.as_deref().filter(|a| !a.trim().is_empty()) {
        out.push_str("<p class=\"byline\">by ");
        escape_into(out, author.trim());
        out.push_str("</p>\n");
    }
    out.push_str("<ul class=\"stats\">\n<li title=\"Total duration\">");
    out.push_str(&clock(duration));
    out.push_str(" total</li>\n<li>");
    out.push_str(&plural(board.chapters.len(), "chapter", "chapters"));
    out.push_str("</li>\n<li>");
    out.push_str(&plural(scenes, "scene", "scenes"));
    out.push_str("</li>\n<li>");
    out.push_str(&plural(characters.len(), "character", "characters"));
    out.push_str("</li>\n</ul>\n");

    if !board.chapters.is_empty() {
        out.push_str(
            "<nav class=\"toc\" id=\"index\" aria-labelledby=\"index-title\">\n<h2 id=\"index-title\">Chapters</h2>\n<ol>\n",
        );
        for (chapter, id) in board.chapters.iter().zip(chapter_ids) {
            out.push_str("<li><a href=\"#");
            out.push_str(id);
            out.push_str("\"><span class=\"n\">");
            out.push_str(&chapter.ordinal.to_string());
            out.push_str("</span><span>");
            escape_into(out, &chapter_title(chapter));
            out.push_str("</span></a><span class=\"t\">");
            out.push_str(&clock(chapter.start_ms));
            out.push_str("</span></li>\n");
        }
        out.push_str("</ol>\n</nav>\n");
    }
    out.push_str("</header>\n");
}

/// One chapter: heading, timing and the grid of its scene cards.
fn render_chapter(out: &mut String, chapter: &BoardChapter, id: &str, ids: &mut HashSet<String>) {
    let duration: u64 = chapter
        .scenes
        .iter()
        .fold(0, |sum, s| sum.saturating_add(s.duration_ms));
    let label = format!("Chapter {}", chapter.ordinal);
    let title = chapter.title.trim();

    out.push_str("<section class=\"chapter\" id=\"");
    out.push_str(id);
    out.push_str("\" aria-labelledby=\"");
    out.push_str(id);
    out.push_str("-title\">\n<div class=\"chapter-head\">\n<h2 id=\"");
    out.push_str(id);
    out.push_str("-title\">");
    if title.is_empty() || title.eq_ignore_ascii_case(&label) {
        escape_into(out, &label);
    } else {
        out.push_str("<span class=\"num\">");
        escape_into(out, &label);
        out.push_str("</span>");
        escape_into(out, title);
    }
    out.push_str("</h2>\n<p class=\"chapter-meta\">Starts at ");
    out.push_str(&clock(chapter.start_ms));
    out.push_str(" · ");
    out.push_str(&plural(chapter.scenes.len(), "scene", "scenes"));
    out.push_str(" · ");
    out.push_str(&clock(duration));
    out.push_str("<a href=\"#index\">Index ↑</a></p>\n</div>\n");
    if chapter.scenes.is_empty() {
        out.push_str("<p class=\"empty\">No scenes in this chapter.</p>\n");
    } else {
        out.push_str("<div class=\"grid\">\n");
        for (index, scene) in chapter.scenes.iter().enumerate() {
            let scene_id = unique_id(
                ids,
                "scene",
                display_or(&scene.id, &(index + 1).to_string()),
            );
            render_scene(out, scene, index, &scene_id);
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

/// One scene card.
fn render_scene(out: &mut String, scene: &BoardScene, index: usize, id: &str) {
    let fallback_title = format!("Scene {}", index + 1);
    let title = display_or(&scene.title, &fallback_title);
    let summary = scene.summary.trim();
    let alt = alt_text(title, summary);
    let image = safe_relative_url(&scene.image);
    let thumbnail = safe_relative_url(&scene.thumbnail).or_else(|| image.clone());
    let end_ms = scene.start_ms.saturating_add(scene.duration_ms);

    out.push_str("<article class=\"scene\" id=\"");
    out.push_str(id);
    out.push_str("\">\n");

    // Thumbnail, linking to the full-size image when there is one.
    match (&thumbnail, &image) {
        (Some(thumb), Some(full)) => {
            out.push_str("<a class=\"thumb\" href=\"");
            out.push_str(full);
            out.push_str("\" title=\"Open the full-size illustration\">");
            push_img(out, thumb, &alt);
        }
        (Some(thumb), None) => {
            out.push_str("<div class=\"thumb\">");
            push_img(out, thumb, &alt);
        }
        (None, _) => {
            out.push_str("<div class=\"thumb missing\" role=\"img\" aria-label=\"");
            escape_into(out, &alt);
            out.push_str("\">No illustration");
        }
    }
    out.push_str("<span class=\"badge\">");
    out.push_str(&clock(scene.duration_ms));
    out.push_str(if thumbnail.is_some() && image.is_some() {
        "</span></a>\n"
    } else {
        "</span></div>\n"
    });

    out.push_str("<div class=\"body\">\n<div class=\"scene-head\">\n<h3>");
    escape_into(out, title);
    out.push_str("</h3>\n");
    let mood = scene.mood.trim();
    if !mood.is_empty() {
        out.push_str("<span class=\"mood\" title=\"Mood\">");
        escape_into(out, mood);
        out.push_str("</span>\n");
    }
    out.push_str("</div>\n<p class=\"when\">");
    out.push_str(&clock(scene.start_ms));
    out.push_str(" – ");
    out.push_str(&clock(end_ms));
    out.push_str("</p>\n");

    if !summary.is_empty() {
        out.push_str("<p class=\"summary\">");
        escape_into(out, summary);
        out.push_str("</p>\n");
    }

    let cast: Vec<&BoardCharacter> = scene
        .characters
        .iter()
        .filter(|c| !c.name.trim().is_empty())
        .collect();
    if !cast.is_empty() {
        out.push_str("<ul class=\"cast\" aria-label=\"Characters\">\n");
        for character in cast {
            out.push_str("<li><span class=\"dot\" style=\"background:");
            out.push_str(&safe_color(&character.color));
            out.push_str("\" aria-hidden=\"true\"></span>");
            escape_into(out, character.name.trim());
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }

    render_text(out, &scene.sentences);

    match safe_relative_url(&scene.audio) {
        Some(audio) => {
            out.push_str("<audio controls preload=\"none\" src=\"");
            out.push_str(&audio);
            out.push_str("\" aria-label=\"Narration of ");
            escape_into(out, title);
            out.push_str("\"><a href=\"");
            out.push_str(&audio);
            out.push_str("\">Download the narration</a></audio>\n");
        }
        None => out.push_str("<p class=\"noaudio\">No narration for this scene.</p>\n"),
    }
    out.push_str("</div>\n</article>\n");
}

/// The thumbnail `<img>`; `src` must already be a safe, encoded URL.
fn push_img(out: &mut String, src: &str, alt: &str) {
    out.push_str("<img src=\"");
    out.push_str(src);
    out.push_str("\" alt=\"");
    escape_into(out, alt);
    out.push_str("\" loading=\"lazy\" decoding=\"async\">");
}

/// The scene's text: shown as is when short, collapsed in a `<details>` when long.
fn render_text(out: &mut String, sentences: &[String]) {
    let sentences: Vec<&str> = sentences
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if sentences.is_empty() {
        return;
    }
    let chars: usize = sentences.iter().map(|s| s.chars().count()).sum();
    let long = chars > LONG_TEXT_CHARS || sentences.len() > LONG_TEXT_SENTENCES;
    if long {
        out.push_str("<details>\n<summary>Read the text (");
        out.push_str(&plural(sentences.len(), "sentence", "sentences"));
        out.push_str(")</summary>\n");
    }
    out.push_str("<p class=\"text\">");
    for (i, sentence) in sentences.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        escape_into(out, sentence);
    }
    out.push_str("</p>\n");
    if long {
        out.push_str("</details>\n");
    }
}

/// Alt text for a scene's image: its title and summary, cut to a readable length; never empty.
fn alt_text(title: &str, summary: &str) -> String {
    let full = match (title.trim(), summary) {
        ("", "") => return "Scene illustration".to_owned(),
        (title, "") => format!("Illustration: {title}"),
        ("", summary) => summary.to_owned(),
        (title, summary) => format!("{title}: {summary}"),
    };
    if full.chars().count() <= ALT_MAX_CHARS {
        return full;
    }
    let mut cut: String = full.chars().take(ALT_MAX_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The chapter's title for the index: its own, or `Chapter N`.
fn chapter_title(chapter: &BoardChapter) -> String {
    let title = chapter.title.trim();
    if title.is_empty() {
        format!("Chapter {}", chapter.ordinal)
    } else {
        title.to_owned()
    }
}

/// `text` trimmed, or `fallback` when that is empty.
fn display_or<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    let text = text.trim();
    if text.is_empty() { fallback } else { text }
}

/// `1 scene`, `3 scenes`.
fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// A document-unique id `prefix-slug`, where the slug keeps ASCII letters, digits, `-`
/// and `_` of `raw` (anything else becomes `-`); a repeat gets `-2`, `-3`…
fn unique_id(seen: &mut HashSet<String>, prefix: &str, raw: &str) -> String {
    let slug: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let base = if slug.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}-{slug}")
    };
    let mut id = base.clone();
    let mut n = 2u32;
    while seen.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    seen.insert(id.clone());
    id
}

/// The `lang` attribute: a BCP 47-looking tag (letters, digits, `-`), else `und`.
fn language_tag(raw: &str) -> String {
    let tag = raw.trim().replace('_', "-");
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag.starts_with(|c: char| c.is_ascii_alphabetic())
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !tag.split('-').any(str::is_empty);
    if valid { tag } else { "und".to_owned() }
}

/// `#rrggbb` (lower-cased) when `raw` is exactly that, else [`NEUTRAL_GREY`].
fn safe_color(raw: &str) -> String {
    let raw = raw.trim();
    match raw.strip_prefix('#') {
        Some(hex) if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            raw.to_ascii_lowercase()
        }
        _ => NEUTRAL_GREY.to_owned(),
    }
}

/// A plain relative path made into a URL safe for an attribute, or `None`.
///
/// Refused: empty paths, absolute paths (`/…`, `\…`), anything with a scheme or a drive
/// (`javascript:`, `https:`, `C:`: a `:` in the first segment), backslashes, control
/// characters and `..` segments (nothing outside the export folder). What is kept is
/// percent-encoded byte by byte except ASCII letters, digits, `-._~` and `/`, so the
/// result holds no `:`, `?`, `#`, quote or space and reads as the same file name.
fn safe_relative_url(raw: &str) -> Option<String> {
    let first_segment = raw.split('/').next().unwrap_or_default();
    if raw.is_empty()
        || raw.starts_with('/')
        || raw.contains('\\')
        || first_segment.contains(':')
        || raw.chars().any(char::is_control)
        || raw.split('/').any(|segment| segment == "..")
    {
        return None;
    }
    let mut url = String::with_capacity(raw.len() + 8);
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            url.push(char::from(byte));
        } else {
            url.push('%');
            url.push(char::from(HEX[usize::from(byte >> 4)]));
            url.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    Some(url)
}

/// Upper-case hexadecimal digits, for percent-encoding.
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `text` HTML-escaped for both element content and quoted attribute values.
/// Characters HTML does not allow (control characters other than tab and line breaks)
/// are dropped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push('\n'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    fn scene(id: &str, n: u64) -> BoardScene {
        BoardScene {
            id: id.to_owned(),
            title: format!("Scene {n}"),
            start_ms: n * 30_000,
            duration_ms: 30_000,
            summary: format!("Summary of {id}."),
            mood: "calm".to_owned(),
            characters: vec![
                BoardCharacter {
                    name: "Alice".to_owned(),
                    color: "#3366CC".to_owned(),
                },
                BoardCharacter {
                    name: "Bob".to_owned(),
                    color: "#aa0000".to_owned(),
                },
            ],
            sentences: vec!["One.".to_owned(), "Two.".to_owned()],
            image: format!("images/{id}.jpg"),
            thumbnail: format!("images/{id}-thumb.jpg"),
            audio: format!("audio/{id}.m4a"),
        }
    }

    fn board() -> Storyboard {
        Storyboard {
            title: "The Book".to_owned(),
            author: Some("A. Writer".to_owned()),
            language: "en".to_owned(),
            duration_ms: 150_000,
            chapters: vec![
                BoardChapter {
                    ordinal: 1,
                    title: "Beginnings".to_owned(),
                    start_ms: 0,
                    scenes: vec![scene("c1-s1", 0), scene("c1-s2", 1), scene("c1-s3", 2)],
                },
                BoardChapter {
                    ordinal: 2,
                    title: String::new(),
                    start_ms: 90_000,
                    scenes: vec![scene("c2-s1", 3), scene("c2-s2", 4)],
                },
            ],
        }
    }

    /// The scene cards of a page, each from `<article` to `</article>`.
    fn articles(html: &str) -> Vec<&str> {
        html.split("<article")
            .skip(1)
            .map(|rest| rest.split("</article>").next().unwrap())
            .collect()
    }

    /// Every value of `attr="…"` in `html`, in order.
    fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
        let needle = format!(" {attr}=\"");
        html.split(needle.as_str())
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect()
    }

    #[test]
    fn clock_formats() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(999), "0:00");
        assert_eq!(clock(61_000), "1:01");
        assert_eq!(clock(599_999), "9:59");
        assert_eq!(clock(3_599_000), "59:59");
        assert_eq!(clock(3_600_000), "1:00:00");
        assert_eq!(clock(3_723_000), "1:02:03");
        assert_eq!(clock(36_000_000 + 5_000), "10:00:05");
    }

    #[test]
    fn document_basics() {
        let html = render_html(&board());
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("<title>The Book · Storyboard</title>"));
        assert!(html.contains("by A. Writer"));
        assert!(html.contains("<li title=\"Total duration\">2:30 total</li>"));
        assert!(html.contains("<li>2 chapters</li>"));
        assert!(html.contains("<li>5 scenes</li>"));
        assert!(html.contains("<li>2 characters</li>"));
        assert!(html.contains("prefers-color-scheme:dark"));
        // Offline: no absolute URL anywhere in the page.
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("//fonts")
        );
    }

    #[test]
    fn hostile_text_is_escaped_and_utf8_survives() {
        let evil = r#"<script>alert("x")</script> & « Où ? »"#;
        let mut b = board();
        b.title = evil.to_owned();
        b.author = Some(evil.to_owned());
        b.chapters[0].title = evil.to_owned();
        let s = &mut b.chapters[0].scenes[0];
        s.title = evil.to_owned();
        s.summary = evil.to_owned();
        s.mood = evil.to_owned();
        s.sentences = vec![evil.to_owned(), "l'été \"chaud\"".to_owned()];
        s.characters[0].name = evil.to_owned();
        s.id = "\"><img src=x onerror=alert(1)>".to_owned();
        let html = render_html(&b);

        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; « Où ? »";
        // title element, h1, byline, index, chapter heading, card title, alt, aria-label,
        // summary, mood, text, cast.
        assert!(html.matches(escaped).count() >= 10, "{html}");
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("alert(\"x\")"));
        assert!(html.contains("l&#39;été &quot;chaud&quot;"));
        assert!(!html.contains("onerror=alert"));
        assert!(html.contains("id=\"scene----img-src-x-onerror-alert-1--\""));
        // Exactly one <script> element: ours.
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn control_characters_are_dropped() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{0}b\u{7}c\r\nd\u{85}e");
        assert_eq!(out, "abc\n\nde");
    }

    #[test]
    fn colours_are_validated() {
        let mut b = board();
        b.chapters[0].scenes[0].characters[0].color = "red;background:url(x)".to_owned();
        b.chapters[0].scenes[0].characters[1].color = "#12345g".to_owned();
        b.chapters[0].scenes[1].characters[0].color = "\"><b>x</b>".to_owned();
        let html = render_html(&b);
        assert!(!html.contains("url(x)"));
        assert!(!html.contains("red;"));
        assert!(!html.contains("#12345g"));
        assert!(!html.contains("<b>x</b>"));
        let styles = attr_values(&html, "style");
        assert_eq!(styles.len(), 10);
        assert_eq!(
            styles
                .iter()
                .filter(|s| **s == "background:#8a8a8a")
                .count(),
            3
        );
        assert!(styles.contains(&"background:#3366cc"));
        for style in styles {
            let colour = style.strip_prefix("background:#").unwrap();
            assert_eq!(colour.len(), 6);
            assert!(colour.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(safe_color(" #ABCDEF "), "#abcdef");
        assert_eq!(safe_color("#abc"), NEUTRAL_GREY);
        assert_eq!(safe_color("#abcdef0"), NEUTRAL_GREY);
        assert_eq!(safe_color("#ééé"), NEUTRAL_GREY);
    }

    #[test]
    fn unsafe_paths_are_not_emitted() {
        let hostile = [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "/etc/passwd",
            "//evil.example/x.jpg",
            "https://x",
            "data:image/png;base64,AAAA",
            "C:\\images\\x.jpg",
            "c:/images/x.jpg",
            "images\\x.jpg",
            "../secret.jpg",
            "images/../../secret.jpg",
            "images/\nx.jpg",
            "",
        ];
        for path in hostile {
            assert_eq!(safe_relative_url(path), None, "{path:?}");
            let mut b = board();
            let s = &mut b.chapters[0].scenes[0];
            s.image = path.to_owned();
            s.thumbnail = path.to_owned();
            s.audio = path.to_owned();
            let html = render_html(&b);
            let card = articles(&html)[0];
            assert!(!card.contains("<img"), "{path:?}");
            assert!(!card.contains("<audio"), "{path:?}");
            assert!(!card.contains("href=\"/"), "{path:?}");
            assert!(card.contains("No illustration") && card.contains("No narration"));
            assert!(!html.contains("javascript:"), "{path:?}");
            assert!(!html.contains("passwd"), "{path:?}");
            assert!(!html.contains("href=\"https://x") && !html.contains("src=\"https://x"));
            // The other cards are untouched.
            assert_eq!(html.matches("<audio").count(), 4);
        }
    }

    #[test]
    fn relative_paths_are_percent_encoded() {
        assert_eq!(
            safe_relative_url("images/c1-s2.jpg").as_deref(),
            Some("images/c1-s2.jpg")
        );
        assert_eq!(
            safe_relative_url("images/scène 1 & \"2\".jpg").as_deref(),
            Some("images/sc%C3%A8ne%201%20%26%20%222%22.jpg")
        );
        assert_eq!(
            safe_relative_url("images/a:b?c#d%e.jpg").as_deref(),
            Some("images/a%3Ab%3Fc%23d%25e.jpg")
        );
        assert_eq!(safe_relative_url("./a.jpg").as_deref(), Some("./a.jpg"));

        let mut b = board();
        b.chapters[0].scenes[0].thumbnail = "images/scène 1.jpg".to_owned();
        let html = render_html(&b);
        assert!(html.contains("<img src=\"images/sc%C3%A8ne%201.jpg\""));
    }

    #[test]
    fn thumbnail_falls_back_to_the_image() {
        let mut b = board();
        b.chapters[0].scenes[0].thumbnail = "javascript:x".to_owned();
        b.chapters[0].scenes[1].image = "https://x/full.jpg".to_owned();
        let html = render_html(&b);
        let cards = articles(&html);
        assert!(cards[0].contains("href=\"images/c1-s1.jpg\""));
        assert!(cards[0].contains("<img src=\"images/c1-s1.jpg\""));
        // No full-size image: the thumbnail is shown, but links nowhere.
        assert!(cards[1].contains("<div class=\"thumb\"><img src=\"images/c1-s2-thumb.jpg\""));
        assert!(!cards[1].contains("class=\"thumb\" href"));
    }

    #[test]
    fn every_scene_has_one_audio_and_one_thumbnail_with_alt() {
        let mut b = board();
        b.chapters[1].scenes[0].title = String::new();
        b.chapters[1].scenes[0].summary = String::new();
        let html = render_html(&b);
        let cards = articles(&html);
        assert_eq!(cards.len(), 5);
        for card in cards {
            assert_eq!(card.matches("<audio").count(), 1, "{card}");
            assert_eq!(card.matches("</audio>").count(), 1);
            assert!(card.contains("<audio controls preload=\"none\" src=\"audio/"));
            assert_eq!(card.matches("<img").count(), 1, "{card}");
            let alts = attr_values(card, "alt");
            assert_eq!(alts.len(), 1);
            assert!(!alts[0].trim().is_empty());
        }
        // Every <img> on the page has a non-empty alt.
        assert_eq!(
            html.matches("<img").count(),
            attr_values(&html, "alt").len()
        );
    }

    #[test]
    fn chapter_anchors_match_the_index() {
        let mut b = board();
        // Duplicate ordinals still get distinct anchors.
        b.chapters.push(BoardChapter {
            ordinal: 2,
            title: "Again".to_owned(),
            start_ms: 150_000,
            scenes: vec![],
        });
        let html = render_html(&b);
        let nav = html
            .split("<nav")
            .nth(1)
            .and_then(|rest| rest.split("</nav>").next())
            .unwrap();
        let links: Vec<&str> = attr_values(nav, "href")
            .into_iter()
            .map(|h| h.strip_prefix('#').unwrap())
            .collect();
        let sections: Vec<&str> = html
            .split("<section class=\"chapter\" id=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(links, ["chapter-1", "chapter-2", "chapter-2-2"]);
        assert_eq!(links, sections);
        // Ids are unique across the whole page.
        let ids = attr_values(&html, "id");
        let unique: HashSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        // Every in-page link points at an existing id.
        for href in attr_values(&html, "href") {
            if let Some(target) = href.strip_prefix('#') {
                assert!(ids.contains(&target), "{target}");
            }
        }
    }

    #[test]
    fn long_text_is_collapsed() {
        let mut b = board();
        b.chapters[0].scenes[1].sentences = (1..=8).map(|i| format!("Sentence {i}.")).collect();
        b.chapters[0].scenes[2].sentences = vec!["word ".repeat(80)];
        let html = render_html(&b);
        let cards = articles(&html);
        assert!(!cards[0].contains("<details"));
        assert!(cards[0].contains("<p class=\"text\">One. Two.</p>"));
        assert!(cards[1].contains("<summary>Read the text (8 sentences)</summary>"));
        assert!(cards[1].contains("Sentence 1. Sentence 2."));
        assert!(cards[2].contains("<details"));
    }

    #[test]
    fn odd_inputs_still_render() {
        let b = Storyboard {
            title: "  ".to_owned(),
            author: Some(" ".to_owned()),
            language: "fr\" onload=\"x".to_owned(),
            duration_ms: 0,
            chapters: vec![],
        };
        let html = render_html(&b);
        assert!(html.contains("<html lang=\"und\">"));
        assert!(html.contains("Untitled book"));
        assert!(!html.contains("class=\"byline\""));
        assert!(!html.contains("<nav"));
        assert_eq!(language_tag("pt_BR"), "pt-BR");
        assert_eq!(language_tag("en-"), "und");

        // Duration falls back to the end of the last scene.
        let mut b = board();
        b.duration_ms = 0;
        assert!(render_html(&b).contains("<li title=\"Total duration\">2:30 total</li>"));
    }

    #[test]
    fn alt_text_is_cut_on_a_char_boundary() {
        let alt = alt_text("Scène", &"é".repeat(400));
        assert_eq!(alt.chars().count(), ALT_MAX_CHARS);
        assert!(alt.ends_with('…'));
        assert_eq!(alt_text("", ""), "Scene illustration");
    }

    /// Elements are balanced and properly nested (text never carries a raw `<`).
    #[test]
    fn markup_is_well_nested() {
        const VOID: [&str; 4] = ["meta", "img", "br", "link"];
        let mut b = board();
        b.chapters[0].scenes[0].title = "<i>a</i> </b> <!--".to_owned();
        b.chapters[0].scenes[1].sentences = (1..=8).map(|i| format!("S {i} <")).collect();
        let html = render_html(&b);
        let body = html.split("<!doctype html>").nth(1).unwrap();
        let mut stack: Vec<String> = Vec::new();
        for piece in body.split('<').skip(1) {
            let tag = piece.split('>').next().unwrap();
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "closing </{name}>");
            } else {
                let name: String = tag
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                assert!(!name.is_empty(), "odd tag <{tag}>");
                if !VOID.contains(&name.as_str()) {
                    stack.push(name);
                }
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    /// The CSP pins the inline script's SHA-256; editing one without the other would
    /// silently disable the script.
    #[test]
    fn csp_hash_matches_the_script() {
        let digest = sha256(SCRIPT.as_bytes());
        let expected = format!("'sha256-{}'", base64(&digest));
        assert!(CSP.contains(&expected), "expected {expected}");
    }

    fn sha256(data: &[u8]) -> [u8; 32] {
        const K: [u32; 64] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2,
        ];
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
        for block in msg.chunks(64) {
            let mut w = [0u32; 64];
            for (i, word) in block.chunks(4).enumerate() {
                w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
            for i in 0..64 {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                hh = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(t2);
            }
            for (slot, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *slot = slot.wrapping_add(v);
            }
        }
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_mut(4).zip(h) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn base64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn sha256_and_base64_self_check() {
        // Known vectors, so the CSP check above checks something real.
        assert_eq!(
            base64(&sha256(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            base64(&sha256(b"x")),
            "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
