//! HTTP plumbing every router shares: extractors with our error body, list pages,
//! request ids and tracing.

mod extract;
mod layers;
mod page;

pub use extract::{ApiJson, MAX_BODY_BYTES, parse_id, query};
pub use layers::with_common_layers;
pub use page::{ListResponse, PageParams, encode_cursor};
