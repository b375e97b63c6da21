//! The test harness: one `TestApp` per test, each with its own data directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use visiobook::registry;
use visiobook_host::Registry;
use visiobook_host::serve::{ServeOptions, custom_handler_router};
use visiobook_host::worker::{Outcome, QueueWorker};
use visiobook_runtime::{AppState, Settings};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// Settings every test starts from: a fresh data dir, the fast preview preset, three deliveries,
/// the fast local voice.
pub fn test_variables(data_dir: &Path) -> BTreeMap<String, String> {
    [
        ("VISIOBOOK_DATA_DIR", data_dir.display().to_string()),
        ("VISIOBOOK_RENDER_PRESET", "preview".to_owned()),
        ("VISIOBOOK_MAX_DELIVERY_COUNT", "3".to_owned()),
        ("VISIOBOOK_LOCK_DURATION_SECONDS", "30".to_owned()),
        // espeak-ng reads a test book in a blink; Piper has its own tests.
        ("VISIOBOOK_SPEECH_ENGINE", "espeak".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub registry: Arc<Registry<AppState>>,
    pub workers: Vec<QueueWorker<AppState>>,
    /// The user every test starts signed in as (`client` sends their token).
    pub session: Session,
    _data_dir: tempfile::TempDir,
}

/// A signed-in user: what `POST /api/v1/auth/register` answered.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// The password every test user gets.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// Signs up `email` on the app at `base` (`http://host:port`).
pub async fn register(base: &str, email: &str) -> Session {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({ "email": email, "password": TEST_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "registering {email}"
    );
    let body: Value = response.json().await.unwrap();
    Session {
        user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
        password: TEST_PASSWORD.to_owned(),
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// A client whose every request carries `Authorization: Bearer <access_token>`.
pub fn authorised_client(access_token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {access_token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the app as `visiobook dev` serves it, with extra variables; queue workers are
    /// not running: tests drive them with [`TestApp::step`] and [`TestApp::drain`].
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut variables = test_variables(data_dir.path());
        for (key, value) in extra {
            variables.insert((*key).to_owned(), (*value).to_owned());
        }
        let state = AppState::open(Settings::from_map(&variables).unwrap()).unwrap();
        let registry = Arc::new(registry::functions().unwrap());
        let app = visiobook_runtime::http::finish_router(
            registry::local_routes(&registry),
            state.clone(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        });
        let workers = registry::queue_workers(&registry, &state);
        let base = format!("http://{address}");
        let session = register(&base, "reader@example.com").await;
        Self {
            address,
            client: authorised_client(&session.access_token),
            state,
            registry,
            workers,
            session,
            _data_dir: data_dir,
        }
    }

    /// Signs up another user on this app and returns their session.
    pub async fn register(&self, email: &str) -> Session {
        register(&format!("http://{}", self.address), email).await
    }

    /// A client that sends `session`'s access token with every request.
    pub fn client_for(&self, session: &Session) -> reqwest::Client {
        authorised_client(&session.access_token)
    }

    /// Starts the custom-handler face (`visiobook serve`) over the same state.
    pub async fn spawn_custom_handler(&self) -> SocketAddr {
        let http =
            visiobook_runtime::http::finish_router(self.registry.http_router(), self.state.clone());
        let options = ServeOptions {
            max_delivery_count: self.state.settings.max_delivery_count,
            max_body_bytes: self.state.settings.max_body_bytes,
        };
        let app = custom_handler_router(self.registry.clone(), self.state.clone(), http, options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// POSTs a JSON body and returns the JSON answer (any status).
    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Subscribes the default user to `plan` through the local payment provider (the test
    /// settings choose it), for tests whose books need more than the free plan allows.
    pub async fn subscribe(&self, plan: &str) {
        let response = self
            .client
            .post(self.url("/api/v1/subscriptions"))
            .json(&json!({ "plan": plan }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "subscribing to {plan}"
        );
    }

    /// Uploads raw bytes as the request body.
    pub async fn upload(&self, bytes: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/content/upload?filename=book.txt"))
            .header("content-type", "text/plain")
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// Uploads and returns the new book's id, asserting the 202.
    pub async fn upload_ok(&self, bytes: Vec<u8>) -> String {
        let response = self.upload(bytes).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn status(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/content/status/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// One step of the worker of `queue`.
    pub async fn step(&self, queue: &str) -> Outcome {
        let worker = self
            .workers
            .iter()
            .find(|worker| worker.queue_name == queue)
            .unwrap();
        worker.try_process_next().await.unwrap()
    }

    /// Runs every worker until all queues are idle; returns what happened, in order.
    pub async fn drain(&self) -> Vec<(String, Outcome)> {
        let mut outcomes = Vec::new();
        loop {
            let mut progressed = false;
            for worker in &self.workers {
                let outcome = worker.try_process_next().await.unwrap();
                if outcome != Outcome::Idle {
                    progressed = true;
                    outcomes.push((worker.queue_name.clone(), outcome));
                }
            }
            if !progressed {
                return outcomes;
            }
        }
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where scripts/test installs the validators someone else wrote (PyJWT, webvtt-py...).
pub fn validators_dir() -> String {
    std::env::var("VISIOBOOK_VALIDATORS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/visiobook/validators",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

/// Asserts the JSON error envelope and returns its code.
pub async fn error_code(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.is_empty());
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// What ffprobe says about a media file.
pub struct Probe {
    pub codecs: Vec<(String, String)>,
    pub duration_seconds: f64,
}

pub fn ffprobe(path: &Path) -> Probe {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let codecs = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| {
            (
                stream["codec_type"].as_str().unwrap().to_owned(),
                stream["codec_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let duration_seconds = json["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    Probe {
        codecs,
        duration_seconds,
    }
}

/// Asserts a playable H.264 + AAC file whose length matches the narration within a second.
pub fn assert_playable_video(path: &Path, narration_seconds: f64) {
    let probe = ffprobe(path);
    assert!(
        probe.codecs.contains(&("video".into(), "h264".into())),
        "{:?}",
        probe.codecs
    );
    assert!(
        probe.codecs.contains(&("audio".into(), "aac".into())),
        "{:?}",
        probe.codecs
    );
    assert!(
        narration_seconds > 10.0,
        "narration is {narration_seconds} s"
    );
    assert!(
        (probe.duration_seconds - narration_seconds).abs() <= 1.0,
        "video lasts {} s, narration {narration_seconds} s",
        probe.duration_seconds
    );
    let mean_volume = mean_volume_db(path);
    assert!(
        mean_volume > -35.0,
        "the narration is audible: mean volume {mean_volume} dB"
    );
    let (darkest, brightest) = luma_range_of_first_frame(path);
    assert!(
        brightest - darkest > 100,
        "the first frame shows a card, not a flat colour: luma {darkest}..{brightest}"
    );
}

/// ffmpeg's `volumedetect` mean volume of the audio, in dB.
fn mean_volume_db(path: &Path) -> f64 {
    let output = std::process::Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(path)
        .args(["-vn", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let line = log
        .lines()
        .find(|line| line.contains("mean_volume:"))
        .unwrap();
    line.split("mean_volume:")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches(" dB")
        .parse()
        .unwrap()
}

/// The darkest and brightest luma of the first video frame (`signalstats`).
fn luma_range_of_first_frame(path: &Path) -> (i64, i64) {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-show_entries",
            "frame_tags=lavfi.signalstats.YMIN,lavfi.signalstats.YMAX",
            "-read_intervals",
            "%+#1",
            "-of",
            "json",
        ])
        .arg(format!("movie={},signalstats", path.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let tags = &json["frames"][0]["tags"];
    let value = |name: &str| tags[name].as_str().unwrap().parse::<i64>().unwrap();
    (
        value("lavfi.signalstats.YMIN"),
        value("lavfi.signalstats.YMAX"),
    )
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
