//! Use cases shared by the function crates: the same code behind both hosts.

pub mod builds;
pub mod job_versions;
pub mod parameter_sets;
pub mod runs;
pub mod settings;
pub mod test_items;

#[cfg(test)]
mod tests;
