//! `visiobook dev`: the local estate on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use visiobook_host::worker::{Outcome, OutcomeObserver};
use visiobook_runtime::metrics::QueueOutcomeLabels;
use visiobook_runtime::{AppState, Settings};

use crate::registry;

/// How long workers may finish the message in hand after a shutdown request; after that the
/// process exits and the message's lock simply expires (it is redelivered next time).
const WORKER_GRACE: Duration = Duration::from_secs(10);

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let port = settings.dev_port;
    let state = AppState::open(settings)?;
    crate::telemetry::forward_to_store(&state);
    let registry = Arc::new(registry::functions()?);
    let app = visiobook_runtime::http::finish_router(
        crate::registry::local_routes(&registry),
        state.clone(),
    );

    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let observer = outcome_observer(&state);
    for worker in registry::queue_workers(&registry, &state) {
        tracing::info!(function = worker.function, queue = %worker.queue_name, "queue worker started");
        tasks.spawn(worker.run(
            stop.clone(),
            state.settings.queue_poll,
            Some(observer.clone()),
        ));
    }
    for (name, schedule, handler) in registry.timer_functions() {
        let schedule = visiobook_host::timer::parse_schedule(schedule)?;
        tracing::info!(function = name, "timer started");
        tasks.spawn(visiobook_host::timer::run_timer(
            name,
            schedule,
            handler.clone(),
            state.clone(),
            stop.clone(),
        ));
    }

    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        functions = registry.functions.len(),
        "visiobook dev is listening; HTTP functions are under /api"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(super::shutdown_signal())
    .await
    .context("the HTTP server failed")?;

    stop.cancel();
    let drained = tokio::time::timeout(WORKER_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "workers still busy after the grace period; their messages will be redelivered"
        );
    }
    Ok(())
}

/// Counts settled messages in the metrics.
pub fn outcome_observer(state: &AppState) -> OutcomeObserver {
    let metrics = state.metrics.clone();
    Arc::new(move |queue: &str, outcome: &Outcome| {
        let outcome = match outcome {
            Outcome::Idle => return,
            Outcome::Completed { .. } => "completed",
            Outcome::Abandoned { .. } => "abandoned",
            Outcome::DeadLettered { .. } => "dead_lettered",
            Outcome::LockLost { .. } => "lock_lost",
        };
        metrics
            .queue_messages
            .get_or_create(&QueueOutcomeLabels {
                queue: queue.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    })
}
