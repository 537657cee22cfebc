//! Use cases shared by the function crates: the same code behind both hosts.

pub mod builds;
