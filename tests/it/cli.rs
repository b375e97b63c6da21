//! The binary's faces run as separate processes: package, render, ingest, analyze, job.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{assert_playable_video, fixture};

fn visiobook() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_visiobook"));
    command
        .env_remove("VISIOBOOK_DATA_DIR")
        .env("VISIOBOOK_LOG", "warn");
    command
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn package_writes_host_json_and_a_function_json_per_function() {
    let out = tempfile::tempdir().unwrap();
    // A folder left by an older package of a function that is now local-only goes away.
    std::fs::create_dir_all(out.path().join("ContentIngest")).unwrap();
    std::fs::write(out.path().join("ContentIngest/function.json"), "{}").unwrap();
    let status = visiobook()
        .arg("package")
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let host = read_json(&out.path().join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "visiobook"
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    assert_eq!(host["extensions"]["http"]["routePrefix"], "api");

    let registry = visiobook::registry::functions().unwrap();
    assert!(registry.functions.len() >= 9);
    for function in &registry.functions {
        let path = out.path().join(function.name).join("function.json");
        if function.in_package {
            assert_eq!(
                read_json(&path),
                function.function_json(),
                "{}",
                function.name
            );
        } else {
            assert!(!path.exists(), "{} is local-only", function.name);
        }
    }
    let upload = read_json(&out.path().join("ContentUpload/function.json"));
    assert_eq!(upload["bindings"][0]["type"], "httpTrigger");
    assert_eq!(upload["bindings"][0]["route"], "v1/content/upload");
    assert_eq!(upload["bindings"][0]["methods"][0], "post");
    // Ingestion runs as an AKS job in Azure (OCR needs tools the Function App lacks).
    assert!(!out.path().join("ContentIngest").exists());
    let deliver = read_json(&out.path().join("NotificationDeliver/function.json"));
    assert_eq!(deliver["bindings"][0]["type"], "serviceBusTrigger");
    assert_eq!(deliver["bindings"][0]["queueName"], "notifications");
    let timer = read_json(&out.path().join("QueueMetrics/function.json"));
    assert_eq!(timer["bindings"][0]["type"], "timerTrigger");

    let binary = out.path().join("visiobook");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert!(
            binary.metadata().unwrap().permissions().mode() & 0o111 != 0,
            "executable"
        );
    }
    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("visiobook "));
}

#[test]
fn render_writes_a_playable_video_and_a_report() {
    let out = tempfile::tempdir().unwrap();
    let output = visiobook()
        .arg("render")
        .arg(fixture("alice-short.txt"))
        .arg("--out")
        .arg(out.path())
        .args(["--preset", "preview"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("video.mp4"), "{printed}");
    let report = read_json(&out.path().join("report.json"));
    let narration = report["narration_seconds"].as_f64().unwrap();
    assert_playable_video(&out.path().join("video.mp4"), narration);
    for stage in ["ingestion", "analysis", "generation", "assembly"] {
        assert!(
            report["stages"][stage]["duration_ms"].is_u64(),
            "{stage}: {report}"
        );
        assert_eq!(report["stages"][stage]["attempts"], 1, "{stage}");
    }
    assert!(report["speed_vs_narration"].as_f64().unwrap() > 0.0);
    assert_eq!(report["video"]["preset"], "preview");
    let book = read_json(&out.path().join("book.v1.json"));
    assert_eq!(book["schema"], "visiobook.book.v1");
    assert!(out.path().join("timeline.v1.json").exists());
}

#[test]
fn render_refuses_a_missing_or_unsupported_book_clearly() {
    let out = tempfile::tempdir().unwrap();
    let missing = visiobook()
        .args(["render", "/nonexistent/book.txt", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the book"));

    let pdf = out.path().join("book.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n").unwrap();
    let gzip = out.path().join("book.txt");
    std::fs::write(&gzip, b"\x1f\x8b\x08\x00").unwrap();
    let unsupported = visiobook()
        .arg("render")
        .arg(&gzip)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!unsupported.status.success());
    assert!(String::from_utf8_lossy(&unsupported.stderr).contains("gzip data"));
    let refused = visiobook()
        .arg("render")
        .arg(&pdf)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("truncated or corrupt"), "{message}");
    assert!(!out.path().join("video.mp4").exists());
}

#[test]
fn ingest_and_analyze_print_their_artifacts() {
    let output = visiobook()
        .arg("ingest")
        .arg(fixture("alice-chapter-1.txt"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let book: Value = serde_json::from_slice(&output.stdout).unwrap();
    let chapters = book["chapters"].as_array().unwrap();
    let body: Vec<&serde_json::Value> = chapters.iter().filter(|c| c["matter"] == "body").collect();
    assert_eq!(body.len(), 1);
    assert_eq!(body[0]["title"], "Chapter I — Down the Rabbit-Hole");
    assert!(book["word_count"].as_u64().unwrap() > 2000);

    let output = visiobook()
        .arg("analyze")
        .arg(fixture("alice-chapter-1.txt"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let analysis: Value = serde_json::from_slice(&output.stdout).unwrap();
    let scenes = analysis["scenes"].as_array().unwrap().len();
    assert!((2..=15).contains(&scenes), "{scenes} scenes");
    assert_eq!(analysis["characters"][0]["id"], "alice");
    assert_eq!(analysis["schema"], "visiobook.analysis.v1");
}

#[test]
fn a_job_once_on_an_empty_queue_reports_idle() {
    let data = tempfile::tempdir().unwrap();
    let output = visiobook()
        .args(["job", "analysis", "--once", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["outcome"], "idle");
}

#[test]
fn invalid_settings_are_named() {
    let output = visiobook()
        .arg("package")
        .arg("--out")
        .arg("/tmp")
        .env("VISIOBOOK_PORT", "seventy")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("VISIOBOOK_PORT"));
}

/// Two instances, one with the keys directory and one with the exported keys as settings (as
/// Key Vault references give them in Azure): a session opened on one is honoured by the other.
#[tokio::test(flavor = "multi_thread")]
async fn exported_keys_make_another_instance_accept_the_same_tokens() {
    let keys = tempfile::tempdir().unwrap();
    let output = visiobook()
        .arg("export-keys")
        .env("VISIOBOOK_KEYS_DIR", keys.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let exported: serde_json::Map<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        exported["VISIOBOOK_SIGNING_KEY_PEM"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN")
    );
    // Incomplete key settings are refused by name.
    let partial = visiobook()
        .arg("package")
        .arg("--out")
        .arg(keys.path().join("package"))
        .env(
            "VISIOBOOK_LINK_KEY",
            exported["VISIOBOOK_LINK_KEY"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(partial.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&partial.stderr).contains("VISIOBOOK_SIGNING_KEY_PEM"));

    // One instance reads the keys directory, the other only the settings: a token the first
    // signed verifies on the second, and their download links and JWKS are the same.
    let first = crate::support::TestApp::spawn_with(&[(
        "VISIOBOOK_KEYS_DIR",
        keys.path().to_str().unwrap(),
    )])
    .await;
    let settings: Vec<(String, String)> = exported
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
        .collect();
    let borrowed: Vec<(&str, &str)> = settings
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let second = crate::support::TestApp::spawn_with(&borrowed).await;
    let claims = second
        .state
        .auth
        .signing
        .verify_access(
            &first.session.access_token,
            visiobook_runtime::auth::now_unix(),
        )
        .expect("the second instance verifies the first one's token");
    assert_eq!(claims.sub, first.session.user_id);
    assert_eq!(
        first.state.auth.sign_link("file-1"),
        second.state.auth.sign_link("file-1")
    );
    assert_eq!(
        first.state.auth.signing.jwks(),
        second.state.auth.signing.jwks()
    );
}
