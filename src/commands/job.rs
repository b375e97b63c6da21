//! `visiobook job STAGE`: the KEDA ScaledJob face. `--once` handles at most one message and
//! exits (KEDA starts one job per message); `--loop` keeps consuming until SIGTERM. A `--once`
//! job told to stop (SIGTERM: a node drained, a deadline reached) exits at once rather than
//! waiting out the grace period as PID 1: the message's lock lapses, Service Bus delivers it
//! again, and the next job resumes from the stage's checkpoints.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use visiobook_domain::Stage;
use visiobook_host::worker::{Outcome, QueueWorker};
use visiobook_runtime::{AppState, Settings};

use crate::registry;

pub async fn run(settings: Settings, stage: Stage, run_loop: bool) -> anyhow::Result<()> {
    let state = AppState::open(settings)?;
    crate::telemetry::forward_to_store(&state);
    let worker = QueueWorker {
        function: "job",
        queue_name: stage.queue().to_owned(),
        queue: state.queue.clone(),
        handler: registry::job_handler(stage),
        state: state.clone(),
    };
    if run_loop {
        let stop = CancellationToken::new();
        let observer = super::dev::outcome_observer(&state);
        let poll = state.settings.queue_poll;
        let worker_task = tokio::spawn(worker.run(stop.clone(), poll, Some(Arc::clone(&observer))));
        super::shutdown_signal().await;
        stop.cancel();
        worker_task.await?;
        return Ok(());
    }
    let outcome = tokio::select! {
        outcome = worker.try_process_next() => outcome?,
        () = super::shutdown_signal() => {
            tracing::warn!(
                queue = stage.queue(),
                "stopping on request; the message in hand will be delivered again"
            );
            return Ok(());
        }
    };
    let summary = match &outcome {
        Outcome::Idle => serde_json::json!({ "outcome": "idle" }),
        Outcome::Completed { message_id } => {
            serde_json::json!({ "outcome": "completed", "message_id": message_id })
        }
        Outcome::Abandoned { message_id, error } => {
            serde_json::json!({ "outcome": "abandoned", "message_id": message_id, "error": error })
        }
        Outcome::DeadLettered { message_id, error } => {
            serde_json::json!({ "outcome": "dead_lettered", "message_id": message_id, "error": error })
        }
        Outcome::LockLost { message_id } => {
            serde_json::json!({ "outcome": "lock_lost", "message_id": message_id })
        }
    };
    #[expect(
        clippy::print_stdout,
        reason = "the job's one-line result is its output"
    )]
    {
        println!("{summary}");
    }
    Ok(())
}
