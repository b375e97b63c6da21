//! Projects and file storage over real HTTP, the journey of issue 7 from sign-up to account
//! deletion, and the rule that someone else's ids answer 404 on every route that takes one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code, fixture_bytes};

/// Uploads bytes to the caller's storage and returns the file's metadata.
async fn store_file(client: &reqwest::Client, app: &TestApp, name: &str, bytes: Vec<u8>) -> Value {
    let response = client
        .post(app.url(&format!("/api/v1/storage/upload?filename={name}")))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// Creates a project and returns `(body, etag)`.
async fn create_project(client: &reqwest::Client, app: &TestApp, body: Value) -> (Value, String) {
    let response = client
        .post(app.url("/api/v1/projects"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (response.json().await.unwrap(), etag)
}

async fn put_project(
    app: &TestApp,
    id: &str,
    etag: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .put(app.url(&format!("/api/v1/projects/{id}")))
        .json(&body);
    if let Some(etag) = etag {
        request = request.header("if-match", etag);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn uploads_are_typed_by_their_bytes_checksummed_ranged_and_private() {
    let app = TestApp::spawn().await;
    let bytes = fixture_bytes("alice-short.txt");
    // The name says PDF; the bytes say text.
    let file = store_file(&app.client, &app, "alice.pdf", bytes.clone()).await;
    assert_eq!(file["content_type"], "text/plain");
    assert_eq!(file["size_bytes"], bytes.len());
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_eq!(file["sha256"], sha.as_str());
    let id = file["id"].as_str().unwrap();

    let whole = app.get(&format!("/api/v1/storage/download/{id}")).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(
        whole.headers()["etag"].to_str().unwrap(),
        format!("\"{sha}\"")
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let part = app
        .client
        .get(app.url(&format!("/api/v1/storage/download/{id}")))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let beyond = app
        .client
        .get(app.url(&format!("/api/v1/storage/download/{id}")))
        .header("range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let cached = app
        .client
        .get(app.url(&format!("/api/v1/storage/download/{id}")))
        .header("if-none-match", format!("\"{sha}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    // Private by default: no download without signing in.
    let anonymous = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/storage/download/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(anonymous, StatusCode::UNAUTHORIZED).await,
        "unauthenticated"
    );

    let listing: Value = app.get("/api/v1/storage/files").await.json().await.unwrap();
    assert_eq!(listing["quota"]["used_bytes"], bytes.len());
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/storage/delete/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/api/v1/storage/metadata/{id}")).await;
    assert_eq!(
        error_code(gone, StatusCode::NOT_FOUND).await,
        "file_not_found"
    );
}

#[tokio::test]
async fn the_storage_quota_refuses_what_does_not_fit_and_keeps_nothing() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_STORAGE_QUOTA_BYTES", "3000")]).await;
    store_file(&app.client, &app, "small.txt", vec![b'a'; 2000]).await;
    let response = app
        .client
        .post(app.url("/api/v1/storage/upload?filename=big.txt"))
        .body(vec![b'b'; 1500])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "storage_quota_exceeded"
    );
    let listing: Value = app.get("/api/v1/storage/files").await.json().await.unwrap();
    assert_eq!(listing["items"].as_array().unwrap().len(), 1);
    assert_eq!(listing["quota"]["used_bytes"], 2000);
    let leftovers = std::fs::read_dir(app.state.settings.data_dir.join("tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "the refused upload left a temporary file");
}

#[tokio::test]
async fn projects_are_versioned_guarded_by_etags_paged_and_restorable() {
    let app = TestApp::spawn().await;
    let (project, etag) = create_project(
        &app.client,
        &app,
        json!({ "name": "Alice", "settings": { "language": "EN", "preset": "preview" } }),
    )
    .await;
    let id = project["id"].as_str().unwrap().to_owned();
    assert_eq!(project["version"], 1);
    assert_eq!(project["settings"]["language"], "en");

    let missing_if_match = put_project(&app, &id, None, json!({ "name": "Alice II" })).await;
    assert_eq!(
        error_code(missing_if_match, StatusCode::PRECONDITION_REQUIRED).await,
        "if_match_required"
    );
    let renamed = put_project(&app, &id, Some(&etag), json!({ "name": "Alice II" })).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let etag2 = renamed.headers()["etag"].to_str().unwrap().to_owned();
    // A second writer still holding the first ETag loses, and nothing changes.
    let stale = put_project(&app, &id, Some(&etag), json!({ "name": "Lost update" })).await;
    assert_eq!(
        error_code(stale, StatusCode::PRECONDITION_FAILED).await,
        "etag_mismatch"
    );
    let bad_settings = put_project(
        &app,
        &id,
        Some(&etag2),
        json!({ "settings": { "preset": "ultra" } }),
    )
    .await;
    assert_eq!(
        error_code(bad_settings, StatusCode::BAD_REQUEST).await,
        "invalid_settings"
    );
    let described = put_project(
        &app,
        &id,
        Some(&etag2),
        json!({ "description": "for the book club", "settings": { "preset": "standard", "formats": ["mp4", "srt"] } }),
    )
    .await;
    assert_eq!(described.status(), StatusCode::OK);

    let history: Value = app
        .get(&format!("/api/v1/projects/{id}/history"))
        .await
        .json()
        .await
        .unwrap();
    let versions: Vec<(u64, String, Vec<String>)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["version"].as_u64().unwrap(),
                item["change"].as_str().unwrap().to_owned(),
                serde_json::from_value(item["changed"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (
                3,
                "update".to_owned(),
                vec!["description".to_owned(), "settings".to_owned()]
            ),
            (2, "update".to_owned(), vec!["name".to_owned()]),
            (
                1,
                "create".to_owned(),
                vec!["name".to_owned(), "settings".to_owned()]
            ),
        ]
    );
    assert!(history["items"][0]["actor"] == app.session.user_id.as_str());

    let restored = app
        .client
        .post(app.url(&format!("/api/v1/projects/{id}/restore")))
        .json(&json!({ "version": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status(), StatusCode::OK);
    let restored: Value = restored.json().await.unwrap();
    assert_eq!(restored["version"], 4);
    assert_eq!(restored["name"], "Alice");
    assert_eq!(restored["description"], "");
    assert_eq!(
        restored["settings"],
        json!({ "language": "en", "preset": "preview" })
    );
    let no_such = app
        .client
        .post(app.url(&format!("/api/v1/projects/{id}/restore")))
        .json(&json!({ "version": 99 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(no_such, StatusCode::NOT_FOUND).await,
        "version_not_found"
    );

    let copy = app
        .client
        .post(app.url(&format!("/api/v1/projects/{id}/duplicate")))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), StatusCode::CREATED);
    let copy: Value = copy.json().await.unwrap();
    assert_eq!(copy["name"], "Alice (copy)");
    assert_eq!(copy["version"], 1);

    // Pages of one, sorted by name: "Alice", then "Alice (copy)".
    let first: Value = app
        .get("/api/v1/projects?page_size=1&sort=name&order=asc")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"][0]["name"], "Alice");
    let token = first["continuation"].as_str().unwrap();
    let second: Value = app
        .client
        .get(app.url("/api/v1/projects"))
        .query(&[
            ("page_size", "1"),
            ("sort", "name"),
            ("order", "asc"),
            ("continuation", token),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["name"], "Alice (copy)");
    assert!(second["continuation"].is_null());
    let bad_sort = app.get("/api/v1/projects?sort=password").await;
    assert_eq!(
        error_code(bad_sort, StatusCode::BAD_REQUEST).await,
        "invalid_sort"
    );
}

/// Every route that takes an id answers 404 to a user who does not own it, and changes
/// nothing.
#[tokio::test]
async fn someone_elses_ids_answer_404_on_every_route() {
    let app = TestApp::spawn().await;
    let book = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let file = store_file(
        &app.client,
        &app,
        "alice.txt",
        fixture_bytes("alice-short.txt"),
    )
    .await;
    let file_id = file["id"].as_str().unwrap().to_owned();
    let (project, etag) = create_project(
        &app.client,
        &app,
        json!({ "name": "Mine", "file_id": file_id }),
    )
    .await;
    let project_id = project["id"].as_str().unwrap().to_owned();

    let mallory = app.register("mallory@example.com").await;
    let other = app.client_for(&mallory);
    let scene = json!({ "book_id": book, "scene_id": "c1-s1" });
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (
            reqwest::Method::GET,
            format!("/api/v1/content/status/{book}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/content/preview/{book}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/analysis/status/{book}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/analysis/overrides/{book}"),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/analysis/overrides/{book}"),
            Some(json!({})),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/analysis/semantic".into(),
            Some(json!({ "book_id": book })),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/analysis/extract-scenes".into(),
            Some(json!({ "book_id": book })),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/analysis/summarize".into(),
            Some(json!({ "book_id": book })),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/media/generation-status/{book}"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/media/generate-images".into(),
            Some(scene),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/media/create-animations".into(),
            Some(json!({ "book_id": book })),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/assembly/export/mp4?id={book}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/assembly/progress/{book}"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/assembly/create-storyboard".into(),
            Some(json!({ "book_id": book })),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/assembly/render-final".into(),
            Some(json!({ "book_id": book })),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/projects/{project_id}"),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/projects/{project_id}"),
            Some(json!({ "name": "stolen" })),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/projects/{project_id}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/projects/{project_id}/history"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/projects/{project_id}/restore"),
            Some(json!({ "version": 1 })),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/projects/{project_id}/duplicate"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/projects/{project_id}/render"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/projects/{project_id}/share"),
            Some(json!({})),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/storage/download/{file_id}"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/storage/metadata/{file_id}"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/storage/delete/{file_id}"),
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/storage/permissions/{file_id}"),
            Some(json!({ "visibility": "link" })),
        ),
        // Someone else's file as a project's book.
        (
            reqwest::Method::POST,
            "/api/v1/projects".into(),
            Some(json!({ "name": "x", "file_id": file_id })),
        ),
    ];
    for (method, path, body) in routes {
        let mut request = other
            .request(method.clone(), app.url(&path))
            .header("if-match", etag.as_str());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} answered {status}: {text}"
        );
        assert!(
            !text.contains("Alice") && !text.contains("Mine"),
            "{method} {path} leaked: {text}"
        );
    }
    // The owner still has everything, unchanged.
    let mine: Value = app
        .get(&format!("/api/v1/projects/{project_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["name"], "Mine");
    assert_eq!(mine["version"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/storage/metadata/{file_id}"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.status(&book).await["id"], book.as_str());
}

/// Issue 7's journey: register, upload, create a project, render it, share a signed link,
/// restore an old version, export the data, delete the account and see everything gone.
#[tokio::test]
async fn the_whole_journey_from_sign_up_to_account_deletion() {
    let app = TestApp::spawn().await;
    let client = &app.client;
    let file = store_file(client, &app, "alice.txt", fixture_bytes("alice-short.txt")).await;
    let (project, etag) = create_project(
        client,
        &app,
        json!({
            "name": "Alice for the book club",
            "file_id": file["id"],
            "settings": { "language": "en", "preset": "preview", "formats": ["mp4", "srt"] },
        }),
    )
    .await;
    let project_id = project["id"].as_str().unwrap().to_owned();
    let renamed = put_project(&app, &project_id, Some(&etag), json!({ "name": "Renamed" })).await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let render = client
        .post(app.url(&format!("/api/v1/projects/{project_id}/render")))
        .send()
        .await
        .unwrap();
    assert_eq!(render.status(), StatusCode::ACCEPTED);
    let render: Value = render.json().await.unwrap();
    let book = render["book_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let status = app.status(&book).await;
    assert_eq!(status["state"], "ready", "{status}");
    assert_eq!(status["owner"], app.session.user_id.as_str());
    // The project's settings reached the render: only the MP4 and SRT were made.
    assert!(status["outputs"].get("video").is_some() && status["outputs"].get("srt").is_some());
    assert!(
        status["outputs"].get("webm").is_none(),
        "{}",
        status["outputs"]
    );

    let shared = client
        .post(app.url(&format!("/api/v1/projects/{project_id}/share")))
        .json(&json!({ "format": "mp4", "expires_in_seconds": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::CREATED);
    let shared: Value = shared.json().await.unwrap();
    let link = shared["link"].as_str().unwrap().to_owned();
    let stranger = reqwest::Client::new();
    let video = stranger.get(app.url(&link)).send().await.unwrap();
    assert_eq!(video.status(), StatusCode::OK);
    assert_eq!(video.headers()["content-type"], "video/mp4");
    let bytes = video.bytes().await.unwrap();
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &bytes).unwrap();
    let probe = crate::support::ffprobe(path.path());
    assert!(probe.codecs.contains(&("video".into(), "h264".into())));
    // A forged signature, someone else's id and an expired link get nothing.
    let forged = format!(
        "{}0",
        link.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(
        stranger
            .get(app.url(&forged))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let file_id = shared["file"]["id"].as_str().unwrap().to_owned();
    let permissions = client
        .put(app.url(&format!("/api/v1/storage/permissions/{file_id}")))
        .json(&json!({ "visibility": "link", "expires_in_seconds": 1 }))
        .send()
        .await
        .unwrap();
    let short: Value = permissions.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = stranger
        .get(app.url(short["link"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(expired, StatusCode::GONE).await, "link_expired");
    // Making the file private again ends every link given so far.
    let private = client
        .put(app.url(&format!("/api/v1/storage/permissions/{file_id}")))
        .json(&json!({ "visibility": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    assert_eq!(
        stranger.get(app.url(&link)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let restored: Value = client
        .post(app.url(&format!("/api/v1/projects/{project_id}/restore")))
        .json(&json!({ "version": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(restored["name"], "Alice for the book club");
    assert_eq!(restored["renders"][0]["book_id"], book.as_str());

    let export = app.get("/api/v1/users/export").await;
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let export: Value = export.json().await.unwrap();
    assert_eq!(export["profile"]["email"], "reader@example.com");
    assert_eq!(
        export["projects"][0]["history"].as_array().unwrap().len(),
        3
    );
    assert_eq!(export["files"].as_array().unwrap().len(), 2);
    assert_eq!(export["books"][0]["id"], book.as_str());
    assert!(
        export["audit_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "account.register")
    );
    let notified = export["notifications"].as_array().unwrap();
    assert!(notified.iter().any(|e| e["kind"] == "book.ready"));
    assert!(
        notified
            .iter()
            .all(|e| e["project_id"] == project_id.as_str())
    );

    let wrong = client
        .delete(app.url("/api/v1/users/account"))
        .json(&json!({ "password": "not my password at all" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong, StatusCode::FORBIDDEN).await,
        "invalid_credentials"
    );
    let deleted = client
        .delete(app.url("/api/v1/users/account"))
        .json(&json!({ "password": app.session.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let report: Value = deleted.json().await.unwrap();
    assert_eq!(report["deleted"]["projects"], 1, "{report}");
    assert_eq!(report["deleted"]["files"], 1, "{report}");
    assert_eq!(report["deleted"]["books"], 1, "{report}");
    assert!(report["deleted"]["blobs"].as_u64().unwrap() > 3, "{report}");
    // The render's progress notifications went too.
    assert!(
        report["deleted"]["notifications"].as_u64().unwrap() >= 8,
        "{report}"
    );

    // Everything is gone: the token, the sign-in, the book, its blobs, the file, the project.
    let after = app.get("/api/v1/users/profile").await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let login = stranger
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "reader@example.com", "password": app.session.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    let store = app.state.documents.as_ref();
    assert!(store.read("books", &book, &book).await.unwrap().is_none());
    assert!(
        store
            .read("projects", &app.session.user_id, &project_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.state
            .blobs
            .list(&format!("books/{book}/"))
            .await
            .unwrap()
            .is_empty()
    );
    let left = store
        .query(
            "notifications",
            &app.session.user_id,
            &visiobook_ports::Query::default(),
            None,
        )
        .await
        .unwrap();
    assert!(left.items.is_empty());
    assert!(
        app.state
            .blobs
            .list(&format!("users/{}/", app.session.user_id))
            .await
            .unwrap()
            .is_empty()
    );
    // The address can sign up again, as a new account.
    let again =
        crate::support::register(&format!("http://{}", app.address), "reader@example.com").await;
    assert_ne!(again.user_id, app.session.user_id);
}
