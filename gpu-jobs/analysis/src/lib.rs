//! Analysis: `book.v1` to `analysis.v1`.
//!
//! This first version cuts each chapter into scenes at explicit breaks (`* * *`-style
//! paragraphs) and otherwise at paragraph boundaries once a scene reaches a target length,
//! summarises each scene by its first sentence, and writes a narration script where the
//! narrator reads every paragraph (the chapter title opens the chapter's first scene).
//! Semantic boundaries, the story bible and speaker attribution build on this shape.

use visiobook_domain::analysis::ANALYSIS_SCHEMA;
use visiobook_domain::{Analysis, Book, Matter, NarrationLine, Scene, word_count};

/// Scene length the splitter aims for, in words.
pub const TARGET_SCENE_WORDS: usize = 320;
/// Longest summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 160;

/// Analyses a book.
pub fn analyse(book: &Book) -> Analysis {
    let mut scenes = Vec::new();
    // Front and back matter (title pages, contents, licences) are kept in the book but are not
    // story: they are not narrated.
    for chapter in book
        .chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
    {
        let mut groups: Vec<Vec<&visiobook_domain::Paragraph>> = vec![Vec::new()];
        let mut words_in_group = 0;
        for paragraph in &chapter.paragraphs {
            let is_break = is_scene_break(&paragraph.text);
            let current_is_full = words_in_group >= TARGET_SCENE_WORDS;
            if (is_break || current_is_full) && groups.last().is_some_and(|group| !group.is_empty())
            {
                groups.push(Vec::new());
                words_in_group = 0;
            }
            if is_break {
                continue;
            }
            words_in_group += paragraph.word_count;
            if let Some(group) = groups.last_mut() {
                group.push(paragraph);
            }
        }
        // A very short tail reads better as part of the scene before it.
        if groups.len() > 1
            && groups.last().is_some_and(|tail| {
                tail.iter().map(|p| p.word_count).sum::<usize>() < TARGET_SCENE_WORDS / 4
            })
            && let Some(tail) = groups.pop()
            && let Some(previous) = groups.last_mut()
        {
            previous.extend(tail);
        }
        for (index, group) in groups
            .into_iter()
            .filter(|group| !group.is_empty())
            .enumerate()
        {
            let ordinal = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let mut narration = Vec::new();
            if index == 0 {
                narration.push(NarrationLine {
                    speaker: "narrator".into(),
                    text: format!("{}.", chapter.title.trim_end_matches('.')),
                });
            }
            narration.extend(group.iter().map(|paragraph| NarrationLine {
                speaker: "narrator".into(),
                text: paragraph.text.clone(),
            }));
            scenes.push(Scene {
                id: format!("c{}-s{ordinal}", chapter.ordinal),
                chapter_ordinal: chapter.ordinal,
                chapter_title: chapter.title.clone(),
                ordinal_in_chapter: ordinal,
                paragraph_ids: group.iter().map(|p| p.id.clone()).collect(),
                summary: summary(group.first().map_or("", |p| p.text.as_str())),
                word_count: group.iter().map(|p| word_count(&p.text)).sum(),
                narration,
            });
        }
    }
    Analysis {
        schema: ANALYSIS_SCHEMA.to_owned(),
        title: book.title.clone(),
        language: book.language.clone(),
        scenes,
    }
}

/// A paragraph made only of break marks (`* * *`, `#`, `~~~`).
fn is_scene_break(text: &str) -> bool {
    !text.is_empty() && word_count(text) == 0
}

/// The first sentence, cut at a word boundary to [`MAX_SUMMARY_CHARS`].
pub fn summary(text: &str) -> String {
    let sentence_end = text
        .char_indices()
        .find(|&(index, c)| {
            matches!(c, '.' | '!' | '?')
                && text[index + c.len_utf8()..].starts_with(char::is_whitespace)
                && index > 20
        })
        .map_or(text.len(), |(index, c)| index + c.len_utf8());
    let sentence = &text[..sentence_end];
    if sentence.chars().count() <= MAX_SUMMARY_CHARS {
        return sentence.to_owned();
    }
    let mut cut = String::new();
    for word in sentence.split_whitespace() {
        if cut.chars().count() + word.chars().count() + 1 > MAX_SUMMARY_CHARS - 1 {
            break;
        }
        if !cut.is_empty() {
            cut.push(' ');
        }
        cut.push_str(word);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use visiobook_domain::{Chapter, Paragraph, SourceFormat};

    fn paragraph(chapter: u32, index: usize, words: usize) -> Paragraph {
        let text = std::iter::repeat_n("word", words)
            .collect::<Vec<_>>()
            .join(" ")
            + ".";
        Paragraph {
            id: format!("c{chapter}-p{index}"),
            word_count: words,
            text,
            char_offset: 0,
        }
    }

    fn book(chapters: Vec<Vec<Paragraph>>) -> Book {
        Book {
            schema: "visiobook.book.v1".into(),
            title: "T".into(),
            author: None,
            language: "en".into(),
            source_format: SourceFormat::Txt,
            word_count: 0,
            warnings: vec![],
            chapters: chapters
                .into_iter()
                .enumerate()
                .map(|(index, paragraphs)| Chapter {
                    ordinal: index as u32 + 1,
                    matter: Matter::Body,
                    title: format!("Chapter {}", index + 1),
                    word_count: paragraphs.iter().map(|p| p.word_count).sum(),
                    paragraphs,
                })
                .collect(),
        }
    }

    #[test]
    fn long_chapters_split_into_scenes_and_every_paragraph_is_kept_once() {
        let paragraphs: Vec<Paragraph> = (1..=10).map(|i| paragraph(1, i, 100)).collect();
        let analysis = analyse(&book(vec![paragraphs]));
        assert!(
            analysis.scenes.len() >= 3,
            "{} scenes",
            analysis.scenes.len()
        );
        let ids: Vec<String> = analysis
            .scenes
            .iter()
            .flat_map(|s| s.paragraph_ids.clone())
            .collect();
        let expected: Vec<String> = (1..=10).map(|i| format!("c1-p{i}")).collect();
        assert_eq!(ids, expected);
        assert_eq!(analysis.scenes[0].narration[0].text, "Chapter 1.");
        assert!(
            analysis.scenes[1]
                .narration
                .iter()
                .all(|line| line.text != "Chapter 1.")
        );
    }

    #[test]
    fn explicit_breaks_start_a_new_scene_and_are_not_narrated() {
        let mut paragraphs = vec![paragraph(1, 1, 50), paragraph(1, 2, 50)];
        paragraphs.push(Paragraph {
            id: "c1-p3".into(),
            text: "* * *".into(),
            word_count: 0,
            char_offset: 0,
        });
        paragraphs.push(paragraph(1, 4, 200));
        let analysis = analyse(&book(vec![paragraphs]));
        assert_eq!(analysis.scenes.len(), 2);
        assert_eq!(analysis.scenes[1].paragraph_ids, ["c1-p4"]);
        assert!(
            analysis
                .scenes
                .iter()
                .all(|s| s.narration.iter().all(|l| l.text != "* * *"))
        );
    }

    #[test]
    fn summaries_are_first_sentences_bounded() {
        assert_eq!(
            summary("Alice was tired of sitting by her sister. Then a rabbit came."),
            "Alice was tired of sitting by her sister."
        );
        let long = "word ".repeat(100);
        let cut = summary(&long);
        assert!(cut.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(cut.ends_with('…'));
    }
}
