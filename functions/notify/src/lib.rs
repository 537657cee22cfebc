//! The notify Lambda's crate: its `main` runs `shared::mail::handle` (the summary, the
//! result mail and its delivery live in `shared::mail`, where the sweeper and the local
//! server use them too), and the outbox API the local server mounts.

pub mod outbox_api;
