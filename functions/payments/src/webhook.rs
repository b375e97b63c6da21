//! `POST /api/v1/payments/webhook`: Stripe's events.
//!
//! The signature is checked first (`Stripe-Signature`, secret `STRIPE_WEBHOOK_SECRET`, five
//! minutes of tolerance, constant-time comparison). Each event id is then claimed in the
//! `stripe-events` container, whose creation is the lock: an event delivered again after it
//! was handled is answered 200 and changes nothing; one still being handled elsewhere gets 409
//! so that Stripe retries it later; a claim left by a crash is taken over after two minutes. A
//! failure releases the claim and answers an error, so Stripe delivers the event again.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use visiobook_ports::document::{read_typed, to_body};
use visiobook_ports::{ErrorKind, StoreError};
use visiobook_runtime::billing;
use visiobook_runtime::error::ApiJson;
use visiobook_runtime::{ApiError, AppState, now_rfc3339};

use crate::stripe::{SignatureError, verify_signature};
use crate::{
    HISTORY_CONTAINER, HistoryEntry, PAYMENTS_CONTAINER, Payment, STRIPE_EVENTS_CONTAINER,
    STRIPE_LINKS_CONTAINER, SUBSCRIPTIONS_CONTAINER, Subscription, count_transaction,
    end_plan_if_current, record,
};

/// A claim older than this was left by a crash and may be taken over.
const CLAIM_TIMEOUT_MS: i64 = 120_000;

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    kind: String,
    /// `processing` or `done`.
    state: String,
    claimed_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
}

/// Where a Stripe subscription leads in Visiobook.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Link {
    user_id: String,
    subscription_id: String,
}

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = &state.settings.stripe_webhook_secret else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook_not_configured",
            "STRIPE_WEBHOOK_SECRET is not set; no event is accepted",
        ));
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    if let Err(error) = verify_signature(&body, header, secret.expose(), now) {
        let code = match error {
            SignatureError::OutsideTolerance(_) => "signature_expired",
            SignatureError::Malformed | SignatureError::Mismatch => "invalid_signature",
        };
        tracing::warn!(%error, "Stripe webhook refused");
        return Err(ApiError::bad_request(code, error.to_string()));
    }
    let event: Event = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request("invalid_event", format!("not a Stripe event: {error}"))
    })?;
    if !claim(&state, &event).await? {
        return Ok(ApiJson(json!({ "received": true, "duplicate": true })).into_response());
    }
    match handle(&state, &event).await {
        Ok(outcome) => {
            let done = Claim {
                kind: event.kind.clone(),
                state: "done".into(),
                claimed_at_ms: chrono::Utc::now().timestamp_millis(),
                outcome: Some(outcome.to_owned()),
            };
            state
                .documents
                .upsert(
                    STRIPE_EVENTS_CONTAINER,
                    &event.id,
                    &event.id,
                    to_body(&done)?,
                )
                .await?;
            tracing::info!(event.id = %event.id, event.kind = %event.kind, outcome, "Stripe event handled");
            Ok(ApiJson(json!({ "received": true, "outcome": outcome })).into_response())
        }
        Err(error) => {
            // Let Stripe deliver it again.
            let _ = state
                .documents
                .delete(STRIPE_EVENTS_CONTAINER, &event.id, &event.id, None)
                .await;
            Err(error)
        }
    }
}

/// Claims `event` for this request: `Ok(false)` when it was handled already.
async fn claim(state: &AppState, event: &Event) -> Result<bool, ApiError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let claim = Claim {
        kind: event.kind.clone(),
        state: "processing".into(),
        claimed_at_ms: now_ms,
        outcome: None,
    };
    match state
        .documents
        .create(
            STRIPE_EVENTS_CONTAINER,
            &event.id,
            &event.id,
            to_body(&claim)?,
        )
        .await
    {
        Ok(_) => return Ok(true),
        Err(error) if error.kind == ErrorKind::Conflict => {}
        Err(error) => return Err(error.into()),
    }
    let Some((existing, etag)) = read_typed::<Claim>(
        state.documents.as_ref(),
        STRIPE_EVENTS_CONTAINER,
        &event.id,
        &event.id,
    )
    .await?
    else {
        return Err(in_progress());
    };
    if existing.state == "done" {
        return Ok(false);
    }
    if now_ms - existing.claimed_at_ms < CLAIM_TIMEOUT_MS {
        return Err(in_progress());
    }
    match state
        .documents
        .replace(
            STRIPE_EVENTS_CONTAINER,
            &event.id,
            &event.id,
            to_body(&claim)?,
            Some(&etag),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.kind == ErrorKind::PreconditionFailed => Err(in_progress()),
        Err(error) => Err(error.into()),
    }
}

fn in_progress() -> ApiError {
    ApiError::conflict(
        "event_in_progress",
        "this event is being handled; deliver it again later",
    )
}

fn text<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// A Stripe id field that may be a string or an expanded object.
fn id_of<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    match object.pointer(pointer)? {
        Value::String(id) => Some(id),
        Value::Object(expanded) => expanded.get("id").and_then(Value::as_str),
        _ => None,
    }
}

async fn handle(state: &AppState, event: &Event) -> Result<&'static str, ApiError> {
    let object = &event.data.object;
    match event.kind.as_str() {
        "checkout.session.completed" => checkout_completed(state, event, object).await,
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => subscription_changed(state, event, object).await,
        "invoice.paid" | "invoice.payment_succeeded" | "invoice.payment_failed" => {
            invoice(state, event, object).await
        }
        _ => Ok("ignored"),
    }
}

async fn load_subscription(
    state: &AppState,
    user_id: &str,
    id: &str,
) -> Result<Option<(Subscription, visiobook_ports::ETag)>, StoreError> {
    read_typed(
        state.documents.as_ref(),
        SUBSCRIPTIONS_CONTAINER,
        user_id,
        id,
    )
    .await
}

/// Changes a stored subscription with compare-and-swap.
async fn update_subscription(
    state: &AppState,
    user_id: &str,
    id: &str,
    change: impl Fn(&mut Subscription),
) -> Result<Option<Subscription>, ApiError> {
    for _ in 0..16 {
        let Some((mut subscription, etag)) = load_subscription(state, user_id, id).await? else {
            return Ok(None);
        };
        change(&mut subscription);
        subscription.updated_at = now_rfc3339();
        match state
            .documents
            .replace(
                SUBSCRIPTIONS_CONTAINER,
                user_id,
                id,
                to_body(&subscription)?,
                Some(&etag),
            )
            .await
        {
            Ok(_) => return Ok(Some(subscription)),
            Err(error) if error.kind == ErrorKind::PreconditionFailed => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(ApiError::unavailable("the subscription kept changing"))
}

fn entry(event: &Event, kind: &str, description: String) -> HistoryEntry {
    HistoryEntry {
        // Stable per event: one entry however often it arrives.
        id: format!("stripe-{}", event.id),
        kind: kind.into(),
        provider: "stripe".into(),
        amount_cents: None,
        currency: None,
        subscription_id: None,
        payment_id: None,
        description,
        at: now_rfc3339(),
    }
}

async fn checkout_completed(
    state: &AppState,
    event: &Event,
    session: &Value,
) -> Result<&'static str, ApiError> {
    let Some(user_id) = text(session, "/metadata/user_id")
        .or_else(|| text(session, "/client_reference_id"))
        .map(str::to_owned)
    else {
        return Ok("ignored: no user");
    };
    let paid = matches!(
        text(session, "/payment_status"),
        Some("paid" | "no_payment_required")
    );
    match text(session, "/mode") {
        Some("subscription") => {
            let Some(subscription_id) = text(session, "/metadata/subscription_id") else {
                return Ok("ignored: no subscription");
            };
            if !paid {
                return Ok("waiting for payment");
            }
            let stripe_id = id_of(session, "/subscription").map(str::to_owned);
            let customer = id_of(session, "/customer").map(str::to_owned);
            let Some(subscription) =
                update_subscription(state, &user_id, subscription_id, |subscription| {
                    if subscription.status != "canceled" {
                        subscription.status = "active".into();
                    }
                    subscription.stripe_subscription_id = stripe_id.clone();
                    subscription.stripe_customer_id = customer.clone();
                })
                .await?
            else {
                return Ok("ignored: unknown subscription");
            };
            if let Some(stripe_id) = &stripe_id {
                let link = Link {
                    user_id: user_id.clone(),
                    subscription_id: subscription_id.to_owned(),
                };
                state
                    .documents
                    .upsert(
                        STRIPE_LINKS_CONTAINER,
                        stripe_id,
                        stripe_id,
                        to_body(&link)?,
                    )
                    .await?;
            }
            if subscription.status != "active" {
                return Ok("ignored: canceled before payment");
            }
            billing::set_plan(state, &user_id, &subscription.plan, Some(subscription_id)).await?;
            visiobook_runtime::analytics::record(
                state,
                "subscription.activated",
                Some(&user_id),
                json!({ "plan": subscription.plan, "provider": "stripe" }),
            )
            .await;
            let mut line = entry(
                event,
                "subscription.activated",
                format!("{} plan", subscription.plan),
            );
            line.subscription_id = Some(subscription_id.to_owned());
            line.amount_cents = session.get("amount_total").and_then(Value::as_u64);
            line.currency = text(session, "/currency").map(str::to_owned);
            record(state, &user_id, &line).await?;
            Ok("subscription activated")
        }
        Some("payment") => {
            let Some(payment_id) = text(session, "/metadata/payment_id") else {
                return Ok("ignored: no payment");
            };
            let Some((mut payment, etag)) = read_typed::<Payment>(
                state.documents.as_ref(),
                PAYMENTS_CONTAINER,
                &user_id,
                payment_id,
            )
            .await?
            else {
                return Ok("ignored: unknown payment");
            };
            if !paid {
                return Ok("waiting for payment");
            }
            if payment.status != "succeeded" {
                payment.status = "succeeded".into();
                payment.updated_at = now_rfc3339();
                match state
                    .documents
                    .replace(
                        PAYMENTS_CONTAINER,
                        &user_id,
                        payment_id,
                        to_body(&payment)?,
                        Some(&etag),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(error) if error.kind == ErrorKind::PreconditionFailed => {}
                    Err(error) => return Err(error.into()),
                }
            }
            // Idempotent by payment id, so a second event for the same payment adds nothing.
            if billing::add_bonus_minutes(state, &user_id, payment_id, payment.minutes).await? {
                count_transaction(state, "stripe", "succeeded");
            }
            let mut line = entry(
                event,
                "payment.succeeded",
                format!("{} narration minutes", payment.minutes),
            );
            line.payment_id = Some(payment_id.to_owned());
            line.amount_cents = Some(payment.amount_cents);
            line.currency = Some(payment.currency.clone());
            record(state, &user_id, &line).await?;
            Ok("minutes added")
        }
        _ => Ok("ignored: mode"),
    }
}

/// Finds the Visiobook subscription of a Stripe subscription: by the link written at checkout,
/// else by the metadata set on the subscription at checkout (events may arrive out of order).
async fn link_of(
    state: &AppState,
    stripe_id: &str,
    object: &Value,
) -> Result<Option<Link>, ApiError> {
    if let Some((link, _)) = read_typed::<Link>(
        state.documents.as_ref(),
        STRIPE_LINKS_CONTAINER,
        stripe_id,
        stripe_id,
    )
    .await?
    {
        return Ok(Some(link));
    }
    let metadata = |field: &str| {
        text(object, &format!("/metadata/{field}"))
            .or_else(|| text(object, &format!("/subscription_details/metadata/{field}")))
            .or_else(|| {
                text(
                    object,
                    &format!("/parent/subscription_details/metadata/{field}"),
                )
            })
            .map(str::to_owned)
    };
    Ok(match (metadata("user_id"), metadata("subscription_id")) {
        (Some(user_id), Some(subscription_id)) => Some(Link {
            user_id,
            subscription_id,
        }),
        _ => None,
    })
}

fn unix_to_rfc3339(seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(seconds, 0).map(|time| time.to_rfc3339())
}

async fn subscription_changed(
    state: &AppState,
    event: &Event,
    object: &Value,
) -> Result<&'static str, ApiError> {
    let Some(stripe_id) = text(object, "/id") else {
        return Ok("ignored: no id");
    };
    let Some(link) = link_of(state, stripe_id, object).await? else {
        return Ok("ignored: not ours");
    };
    let stripe_status = text(object, "/status").unwrap_or("");
    let ended = event.kind == "customer.subscription.deleted"
        || matches!(stripe_status, "canceled" | "incomplete_expired");
    let status = match stripe_status {
        _ if ended => "canceled",
        "active" | "trialing" => "active",
        "past_due" | "unpaid" => "past_due",
        _ => "incomplete",
    };
    // Recent API versions put the period on the subscription's items.
    let period_end = object
        .get("current_period_end")
        .and_then(Value::as_i64)
        .or_else(|| {
            object
                .pointer("/items/data/0/current_period_end")
                .and_then(Value::as_i64)
        })
        .and_then(unix_to_rfc3339);
    let cancel_at_period_end = object
        .get("cancel_at_period_end")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let customer = id_of(object, "/customer").map(str::to_owned);
    let Some(subscription) = update_subscription(
        state,
        &link.user_id,
        &link.subscription_id,
        |subscription| {
            // A canceled subscription never comes back (Stripe cannot reopen it); a late
            // `updated` event must not undo a `deleted` one.
            if subscription.status == "canceled" {
                return;
            }
            subscription.status = status.into();
            subscription.cancel_at_period_end = cancel_at_period_end;
            if period_end.is_some() {
                subscription.current_period_end = period_end.clone();
            }
            subscription.stripe_subscription_id = Some(stripe_id.to_owned());
            if customer.is_some() {
                subscription.stripe_customer_id = customer.clone();
            }
        },
    )
    .await?
    else {
        return Ok("ignored: unknown subscription");
    };
    match subscription.status.as_str() {
        "canceled" => {
            end_plan_if_current(state, &link.user_id, &link.subscription_id).await?;
            let mut line = entry(
                event,
                "subscription.canceled",
                format!("{} plan ended", subscription.plan),
            );
            line.subscription_id = Some(link.subscription_id.clone());
            record(state, &link.user_id, &line).await?;
            Ok("subscription canceled")
        }
        "active" => {
            billing::set_plan(
                state,
                &link.user_id,
                &subscription.plan,
                Some(&link.subscription_id),
            )
            .await?;
            Ok("subscription active")
        }
        "past_due" => {
            let mut line = entry(
                event,
                "subscription.past_due",
                format!("{} plan: payment overdue", subscription.plan),
            );
            line.subscription_id = Some(link.subscription_id.clone());
            record(state, &link.user_id, &line).await?;
            Ok("subscription past due")
        }
        _ => Ok("subscription updated"),
    }
}

async fn invoice(
    state: &AppState,
    event: &Event,
    invoice: &Value,
) -> Result<&'static str, ApiError> {
    let stripe_id = id_of(invoice, "/subscription")
        .or_else(|| id_of(invoice, "/parent/subscription_details/subscription"))
        .map(str::to_owned);
    let Some(stripe_id) = stripe_id else {
        return Ok("ignored: not a subscription invoice");
    };
    let Some(link) = link_of(state, &stripe_id, invoice).await? else {
        return Ok("ignored: not ours");
    };
    let paid = event.kind != "invoice.payment_failed";
    let amount = if paid {
        invoice.get("amount_paid")
    } else {
        invoice.get("amount_due")
    }
    .and_then(Value::as_u64);
    let mut line = entry(
        event,
        if paid {
            "invoice.paid"
        } else {
            "invoice.payment_failed"
        },
        text(invoice, "/number")
            .map(|number| format!("invoice {number}"))
            .unwrap_or_else(|| "invoice".into()),
    );
    line.amount_cents = amount;
    line.currency = text(invoice, "/currency").map(str::to_owned);
    line.subscription_id = Some(link.subscription_id.clone());
    // The history entry is the idempotency key of the count, so a redelivery counts nothing.
    let exists = state
        .documents
        .create(HISTORY_CONTAINER, &link.user_id, &line.id, to_body(&line)?)
        .await;
    match exists {
        Ok(_) => count_transaction(state, "stripe", if paid { "succeeded" } else { "failed" }),
        Err(error) if error.kind == ErrorKind::Conflict => {}
        Err(error) => return Err(error.into()),
    }
    Ok(if paid {
        "invoice paid"
    } else {
        "invoice payment failed"
    })
}
