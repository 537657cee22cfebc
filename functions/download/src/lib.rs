//! Download task (being written).
