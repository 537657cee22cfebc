#![allow(clippy::unwrap_used)]
//! The download function's integration tests in one test binary (`cargo test -p download
//! --test download <module>::`). Modules share one process; the memory bound is measured
//! in a child process of its own (see `memory`).

mod common;

mod fetch_package;
mod memory;
mod nginx;
