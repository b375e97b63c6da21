//! Validates generated read-along books with EPUBCheck, using real AAC audio
//! made by ffmpeg. Both `epubcheck` and `ffmpeg` must be on the PATH: the test
//! fails (it does not skip) when they are missing.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use visiobook_assembly::epub::{ReadAlong, ReadAlongChapter, ReadAlongSentence, write_epub};

/// A fresh scratch directory for one test.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("visiobook-epub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs a tool, failing the test with a clear message when it is not installed.
fn run_tool(tool: &str, args: &[&str]) -> Output {
    match Command::new(tool).args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{tool}` is not on the PATH: this test needs it (Debian package `{tool}`; \
             the project's test script installs it)"
        ),
        Err(e) => panic!("could not run `{tool}`: {e}"),
    }
}

/// Finds `name` in the directories of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs EPUBCheck on `file`. Debian's `/usr/bin/epubcheck` is a symlink to
/// the `.jar`, which only runs directly where binfmt_misc is set up (often
/// not in containers), so a jar is started with `java -jar` instead.
fn run_epubcheck(file: &Path) -> Output {
    let Some(epubcheck) = find_on_path("epubcheck") else {
        panic!(
            "`epubcheck` is not on the PATH: this test needs EPUBCheck \
             (Debian package `epubcheck`; the project's test script installs it)"
        );
    };
    let file = file.to_str().expect("utf-8 path");
    let head = std::fs::read(&epubcheck)
        .map(|b| b.get(..4).map(<[u8]>::to_vec))
        .unwrap_or_default();
    if head.as_deref() == Some(b"PK\x03\x04") {
        let jar = std::fs::canonicalize(&epubcheck).unwrap_or(epubcheck);
        run_tool("java", &["-jar", jar.to_str().expect("utf-8 path"), file])
    } else {
        run_tool(epubcheck.to_str().expect("utf-8 path"), &[file])
    }
}

fn ffmpeg(dir: &Path, lavfi: &str, extra: &[&str], out: &str) -> Vec<u8> {
    let path = dir.join(out);
    let path_str = path.to_str().expect("utf-8 path");
    let mut args = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        lavfi,
    ];
    args.extend_from_slice(extra);
    args.push(path_str);
    let output = run_tool("ffmpeg", &args);
    assert!(
        output.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&path).expect("read ffmpeg output")
}

/// Three seconds of a 440 Hz tone, AAC in MP4.
fn tone_m4a(dir: &Path, name: &str) -> Vec<u8> {
    ffmpeg(dir, "sine=frequency=440:duration=3", &["-c:a", "aac"], name)
}

/// A plain cover image; the format follows the extension of `name`.
fn cover_image(dir: &Path, name: &str) -> Vec<u8> {
    ffmpeg(dir, "color=c=0x3060a0:s=320x480", &["-frames:v", "1"], name)
}

fn s(text: &str, start_ms: u64, end_ms: u64) -> ReadAlongSentence {
    ReadAlongSentence {
        text: text.to_owned(),
        start_ms,
        end_ms,
    }
}

/// Writes the book, runs EPUBCheck on it and asserts it reports no error.
fn assert_epubcheck_passes(dir: &Path, book: &ReadAlong) {
    let bytes = write_epub(book).expect("write_epub");
    let file = dir.join("book.epub");
    std::fs::write(&file, &bytes).expect("write epub file");
    let output = run_epubcheck(&file);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("ERROR") || l.starts_with("FATAL"))
        .collect();
    // Shown with `cargo test -- --nocapture`; warnings are allowed.
    eprintln!("epubcheck {}:\n{report}", file.display());
    assert!(
        output.status.success() && problems.is_empty(),
        "epubcheck rejected {}:\n{report}",
        file.display()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn english_book_with_cover_passes_epubcheck() {
    let dir = scratch_dir("en");
    let audio = tone_m4a(&dir, "tone.m4a");
    let book = ReadAlong {
        identifier: "urn:visiobook:epubcheck-en".to_owned(),
        title: "The Lighthouse & the <Sea>".to_owned(),
        author: Some("Ada O'Brien".to_owned()),
        language: "en".to_owned(),
        modified: "2026-11-24T12:00:00Z".to_owned(),
        cover_png: Some(cover_image(&dir, "cover.png")),
        chapters: vec![
            ReadAlongChapter {
                title: "Chapter One: \"Arrival\"".to_owned(),
                audio_m4a: audio.clone(),
                audio_duration_ms: 3_000,
                paragraphs: vec![
                    vec![
                        s("The boat reached the island at dusk.", 0, 900),
                        s("Nobody was waiting on the pier.", 900, 1_700),
                    ],
                    vec![s("\"Hello?\" she called — no answer.", 1_800, 2_950)],
                ],
            },
            ReadAlongChapter {
                title: "Chapter Two: The Lamp".to_owned(),
                audio_m4a: audio,
                audio_duration_ms: 3_000,
                paragraphs: vec![vec![
                    s("The lamp still turned.", 0, 1_400),
                    s("Someone kept it lit & clean.", 1_500, 3_000),
                ]],
            },
        ],
    };
    assert_epubcheck_passes(&dir, &book);
}

#[test]
fn french_book_with_guillemets_passes_epubcheck() {
    let dir = scratch_dir("fr");
    let audio = tone_m4a(&dir, "tone.m4a");
    let book = ReadAlong {
        identifier: "urn:visiobook:epubcheck-fr".to_owned(),
        title: "L’Été « incroyable »".to_owned(),
        author: Some("Hélène Dupré".to_owned()),
        language: "fr".to_owned(),
        modified: "2026-11-24T12:00:00Z".to_owned(),
        cover_png: None,
        chapters: vec![
            ReadAlongChapter {
                title: "Chapitre premier — « Le départ »".to_owned(),
                audio_m4a: audio.clone(),
                audio_duration_ms: 3_000,
                paragraphs: vec![
                    vec![
                        s("« Où vas-tu ? » demanda-t-elle.", 0, 1_000),
                        s(
                            "Il répondit : « Là où l’été ne finit jamais. »",
                            1_000,
                            2_200,
                        ),
                    ],
                    vec![s("C’était déjà — hélas — trop tard…", 2_200, 3_000)],
                ],
            },
            ReadAlongChapter {
                title: "Chapitre 2 : « Ça & là »".to_owned(),
                audio_m4a: audio,
                audio_duration_ms: 3_000,
                paragraphs: vec![vec![
                    s("Ils marchèrent < vite > sous les châtaigniers.", 0, 1_500),
                    s("“Naïve”, pensa-t-il, ‘peut-être’.", 1_600, 2_999),
                ]],
            },
        ],
    };
    assert_epubcheck_passes(&dir, &book);
}

#[test]
fn title_only_chapter_and_jpeg_cover_pass_epubcheck() {
    let dir = scratch_dir("title-only");
    let audio = tone_m4a(&dir, "tone.m4a");
    let book = ReadAlong {
        identifier: "urn:visiobook:epubcheck-title-only".to_owned(),
        title: "Parts".to_owned(),
        author: None,
        language: "en-GB".to_owned(),
        modified: "2026-11-24T12:00:00Z".to_owned(),
        cover_png: Some(cover_image(&dir, "cover.jpg")),
        chapters: vec![
            ReadAlongChapter {
                title: "Part One".to_owned(),
                audio_m4a: Vec::new(),
                audio_duration_ms: 0,
                paragraphs: Vec::new(),
            },
            ReadAlongChapter {
                title: String::new(),
                audio_m4a: audio,
                audio_duration_ms: 3_000,
                paragraphs: vec![vec![s("Only sentence.", 500, 2_500)]],
            },
        ],
    };
    assert_epubcheck_passes(&dir, &book);
}
