//! Drives queue handlers from a [`JobQueue`] with the settlement rules of Service Bus and the
//! Functions host: success completes the message (after sending its outputs), failure abandons
//! it, and a failure on the final delivery dead-letters it with `MaxDeliveryCountExceeded` and
//! the error as description. The lock is renewed while the handler runs.
//!
//! [`QueueWorker::try_process_next`] handles at most one message, so tests can drive a
//! pipeline step by step; [`QueueWorker::run`] loops until cancelled.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use visiobook_ports::queue::MAX_DELIVERY_COUNT_EXCEEDED;
use visiobook_ports::{ErrorKind, JobQueue, OutgoingMessage};

use crate::registry::{QueueHandler, QueueInvocation};

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No message was visible.
    Idle,
    Completed {
        message_id: String,
    },
    /// The handler failed; the message will be delivered again.
    Abandoned {
        message_id: String,
        error: String,
    },
    /// The handler failed on the final delivery; the message is in the dead-letter queue.
    DeadLettered {
        message_id: String,
        error: String,
    },
    /// The lock expired before settlement; another delivery will redo the work.
    LockLost {
        message_id: String,
    },
}

/// Called after every step that did something (for metrics).
pub type OutcomeObserver = Arc<dyn Fn(&str, &Outcome) + Send + Sync>;

pub struct QueueWorker<S> {
    pub function: &'static str,
    pub queue_name: String,
    pub queue: Arc<dyn JobQueue>,
    pub handler: QueueHandler<S>,
    pub state: S,
}

impl<S> std::fmt::Debug for QueueWorker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueWorker")
            .field("function", &self.function)
            .field("queue_name", &self.queue_name)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Send + Sync + 'static> QueueWorker<S> {
    /// Receives and settles at most one message. Errors are the queue's own (unreachable
    /// store); handler failures are outcomes.
    pub async fn try_process_next(&self) -> anyhow::Result<Outcome> {
        let Some(message) = self.queue.receive(&self.queue_name).await? else {
            return Ok(Outcome::Idle);
        };
        let spec = self.queue.spec(&self.queue_name)?;
        let message_id = message.message_id.clone();
        let lock = message.lock_token.clone();
        let span = tracing::info_span!(
            "queue_message",
            function = self.function,
            queue = %self.queue_name,
            message.id = %message_id,
            message.delivery_count = message.delivery_count,
            correlation.id = message.correlation_id.as_deref().unwrap_or(""),
        );
        self.process(message_id, lock, spec, invocation_parts(message))
            .instrument(span)
            .await
    }

    async fn process(
        &self,
        message_id: String,
        lock: visiobook_ports::LockToken,
        spec: visiobook_ports::QueueSpec,
        parts: MessageParts,
    ) -> anyhow::Result<Outcome> {
        let invocation = QueueInvocation {
            queue: self.queue_name.clone(),
            message_id: parts.message_id,
            body: parts.body,
            correlation_id: parts.correlation_id,
            properties: parts.properties,
            delivery_count: parts.delivery_count,
            max_delivery_count: spec.max_delivery_count,
        };
        let final_delivery = invocation.is_final_delivery();

        // The handler runs in its own task so that a panic is a failed delivery, not a dead
        // worker; meanwhile this task keeps the lock alive. The task carries the message's span,
        // so the handler's records have its correlation id.
        let mut work =
            tokio::spawn((self.handler)(self.state.clone(), invocation).in_current_span());
        let renew_every = (spec.lock_duration / 2).max(Duration::from_millis(200));
        let result = loop {
            tokio::select! {
                joined = &mut work => break joined,
                () = tokio::time::sleep(renew_every) => {
                    if let Err(error) = self.queue.renew_lock(&self.queue_name, &lock).await {
                        tracing::warn!(error = %error, "lock renewal failed");
                    }
                }
            }
        };
        let result = match result {
            Ok(result) => result.map_err(|error| error.to_string()),
            Err(join_error) => Err(format!("handler panicked: {join_error}")),
        };

        let outcome = match result {
            Ok(outputs) => {
                for output in outputs {
                    let mut outgoing =
                        OutgoingMessage::new(output.message_id, serde_json::to_vec(&output.body)?);
                    outgoing.correlation_id = output.correlation_id;
                    self.queue.send(&output.queue, outgoing).await?;
                }
                match self.queue.complete(&self.queue_name, &lock).await {
                    Ok(()) => Outcome::Completed { message_id },
                    Err(error) if error.kind == ErrorKind::LockLost => {
                        Outcome::LockLost { message_id }
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            Err(error) if final_delivery => {
                tracing::error!(error = %error, "final delivery failed; dead-lettering");
                match self
                    .queue
                    .dead_letter(&self.queue_name, &lock, MAX_DELIVERY_COUNT_EXCEEDED, &error)
                    .await
                {
                    Ok(()) => Outcome::DeadLettered { message_id, error },
                    Err(lost) if lost.kind == ErrorKind::LockLost => {
                        Outcome::LockLost { message_id }
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "delivery failed; abandoning for a retry");
                match self.queue.abandon(&self.queue_name, &lock).await {
                    Ok(()) => Outcome::Abandoned { message_id, error },
                    Err(lost) if lost.kind == ErrorKind::LockLost => {
                        Outcome::LockLost { message_id }
                    }
                    Err(other) => return Err(other.into()),
                }
            }
        };
        Ok(outcome)
    }

    /// Processes messages until `stop` is cancelled, polling every `idle_poll` when empty.
    /// A cancelled worker finishes the message in hand first.
    pub async fn run(
        self,
        stop: CancellationToken,
        idle_poll: Duration,
        observer: Option<OutcomeObserver>,
    ) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            match self.try_process_next().await {
                Ok(Outcome::Idle) => {
                    tokio::select! {
                        () = tokio::time::sleep(idle_poll) => {}
                        () = stop.cancelled() => return,
                    }
                }
                Ok(outcome) => {
                    if let Some(observer) = &observer {
                        observer(&self.queue_name, &outcome);
                    }
                }
                Err(error) => {
                    tracing::error!(queue = %self.queue_name, error = %format!("{error:#}"), "queue unavailable; backing off");
                    tokio::select! {
                        () = tokio::time::sleep(idle_poll * 4) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    }
}

struct MessageParts {
    message_id: String,
    body: bytes::Bytes,
    correlation_id: Option<String>,
    properties: std::collections::BTreeMap<String, String>,
    delivery_count: u32,
}

fn invocation_parts(message: visiobook_ports::ReceivedMessage) -> MessageParts {
    MessageParts {
        message_id: message.message_id,
        body: message.body,
        correlation_id: message.correlation_id,
        properties: message.properties,
        delivery_count: message.delivery_count,
    }
}
