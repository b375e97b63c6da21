//! Notifications: the pipeline's progress as Server-Sent Events that a reconnecting client
//! resumes without losing anything, the history, sending, and deduplication.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code, fixture_bytes};

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: String,
    kind: String,
    data: Value,
}

/// Reads events from an open stream until `stop` says so or the stream ends.
async fn read_events(
    mut response: reqwest::Response,
    stop: impl Fn(&[SseEvent]) -> bool,
) -> Vec<SseEvent> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, None, None);
            for line in block.lines() {
                if let Some(value) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = Some(value.to_owned());
                } else if let Some(value) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    kind = Some(value.to_owned());
                } else if let Some(value) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data = Some(serde_json::from_str(value).unwrap());
                }
            }
            // Keep-alive comments have no fields.
            if let (Some(id), Some(kind), Some(data)) = (id, kind, data) {
                events.push(SseEvent { id, kind, data });
                if stop(&events) {
                    return events;
                }
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_reconnects_half_way_misses_no_progress_event() {
    let app = TestApp::spawn().await;
    let book = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let url = app.url(&format!("/api/v1/notifications/progress/{book}"));
    let first = app.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    // The page reads a few events while the pipeline runs, then is closed mid-render.
    let (_, before) = tokio::join!(app.drain(), read_events(first, |events| events.len() == 3));
    assert_eq!(before.len(), 3);
    let last = before.last().unwrap().id.clone();

    // It comes back with Last-Event-ID and reads to the end.
    let second = app
        .client
        .get(format!("{url}?until_done=true"))
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    let after = read_events(second, |_| false).await;
    assert_eq!(after.last().unwrap().kind, "book.ready", "{after:?}");

    let seen: Vec<String> = before
        .iter()
        .chain(&after)
        .map(|event| event.id.clone())
        .collect();
    let history: Value = app
        .get("/api/v1/notifications/history?page_size=500")
        .await
        .json()
        .await
        .unwrap();
    let mut stored: Vec<String> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["book_id"] == book.as_str())
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    stored.reverse();
    assert_eq!(
        seen, stored,
        "the two connections together saw every event once, in order"
    );

    let kinds: Vec<&str> = before
        .iter()
        .chain(&after)
        .map(|event| event.kind.as_str())
        .collect();
    for stage in ["ingestion", "analysis", "generation", "assembly"] {
        let started = before
            .iter()
            .chain(&after)
            .any(|event| event.kind == "stage.started" && event.data["stage"] == stage);
        assert!(started, "no start of {stage}: {kinds:?}");
    }
    assert!(kinds.contains(&"stage.progress"), "{kinds:?}");
    let percents: Vec<u64> = before
        .iter()
        .chain(&after)
        .map(|event| event.data["percent"].as_u64().unwrap())
        .collect();
    assert!(
        percents.windows(2).all(|pair| pair[0] <= pair[1]),
        "{percents:?}"
    );
    let ready = &after.last().unwrap().data;
    assert_eq!(ready["percent"], 100);
    assert_eq!(
        ready["links"]["video"],
        format!("/api/v1/assembly/export/mp4?id={book}")
    );
}

#[tokio::test]
async fn progress_streams_belong_to_their_owner() {
    let app = TestApp::spawn().await;
    let book = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let mallory = app.register("mallory@example.com").await;
    let response = app
        .client_for(&mallory)
        .get(app.url(&format!("/api/v1/notifications/progress/{book}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let unknown = app
        .get("/api/v1/notifications/progress/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn messages_are_sent_to_yourself_or_by_administrators() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_ADMIN_EMAILS", "admin@example.com")]).await;
    let sent = app
        .client
        .post(app.url("/api/v1/notifications/send"))
        .json(&json!({ "message": "Remember the book club on Friday" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    let other = app.register("other@example.com").await;
    let refused = app
        .client
        .post(app.url("/api/v1/notifications/send"))
        .json(&json!({ "message": "hello", "user_id": other.user_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "admin_only"
    );
    let admin = app.register("admin@example.com").await;
    let by_admin = app
        .client_for(&admin)
        .post(app.url("/api/v1/notifications/send"))
        .json(&json!({ "message": "Maintenance tonight", "user_id": other.user_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), StatusCode::CREATED);
    let history: Value = app
        .client_for(&other)
        .get(app.url("/api/v1/notifications/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["Maintenance tonight"]);
}

#[tokio::test]
async fn an_event_published_twice_with_one_key_is_stored_once() {
    let app = TestApp::spawn().await;
    let event =
        visiobook_runtime::notify::Notification::new(&app.session.user_id, "message", "once");
    let first = visiobook_runtime::notify::publish(&app.state, &event, Some("delivery-1"))
        .await
        .unwrap();
    let again =
        visiobook_runtime::notify::Notification::new(&app.session.user_id, "message", "once");
    let second = visiobook_runtime::notify::publish(&app.state, &again, Some("delivery-1"))
        .await
        .unwrap();
    assert!(first && !second);
    let history: Value = app
        .get("/api/v1/notifications/history")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
}

/// A real SMTP server (aiosmtpd, installed by scripts/test) storing what it receives in a
/// Maildir; killed on drop.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    async fn start() -> Self {
        let port = crate::support::free_port();
        let maildir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("python3")
            .env("PYTHONPATH", crate::support::validators_dir())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it)");
        crate::support::eventually(
            std::time::Duration::from_secs(20),
            "the SMTP server",
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        Self {
            child,
            port,
            maildir,
        }
    }

    /// The messages received so far, decoded by Python's `email` parser: the `To` and
    /// `Subject` headers, then the body.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        let script = "import email, sys\nm = email.message_from_file(open(sys.argv[1]))\nprint('To:', m['To'])\nprint('Subject:', m['Subject'])\nprint(m.get_payload(decode=True).decode())";
        entries
            .map(|entry| {
                let output = std::process::Command::new("python3")
                    .args(["-c", script])
                    .arg(entry.unwrap().path())
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                String::from_utf8(output.stdout).unwrap()
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_book_sends_one_email_through_a_real_smtp_server() {
    let smtp = SmtpServer::start().await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_SMTP_URL", url.as_str()),
        ("VISIOBOOK_PUBLIC_URL", "https://visiobook.example"),
    ])
    .await;
    let book = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let mail = &messages[0];
    assert!(mail.contains("To: reader <reader@example.com>"), "{mail}");
    assert!(mail.contains("Subject: Ready: "), "{mail}");
    assert!(
        mail.contains(&format!(
            "https://visiobook.example/api/v1/assembly/export/mp4?id={book}"
        )),
        "{mail}"
    );

    // The queue delivers at least once: the same event again sends nothing more.
    let history: Value = app
        .get("/api/v1/notifications/history")
        .await
        .json()
        .await
        .unwrap();
    let ready = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["kind"] == "book.ready")
        .unwrap();
    let body = json!({ "user_id": app.session.user_id, "event_id": ready["id"] });
    app.state
        .queue
        .send(
            visiobook_runtime::notify::DELIVERY_QUEUE,
            visiobook_ports::OutgoingMessage::new("redelivered", body.to_string().into_bytes()),
        )
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(smtp.messages().len(), 1);

    // A user who turned e-mail off gets none.
    let off = app
        .client
        .put(app.url("/api/v1/users/profile"))
        .json(&json!({ "preferences": { "notify_by_email": false } }))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    let sent = app
        .client
        .post(app.url("/api/v1/notifications/send"))
        .json(&json!({ "message": "not by e-mail" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    app.drain().await;
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn without_an_smtp_server_messages_land_in_the_outbox() {
    let app = TestApp::spawn().await;
    let sent = app
        .client
        .post(app.url("/api/v1/notifications/send"))
        .json(&json!({ "message": "Welcome to the book club" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    app.drain().await;
    let outbox = app.state.settings.data_dir.join("outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(mail.contains("Welcome to the book club"), "{mail}");
}
