//! `visiobook serve`: custom-handler mode under the Azure Functions host.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use visiobook_host::serve::{ServeOptions, custom_handler_router};
use visiobook_runtime::{AppState, Settings};

use crate::registry;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let port = settings
        .custom_handler_port
        .context("FUNCTIONS_CUSTOMHANDLER_PORT is not set; the Functions host sets it when it starts the handler")?;
    let options = ServeOptions {
        max_delivery_count: settings.max_delivery_count,
        max_body_bytes: settings.max_body_bytes,
    };
    let state = AppState::open(settings)?;
    crate::telemetry::forward_to_store(&state);
    let registry = Arc::new(registry::functions()?);
    let http = visiobook_runtime::http::finish_router(registry.http_router(), state.clone());
    let app = custom_handler_router(registry.clone(), state, http, options);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(address = %listener.local_addr()?, functions = registry.functions.len(), "custom handler ready");
    axum::serve(listener, app)
        .with_graceful_shutdown(super::shutdown_signal())
        .await
        .context("the HTTP server failed")
}
