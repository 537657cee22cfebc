#![allow(clippy::unwrap_used)]
//! The embedded executor's integration tests in one test binary (`cargo test -p
//! statemachine --test executor <module>::`).

mod common;

mod definition;
mod durability;
mod flows;
