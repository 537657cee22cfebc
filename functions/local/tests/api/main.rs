#![allow(clippy::unwrap_used)]
//! The local server's integration tests, one module per area, in one test binary: the
//! AWS SDK and the server are linked once, not once per file (`cargo test -p local --test
//! api <module>::` runs one area). Modules share one process: none may rely on a process
//! of its own (environment, globals, fixed ports).

#[macro_use]
mod common;

mod audit;
mod auth;
mod backup;
mod chat;
mod chat_receivers;
mod cloud_calls;
mod cloud_fidelity;
mod config_api;
mod definition;
mod deploy_flow;
mod export;
mod install;
mod lambda_host;
mod notify_smtp;
mod openapi;
mod restart;
mod restart_flow;
mod restart_queue;
mod router;
mod runs_control;
mod service_unit;
mod template_routes;
mod test_results;
mod webhook;
