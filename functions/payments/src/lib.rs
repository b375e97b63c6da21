//! The Payment service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `Plans` | `GET /api/v1/billing/plans`: the catalogue and its entitlements (public) |
//! | `Subscriptions` | `POST /api/v1/subscriptions`: subscribe to a plan (Stripe Checkout, or at once with the `local` provider) |
//! | `SubscriptionCancel` | `PUT /api/v1/subscriptions/{id}/cancel` |
//! | `SubscriptionStatus` | `GET /api/v1/subscriptions/{id}/status`: the subscription, its entitlements and this month's usage |
//! | `PaymentProcess` | `POST /api/v1/payments/process`: buy narration minutes for this month, once per `Idempotency-Key` |
//! | `BillingHistory` | `GET /api/v1/billing/history`: payments, invoices and subscription changes, with this month's usage |
//! | `PaymentWebhook` | `POST /api/v1/payments/webhook`: Stripe events, signature-checked, each processed once |
//!
//! Metering (reserve at admission, settle at completion) is [`visiobook_runtime::billing`];
//! this service sells what it meters.

mod stripe;
mod webhook;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use visiobook_host::FunctionDef;
use visiobook_host::openapi::{OperationDoc, schema};
use visiobook_ports::document::{query_all_typed, read_typed, to_body};
use visiobook_ports::{ErrorKind, Order, Query};
use visiobook_runtime::billing::{self, Plan};
use visiobook_runtime::error::{ApiJson, ApiPath, ApiQuery};
use visiobook_runtime::metrics::PaymentLabels;
use visiobook_runtime::settings::PaymentProvider;
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

pub use stripe::{SignatureError, verify_signature};

/// Subscriptions (partition key: the user; id: the subscription id).
pub const SUBSCRIPTIONS_CONTAINER: &str = "subscriptions";
/// One-off payments (partition key: the user; id: the payment id).
pub const PAYMENTS_CONTAINER: &str = "payments";
/// What the user was charged and why (partition key: the user).
pub const HISTORY_CONTAINER: &str = "billing-history";
/// Stripe subscription id to ours (partition key and id: Stripe's id).
pub const STRIPE_LINKS_CONTAINER: &str = "stripe-subscriptions";
/// Stripe events already handled (partition key and id: the event id).
pub const STRIPE_EVENTS_CONTAINER: &str = "stripe-events";

/// Price of one narration minute bought on top of a plan, in cents (the `billing`
/// configuration's `minute_price_cents` overrides it).
const MINUTE_PRICE_CENTS: u64 = 4;

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http("Plans", "v1/billing/plans", &[Method::GET], get(list_plans))
            .doc(OperationDoc::get("The plans and what each includes").public()),
        FunctionDef::http(
            "Subscriptions",
            "v1/subscriptions",
            &[Method::POST],
            post(subscribe),
        )
        .doc(
            OperationDoc::post(
                "Subscribe to a plan: a Stripe Checkout link, or active at once with the local provider",
            )
            .body(schema::<SubscribeRequest>)
            .status(201),
        ),
        FunctionDef::http(
            "SubscriptionCancel",
            "v1/subscriptions/{id}/cancel",
            &[Method::PUT],
            put(cancel),
        )
        .doc(OperationDoc::put(
            "Cancel a subscription (Stripe: at the end of the paid period)",
        )),
        FunctionDef::http(
            "SubscriptionStatus",
            "v1/subscriptions/{id}/status",
            &[Method::GET],
            get(status),
        )
        .doc(OperationDoc::get(
            "A subscription with its plan's entitlements and this month's usage",
        )),
        FunctionDef::http(
            "PaymentProcess",
            "v1/payments/process",
            &[Method::POST],
            post(process),
        )
        .doc(
            OperationDoc::post(
                "Buy narration minutes for this month (once per Idempotency-Key)",
            )
            .body(schema::<ProcessRequest>)
            .status(201),
        ),
        FunctionDef::http(
            "BillingHistory",
            "v1/billing/history",
            &[Method::GET],
            get(history),
        )
        .doc(
            OperationDoc::get("Payments, invoices and subscription changes, newest first")
                .query(schema::<HistoryQuery>),
        ),
        FunctionDef::http(
            "PaymentWebhook",
            "v1/payments/webhook",
            &[Method::POST],
            post(webhook::receive),
        )
        .doc(
            OperationDoc::post(
                "Stripe events (Stripe-Signature checked; each event id processed once)",
            )
            .public(),
        ),
    ]
}

/// A subscription to a paid plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub plan: String,
    /// `local` (development: no money moves) or `stripe`.
    pub provider: String,
    /// `incomplete` (waiting for Checkout), `active`, `past_due` or `canceled`.
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Subscription {
    fn view(&self) -> Value {
        let mut view = json!({
            "id": self.id,
            "plan": self.plan,
            "provider": self.provider,
            "status": self.status,
            "cancel_at_period_end": self.cancel_at_period_end,
            "current_period_end": self.current_period_end,
            "checkout_url": self.checkout_url,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if self.provider == "local" {
            view["note"] = json!(LOCAL_NOTE);
        }
        view
    }
}

/// Said with everything the `local` provider does, so that nobody mistakes it for a payment.
const LOCAL_NOTE: &str = "local payment provider for development and tests: no money was taken";

/// A purchase of narration minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub user_id: String,
    pub minutes: u32,
    pub amount_cents: u64,
    pub currency: String,
    pub provider: String,
    /// `pending` (Stripe Checkout open), `succeeded` or `failed`.
    pub status: String,
    pub idempotency_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Payment {
    fn view(&self) -> Value {
        let mut view = json!({
            "id": self.id,
            "minutes": self.minutes,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "provider": self.provider,
            "status": self.status,
            "checkout_url": self.checkout_url,
            "created_at": self.created_at,
        });
        if self.provider == "local" {
            view["note"] = json!(LOCAL_NOTE);
        }
        view
    }
}

/// One line of the billing history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: String,
    /// `subscription.created`, `subscription.activated`, `subscription.canceled`,
    /// `subscription.past_due`, `payment.succeeded`, `payment.failed`, `invoice.paid`,
    /// `invoice.payment_failed`.
    pub kind: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    pub description: String,
    pub at: String,
}

/// Appends `entry` to the user's history; an entry with the same id (the same Stripe event,
/// delivered again) is kept once.
async fn record(state: &AppState, user_id: &str, entry: &HistoryEntry) -> Result<(), ApiError> {
    match state
        .documents
        .create(HISTORY_CONTAINER, user_id, &entry.id, to_body(entry)?)
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind == ErrorKind::Conflict => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A history id that sorts by time: milliseconds, then a random suffix.
fn history_id(suffix: &str) -> String {
    format!(
        "{:013}-{suffix}",
        chrono::Utc::now().timestamp_millis().max(0)
    )
}

fn provider_name(state: &AppState) -> &'static str {
    match state.settings.payments {
        PaymentProvider::Local => "local",
        PaymentProvider::Stripe { .. } => "stripe",
    }
}

fn count_transaction(state: &AppState, provider: &str, outcome: &str) {
    state
        .metrics
        .payment_transactions
        .get_or_create(&PaymentLabels {
            provider: provider.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
}

fn stripe_client(
    state: &AppState,
) -> Option<(stripe::Client, &std::collections::BTreeMap<String, String>)> {
    match &state.settings.payments {
        PaymentProvider::Stripe {
            api_key,
            api_base,
            prices,
        } => Some((stripe::Client::new(api_base, api_key.expose()), prices)),
        PaymentProvider::Local => None,
    }
}

fn stripe_failed(error: stripe::StripeError) -> ApiError {
    match error {
        stripe::StripeError::Transport(error) => ApiError::unavailable(error),
        refused @ stripe::StripeError::Refused { .. } => {
            tracing::error!(error = %refused, "the payment provider refused a request");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_provider_error",
                "the payment provider refused the request; try again later",
            )
        }
    }
}

/// `GET /api/v1/billing/plans`.
async fn list_plans(State(state): State<AppState>) -> Result<ApiJson<Value>, ApiError> {
    let plans = billing::plans(&state).await?;
    Ok(ApiJson(json!({
        "provider": provider_name(&state),
        "plans": plans,
    })))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    /// A paid plan of `GET /api/v1/billing/plans`.
    plan: String,
}

async fn paid_plan(state: &AppState, name: &str) -> Result<Plan, ApiError> {
    match billing::find_plan(state, name).await? {
        Some(plan) if plan.price_cents > 0 => Ok(plan),
        Some(_) => Err(ApiError::bad_request(
            "free_plan",
            "the free plan needs no subscription: cancel the current one instead",
        )),
        None => Err(ApiError::bad_request(
            "unknown_plan",
            format!("{name:?} is not a plan; GET /api/v1/billing/plans lists them"),
        )),
    }
}

async fn subscriptions_of(state: &AppState, user_id: &str) -> Result<Vec<Subscription>, ApiError> {
    Ok(query_all_typed(
        state.documents.as_ref(),
        SUBSCRIPTIONS_CONTAINER,
        user_id,
        &Query::default(),
    )
    .await?)
}

/// `POST /api/v1/subscriptions`.
async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SubscribeRequest>,
) -> Result<Response, ApiError> {
    let plan = paid_plan(&state, &request.plan).await?;
    if let Some(open) = subscriptions_of(&state, &caller.user_id)
        .await?
        .into_iter()
        .find(|s| s.status != "canceled")
    {
        return Err(ApiError::conflict(
            "already_subscribed",
            format!(
                "subscription {} ({}, {}) is open: cancel it first",
                open.id, open.plan, open.status
            ),
        ));
    }
    let now = now_rfc3339();
    let id = format!("sub-{}", uuid::Uuid::new_v4().simple());
    let mut subscription = Subscription {
        id: id.clone(),
        user_id: caller.user_id.clone(),
        plan: plan.name.clone(),
        provider: provider_name(&state).to_owned(),
        status: "incomplete".into(),
        cancel_at_period_end: false,
        current_period_end: None,
        checkout_session_id: None,
        checkout_url: None,
        stripe_subscription_id: None,
        stripe_customer_id: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    match stripe_client(&state) {
        Some((client, prices)) => {
            let price = prices.get(&plan.name).ok_or_else(|| {
                ApiError::bad_request(
                    "plan_not_for_sale",
                    format!("the {} plan has no Stripe price configured", plan.name),
                )
            })?;
            let base = &state.settings.public_url;
            let form = vec![
                ("mode".to_owned(), "subscription".to_owned()),
                ("line_items[0][price]".into(), price.clone()),
                ("line_items[0][quantity]".into(), "1".into()),
                (
                    "success_url".into(),
                    format!("{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"),
                ),
                ("cancel_url".into(), format!("{base}/billing/canceled")),
                ("client_reference_id".into(), caller.user_id.clone()),
                ("metadata[user_id]".into(), caller.user_id.clone()),
                ("metadata[subscription_id]".into(), id.clone()),
                (
                    "subscription_data[metadata][user_id]".into(),
                    caller.user_id.clone(),
                ),
                (
                    "subscription_data[metadata][subscription_id]".into(),
                    id.clone(),
                ),
            ];
            let session = client
                .create_checkout_session(&form, &id)
                .await
                .map_err(stripe_failed)?;
            subscription.checkout_session_id = Some(session.id);
            subscription.checkout_url = session.url;
        }
        None => {
            subscription.status = "active".into();
            subscription.current_period_end =
                Some((chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339());
        }
    }
    state
        .documents
        .create(
            SUBSCRIPTIONS_CONTAINER,
            &caller.user_id,
            &id,
            to_body(&subscription)?,
        )
        .await?;
    let kind = if subscription.status == "active" {
        billing::set_plan(&state, &caller.user_id, &plan.name, Some(&id)).await?;
        count_transaction(&state, "local", "succeeded");
        visiobook_runtime::analytics::record(
            &state,
            "subscription.activated",
            Some(&caller.user_id),
            json!({ "plan": plan.name, "provider": "local" }),
        )
        .await;
        "subscription.activated"
    } else {
        "subscription.created"
    };
    record(
        &state,
        &caller.user_id,
        &HistoryEntry {
            id: history_id(&id),
            kind: kind.into(),
            provider: subscription.provider.clone(),
            amount_cents: Some(plan.price_cents),
            currency: Some(plan.currency.clone()),
            subscription_id: Some(id.clone()),
            payment_id: None,
            description: format!("{} plan", plan.name),
            at: now,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(subscription.view())).into_response())
}

async fn load_subscription(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Subscription, visiobook_ports::ETag), ApiError> {
    read_typed(
        state.documents.as_ref(),
        SUBSCRIPTIONS_CONTAINER,
        &caller.user_id,
        id,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("subscription_not_found", "no such subscription"))
}

/// `PUT /api/v1/subscriptions/{id}/cancel`.
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let (mut subscription, etag) = load_subscription(&state, &caller, &id).await?;
    if subscription.status == "canceled" {
        return Ok(ApiJson(subscription.view()));
    }
    let client = stripe_client(&state).map(|(client, _)| client);
    let ends_now = match (&client, &subscription.stripe_subscription_id) {
        (Some(client), Some(stripe_id)) if subscription.provider == "stripe" => {
            // Paid time is kept: Stripe ends the subscription at the period's end and tells
            // the webhook (`customer.subscription.deleted`).
            client
                .cancel_at_period_end(stripe_id)
                .await
                .map_err(stripe_failed)?;
            subscription.cancel_at_period_end = true;
            false
        }
        (Some(client), None) if subscription.provider == "stripe" => {
            // Never paid: close the Checkout so that it cannot be paid later.
            if let Some(session) = &subscription.checkout_session_id {
                client
                    .expire_checkout_session(session)
                    .await
                    .map_err(stripe_failed)?;
            }
            true
        }
        _ => true,
    };
    if ends_now {
        subscription.status = "canceled".into();
        subscription.cancel_at_period_end = false;
    }
    subscription.updated_at = now_rfc3339();
    state
        .documents
        .replace(
            SUBSCRIPTIONS_CONTAINER,
            &caller.user_id,
            &id,
            to_body(&subscription)?,
            Some(&etag),
        )
        .await?;
    if ends_now {
        end_plan_if_current(&state, &caller.user_id, &id).await?;
    }
    record(
        &state,
        &caller.user_id,
        &HistoryEntry {
            id: history_id(&format!("{id}-cancel")),
            kind: "subscription.canceled".into(),
            provider: subscription.provider.clone(),
            amount_cents: None,
            currency: None,
            subscription_id: Some(id.clone()),
            payment_id: None,
            description: if ends_now {
                format!("{} plan canceled", subscription.plan)
            } else {
                format!("{} plan ends at the end of the period", subscription.plan)
            },
            at: now_rfc3339(),
        },
    )
    .await?;
    Ok(ApiJson(subscription.view()))
}

/// Puts the user back on the free plan if `subscription_id` is what gives their plan now.
async fn end_plan_if_current(
    state: &AppState,
    user_id: &str,
    subscription_id: &str,
) -> Result<(), ApiError> {
    let current = billing::account(state, user_id).await?;
    if current
        .as_ref()
        .is_some_and(|(account, _)| account.subscription_id.as_deref() == Some(subscription_id))
    {
        billing::set_plan(state, user_id, billing::FREE, None).await?;
    }
    Ok(())
}

/// `GET /api/v1/subscriptions/{id}/status`.
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let (subscription, _) = load_subscription(&state, &caller, &id).await?;
    let mut view = subscription.view();
    view["plan_in_force"] = json!(billing::plan_of(&state, &caller.user_id).await?);
    view["entitlements"] = match billing::find_plan(&state, &subscription.plan).await? {
        Some(plan) => json!(plan.entitlements),
        None => Value::Null,
    };
    view["usage"] = usage_summary(&state, &caller.user_id).await?;
    Ok(ApiJson(view))
}

/// What the user has used and has left this month, under the plan in force.
async fn usage_summary(state: &AppState, user_id: &str) -> Result<Value, ApiError> {
    let plan_name = billing::plan_of(state, user_id).await?;
    let plan = match billing::find_plan(state, &plan_name).await? {
        Some(plan) => plan,
        None => billing::find_plan(state, billing::FREE)
            .await?
            .ok_or_else(|| ApiError::internal("no free plan in the catalogue"))?,
    };
    let (usage, _) = billing::usage(state, user_id, &billing::current_period()).await?;
    Ok(usage.summary(&plan))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessRequest {
    /// Narration minutes to add to this month, 10 to 10,000.
    minutes: u32,
}

/// `POST /api/v1/payments/process`: needs an `Idempotency-Key` header; the same key answers
/// the same payment again instead of charging twice.
async fn process(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ProcessRequest>,
) -> Result<Response, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| (1..=255).contains(&key.len()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                "send an Idempotency-Key header (1 to 255 characters) so a retry never pays twice",
            )
        })?;
    if !(10..=10_000).contains(&request.minutes) {
        return Err(ApiError::bad_request(
            "invalid_minutes",
            "minutes is 10 to 10,000",
        ));
    }
    // The payment id derives from the caller and the key: a retry finds the first payment.
    let id = format!(
        "pay-{}",
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{}\n{key}", caller.user_id).as_bytes()
        ))[..32]
    );
    if let Some((existing, _)) = read_typed::<Payment>(
        state.documents.as_ref(),
        PAYMENTS_CONTAINER,
        &caller.user_id,
        &id,
    )
    .await?
    {
        if existing.minutes != request.minutes {
            return Err(ApiError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different payment",
            ));
        }
        return Ok((StatusCode::OK, ApiJson(existing.view())).into_response());
    }
    let minute_price = visiobook_runtime::config::current(&state, billing::BILLING_CONFIG)
        .await?
        .and_then(|(document, _)| document.values.get("minute_price_cents")?.as_u64())
        .unwrap_or(MINUTE_PRICE_CENTS);
    let now = now_rfc3339();
    let mut payment = Payment {
        id: id.clone(),
        user_id: caller.user_id.clone(),
        minutes: request.minutes,
        amount_cents: minute_price * u64::from(request.minutes),
        currency: "eur".into(),
        provider: provider_name(&state).to_owned(),
        status: "pending".into(),
        idempotency_key: key.to_owned(),
        checkout_url: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    if let Some((client, _)) = stripe_client(&state) {
        let base = &state.settings.public_url;
        let form = vec![
            ("mode".to_owned(), "payment".to_owned()),
            ("line_items[0][price_data][currency]".into(), "eur".into()),
            (
                "line_items[0][price_data][unit_amount]".into(),
                payment.amount_cents.to_string(),
            ),
            (
                "line_items[0][price_data][product_data][name]".into(),
                format!("{} narration minutes", request.minutes),
            ),
            ("line_items[0][quantity]".into(), "1".into()),
            (
                "success_url".into(),
                format!("{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"),
            ),
            ("cancel_url".into(), format!("{base}/billing/canceled")),
            ("client_reference_id".into(), caller.user_id.clone()),
            ("metadata[user_id]".into(), caller.user_id.clone()),
            ("metadata[payment_id]".into(), id.clone()),
        ];
        let session = client
            .create_checkout_session(&form, &id)
            .await
            .map_err(stripe_failed)?;
        payment.checkout_url = session.url;
    } else {
        payment.status = "succeeded".into();
    }
    match state
        .documents
        .create(PAYMENTS_CONTAINER, &caller.user_id, &id, to_body(&payment)?)
        .await
    {
        Ok(_) => {}
        // The same key raced itself: the first one wins and is answered.
        Err(error) if error.kind == ErrorKind::Conflict => {
            let (existing, _) = read_typed::<Payment>(
                state.documents.as_ref(),
                PAYMENTS_CONTAINER,
                &caller.user_id,
                &id,
            )
            .await?
            .ok_or_else(|| ApiError::internal("a conflicting payment vanished"))?;
            return Ok((StatusCode::OK, ApiJson(existing.view())).into_response());
        }
        Err(error) => return Err(error.into()),
    }
    if payment.status == "succeeded" {
        billing::add_bonus_minutes(&state, &caller.user_id, &id, payment.minutes).await?;
        count_transaction(&state, "local", "succeeded");
        record(
            &state,
            &caller.user_id,
            &HistoryEntry {
                id: history_id(&id),
                kind: "payment.succeeded".into(),
                provider: payment.provider.clone(),
                amount_cents: Some(payment.amount_cents),
                currency: Some(payment.currency.clone()),
                subscription_id: None,
                payment_id: Some(id.clone()),
                description: format!("{} narration minutes", payment.minutes),
                at: now,
            },
        )
        .await?;
    }
    Ok((StatusCode::CREATED, ApiJson(payment.view())).into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// 1 to 200, default 50.
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    continuation: Option<String>,
}

/// `GET /api/v1/billing/history`.
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    let page_size = query.page_size.unwrap_or(50);
    if !(1..=200).contains(&page_size) {
        return Err(ApiError::bad_request(
            "invalid_page_size",
            "page_size is 1 to 200",
        ));
    }
    let page = state
        .documents
        .query(
            HISTORY_CONTAINER,
            &caller.user_id,
            &Query::default()
                .order_by("at", Order::Descending)
                .page_size(page_size),
            query.continuation.as_deref(),
        )
        .await?;
    let items = page
        .items
        .iter()
        .map(|item| item.parse::<HistoryEntry>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(json!({
        "provider": provider_name(&state),
        "plan": billing::plan_of(&state, &caller.user_id).await?,
        "usage": usage_summary(&state, &caller.user_id).await?,
        "items": items,
        "continuation": page.continuation,
    })))
}

/// What billing holds about the user, for the GDPR export.
pub async fn export_user(state: &AppState, user_id: &str) -> Result<Value, ApiError> {
    let mut export = serde_json::Map::new();
    for container in [
        SUBSCRIPTIONS_CONTAINER,
        PAYMENTS_CONTAINER,
        HISTORY_CONTAINER,
        billing::USAGE_CONTAINER,
    ] {
        let documents = visiobook_ports::document::query_all(
            state.documents.as_ref(),
            container,
            user_id,
            &Query::default(),
        )
        .await?;
        export.insert(
            container.to_owned(),
            Value::Array(
                documents
                    .into_iter()
                    .map(|document| document.body)
                    .collect(),
            ),
        );
    }
    Ok(Value::Object(export))
}

/// Ends the user's paid subscriptions with the provider at once (a deleted account must not be
/// charged again), then removes everything billing holds for the account. The payment
/// provider keeps its own records of past payments, as the law asks of it.
pub async fn erase_user(state: &AppState, user_id: &str) -> Result<Vec<String>, ApiError> {
    if let Some((client, _)) = stripe_client(state) {
        for subscription in subscriptions_of(state, user_id).await? {
            if let (Some(stripe_id), true) = (
                &subscription.stripe_subscription_id,
                subscription.status != "canceled",
            ) {
                client.cancel_now(stripe_id).await.map_err(stripe_failed)?;
            }
        }
    }
    let mut removed = Vec::new();
    for container in [
        SUBSCRIPTIONS_CONTAINER,
        PAYMENTS_CONTAINER,
        HISTORY_CONTAINER,
        billing::USAGE_CONTAINER,
        billing::ACCOUNTS_CONTAINER,
    ] {
        let documents = visiobook_ports::document::query_all(
            state.documents.as_ref(),
            container,
            user_id,
            &Query::default(),
        )
        .await?;
        for document in documents {
            match state
                .documents
                .delete(container, user_id, &document.id, None)
                .await
            {
                Ok(()) => {}
                Err(error) if error.kind == ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        removed.push(container.to_owned());
    }
    Ok(removed)
}
