//! Subtitles and chapter metadata written from the timeline: SRT and WebVTT with a cue per
//! sentence, a word-level WebVTT (inline timestamps, for karaoke-style highlighting), and the
//! ffmpeg metadata file that carries chapter marks into MP4, WebM and M4B.

use std::fmt::Write as _;

use visiobook_domain::timeline::{ChapterMark, Cue};

/// `hh:mm:ss,mmm` (SRT) or `hh:mm:ss.mmm` (WebVTT).
fn clock(ms: u64, separator: char) -> String {
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    format!("{hours:02}:{minutes:02}:{seconds:02}{separator}{millis:03}")
}

/// Cue text on at most two lines of about 42 characters (the usual subtitle width).
fn wrap(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let length = text.chars().count();
    if length <= 42 {
        return text;
    }
    // Break at the space nearest the middle.
    let middle = length / 2;
    let mut best: Option<(usize, usize)> = None;
    for (index, (byte, c)) in text.char_indices().enumerate() {
        if c == ' ' {
            let distance = index.abs_diff(middle);
            if best.is_none_or(|(_, d)| distance < d) {
                best = Some((byte, distance));
            }
        }
    }
    match best {
        Some((byte, _)) => format!("{}\n{}", &text[..byte], &text[byte + 1..]),
        None => text,
    }
}

/// WebVTT cue text: `&`, `<` and `>` escaped, and no blank line or `-->` inside.
fn vtt_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("-->", "→")
}

/// Cues end before the next starts and never end before they begin.
fn cue_times(cues: &[Cue]) -> Vec<(u64, u64)> {
    cues.iter()
        .enumerate()
        .map(|(index, cue)| {
            let next = cues.get(index + 1).map_or(u64::MAX, |next| next.start_ms);
            let end = cue.end_ms.min(next).max(cue.start_ms + 1);
            (cue.start_ms, end)
        })
        .collect()
}

/// SubRip: numbered cues, `,` before milliseconds.
pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (index, (cue, (start, end))) in cues.iter().zip(cue_times(cues)).enumerate() {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            index + 1,
            clock(start, ','),
            clock(end, ','),
            wrap(&cue.text).replace("\n\n", "\n")
        );
    }
    out
}

/// WebVTT with a cue per sentence, the speaker as a voice span when it is a character.
pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (cue, (start, end)) in cues.iter().zip(cue_times(cues)) {
        let text = vtt_text(&wrap(&cue.text));
        let text = if cue.speaker == visiobook_domain::analysis::NARRATOR {
            text
        } else {
            format!("<v {}>{text}", vtt_text(&cue.speaker))
        };
        let _ = write!(
            out,
            "{} --> {}\n{text}\n\n",
            clock(start, '.'),
            clock(end, '.')
        );
    }
    out
}

/// WebVTT with a timestamp tag before every word of a sentence cue, so players that support
/// it (and the read-along) highlight each word as it is spoken.
pub fn words_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (cue, (start, end)) in cues.iter().zip(cue_times(cues)) {
        let mut text = String::new();
        for (index, word) in cue.words.iter().enumerate() {
            // The first word starts with the cue; timestamps must lie strictly inside it.
            if index > 0 && word.start_ms > start && word.start_ms < end {
                let _ = write!(text, "<{}>", clock(word.start_ms, '.'));
            }
            if index > 0 {
                text.push(' ');
            }
            let _ = write!(text, "<c>{}</c>", vtt_text(&word.text));
        }
        if cue.words.is_empty() {
            text = vtt_text(&cue.text);
        }
        let _ = write!(
            out,
            "{} --> {}\n{text}\n\n",
            clock(start, '.'),
            clock(end, '.')
        );
    }
    out
}

/// ffmpeg's metadata format, with the title and one `[CHAPTER]` per chapter mark.
pub fn ffmetadata(title: &str, author: Option<&str>, chapters: &[ChapterMark]) -> String {
    let escape = |text: &str| {
        let mut escaped = String::with_capacity(text.len());
        for c in text.chars() {
            if matches!(c, '=' | ';' | '#' | '\\' | '\n') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped
    };
    let mut out = format!(";FFMETADATA1\ntitle={}\n", escape(title));
    if let Some(author) = author {
        let _ = writeln!(out, "artist={}", escape(author));
    }
    for chapter in chapters {
        let _ = write!(
            out,
            "\n[CHAPTER]\nTIMEBASE=1/1000\nSTART={}\nEND={}\ntitle={}\n",
            chapter.start_ms,
            chapter.end_ms,
            escape(&chapter.title)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use visiobook_domain::timeline::WordCue;

    fn cue(text: &str, start_ms: u64, end_ms: u64, speaker: &str) -> Cue {
        let words: Vec<&str> = text.split_whitespace().collect();
        let step = (end_ms - start_ms) / words.len().max(1) as u64;
        Cue {
            scene_id: "c1-s1".into(),
            chapter_ordinal: 1,
            paragraph: 0,
            speaker: speaker.into(),
            text: text.into(),
            start_ms,
            end_ms,
            words: words
                .iter()
                .enumerate()
                .map(|(i, w)| WordCue {
                    text: (*w).into(),
                    start_ms: start_ms + step * i as u64,
                    end_ms: start_ms + step * (i as u64 + 1),
                })
                .collect(),
        }
    }

    #[test]
    fn srt_and_vtt_have_numbered_escaped_cues() {
        let cues = [
            cue("Alice & the <Rabbit>.", 0, 1_500, "narrator"),
            cue("Oh dear! Oh dear!", 1_400, 3_723_456, "white-rabbit"),
        ];
        let srt = srt(&cues);
        assert!(srt.starts_with("1\n00:00:00,000 --> 00:00:01,400\nAlice & the <Rabbit>.\n\n2\n"));
        assert!(srt.contains("01:02:03,456"));
        let vtt = vtt(&cues);
        assert!(vtt.starts_with(
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.400\nAlice &amp; the &lt;Rabbit&gt;.\n"
        ));
        assert!(vtt.contains("<v white-rabbit>Oh dear! Oh dear!"));
    }

    #[test]
    fn word_cues_carry_inline_timestamps_inside_the_cue() {
        let vtt = words_vtt(&[cue("one two three", 1_000, 4_000, "narrator")]);
        assert!(vtt.contains(
            "00:00:01.000 --> 00:00:04.000\n<c>one</c><00:00:02.000> <c>two</c><00:00:03.000> <c>three</c>"
        ), "{vtt}");
    }

    #[test]
    fn long_cues_wrap_on_two_lines() {
        let wrapped =
            wrap("Alice was beginning to get very tired of sitting by her sister on the bank");
        assert_eq!(wrapped.lines().count(), 2);
        assert!(wrapped.lines().all(|line| line.chars().count() <= 42));
    }

    #[test]
    fn chapters_are_escaped_in_ffmetadata() {
        let text = ffmetadata(
            "A=B; #1",
            Some("Lewis Carroll"),
            &[ChapterMark {
                ordinal: 1,
                title: "Down the Rabbit-Hole".into(),
                start_ms: 0,
                end_ms: 5_000,
            }],
        );
        assert!(text.starts_with(";FFMETADATA1\ntitle=A\\=B\\; \\#1\nartist=Lewis Carroll\n"));
        assert!(text.contains(
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=5000\ntitle=Down the Rabbit-Hole\n"
        ));
    }
}
