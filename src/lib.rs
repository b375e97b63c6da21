//! The wiring of the `visiobook` binary: the function registry and one module per command.
//! It is a library so that integration tests can start the same app in-process.

pub mod commands;
pub mod registry;
pub mod telemetry;
