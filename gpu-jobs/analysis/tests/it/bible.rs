//! The story bible on real books.

use visiobook_domain::{Analysis, Book, Matter};
use visiobook_ingestion::{IngestOptions, ingest};

fn book(name: &str) -> Book {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingestion/tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    ingest(&bytes, &IngestOptions::default(), &|_, _| {}).unwrap()
}

fn names(analysis: &Analysis, top: usize) -> Vec<String> {
    analysis
        .characters
        .iter()
        .take(top)
        .map(|c| c.name.to_lowercase())
        .collect()
}

#[test]
fn alice_has_its_cast_with_merged_aliases_and_two_to_fifteen_scenes_a_chapter() {
    let book = book("alice.txt");
    let analysis = visiobook_analysis::analyse(&book);
    let top = names(&analysis, 20);
    let expected = [
        "alice",
        "white rabbit",
        "queen",
        "king",
        "hatter",
        "duchess",
        "cheshire cat",
        "mock turtle",
        "gryphon",
        "caterpillar",
        "dormouse",
        "march hare",
    ];
    let found: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|name| top.iter().any(|t| t.ends_with(name)))
        .collect();
    assert!(found.len() >= 10, "found {found:?} in the top 20: {top:?}");

    let rabbit = analysis
        .characters
        .iter()
        .find(|c| c.name.ends_with("White Rabbit"))
        .unwrap();
    assert!(
        rabbit
            .aliases
            .iter()
            .any(|a| a.ends_with("Rabbit") && !a.contains("White")),
        "{:?}",
        rabbit.aliases
    );
    assert!(
        analysis
            .characters
            .iter()
            .all(|c| !c.name.eq_ignore_ascii_case("the rabbit")),
        "the Rabbit is merged"
    );
    let cat = analysis
        .characters
        .iter()
        .find(|c| c.name.ends_with("Cheshire Cat"))
        .unwrap();
    assert!(
        cat.aliases.iter().any(|a| a.ends_with("Cat")),
        "{:?}",
        cat.aliases
    );

    let alice = &analysis.characters[0];
    assert_eq!(alice.name, "Alice");
    assert_eq!(
        alice.gender,
        Some(visiobook_domain::analysis::Gender::Female)
    );
    assert!(alice.mentions > 300);

    // Every body chapter: 2..=15 scenes; every paragraph in exactly one scene, in order.
    for chapter in book.chapters.iter().filter(|c| c.matter == Matter::Body) {
        let scenes: Vec<_> = analysis
            .scenes
            .iter()
            .filter(|s| s.chapter_ordinal == chapter.ordinal)
            .collect();
        assert!(
            (2..=15).contains(&scenes.len()),
            "{}: {} scenes",
            chapter.title,
            scenes.len()
        );
        let covered: Vec<&str> = scenes
            .iter()
            .flat_map(|s| s.paragraph_ids.iter().map(String::as_str))
            .collect();
        let expected: Vec<&str> = chapter
            .paragraphs
            .iter()
            .filter(|p| p.word_count > 0)
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(covered, expected, "{}", chapter.title);
    }
    for scene in &analysis.scenes {
        assert!(
            !scene.summary.is_empty()
                && scene.summary.chars().count() <= visiobook_analysis::MAX_SUMMARY_CHARS
        );
        assert!(!scene.visual_brief.palette.is_empty());
        assert!((-1.0..=1.0).contains(&scene.mood.valence));
        assert!(
            scene
                .narration
                .iter()
                .all(|line| !line.text.trim().is_empty())
        );
    }
    assert_eq!(analysis.chapters.len(), 12);
    assert!(!analysis.summary.is_empty());
    // Distinct looks and voices for the main cast.
    let colours: std::collections::HashSet<&str> = analysis
        .characters
        .iter()
        .take(10)
        .map(|c| c.visual.color.as_str())
        .collect();
    assert_eq!(colours.len(), 10);
}

#[test]
fn metamorphosis_finds_gregor_grete_and_the_parents() {
    let analysis = visiobook_analysis::analyse(&book("metamorphosis.epub"));
    let all = names(&analysis, 40);
    for wanted in ["gregor", "grete", "father", "mother"] {
        assert!(
            all.iter().any(|name| name.contains(wanted)),
            "{wanted} missing from {all:?}"
        );
    }
    let gregor = analysis
        .characters
        .iter()
        .find(|c| c.name.starts_with("Gregor"))
        .unwrap();
    assert_eq!(
        gregor.gender,
        Some(visiobook_domain::analysis::Gender::Male)
    );
}

#[test]
fn french_names_and_moods() {
    let text = "CHAPITRE PREMIER\n\nMarie entra dans le jardin. Elle était heureuse et elle souriait au soleil.\n\n« Bonjour, Pierre ! » dit Marie.\n\n« Bonjour, Marie », répondit Pierre. Il riait.\n\nMarie et Pierre marchèrent dans le jardin jusqu'au soir. Pierre parla du château.\n\nCHAPITRE DEUX\n\nLa nuit tomba sur le jardin. Marie avait peur ; Pierre cria dans le noir, terrifié.\n\n« Où es-tu ? » demanda Marie.\n\nPierre ne répondit pas. Marie pleurait, seule dans le froid et le noir.";
    let book = ingest(text.as_bytes(), &IngestOptions::default(), &|_, _| {}).unwrap();
    assert_eq!(book.language, "fr");
    let analysis = visiobook_analysis::analyse(&book);
    let cast = names(&analysis, 5);
    assert!(cast.contains(&"marie".to_owned()), "{cast:?}");
    assert!(cast.contains(&"pierre".to_owned()), "{cast:?}");
    let speakers: Vec<&str> = analysis
        .scenes
        .iter()
        .flat_map(|s| s.narration.iter())
        .filter(|line| line.speaker != "narrator")
        .map(|line| line.speaker.as_str())
        .collect();
    assert!(
        speakers.contains(&"marie") && speakers.contains(&"pierre"),
        "{speakers:?}"
    );
    assert!(analysis.places.iter().any(|p| p.name == "jardin"));
    let last = analysis.scenes.last().unwrap();
    assert!(
        matches!(last.mood.label.as_str(), "sad" | "tense"),
        "{:?}",
        last.mood
    );
}

#[test]
fn the_analysis_is_deterministic_and_warns_without_embeddings() {
    let book = book("alice.txt");
    let first = visiobook_analysis::analyse(&book);
    let second = visiobook_analysis::analyse(&book);
    assert_eq!(first, second);
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.code == "embeddings_unavailable")
    );
    assert_eq!(first.engine, "local");
}

#[test]
fn overrides_rename_merge_revoice_and_add_pronunciations() {
    use visiobook_analysis::overrides::{Merge, StoryOverrides, apply};
    let analysis = visiobook_analysis::analyse(&book("alice.txt"));
    let mut overrides = StoryOverrides::default();
    overrides.merges.push(Merge {
        into: "white-rabbit".into(),
        from: vec!["mouse".into()],
    });
    overrides
        .renames
        .insert("hatter".into(), "the Mad Hatter".into());
    overrides.voices.insert(
        "alice".into(),
        visiobook_domain::analysis::VoiceAssignment {
            voice: "female-7".into(),
            pitch: 10,
            rate: 1.1,
        },
    );
    overrides
        .pronunciations
        .push(visiobook_domain::analysis::Pronunciation {
            term: "Dinah".into(),
            say_as: "DYE-nuh".into(),
        });
    let changed = apply(analysis.clone(), &overrides).unwrap();
    assert!(changed.characters.iter().all(|c| c.id != "mouse"));
    let rabbit = changed
        .characters
        .iter()
        .find(|c| c.id == "white-rabbit")
        .unwrap();
    assert!(rabbit.aliases.iter().any(|a| a.contains("Mouse")));
    let speakers: Vec<&str> = changed
        .scenes
        .iter()
        .flat_map(|s| &s.narration)
        .map(|l| l.speaker.as_str())
        .collect();
    assert!(!speakers.contains(&"mouse"));
    let hatter = changed
        .characters
        .iter()
        .find(|c| c.id == "hatter")
        .unwrap();
    assert_eq!(hatter.name, "the Mad Hatter");
    assert!(hatter.aliases.contains(&"the Hatter".to_owned()));
    assert_eq!(
        changed
            .characters
            .iter()
            .find(|c| c.id == "alice")
            .unwrap()
            .voice
            .voice,
        "female-7"
    );
    assert!(
        changed
            .pronunciations
            .iter()
            .any(|p| p.term == "Dinah" && p.say_as == "DYE-nuh")
    );

    let mut bad = StoryOverrides::default();
    bad.renames.insert("nobody".into(), "X".into());
    bad.voices.insert(
        "alice".into(),
        visiobook_domain::analysis::VoiceAssignment {
            voice: "v".into(),
            pitch: 90,
            rate: 1.0,
        },
    );
    let error = apply(analysis, &bad).unwrap_err();
    assert_eq!(error.0.len(), 2, "{error}");
}
