//! The Azure Functions side of Visiobook, and the only crate that knows the custom-handler
//! invocation envelope.
//!
//! - [`registry`]: one declaration per function (name, trigger, handler, output bindings).
//! - [`package`]: writes a deployable Function App folder (`host.json`, `function.json`s).
//! - [`serve`]: the custom-handler HTTP contract (`GET /`, `POST /{FunctionName}`, forwarded
//!   HTTP under `/api/...`).
//! - [`worker`]: drives queue handlers from a [`visiobook_ports::JobQueue`] with Service Bus
//!   settlement rules (used by `visiobook dev`, `visiobook job` and `visiobook render`).
//! - [`timer`]: runs timer handlers on their NCRONTAB schedules locally.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the declarations.
//!
//! Handlers never see the envelope: they get a typed [`QueueInvocation`] or
//! [`TimerInvocation`], and HTTP functions are plain axum routes.

pub mod openapi;
pub mod package;
pub mod registry;
pub mod serve;
pub mod timer;
pub mod worker;

pub use registry::{
    FunctionDef, Handler, HandlerError, OutMessage, QueueHandler, QueueInvocation, Registry,
    TimerHandler, TimerInvocation, Trigger,
};

/// The route prefix of HTTP functions (`extensions.http.routePrefix` in `host.json`).
pub const ROUTE_PREFIX: &str = "api";

/// The JSON error envelope used by every HTTP answer that is an error:
/// `{"error":{"code":"snake_case_code","message":"..."}}`.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}
