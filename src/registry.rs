//! The one place that declares every function of the app and every pipeline job.

use std::sync::{Arc, OnceLock};

use axum::http::Method;
use axum::routing::get;

use visiobook_domain::Stage;
use visiobook_host::openapi::{self, OperationDoc};
use visiobook_host::worker::QueueWorker;
use visiobook_host::{FunctionDef, QueueHandler, Registry};
use visiobook_runtime::AppState;

/// Every Azure Function of the app, with `OpenApi` serving the document generated from all of
/// them (itself included).
pub fn functions() -> anyhow::Result<Registry<AppState>> {
    let mut functions = visiobook_platform::functions();
    functions.extend(visiobook_content::functions());
    functions.extend(visiobook_analysis_api::functions());
    functions.extend(visiobook_media_api::functions());
    functions.extend(visiobook_assembly_api::functions());
    functions.extend(visiobook_users::functions());
    functions.extend(visiobook_projects::functions());
    functions.extend(visiobook_notifications::functions());
    functions.extend(visiobook_configuration::functions());
    functions.extend(visiobook_payments::functions());
    functions.extend(visiobook_analytics::functions());
    let document = Arc::new(OnceLock::new());
    let served = document.clone();
    functions.push(
        FunctionDef::http(
            "OpenApi",
            "v1/openapi.json",
            &[Method::GET],
            get(move || {
                let served = served.clone();
                async move { axum::Json(served.get().cloned().unwrap_or_default()) }
            }),
        )
        .doc(OperationDoc::get("This document: OpenAPI 3.1 of every HTTP function").public()),
    );
    let _ = document.set(openapi::document(
        &functions,
        "Visiobook API",
        env!("CARGO_PKG_VERSION"),
    ));
    Registry::new(functions)
}

/// The routes of the local estate (`visiobook dev`): every HTTP function under `/api`, and the
/// notification socket that the Functions host cannot serve (Web PubSub does, in Azure).
pub fn local_routes(registry: &Registry<AppState>) -> axum::Router<AppState> {
    registry
        .http_router()
        .merge(visiobook_notifications::socket_routes())
}

/// The stages that have no function of their own, run in-process by `dev` and `render` and as
/// KEDA jobs on AKS: `(name, stage)`. (Ingestion has `ContentIngest` locally, and in Azure
/// a KEDA job too: the package leaves that function out.)
pub const JOBS: [(&str, Stage); 3] = [
    ("AnalysisJob", Stage::Analysis),
    ("GenerationJob", Stage::Generation),
    ("AssemblyJob", Stage::Assembly),
];

pub fn job_handler(stage: Stage) -> QueueHandler<AppState> {
    Arc::new(move |state, invocation| {
        Box::pin(visiobook_pipeline::stage_handler(stage, state, invocation))
    })
}

/// One worker per queue-triggered function and per job: what `dev` and `render` run in-process.
pub fn queue_workers(
    registry: &Registry<AppState>,
    state: &AppState,
) -> Vec<QueueWorker<AppState>> {
    let functions = registry
        .queue_functions()
        .map(|(name, queue, handler)| QueueWorker {
            function: name,
            queue_name: queue.to_owned(),
            queue: state.queue.clone(),
            handler: handler.clone(),
            state: state.clone(),
        });
    let jobs = JOBS.into_iter().map(|(name, stage)| QueueWorker {
        function: name,
        queue_name: stage.queue().to_owned(),
        queue: state.queue.clone(),
        handler: job_handler(stage),
        state: state.clone(),
    });
    functions.chain(jobs).collect()
}
