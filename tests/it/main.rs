//! Integration tests of the whole app: the real HTTP server on 127.0.0.1:0 over fresh embedded
//! stores in a temporary directory, real queues, real espeak-ng and ffmpeg, and the real binary
//! where a separate process matters (package, render, restart after a kill).

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

mod accounts;
mod analysis_api;
mod analytics;
mod assembly;
mod azure;
mod bad_input;
mod cli;
mod configuration;
mod faults;
mod media;
mod monitoring;
mod notifications;
mod observability;
mod openapi;
mod payments;
mod pipeline;
mod projects;
mod push;
mod restart;
mod serve;
mod support;
