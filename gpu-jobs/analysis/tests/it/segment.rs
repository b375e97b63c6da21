//! Scene segmentation on the chapters of Alice.

use visiobook_analysis::segment::{
    MAX_SCENE_WORDS, MIN_SCENE_WORDS, lexical_vectors, scene_starts,
};

/// One chapter as the segmenter sees it: paragraph texts (hard-wrapped lines joined), word
/// counts, and which paragraphs are `* * *` break marks.
#[derive(Debug)]
pub struct Chapter {
    pub title: String,
    pub texts: Vec<String>,
    pub words: Vec<usize>,
    pub breaks: Vec<bool>,
}

/// The twelve chapters of the Alice fixture: split at `CHAPTER` lines, paragraphs at blank
/// lines; the title line after the heading is dropped.
pub fn alice_chapters() -> Vec<Chapter> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingestion/tests/fixtures/alice.txt");
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
    let mut chapters: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.trim().starts_with("CHAPTER ") {
            chapters.push((line.trim().to_owned(), vec![String::new()]));
        } else if let Some((_, paragraphs)) = chapters.last_mut() {
            let current = paragraphs.last_mut().unwrap();
            if line.trim().is_empty() {
                if !current.is_empty() {
                    paragraphs.push(String::new());
                }
            } else {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(line.trim());
            }
        }
    }
    chapters
        .into_iter()
        .map(|(title, mut texts)| {
            texts.retain(|text| !text.is_empty() && text != "THE END" && text != "\u{1a}");
            texts.remove(0);
            let breaks = texts
                .iter()
                .map(|t| t.chars().all(|c| c == '*' || c.is_whitespace()))
                .collect();
            let words = texts
                .iter()
                .map(|t| {
                    t.split_whitespace()
                        .filter(|w| w.chars().any(char::is_alphanumeric))
                        .count()
                })
                .collect();
            Chapter {
                title,
                texts,
                words,
                breaks,
            }
        })
        .collect()
}

/// The common checks: starts at 0, strictly increasing, 2..=15 scenes, no start on a break
/// mark's successor inside a run of marks, and cut-made scenes within the bounds.
pub fn check_chapter(chapter: &Chapter, starts: &[usize], method: &str) {
    let scenes = starts.len();
    assert!(
        (2..=15).contains(&scenes),
        "{method}, {}: {scenes} scenes at {starts:?}",
        chapter.title
    );
    assert_eq!(starts[0], 0);
    assert!(
        starts.windows(2).all(|pair| pair[0] < pair[1]),
        "{starts:?}"
    );
    assert!(starts.iter().all(|&start| start < chapter.words.len()));
    for (index, &start) in starts.iter().enumerate() {
        let end = starts
            .get(index + 1)
            .copied()
            .unwrap_or(chapter.words.len());
        let words: usize = chapter.words[start..end].iter().sum();
        let bounded_by_breaks =
            chapter.breaks[start] || chapter.breaks.get(end).copied().unwrap_or(true);
        assert!(
            words >= MIN_SCENE_WORDS || bounded_by_breaks,
            "{method}, {}: scene {start}..{end} has {words} words",
            chapter.title
        );
        assert!(
            words <= MAX_SCENE_WORDS || end - start == 1,
            "{method}, {}: scene {start}..{end} has {words} words",
            chapter.title
        );
    }
    // Every run of explicit breaks with text before and after it starts a scene at its first mark.
    for (index, &is_break) in chapter.breaks.iter().enumerate() {
        let text_follows = chapter.breaks[index..].iter().any(|&b| !b);
        if is_break && index > 0 && !chapter.breaks[index - 1] && text_follows {
            assert!(
                starts.contains(&index),
                "{method}, {}: break at {index} not in {starts:?}",
                chapter.title
            );
        }
    }
}

#[test]
fn alice_chapters_are_all_there() {
    let chapters = alice_chapters();
    assert_eq!(chapters.len(), 12);
    for chapter in &chapters {
        let total: usize = chapter.words.iter().sum();
        assert!(
            (1_000..=3_500).contains(&total),
            "{}: {total} words",
            chapter.title
        );
    }
    let breaks: usize = chapters
        .iter()
        .map(|c| c.breaks.iter().filter(|&&b| b).count())
        .sum();
    assert_eq!(breaks, 9, "three rows of stars, three times");
}

#[test]
fn every_alice_chapter_gets_two_to_fifteen_scenes_without_vectors() {
    for chapter in alice_chapters() {
        let starts = scene_starts(&chapter.words, &chapter.breaks, None);
        check_chapter(&chapter, &starts, "lengths only");
    }
}

#[test]
fn every_alice_chapter_gets_two_to_fifteen_scenes_with_word_frequencies() {
    for chapter in alice_chapters() {
        let texts: Vec<&str> = chapter.texts.iter().map(String::as_str).collect();
        let vectors = lexical_vectors(&texts);
        let starts = scene_starts(&chapter.words, &chapter.breaks, Some(&vectors));
        check_chapter(&chapter, &starts, "word frequencies");
    }
}

#[test]
fn explicit_breaks_always_split_even_small_scenes() {
    let words = [40, 30, 0, 0, 25, 10];
    let breaks = [false, false, true, true, false, false];
    assert_eq!(scene_starts(&words, &breaks, None), vec![0, 2]);
    // Marks at the very start or end start nothing.
    let breaks = [true, false, false, false, false, true];
    assert_eq!(scene_starts(&words, &breaks, None), vec![0]);
    // A mark after a long passage splits there and nowhere near it.
    let words = [200, 200, 0, 200, 200];
    let breaks = [false, false, true, false, false];
    assert_eq!(scene_starts(&words, &breaks, None), vec![0, 2]);
}

#[test]
fn tiny_chapters_give_one_scene() {
    assert_eq!(scene_starts(&[], &[], None), vec![0]);
    assert_eq!(scene_starts(&[12], &[false], None), vec![0]);
    let words = [50, 60, 40, 70];
    let breaks = [false; 4];
    assert_eq!(scene_starts(&words, &breaks, None), vec![0]);
    let vectors = lexical_vectors(&["rabbit hole", "rabbit watch", "tea party", "tea hatter"]);
    assert_eq!(scene_starts(&words, &breaks, Some(&vectors)), vec![0]);
}

#[test]
fn a_topic_shift_is_found_where_the_vocabulary_changes() {
    let first = "The rabbit ran down the rabbit hole with his watch and his gloves, late for the duchess, the rabbit said.";
    let second = "The hatter poured the tea at the party table while the dormouse slept beside the teapot and the hare.";
    let mut texts = vec![first; 8];
    texts.extend([second; 8]);
    let words: Vec<usize> = texts.iter().map(|t| t.split_whitespace().count()).collect();
    let breaks = vec![false; texts.len()];
    let vectors = lexical_vectors(&texts);
    assert_eq!(scene_starts(&words, &breaks, Some(&vectors)), vec![0, 8]);
}

#[test]
fn one_overlong_scene_is_split_and_embeddings_of_the_wrong_count_are_ignored() {
    let words = vec![100; 30];
    let breaks = vec![false; 30];
    let starts = scene_starts(&words, &breaks, Some(&[vec![1.0, 0.0]]));
    assert_eq!(starts, vec![0, 6, 12, 18, 24]);
    // The same vector everywhere: no valleys, so only the length rule cuts, near the middles.
    let same = vec![vec![1.0_f32, 0.0]; 30];
    let starts = scene_starts(&words, &breaks, Some(&same));
    assert!(starts.len() >= 3, "{starts:?}");
    for pair in starts.windows(2) {
        let size: usize = words[pair[0]..pair[1]].iter().sum();
        assert!(
            (MIN_SCENE_WORDS..=MAX_SCENE_WORDS).contains(&size),
            "{starts:?}"
        );
    }
}
