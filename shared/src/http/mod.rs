//! HTTP plumbing every router shares: extractors with our error body, list pages,
//! request ids and tracing.

mod extract;
mod layers;
mod page;

pub use extract::{ApiJson, IdPath, MAX_BODY_BYTES, query};
pub use layers::with_common_layers;
pub use page::{ListResponse, PageParams, encode_cursor};
