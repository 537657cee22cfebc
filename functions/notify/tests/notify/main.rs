#![allow(clippy::unwrap_used)]
//! The notify function's integration tests in one test binary (`cargo test -p notify
//! --test notify <module>::`). The sample files stay in `tests/samples/`.

mod chart;
mod compose;
mod smtp;
mod summary;
mod test_cases;
