//! CRAT's one library crate: everything the function crates share.
//!
//! Layout: `domain` (types that parse, pure rules), `ports` (what varies between
//! targets), `adapters` (embedded SQLite file and DynamoDB), `auth`, `http`
//! (error body, extractors, layers), `config`, `telemetry`, `clock`, `deps` (what every handler gets).

pub mod adapters;
pub mod auth;
pub mod chat;
pub mod clock;
pub mod config;
pub mod deps;
pub mod domain;
pub mod error;
pub mod http;
pub mod lambda;
pub mod mail;
pub mod metrics;
pub mod ports;
pub mod services;
pub mod tasks;
pub mod telemetry;
pub mod workflow;

pub use deps::Deps;
pub use error::ApiError;
