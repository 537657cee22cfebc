//! What the deploy-test task functions share: their error type (whose names the ASL's
//! Retry/Catch match), and the run-record update they all do.

mod error;
mod error_name;
pub mod http;
mod run_update;

pub use error::{ErrorName, TaskError};
pub use run_update::{RunChangeError, change_run, ensure_live, note_step_error, update_run};

/// How long an outside server may stall between two reads before a request fails.
pub const HTTP_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The input every task takes: the run it works on (plus, for finalize, the failure).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct RunRef {
    pub run_id: i64,
}

/// At most 200 characters of an outside text, on one line, for messages and details.
pub fn excerpt(text: &str) -> String {
    bounded(text, 200)
}

/// At most `max` characters of `text`, on one line (control characters become spaces).
pub fn bounded(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn excerpt_is_one_bounded_line() {
        assert_eq!(super::excerpt("a\nb"), "a b");
        assert_eq!(super::excerpt(&"x".repeat(300)).chars().count(), 201);
    }
}
