//! The app on Azure's Blob Storage: Azurite (the Azure Storage emulator) holds every upload,
//! artifact and export of a book rendered end to end, reached through the same adapter and SAS
//! a deployment without an identity would use.

use reqwest::StatusCode;
use visiobook_azure::azurite::Azurite;

use crate::support::{TestApp, assert_playable_video, fixture_bytes};

#[tokio::test(flavor = "multi_thread")]
async fn a_book_renders_with_every_file_in_blob_storage() {
    let azurite = Azurite::start().await;
    let url = azurite.container("visiobook").await;
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_BLOB_STORE", "azure"),
        ("VISIOBOOK_BLOB_SAS_URL", url.as_str()),
        ("VISIOBOOK_EXPORT_FORMATS", "mp4,srt"),
    ])
    .await;
    let ready = app.get("/api/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);

    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready");
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
