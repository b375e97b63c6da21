//! Scene cards: a still per scene with the chapter title, the scene's opening line and the
//! book title, drawn by ffmpeg's `drawtext` with the bundled font.

use std::path::Path;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use visiobook_domain::analysis::Scene;

use crate::GenerationError;

/// The bundled font (DejaVu Serif; licence in `assets/DejaVu-LICENSE.txt`).
pub const BUNDLED_FONT: &[u8] = include_bytes!("../assets/DejaVuSerif.ttf");

/// Bumped whenever the drawing changes, so cached cards are redrawn.
pub const STYLE_VERSION: &str = "card-v1";

/// Deep, readable backgrounds; a chapter keeps its colour.
const PALETTE: [&str; 8] = [
    "0x1d2b3a", "0x2e1f3b", "0x1f3a2e", "0x3b2a1f", "0x283447", "0x3a1f2a", "0x23393b", "0x33301f",
];

/// Everything that determines a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStyle {
    pub width: u32,
    pub height: u32,
    pub background: &'static str,
    pub heading: String,
    pub body: String,
    pub footer: String,
}

impl CardStyle {
    pub fn for_scene(scene: &Scene, book_title: &str, width: u32, height: u32) -> Self {
        let background =
            PALETTE[(scene.chapter_ordinal as usize).saturating_sub(1) % PALETTE.len()];
        Self {
            width,
            height,
            background,
            heading: wrap(&scene.chapter_title, 34),
            body: wrap(&scene.summary, 52),
            footer: format!("{book_title}  ·  scene {}", scene.ordinal_in_chapter),
        }
    }

    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [
            &self.width.to_string(),
            &self.height.to_string(),
            self.background,
            &self.heading,
            &self.body,
            &self.footer,
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        format!("{:x}", hasher.finalize())
    }
}

/// Greedy word wrap to at most `width` characters per line (long words stay whole).
pub fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

/// Escapes a value for an ffmpeg filter option.
fn filter_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ':' | '\'' | ',' | ';' | '[' | ']' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Draws the card as PNG bytes.
pub async fn draw(
    ffmpeg: &Path,
    font: &Path,
    style: &CardStyle,
    work_dir: &Path,
) -> Result<Bytes, GenerationError> {
    let dir = tempfile::Builder::new()
        .prefix("card-")
        .tempdir_in(work_dir)?;
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).map(|()| path)
    };
    let heading = write("heading.txt", &style.heading)?;
    let body = write("body.txt", &style.body)?;
    let footer = write("footer.txt", &style.footer)?;
    let out = dir.path().join("card.png");
    let font = filter_escape(&font.display().to_string());
    let height = style.height;
    let text = |file: &Path, size: u32, y: &str, alpha: &str| {
        format!(
            "drawtext=fontfile={font}:textfile={}:expansion=none:fontcolor=white@{alpha}:fontsize={size}:line_spacing={}:x=(w-text_w)/2:y={y}",
            filter_escape(&file.display().to_string()),
            size / 3,
        )
    };
    let filter = [
        format!(
            "drawbox=x=iw/24:y=ih/14:w=iw-iw/12:h=ih-ih/7:color=white@0.35:t={}",
            (height / 180).max(1)
        ),
        text(&heading, height / 13, "h*0.20", "1.0"),
        text(&body, height / 24, "h*0.50", "0.92"),
        text(&footer, height / 34, "h*0.83", "0.7"),
    ]
    .join(",");
    let output = tokio::process::Command::new(ffmpeg)
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "color=c={}:s={}x{}",
            style.background, style.width, style.height
        ))
        .args(["-frames:v", "1", "-vf"])
        .arg(filter)
        .arg(&out)
        .output()
        .await
        .map_err(|error| GenerationError::Tool {
            tool: "ffmpeg",
            message: format!("{}: {error}", ffmpeg.display()),
        })?;
    if !output.status.success() {
        return Err(GenerationError::Tool {
            tool: "ffmpeg",
            message: format!(
                "card drawing failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(Bytes::from(tokio::fs::read(&out).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_and_bounds_lines() {
        assert_eq!(wrap("a bb ccc dddd", 6), "a bb\nccc\ndddd");
        assert_eq!(wrap("unbreakableword here", 5), "unbreakableword\nhere");
        assert_eq!(wrap("", 10), "");
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(filter_escape("/a:b'c,d"), "/a\\:b\\'c\\,d");
    }
}
