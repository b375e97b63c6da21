//! The app on Azure's storage services, emulated: Azurite (the Azure Storage emulator) holds
//! every upload, artifact and export of a book rendered end to end, reached through the same
//! adapter and SAS a deployment without an identity would use; and, in the second test,
//! cosmosdb-server holds every document, in the containers and composite indexes the Bicep
//! declares.

use reqwest::StatusCode;
use serde_json::{Value, json};
use visiobook_azure::azurite::Azurite;
use visiobook_azure::cosmos_emulator::CosmosEmulator;

use crate::support::{TestApp, assert_playable_video, fixture_bytes};

/// The quoted strings of `var NAME = [ ... ]` in bicep/main.bicep.
fn bicep_list(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bicep/main.bicep");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(&format!("var {name} = ["))
        .unwrap_or_else(|| panic!("main.bicep declares {name}"));
    let list = &text[start..];
    let list = &list[..list.find("\n]").unwrap()];
    list.lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix('\'')?
                .strip_suffix('\'')
                .map(str::to_owned)
        })
        .collect()
}

/// The app with its blobs in a fresh Azurite (plus `extra` settings), ready, having rendered
/// the short Alice: returns the app, Azurite, and the book's id and status.
async fn render_on_azurite(extra: &[(&str, &str)]) -> (TestApp, Azurite, String, Value) {
    let azurite = Azurite::start().await;
    let url = azurite.container("visiobook").await;
    let mut settings = vec![
        ("VISIOBOOK_BLOB_STORE", "azure"),
        ("VISIOBOOK_BLOB_SAS_URL", url.as_str()),
        ("VISIOBOOK_EXPORT_FORMATS", "mp4,srt"),
    ];
    settings.extend_from_slice(extra);
    let app = TestApp::spawn_with(&settings).await;
    let ready = app.get("/api/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);

    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready", "{status}");
    (app, azurite, id, status)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_book_renders_with_every_file_in_blob_storage() {
    let (app, azurite, id, status) = render_on_azurite(&[]).await;
    let narration_ms = status["stages"]["generation"]["counts"]["narration_ms"]
        .as_u64()
        .unwrap();

    // The export streams out of Blob Storage, and it is a real video.
    let export = app
        .get(&format!("/api/v1/assembly/export/mp4?id={id}"))
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    let video = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(video.path(), export.bytes().await.unwrap()).unwrap();
    assert_playable_video(video.path(), narration_ms as f64 / 1000.0);
    // Nothing went to the local disk's blob folder: the container has the book's files.
    assert!(!app.state.settings.data_dir.join("blobs").exists());
    let stored = app.state.blobs.list("").await.unwrap();
    assert!(
        stored
            .iter()
            .any(|meta| meta.key.as_str().ends_with(".mp4")),
        "{:?}",
        stored.iter().map(|m| m.key.as_str()).collect::<Vec<_>>()
    );
    drop(azurite);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_book_renders_with_every_document_in_cosmos_db_as_the_bicep_declares_it() {
    let cosmos = CosmosEmulator::start().await;
    let containers = bicep_list("cosmosContainers");
    let ordered = bicep_list("cosmosOrderedFields");
    assert!(containers.len() > 20 && ordered.contains(&"created_at".to_owned()));
    let containers: Vec<&str> = containers.iter().map(String::as_str).collect();
    let ordered: Vec<&str> = ordered.iter().map(String::as_str).collect();
    cosmos
        .create_containers("visiobook", &containers, &ordered)
        .await;
    let endpoint = cosmos.endpoint();
    let (app, azurite, id, _) = render_on_azurite(&[
        ("VISIOBOOK_DOCUMENT_STORE", "azure"),
        ("VISIOBOOK_COSMOS_ENDPOINT", endpoint.as_str()),
        ("VISIOBOOK_COSMOS_KEY", "ZW11bGF0b3Ita2V5"),
    ])
    .await;
    let export = app
        .get(&format!("/api/v1/assembly/export/srt?id={id}"))
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.text().await.unwrap().contains("-->"));

    // Projects: created, listed by each ordered field, updated with If-Match through Cosmos
    // DB's ETags, and a stale tag refused.
    for name in ["Beta", "Alpha"] {
        let created = app
            .client
            .post(app.url("/api/v1/projects"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let listed: Value = app
        .get("/api/v1/projects?sort=name&order=asc")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|project| project["name"].as_str())
        .collect();
    assert!(
        names.windows(2).all(|pair| pair[0] <= pair[1]) && names.contains(&"Alpha"),
        "{listed}"
    );
    for sort in ["created_at", "updated_at"] {
        let response = app.get(&format!("/api/v1/projects?sort={sort}")).await;
        assert_eq!(response.status(), StatusCode::OK, "sort={sort}");
    }
    let project = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|project| project["name"] == "Alpha")
        .unwrap()
        .clone();
    let project_id = project["id"].as_str().unwrap();
    let read = app.get(&format!("/api/v1/projects/{project_id}")).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let update = |etag: String| {
        app.client
            .put(app.url(&format!("/api/v1/projects/{project_id}")))
            .header("if-match", etag)
            .json(&json!({ "name": "Alpha 2" }))
            .send()
    };
    assert_eq!(update(etag.clone()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        update(etag).await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );

    // Nothing went to the local SQLite file: the documents are in the emulator.
    assert!(
        !app.state
            .settings
            .data_dir
            .join("documents.sqlite3")
            .exists()
    );
    drop(azurite);
    drop(cosmos);
}
