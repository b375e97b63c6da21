//! Speaker attribution on real text: Alice's tea party, hand-labelled, and a French exchange.

use visiobook_analysis::dialogue::{CastIndex, Conversation, attribute};
use visiobook_domain::NarrationLine;
use visiobook_domain::analysis::{Gender, NARRATOR};

/// The agreement chapter 7 must reach with its labels.
const MIN_AGREEMENT: f64 = 0.8;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The tea party's guests, and two French characters.
struct Cast;

impl CastIndex for Cast {
    fn resolve(&self, mention: &str) -> Option<String> {
        let lower = mention.trim().to_lowercase();
        let key = lower.strip_prefix("the ").unwrap_or(&lower);
        let id = match key {
            "alice" => "alice",
            "hatter" => "hatter",
            "march hare" => "march-hare",
            "dormouse" => "dormouse",
            "marie" => "marie",
            "pierre" => "pierre",
            _ => return None,
        };
        Some(id.to_owned())
    }

    fn gender(&self, id: &str) -> Option<Gender> {
        match id {
            "alice" | "marie" => Some(Gender::Female),
            "hatter" | "march-hare" | "dormouse" | "pierre" => Some(Gender::Male),
            _ => None,
        }
    }
}

/// Paragraphs split at blank lines, their lines joined with spaces.
fn paragraphs(text: &str) -> Vec<String> {
    let mut paragraphs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines().chain([""]) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line.trim());
        }
    }
    paragraphs
}

/// The paragraphs of chapter VII, after its title, read as the ingestion reads Gutenberg text
/// (CRLF to LF, `` ` `` to `‘`).
fn alice_chapter_7() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingestion/tests/fixtures/alice.txt");
    let raw = std::fs::read_to_string(path).unwrap();
    let text = raw.replace("\r\n", "\n").replace('`', "\u{2018}");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "CHAPTER VII")
        .unwrap();
    let end = lines
        .iter()
        .position(|l| l.trim() == "CHAPTER VIII")
        .unwrap();
    let mut chapter = paragraphs(&lines[start + 1..end].join("\n"));
    assert_eq!(chapter.remove(0), "A Mad Tea-Party");
    chapter
}

fn attribute_all(paragraphs: &[String], language: &str) -> Vec<Vec<NarrationLine>> {
    let mut state = Conversation::new();
    state.reset();
    paragraphs
        .iter()
        .enumerate()
        .map(|(i, text)| attribute(&format!("c7-p{}", i + 1), text, language, &Cast, &mut state))
        .collect()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs of letters and digits.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect()
}

#[test]
fn alice_chapter_7_speakers_agree_with_the_labels() {
    let chapter = alice_chapter_7();
    let lines: Vec<NarrationLine> = attribute_all(&chapter, "en").concat();
    let texts: Vec<String> = lines.iter().map(|line| collapse(&line.text)).collect();
    let whole = collapse(&chapter.join(" "));
    let labels = fixture("alice-chapter-7-dialogue.tsv");
    let labels: Vec<(&str, &str)> = labels
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .skip(1)
        .map(|line| line.split_once('\t').unwrap())
        .collect();
    assert!(labels.len() >= 40, "{} labels", labels.len());

    let mut cursor = (0, 0);
    let mut correct = 0;
    let mut misses = Vec::new();
    for &(snippet, expected) in &labels {
        assert!(
            whole.contains(snippet),
            "label {snippet:?} is not in chapter VII"
        );
        let found = (cursor.0..texts.len()).find_map(|i| {
            let from = if i == cursor.0 { cursor.1 } else { 0 };
            texts[i][from..].find(snippet).map(|at| (i, from + at))
        });
        match found {
            Some((i, at)) => {
                cursor = (i, at + snippet.len());
                if lines[i].speaker == expected {
                    correct += 1;
                } else {
                    misses.push(format!(
                        "{snippet:?}: {} (expected {expected})",
                        lines[i].speaker
                    ));
                }
            }
            None => misses.push(format!("{snippet:?}: not found whole in one line")),
        }
    }
    let agreement = f64::from(correct) / labels.len() as f64;
    eprintln!(
        "chapter 7 speakers: {correct}/{} labelled quotes right ({:.1}%)",
        labels.len(),
        agreement * 100.0
    );
    for miss in &misses {
        eprintln!("  miss {miss}");
    }
    assert!(agreement >= MIN_AGREEMENT, "agreement {agreement:.3}");
}

#[test]
fn alice_chapter_7_lines_keep_every_word_once_and_in_order() {
    let chapter = alice_chapter_7();
    for (text, lines) in chapter.iter().zip(attribute_all(&chapter, "en")) {
        let joined = lines
            .iter()
            .map(|line| line.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(words(&joined), words(text), "{text}");
        for line in &lines {
            assert!(line.text.chars().any(char::is_alphanumeric), "{line:?}");
            assert_eq!(line.text, line.text.trim(), "{line:?}");
            assert!(
                line.paragraph_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("c7-p"))
            );
        }
    }
}

#[test]
fn french_dialogue_gets_every_speaker_right() {
    let text = fixture("french-dialogue.txt");
    let paragraphs = paragraphs(&text);
    let got: Vec<Vec<(String, String)>> = attribute_all(&paragraphs, "fr")
        .into_iter()
        .map(|lines| {
            lines
                .into_iter()
                .map(|line| (line.speaker, line.text))
                .collect()
        })
        .collect();
    let n = NARRATOR;
    let nbsp = "\u{a0}";
    let thin = "\u{202f}";
    let expected: Vec<Vec<(&str, String)>> = vec![
        vec![(n, paragraphs[0].clone())],
        vec![
            ("marie", format!("Tu as vu l’heure{thin}?")),
            (n, "demanda Marie.".into()),
        ],
        vec![
            (n, "Pierre leva les yeux.".into()),
            ("pierre", "Il est à peine huit heures".into()),
            (n, "répondit-il en souriant.".into()),
        ],
        vec![
            ("marie", "Huit heures et demie,".into()),
            (n, "dit-elle.".into()),
            ("marie", "Le marché ferme à midi.".into()),
        ],
        vec![("pierre", "Alors nous avons le temps.".into())],
        vec![
            ("marie", "Pas si tu continues à lire,".into()),
            (n, "répondit Marie.".into()),
        ],
        vec![(n, "Il replia le journal et se leva.".into())],
        vec![
            ("pierre", "Bon,".into()),
            (n, "dit Pierre,".into()),
            ("pierre", "je prends mon manteau.".into()),
        ],
        vec![("marie", format!("Et n’oublie pas la liste{nbsp}!"))],
        vec![
            ("pierre", "Je n’oublie jamais rien,".into()),
            (n, "fit-il.".into()),
            ("marie", "Tu as oublié le pain hier,".into()),
            (n, "s’écria Marie.".into()),
        ],
        vec![
            (n, "Pierre haussa les épaules.".into()),
            ("pierre", "Le pain, c’était ta liste.".into()),
        ],
        vec![
            ("marie", format!("Ma liste{nbsp}?")),
            (n, "s’étonna-t-elle.".into()),
        ],
        vec![("pierre", format!("Tu as pris les clés{nbsp}?"))],
        vec![("marie", "Oui, dans mon sac.".into())],
        vec![(n, "Ils sortirent en riant.".into())],
    ];
    assert_eq!(got.len(), expected.len());
    for (i, (got, expected)) in got.iter().zip(&expected).enumerate() {
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(speaker, text)| ((*speaker).to_owned(), text.clone()))
            .collect();
        assert_eq!(got, &expected, "paragraph {}: {}", i + 1, paragraphs[i]);
    }
}
