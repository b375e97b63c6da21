//! Bad input gets the JSON error envelope with the right 4xx, and loses nothing.

use reqwest::StatusCode;

use crate::support::{TestApp, error_code};

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let app = TestApp::spawn().await;
    assert_eq!(
        error_code(app.get("/api/v1/nothing").await, StatusCode::NOT_FOUND).await,
        "route_not_found"
    );
    assert_eq!(
        error_code(app.get("/").await, StatusCode::NOT_FOUND).await,
        "route_not_found"
    );
    let response = app
        .client
        .delete(app.url("/api/v1/content/upload"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
}

#[tokio::test]
async fn uploads_that_are_not_books_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    assert_eq!(
        error_code(app.upload(Vec::new()).await, StatusCode::BAD_REQUEST).await,
        "empty_upload"
    );
    let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00".to_vec();
    assert_eq!(
        error_code(app.upload(gzip).await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "unsupported_format"
    );
    let response = app
        .client
        .post(app.url("/api/v1/content/upload?lang=english!"))
        .body("Some text.")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid_language"
    );
    let response = app
        .client
        .post(app.url("/api/v1/content/scan-ocr"))
        .body("Plain text is not a scan.")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "not_a_scan"
    );
    let binary = vec![0_u8, 159, 146, 150, 0, 1, 2];
    assert_eq!(
        error_code(app.upload(binary).await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "unsupported_format"
    );
    let form = reqwest::multipart::Form::new().text("title", "no file here");
    let response = app
        .client
        .post(app.url("/api/v1/content/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "missing_file"
    );
    let response = app
        .client
        .post(app.url("/api/v1/content/upload"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("this is not multipart")
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.is_client_error(), "{status}");
    error_code(response, status).await;

    assert!(
        app.state.blobs.list("").await.unwrap().is_empty(),
        "no blob was stored"
    );
    assert_eq!(
        app.state.queue.stats("ingestion").await.unwrap().active,
        0,
        "nothing was queued"
    );
}

#[tokio::test]
async fn a_multipart_upload_is_accepted() {
    let app = TestApp::spawn().await;
    let part =
        reqwest::multipart::Part::bytes(b"A Tale\n\nIt was a dark and stormy night.".to_vec())
            .file_name("../../etc/tale.txt");
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = app
        .client
        .post(app.url("/api/v1/content/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = response.json().await.unwrap();
    let status = app.status(body["id"].as_str().unwrap()).await;
    assert_eq!(
        status["source"]["file_name"], "tale.txt",
        "path parts are stripped"
    );
}

#[tokio::test]
async fn oversize_bodies_get_413_in_the_envelope() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_MAX_BODY_BYTES", "1024")]).await;
    let response = app.upload(vec![b'a'; 4096]).await;
    assert_eq!(
        error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    let part = reqwest::multipart::Part::bytes(vec![b'a'; 4096]).file_name("big.txt");
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = app
        .client
        .post(app.url("/api/v1/content/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    assert!(app.state.blobs.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/content/status/0123456789abcdef0123456789abcdef",
        "/api/v1/content/status/not-an-id",
        "/api/v1/content/status/%2e%2e%2fetc",
        "/api/v1/content/preview/0123456789abcdef0123456789abcdef",
        "/api/v1/assembly/export/mp4?id=0123456789abcdef0123456789abcdef",
    ] {
        let code = error_code(app.get(path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "book_not_found", "{path}");
    }
}

#[tokio::test]
async fn exports_check_their_format_query_and_readiness() {
    let app = TestApp::spawn().await;
    let id = app
        .upload_ok(b"A Tale\n\nIt was a dark and stormy night.".to_vec())
        .await;
    let code = error_code(
        app.get(&format!("/api/v1/assembly/export/avi?id={id}"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "unknown_format");
    let code = error_code(
        app.get("/api/v1/assembly/export/mp4").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_query");
    let code = error_code(
        app.get(&format!("/api/v1/assembly/export/mp4?id={id}"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "export_not_ready");
    let code = error_code(
        app.get(&format!("/api/v1/content/preview/{id}")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "not_ingested");
}

fn ingestion_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("gpu-jobs/ingestion/tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

/// A ZIP with the given entries, each either stored text or a run of zeros.
fn zip_with(entries: &[(&str, Option<&str>, usize)]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, text, zeros) in entries {
        match text {
            Some(text) => {
                writer.start_file(*name, stored).unwrap();
                writer.write_all(text.as_bytes()).unwrap();
            }
            None => {
                writer.start_file(*name, deflated).unwrap();
                let chunk = vec![0_u8; 1 << 20];
                for _ in 0..(*zeros >> 20) {
                    writer.write_all(&chunk).unwrap();
                }
            }
        }
    }
    writer.finish().unwrap().into_inner()
}

const CONTAINER: &str = r#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#;

#[tokio::test]
async fn hostile_and_broken_books_are_refused_at_upload_with_a_code() {
    let app = TestApp::spawn().await;
    let epub = ingestion_fixture("metamorphosis.epub");
    let bomb = zip_with(&[
        ("mimetype", Some("application/epub+zip"), 0),
        ("META-INF/container.xml", Some(CONTAINER), 0),
        ("OEBPS/content.opf", None, 300 << 20),
    ]);
    let traversal = zip_with(&[
        ("mimetype", Some("application/epub+zip"), 0),
        ("META-INF/container.xml", Some(CONTAINER), 0),
        ("../../evil.xhtml", Some("<p>gotcha</p>"), 0),
    ]);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "truncated epub",
            epub[..epub.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt_file",
        ),
        (
            "zip bomb",
            bomb,
            StatusCode::UNPROCESSABLE_ENTITY,
            "zip_bomb",
        ),
        (
            "path traversal",
            traversal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsafe_archive_path",
        ),
        (
            "broken pdf",
            b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt_file",
        ),
        (
            "random bytes",
            (0..4096_u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_format",
        ),
    ];
    for (what, bytes, status, code) in cases {
        let response = app.upload(bytes).await;
        assert_eq!(error_code(response, status).await, code, "{what}");
    }
    assert!(
        app.state.blobs.list("").await.unwrap().is_empty(),
        "nothing was stored"
    );
    assert_eq!(
        app.state.queue.stats("ingestion").await.unwrap().active,
        0,
        "nothing was queued"
    );
}

#[tokio::test]
async fn a_jpeg_named_pdf_is_read_as_the_image_it_is_with_a_warning() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/content/scan-ocr?filename=page.pdf&lang=en"))
        .body(ingestion_fixture("ocr/alice-page-scan.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        app.step("ingestion").await,
        visiobook_host::worker::Outcome::Completed { .. }
    ));
    let status = app.status(&id).await;
    assert_eq!(status["source"]["format"], "image");
    let preview: serde_json::Value = app
        .get(&format!("/api/v1/content/preview/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = preview["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"format_mismatch"), "{codes:?}");
    assert!(codes.contains(&"ocr_page"), "{codes:?}");
    assert!(preview["word_count"].as_u64().unwrap() > 300);
}
