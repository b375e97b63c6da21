//! The Content Ingestion service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `ContentUpload` | `POST /api/v1/content/upload` (multipart `file` field, or the raw body) |
//! | `ContentScanOcr` | `POST /api/v1/content/scan-ocr` (scanned pages: an image or a PDF, read by OCR) |
//! | `ContentStatus` | `GET /api/v1/content/status/{id}` |
//! | `ContentPreview` | `GET /api/v1/content/preview/{id}` |
//! | `ContentIngest` | queue `ingestion`, sends to `analysis` |

mod preview;
mod status;
mod upload;

use axum::http::Method;
use axum::routing::{get, post};
use visiobook_domain::Stage;
use visiobook_host::FunctionDef;
use visiobook_runtime::AppState;

/// Every function of the service.
pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "ContentUpload",
            "v1/content/upload",
            &[Method::POST],
            post(upload::upload),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Upload a book (EPUB, PDF, TXT, Markdown, HTML or scanned pages)",
            )
            .query(visiobook_host::openapi::schema::<upload::UploadQuery>)
            .raw_body(&[
                "application/octet-stream",
                "text/plain",
                "multipart/form-data",
            ])
            .status(202),
        ),
        FunctionDef::http(
            "ContentScanOcr",
            "v1/content/scan-ocr",
            &[Method::POST],
            post(upload::scan_ocr),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Upload scanned pages (PNG, JPEG, TIFF or PDF) to read by OCR",
            )
            .query(visiobook_host::openapi::schema::<upload::UploadQuery>)
            .raw_body(&["application/octet-stream", "multipart/form-data"])
            .status(202),
        ),
        FunctionDef::http(
            "ContentStatus",
            "v1/content/status/{id}",
            &[Method::GET],
            get(status::status),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "A book's pipeline status",
        )),
        FunctionDef::http(
            "ContentPreview",
            "v1/content/preview/{id}",
            &[Method::GET],
            get(preview::preview),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "What ingestion understood of a book",
        )),
        // In Azure the ingestion queue feeds an AKS job (OCR needs tesseract and pdftoppm,
        // which the Flex Consumption plan lacks), so the Function App package leaves it out.
        FunctionDef::queue(
            "ContentIngest",
            Stage::Ingestion.queue(),
            &[Stage::Analysis.queue()],
            |state, invocation| {
                visiobook_pipeline::stage_handler(Stage::Ingestion, state, invocation)
            },
        )
        .local_only(),
    ]
}

fn valid_book_id(id: &str) -> bool {
    visiobook_domain::status::is_book_id(id)
}

fn book_not_found(id: &str) -> visiobook_runtime::ApiError {
    visiobook_runtime::ApiError::not_found("book_not_found", format!("no book with id {id:?}"))
}
