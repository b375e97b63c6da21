//! `NotificationDeliver`: the queue-triggered delivery of events outside the app, by e-mail
//! and to the user's webhook ([`crate::webhook`], one queue message per attempt).
//!
//! At least once: a delivery is recorded after the message is handed to the mail server, and a
//! redelivered queue message whose event was already delivered sends nothing. (A crash between
//! sending and recording sends the e-mail twice; that is the at-least-once trade.) Messages go
//! to an SMTP server (`VISIOBOOK_SMTP_URL`) or, without one, to `.eml` files in the outbox
//! folder, which is what `visiobook dev` does out of the box.

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use serde_json::json;
use visiobook_host::{HandlerError, OutMessage, QueueInvocation};
use visiobook_ports::ErrorKind;
use visiobook_ports::document::read_typed;
use visiobook_runtime::notify::{DELIVERIES_CONTAINER, NOTIFICATIONS_CONTAINER, Notification};
use visiobook_runtime::{AppState, Settings, now_rfc3339};

use crate::webhook::WebhookAttempt;

#[derive(Debug, Deserialize)]
struct DeliveryMessage {
    user_id: String,
    event_id: String,
}

/// The two kinds of message on the queue: an event to deliver, or one webhook attempt.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum QueueMessage {
    Webhook { webhook: WebhookAttempt },
    Event(DeliveryMessage),
}

pub async fn deliver(
    state: AppState,
    invocation: QueueInvocation,
) -> Result<Vec<OutMessage>, HandlerError> {
    let message = match serde_json::from_slice(&invocation.body)
        .context("the message body is not a delivery message")?
    {
        QueueMessage::Webhook { webhook } => {
            crate::webhook::attempt(&state, webhook).await?;
            return Ok(Vec::new());
        }
        QueueMessage::Event(message) => message,
    };
    let store = state.documents.as_ref();
    if store
        .read(DELIVERIES_CONTAINER, &message.user_id, &message.event_id)
        .await?
        .is_some()
    {
        tracing::info!(event.id = %message.event_id, "already delivered; nothing sent");
        return Ok(Vec::new());
    }
    let Some((event, _)) = read_typed::<Notification>(
        store,
        NOTIFICATIONS_CONTAINER,
        &message.user_id,
        &message.event_id,
    )
    .await?
    else {
        // The account was deleted meanwhile: nobody to tell.
        return Ok(Vec::new());
    };
    let Some((user, _)) = read_typed::<visiobook_users::User>(
        store,
        visiobook_users::USERS_CONTAINER,
        &message.user_id,
        &message.user_id,
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    // The webhook's first attempt is queued before the e-mail goes (its message id makes a
    // second queueing a no-op), so a crash after the e-mail cannot lose it.
    crate::webhook::schedule_first(&state, &event).await?;
    let outcome = if user.preferences.notify_by_email {
        let email = compose(&state.settings, &user.display_name, &user.email, &event)?;
        send(&state.settings, email).await?;
        "sent"
    } else {
        "skipped: the user turned e-mail off"
    };
    let record = json!({ "channel": "email", "outcome": outcome, "at": now_rfc3339() });
    match store
        .create(
            DELIVERIES_CONTAINER,
            &message.user_id,
            &message.event_id,
            record,
        )
        .await
    {
        Ok(_) => {}
        Err(error) if error.kind == ErrorKind::Conflict => {}
        Err(error) => return Err(error.into()),
    }
    tracing::info!(event.id = %event.id, event.kind = %event.kind, outcome, "notification delivered");
    Ok(Vec::new())
}

/// The e-mail for one event: a plain-text message with absolute links.
fn compose(
    settings: &Settings,
    name: &str,
    address: &str,
    event: &Notification,
) -> anyhow::Result<Message> {
    let subject = match event.kind.as_str() {
        "book.ready" => format!("Ready: {}", event.message),
        "book.failed" => "Your book could not be finished".to_owned(),
        _ => format!(
            "Visiobook: {}",
            event.message.chars().take(60).collect::<String>()
        ),
    };
    let mut body = format!("Hello {name},\n\n{}\n", event.message);
    if let Some(links) = event.links.as_object() {
        if !links.is_empty() {
            body.push('\n');
        }
        for (label, link) in links {
            if let Some(path) = link.as_str() {
                let url = if path.starts_with('/') {
                    format!("{}{path}", settings.public_url)
                } else {
                    path.to_owned()
                };
                body.push_str(&format!("{label}: {url}\n"));
            }
        }
    }
    body.push_str("\nYou receive this because e-mail notifications are on in your profile.\n");
    let from: Mailbox = settings.mail_from.parse().with_context(|| {
        format!(
            "VISIOBOOK_MAIL_FROM {:?} is not a mailbox",
            settings.mail_from
        )
    })?;
    let to = Mailbox::new(
        Some(name.to_owned()),
        address.parse().context("the user's e-mail")?,
    );
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{}@visiobook>", event.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .context("composing the e-mail")
}

async fn send(settings: &Settings, email: Message) -> anyhow::Result<()> {
    match &settings.smtp_url {
        Some(url) => {
            let rest = url
                .strip_prefix("smtp://")
                .with_context(|| format!("VISIOBOOK_SMTP_URL {url:?} is not smtp://host:port"))?;
            let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
                Some((host, port)) => (host, port.parse().context("the SMTP port")?),
                None => (rest.trim_end_matches('/'), 25),
            };
            // Plain SMTP to a relay the operator runs (a local MTA, or a sidecar that speaks
            // TLS to the provider).
            let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .build();
            transport
                .send(email)
                .await
                .context("the SMTP server refused the message")?;
        }
        None => {
            let outbox = settings.data_dir.join("outbox");
            tokio::fs::create_dir_all(&outbox).await?;
            AsyncFileTransport::<Tokio1Executor>::new(&outbox)
                .send(email)
                .await
                .context("writing to the outbox")?;
        }
    }
    Ok(())
}
