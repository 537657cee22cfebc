//! Download task: find the package in the package server's listing, stream it to disk,
//! verify it (SPEC §4 step 1).
//!
//! - [`listing`]: nginx autoindex parsing (HTML and JSON), names from the `href`.
//! - [`select`]: which file is the service's package (prefix + separator rule, highest
//!   version by natural order, then newest).
//! - [`verify`]: checksum sidecars and the gzip + tar structure check.
//! - [`fetch`]: [`fetch::fetch_package`], [`fetch::http_client`], the request and result types.
//! - [`error`]: [`error::FetchError`] and its ASL error names.

pub mod error;
pub mod fetch;
pub mod listing;
pub mod select;
pub mod verify;

pub mod task;
pub use task::handle;
