//! Plans, entitlements and usage metering.
//!
//! A render **reserves** an estimate at admission (one book and its narration minutes), before
//! anything is stored or queued; over the plan's allowance it is refused with
//! [`QuotaExceeded`]. When the book is ready the reservation is **settled** with the minutes
//! actually narrated; when it fails, it is **released**. Reservations live in the user's usage
//! document of the month, keyed by book id, and every change is one compare-and-swap of that
//! document: reserving twice, settling twice or releasing a settled book changes nothing, so
//! retries, redeliveries and resumed jobs never charge twice.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use visiobook_ports::document::{read_typed, to_body};
use visiobook_ports::{ETag, ErrorKind, StoreError};

use crate::config;
use crate::state::AppState;

/// Each user's billing account (partition key and id: the user id): the plan in force.
pub const ACCOUNTS_CONTAINER: &str = "billing-accounts";
/// Usage per user and month (partition key: the user; id: `YYYY-MM`).
pub const USAGE_CONTAINER: &str = "usage";
/// The configuration service whose `plans` value overrides the built-in catalogue.
pub const BILLING_CONFIG: &str = "billing";
/// The plan of every user without a subscription.
pub const FREE: &str = "free";

/// What a plan allows each month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entitlements {
    pub books_per_month: u32,
    pub narration_minutes: u32,
    /// The tallest video the plan renders, in pixels (720 allows `preview` and `standard`).
    pub max_resolution: u32,
    pub premium_voices: bool,
    pub premium_image_engines: bool,
}

/// A plan of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub name: String,
    /// Price per month in the currency's smallest unit (cents).
    pub price_cents: u64,
    pub currency: String,
    pub entitlements: Entitlements,
}

fn plan(name: &str, price_cents: u64, entitlements: Entitlements) -> Plan {
    Plan {
        name: name.to_owned(),
        price_cents,
        currency: "eur".to_owned(),
        entitlements,
    }
}

/// The built-in catalogue; the `billing` configuration's `plans` value overrides any field of
/// any plan at run time (`{"plans": {"free": {"books_per_month": 2}}}`).
pub fn default_plans() -> Vec<Plan> {
    vec![
        plan(
            FREE,
            0,
            Entitlements {
                books_per_month: 5,
                narration_minutes: 120,
                max_resolution: 720,
                premium_voices: false,
                premium_image_engines: false,
            },
        ),
        plan(
            "creator",
            900,
            Entitlements {
                books_per_month: 30,
                narration_minutes: 1_200,
                max_resolution: 1080,
                premium_voices: true,
                premium_image_engines: false,
            },
        ),
        plan(
            "studio",
            2_900,
            Entitlements {
                books_per_month: 200,
                narration_minutes: 10_000,
                max_resolution: 1080,
                premium_voices: true,
                premium_image_engines: true,
            },
        ),
    ]
}

/// The catalogue in force: the defaults with the `billing` configuration's overrides.
pub async fn plans(state: &AppState) -> Result<Vec<Plan>, StoreError> {
    let overrides = config::current(state, BILLING_CONFIG)
        .await?
        .and_then(|(document, _)| document.values.get("plans").cloned());
    let mut plans = default_plans();
    if let Some(Value::Object(overrides)) = overrides {
        for plan in &mut plans {
            let Some(Value::Object(fields)) = overrides.get(&plan.name) else {
                continue;
            };
            let mut merged = to_body(plan)?;
            for (field, value) in fields {
                if field == "price_cents" || field == "currency" {
                    merged[field] = value.clone();
                } else if field != "name" {
                    merged["entitlements"][field] = value.clone();
                }
            }
            // A malformed override keeps the built-in plan rather than breaking admission.
            match serde_json::from_value(merged) {
                Ok(changed) => *plan = changed,
                Err(error) => {
                    tracing::warn!(plan = %plan.name, %error, "billing override ignored");
                }
            }
        }
    }
    Ok(plans)
}

/// The named plan of the catalogue in force.
pub async fn find_plan(state: &AppState, name: &str) -> Result<Option<Plan>, StoreError> {
    Ok(plans(state)
        .await?
        .into_iter()
        .find(|plan| plan.name == name))
}

/// A user's billing account: which plan is in force and the subscription behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: String,
    pub plan: String,
    /// The subscription that gives the plan; `None` on the free plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub updated_at: String,
}

/// The plan in force for `user_id` (`free` without an account).
pub async fn plan_of(state: &AppState, user_id: &str) -> Result<String, StoreError> {
    Ok(account(state, user_id)
        .await?
        .map(|(account, _)| account.plan)
        .unwrap_or_else(|| FREE.to_owned()))
}

pub async fn account(
    state: &AppState,
    user_id: &str,
) -> Result<Option<(Account, ETag)>, StoreError> {
    read_typed(
        state.documents.as_ref(),
        ACCOUNTS_CONTAINER,
        user_id,
        user_id,
    )
    .await
}

/// Puts `user_id` on `plan` (given by `subscription_id`, or `None` back to free).
pub async fn set_plan(
    state: &AppState,
    user_id: &str,
    plan: &str,
    subscription_id: Option<&str>,
) -> Result<(), StoreError> {
    let account = Account {
        user_id: user_id.to_owned(),
        plan: plan.to_owned(),
        subscription_id: subscription_id.map(str::to_owned),
        updated_at: crate::now_rfc3339(),
    };
    state
        .documents
        .upsert(ACCOUNTS_CONTAINER, user_id, user_id, to_body(&account)?)
        .await?;
    Ok(())
}

/// The usage month of now: `YYYY-MM` (UTC).
pub fn current_period() -> String {
    let now = Utc::now();
    format!("{:04}-{:02}", now.year(), now.month())
}

/// The month before `period`.
fn previous_period(period: &str) -> Option<String> {
    let (year, month) = period.split_once('-')?;
    let (year, month): (i32, u32) = (year.parse().ok()?, month.parse().ok()?);
    Some(if month == 1 {
        format!("{:04}-12", year - 1)
    } else {
        format!("{year:04}-{:02}", month - 1)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Reserved,
    Settled,
    Released,
}

/// One render's claim on the month's allowance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub state: ReservationState,
    pub estimated_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_minutes: Option<u32>,
    pub reserved_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

impl Reservation {
    /// The minutes this render counts for now: the estimate while it runs, the actual use once
    /// settled, nothing once released.
    fn minutes(&self) -> u32 {
        match self.state {
            ReservationState::Reserved => self.estimated_minutes,
            ReservationState::Settled => self.actual_minutes.unwrap_or(0),
            ReservationState::Released => 0,
        }
    }
}

/// A user's use of one month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub period: String,
    /// Minutes bought for this month on top of the plan (`POST /payments/process`).
    #[serde(default)]
    pub bonus_minutes: u32,
    /// The payments whose minutes are in `bonus_minutes` (each counted once).
    #[serde(default)]
    pub credited_payments: BTreeSet<String>,
    /// One entry per book, by book id.
    #[serde(default)]
    pub reservations: BTreeMap<String, Reservation>,
}

impl Usage {
    /// Books that count against the month: running and finished ones.
    pub fn books(&self) -> u32 {
        self.reservations
            .values()
            .filter(|r| r.state != ReservationState::Released)
            .count() as u32
    }
    pub fn minutes_reserved(&self) -> u32 {
        self.reservations
            .values()
            .filter(|r| r.state == ReservationState::Reserved)
            .map(Reservation::minutes)
            .sum()
    }
    pub fn minutes_used(&self) -> u32 {
        self.reservations
            .values()
            .filter(|r| r.state == ReservationState::Settled)
            .map(Reservation::minutes)
            .sum()
    }

    /// What is left of `entitlements` this month, as the API shows it.
    pub fn summary(&self, plan: &Plan) -> Value {
        let minutes_allowed = plan.entitlements.narration_minutes + self.bonus_minutes;
        let committed = self.minutes_used() + self.minutes_reserved();
        json!({
            "period": self.period,
            "plan": plan.name,
            "books": {
                "allowed": plan.entitlements.books_per_month,
                "used": self.books(),
                "left": plan.entitlements.books_per_month.saturating_sub(self.books()),
            },
            "narration_minutes": {
                "allowed": minutes_allowed,
                "used": self.minutes_used(),
                "reserved": self.minutes_reserved(),
                "left": minutes_allowed.saturating_sub(committed),
            },
        })
    }
}

/// Why a render was refused: what is left and what it needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the {plan} plan has {left} {resource} left this month and this render needs {needed}")]
pub struct QuotaExceeded {
    pub plan: String,
    /// `books` or `narration_minutes`.
    pub resource: &'static str,
    pub left: u32,
    pub needed: u32,
    pub period: String,
}

impl QuotaExceeded {
    pub fn details(&self) -> Value {
        json!({
            "plan": self.plan,
            "resource": self.resource,
            "left": self.left,
            "needed": self.needed,
            "period": self.period,
        })
    }
}

impl From<QuotaExceeded> for crate::ApiError {
    fn from(error: QuotaExceeded) -> Self {
        crate::ApiError::new(
            axum::http::StatusCode::PAYMENT_REQUIRED,
            "quota_exceeded",
            error.to_string(),
        )
        .with_details(error.details())
    }
}

/// A render asks for something its owner's plan does not include: 402 `not_in_plan`.
pub fn not_in_plan(reason: impl Into<String>) -> crate::ApiError {
    crate::ApiError::new(
        axum::http::StatusCode::PAYMENT_REQUIRED,
        "not_in_plan",
        reason,
    )
}

#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error(transparent)]
    OverQuota(#[from] QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Narration minutes a source of `size_bytes` in `content_type` probably needs, read at about
/// 150 words a minute: plain text is about 900 bytes a minute, compressed EPUB and PDF about
/// 2,000 and 3,000, a scanned page about two minutes. Never less than one.
pub fn estimate_minutes(content_type: &str, size_bytes: u64) -> u32 {
    let minutes = match content_type {
        "application/epub+zip" => size_bytes.div_ceil(2_000),
        "application/pdf" => size_bytes.div_ceil(3_000),
        image if image.starts_with("image/") => 2,
        _ => size_bytes.div_ceil(900),
    };
    u32::try_from(minutes.max(1)).unwrap_or(u32::MAX)
}

/// The user's usage of `period` with its ETag (`None` when nothing was used yet).
pub async fn usage(
    state: &AppState,
    user_id: &str,
    period: &str,
) -> Result<(Usage, Option<ETag>), StoreError> {
    Ok(
        match read_typed::<Usage>(state.documents.as_ref(), USAGE_CONTAINER, user_id, period)
            .await?
        {
            Some((usage, etag)) => (usage, Some(etag)),
            None => (
                Usage {
                    period: period.to_owned(),
                    ..Usage::default()
                },
                None,
            ),
        },
    )
}

/// Applies `change` to the usage of `period` with compare-and-swap, retrying on a concurrent
/// write. `change` answers `Ok(false)` to leave the document as it is.
async fn update_usage<T>(
    state: &AppState,
    user_id: &str,
    period: &str,
    mut change: impl FnMut(&mut Usage) -> Result<(bool, T), MeterError>,
) -> Result<T, MeterError> {
    for _ in 0..32 {
        let (mut usage, etag) = usage(state, user_id, period).await?;
        let (changed, answer) = change(&mut usage)?;
        if !changed {
            return Ok(answer);
        }
        let body = to_body(&usage)?;
        let written = match &etag {
            Some(etag) => {
                state
                    .documents
                    .replace(USAGE_CONTAINER, user_id, period, body, Some(etag))
                    .await
            }
            None => {
                state
                    .documents
                    .create(USAGE_CONTAINER, user_id, period, body)
                    .await
            }
        };
        match written {
            Ok(_) => return Ok(answer),
            Err(error)
                if matches!(
                    error.kind,
                    ErrorKind::PreconditionFailed | ErrorKind::Conflict
                ) =>
            {
                continue;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::unavailable("the usage document kept changing; try again").into())
}

/// Reserves one book and `estimated_minutes` for `book_id` in this month's usage, or refuses
/// with what is left. Reserving a book that already has a reservation changes nothing.
pub async fn reserve(
    state: &AppState,
    user_id: &str,
    book_id: &str,
    estimated_minutes: u32,
) -> Result<Usage, MeterError> {
    let plan_name = plan_of(state, user_id).await?;
    let plan = match find_plan(state, &plan_name).await? {
        Some(plan) => plan,
        // A plan removed from the catalogue falls back to free rather than to nothing.
        None => find_plan(state, FREE)
            .await?
            .ok_or_else(|| StoreError::unavailable("no free plan in the catalogue"))?,
    };
    let period = current_period();
    update_usage(state, user_id, &period, |usage| {
        if usage.reservations.contains_key(book_id) {
            return Ok((false, usage.clone()));
        }
        let books_left = plan
            .entitlements
            .books_per_month
            .saturating_sub(usage.books());
        if books_left < 1 {
            return Err(QuotaExceeded {
                plan: plan.name.clone(),
                resource: "books",
                left: books_left,
                needed: 1,
                period: period.clone(),
            }
            .into());
        }
        let allowed = plan.entitlements.narration_minutes + usage.bonus_minutes;
        let minutes_left = allowed.saturating_sub(usage.minutes_used() + usage.minutes_reserved());
        if minutes_left < estimated_minutes {
            return Err(QuotaExceeded {
                plan: plan.name.clone(),
                resource: "narration_minutes",
                left: minutes_left,
                needed: estimated_minutes,
                period: period.clone(),
            }
            .into());
        }
        usage.reservations.insert(
            book_id.to_owned(),
            Reservation {
                state: ReservationState::Reserved,
                estimated_minutes,
                actual_minutes: None,
                reserved_at: crate::now_rfc3339(),
                closed_at: None,
            },
        );
        Ok((true, usage.clone()))
    })
    .await
}

/// How a reservation was closed by [`settle`] or [`release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// This call closed it.
    Now,
    /// It was closed before (a redelivery, a resumed job): nothing changed.
    Already,
    /// No reservation exists for the book (rendered from the command line, or before metering).
    Unknown,
}

/// Closes `book_id`'s reservation in this month or the previous one (a render admitted on the
/// last day of a month ends in the next).
async fn close(
    state: &AppState,
    user_id: &str,
    book_id: &str,
    to: ReservationState,
    actual_minutes: Option<u32>,
) -> Result<Closed, StoreError> {
    let current = current_period();
    let periods = [Some(current.clone()), previous_period(&current)];
    for period in periods.into_iter().flatten() {
        let outcome = update_usage(state, user_id, &period, |usage| {
            let Some(reservation) = usage.reservations.get_mut(book_id) else {
                return Ok((false, Closed::Unknown));
            };
            if reservation.state != ReservationState::Reserved {
                return Ok((false, Closed::Already));
            }
            reservation.state = to;
            reservation.actual_minutes = actual_minutes;
            reservation.closed_at = Some(crate::now_rfc3339());
            Ok((true, Closed::Now))
        })
        .await;
        match outcome {
            Ok(Closed::Unknown) => continue,
            Ok(closed) => return Ok(closed),
            Err(MeterError::Store(error)) => return Err(error),
            Err(MeterError::OverQuota(_)) => unreachable!("closing never checks the quota"),
        }
    }
    Ok(Closed::Unknown)
}

/// Charges a finished book its actual narration minutes, once.
pub async fn settle(
    state: &AppState,
    user_id: &str,
    book_id: &str,
    actual_minutes: u32,
) -> Result<Closed, StoreError> {
    close(
        state,
        user_id,
        book_id,
        ReservationState::Settled,
        Some(actual_minutes),
    )
    .await
}

/// Gives back a failed or abandoned book's reservation, once; a settled book stays charged.
pub async fn release(state: &AppState, user_id: &str, book_id: &str) -> Result<Closed, StoreError> {
    close(state, user_id, book_id, ReservationState::Released, None).await
}

/// Adds `minutes` bought for this month, once per `payment_id`.
pub async fn add_bonus_minutes(
    state: &AppState,
    user_id: &str,
    payment_id: &str,
    minutes: u32,
) -> Result<bool, StoreError> {
    // The payment id is recorded in the usage document itself so that the credit and its
    // idempotency key are written in one compare-and-swap.
    let period = current_period();
    match update_usage(state, user_id, &period, |usage| {
        if !usage.credited_payments.insert(payment_id.to_owned()) {
            return Ok((false, false));
        }
        usage.bonus_minutes += minutes;
        Ok((true, true))
    })
    .await
    {
        Ok(added) => Ok(added),
        Err(MeterError::Store(error)) => Err(error),
        Err(MeterError::OverQuota(_)) => unreachable!("credits never check the quota"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_text_and_never_reach_zero() {
        assert_eq!(estimate_minutes("text/plain", 0), 1);
        assert_eq!(estimate_minutes("text/plain", 9_000), 10);
        assert_eq!(estimate_minutes("application/epub+zip", 200_000), 100);
        assert_eq!(estimate_minutes("image/png", 5_000_000), 2);
    }

    #[test]
    fn the_month_before_january_is_december() {
        assert_eq!(previous_period("2027-01").as_deref(), Some("2026-12"));
        assert_eq!(previous_period("2026-11").as_deref(), Some("2026-10"));
    }

    #[test]
    fn released_books_count_for_nothing_and_settled_ones_for_their_actual_minutes() {
        let reservation = |state, actual| Reservation {
            state,
            estimated_minutes: 10,
            actual_minutes: actual,
            reserved_at: String::new(),
            closed_at: None,
        };
        let usage = Usage {
            period: "2026-11".into(),
            bonus_minutes: 0,
            credited_payments: BTreeSet::new(),
            reservations: BTreeMap::from([
                ("a".into(), reservation(ReservationState::Reserved, None)),
                ("b".into(), reservation(ReservationState::Settled, Some(3))),
                ("c".into(), reservation(ReservationState::Released, None)),
            ]),
        };
        assert_eq!(usage.books(), 2);
        assert_eq!(usage.minutes_reserved(), 10);
        assert_eq!(usage.minutes_used(), 3);
    }
}
