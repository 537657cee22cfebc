//! Notify task: the Allure summary, the result mail (HTML with an inline pie chart, plain
//! text alternative), and its delivery (SMTP or the outbox folder).

pub mod chart;
pub mod compose;
pub mod summary;
pub mod transport;

pub mod outbox_api;
pub mod task;
pub use task::{NotifyDeps, handle, mailer_from_config};
