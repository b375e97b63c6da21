//! Killing `visiobook dev` in the middle of a book and starting it again finishes the book
//! without redoing finished stages and without losing anything; a `visiobook job --once` told to
//! stop exits at once and its message is finished by another worker.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    assert_playable_video, authorised_client, eventually, fixture_bytes, free_port, register,
};

struct Dev {
    child: Child,
    base: String,
}

impl Dev {
    fn start(data_dir: &Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_visiobook"))
            .args(["dev", "--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("VISIOBOOK_RENDER_PRESET", "preview")
            // The restart is what is under test, not the exports (tests/it/assembly.rs) nor
            // the voices (tests/it/media.rs): the fast local voice and the MP4 only.
            .env("VISIOBOOK_EXPORT_FORMATS", "mp4")
            .env("VISIOBOOK_SPEECH_ENGINE", "espeak")
            .env("VISIOBOOK_LOCK_DURATION_SECONDS", "3")
            .env("VISIOBOOK_QUEUE_POLL_MS", "100")
            .env("VISIOBOOK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status(client: &reqwest::Client, base: &str, id: &str) -> Option<Value> {
    let response = client
        .get(format!("{base}/api/v1/content/status/{id}"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

async fn wait_until_up(client: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(30), "dev to answer", || async {
        let response = client.get(format!("{base}/api/health")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_book_survives_a_kill_mid_assembly() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let dev = Dev::start(data.path(), port);
    wait_until_up(&reqwest::Client::new(), &dev.base).await;
    // The session and the signing key live in the data directory: they outlive the kill.
    let session = register(&dev.base, "restart@example.com").await;
    let client = authorised_client(&session.access_token);

    let response = client
        .post(format!("{}/api/v1/content/upload", dev.base))
        .body(fixture_bytes("alice-chapter-1.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Wait for the assembly to be under way, then kill the process without warning.
    let base = dev.base.clone();
    eventually(Duration::from_secs(300), "assembly to start", || {
        let (client, base, id) = (&client, &base, &id);
        async move {
            let status = status(client, base, id).await?;
            (status["stages"]["assembly"]["state"] == "running").then_some(())
        }
    })
    .await;
    dev.kill();

    let dev = Dev::start(data.path(), port);
    wait_until_up(&client, &dev.base).await;
    let base = dev.base.clone();
    let finished = eventually(Duration::from_secs(300), "the book to be ready", || {
        let (client, base, id) = (&client, &base, &id);
        async move {
            let status = status(client, base, id).await?;
            assert_ne!(status["state"], "failed", "{status}");
            (status["state"] == "ready").then_some(status)
        }
    })
    .await;

    for stage in ["ingestion", "analysis", "generation"] {
        assert_eq!(
            finished["stages"][stage]["attempts"], 1,
            "{stage} ran once: {finished}"
        );
        assert_eq!(finished["stages"][stage]["completions"], 1, "{stage}");
    }
    assert_eq!(
        finished["stages"]["assembly"]["attempts"], 2,
        "assembly resumed after the kill"
    );
    assert_eq!(finished["stages"]["assembly"]["completions"], 1);

    // Billed once: one book, its narration settled once, nothing left reserved.
    let narration_ms = finished["stages"]["generation"]["counts"]["narration_ms"]
        .as_u64()
        .unwrap();
    let billing: Value = client
        .get(format!("{base}/api/v1/billing/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(billing["usage"]["books"]["used"], 1, "{billing}");
    assert_eq!(
        billing["usage"]["narration_minutes"]["used"],
        narration_ms.div_ceil(60_000),
        "{billing}"
    );
    assert_eq!(billing["usage"]["narration_minutes"]["reserved"], 0);

    let video = client
        .get(format!(
            "{base}{}",
            finished["links"]["video"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = data.path().join("downloaded.mp4");
    std::fs::write(&file, &video).unwrap();
    assert_playable_video(&file, narration_ms as f64 / 1000.0);
}

/// A `--once` job told to stop (SIGTERM, as Kubernetes does before killing a pod) exits at once
/// instead of waiting out the grace period; the message comes back when its lock lapses and
/// another worker finishes the book.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_stopped_with_sigterm_exits_at_once_and_its_message_comes_back() {
    // The in-process workers keep the usual lock; the job process locks for 2 s (each process
    // locks with its own queue settings), so its message comes back soon after it stops.
    let app = crate::support::TestApp::spawn_with(&[("VISIOBOOK_EXPORT_FORMATS", "mp4")]).await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    for queue in ["ingestion", "analysis", "generation"] {
        assert!(
            matches!(
                app.step(queue).await,
                visiobook_host::worker::Outcome::Completed { .. }
            ),
            "{queue}"
        );
    }
    // The assembly message waits; a separate job process takes it.
    let data_dir = app.state.settings.data_dir.clone();
    let mut job = Command::new(env!("CARGO_BIN_EXE_visiobook"))
        .args(["job", "assembly", "--once"])
        .envs(crate::support::test_variables(&data_dir))
        .env("VISIOBOOK_LOCK_DURATION_SECONDS", "2")
        .env("VISIOBOOK_EXPORT_FORMATS", "mp4")
        .env("VISIOBOOK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Mid-assembly (it takes several seconds even for this short book).
    eventually(
        Duration::from_secs(20),
        "the job to start assembling",
        || async {
            let status = status_of(&app, &id).await;
            (status["stages"]["assembly"]["state"] == "running").then_some(())
        },
    )
    .await;
    let stopped_at = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &job.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = loop {
        if let Some(exit) = job.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(5),
            "the job did not stop within 5 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");

    // The lock lapses, the message is delivered again and the book is finished here.
    eventually(
        Duration::from_secs(60),
        "the assembly to be redelivered",
        || async {
            matches!(
                app.step("assembly").await,
                visiobook_host::worker::Outcome::Completed { .. }
            )
            .then_some(())
        },
    )
    .await;
    assert_eq!(status_of(&app, &id).await["state"], "ready");
}

async fn status_of(app: &crate::support::TestApp, id: &str) -> Value {
    app.status(id).await
}
