//! What every Visiobook app shares: typed [`settings`], the [`AppState`] that carries the
//! storage ports, the HTTP [`error`] envelope, request ids and metrics ([`http`]), and the
//! [`metrics`] registry.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod pubsub;
pub mod settings;
pub mod state;

pub use auth::Caller;
pub use error::ApiError;
pub use metrics::Metrics;
pub use settings::Settings;
pub use state::AppState;

/// The current time as RFC 3339 with milliseconds, UTC: the format of every stored timestamp.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
