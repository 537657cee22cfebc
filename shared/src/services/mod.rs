//! Use cases shared by the function crates: the same code behind both hosts. They fail
//! with [`ServiceError`], which the API and the scheduled work each render their way.

pub mod announce;
pub mod audit;
pub mod builds;
pub mod channels;
pub mod chat_send;
pub mod environments;
pub mod error;
pub mod export;
pub use error::{ServiceError, ServiceResult};
pub mod job_versions;
pub mod lane_admin;
pub mod lanes;
pub mod new_build;
pub mod parameter_sets;
pub mod run_estimate;
pub mod runs;
pub mod settings;
pub mod test_items;
pub mod test_results;

#[cfg(test)]
mod tests;
