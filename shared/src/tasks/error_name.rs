//! The closed set of CRAT error names: the Lambda `errorType` of a failed task and exactly
//! the strings the ASL `Retry`/`Catch`/`Fail` use. Each name is generated from its variant
//! (`Transient` → `Crat.Transient`), so a name cannot be misspelt and the list cannot drift.
//!
//! This file depends on nothing but `core`: the ASL executor's tests (`statemachine`, which
//! must not link `shared`) include it by path to name the errors of the real definition.

macro_rules! error_names {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        /// A CRAT error name; [`ErrorName::as_str`] is the ASL spelling.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorName {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorName {
            /// Every name, in declaration order (the definition lint checks the ASL against it).
            pub const ALL: &'static [ErrorName] = &[$(ErrorName::$variant),*];

            /// The ASL spelling, e.g. `Crat.Transient`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorName::$variant => concat!("Crat.", stringify!($variant)),)*
                }
            }
        }
    };
}

error_names! {
    /// Worth retrying: connection refused/reset, 5xx, the store busy.
    Transient,
    /// A concurrent write to the same run; retried.
    StoreBusy,
    PackageNotFound,
    IntegrityError,
    TestServerError,
    /// The test server reported the deploy or the tests failed.
    TestFailed,
    /// No result within `max_monitor_seconds` (also the sweeper's verdict on a stale run).
    Timeout,
    /// Settings needed by the run are missing or unusable.
    ConfigError,
    /// The run no longer exists or already ended (e.g. cancelled): nothing to do.
    RunEnded,
    /// The mail server could not take the mail right now; retried.
    MailTransient,
    /// The mail cannot be sent (refused, misconfigured); the run's outcome stands.
    MailFailed,
    /// Ends a failed execution (the Fail state).
    RunFailed,
    /// Finishing the run kept failing (the last-resort lock release then marks it so).
    FinalizeFailed,
    /// The execution was stopped by a cancel (Step Functions' StopExecution error).
    Cancelled,
    /// The workflow could not be started for a new run.
    StartFailed,
    /// An admin force-released the run's lane (the run is FAILED with their reason).
    Released,
    /// The scheduled auto-sync failed (its Lambda `errorType`).
    AutoSyncFailed,
    /// A Catch output without an `Error` (should not happen; named rather than guessed).
    Unknown,
}

impl ErrorName {
    /// What every name starts with; an ASL name with it must be one of [`ErrorName::ALL`].
    pub const PREFIX: &'static str = "Crat.";

    /// The variant spelled `name` in the ASL, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|n| n.as_str() == name)
    }
}

impl core::fmt::Display for ErrorName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorName> for String {
    fn from(name: ErrorName) -> Self {
        name.as_str().to_owned()
    }
}

impl PartialEq<str> for ErrorName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorName;

    #[test]
    fn names_are_the_prefixed_variants_and_parse_back() {
        assert_eq!(ErrorName::Transient.as_str(), "Crat.Transient");
        assert_eq!(ErrorName::IntegrityError.to_string(), "Crat.IntegrityError");
        for &name in ErrorName::ALL {
            assert!(name.as_str().starts_with(ErrorName::PREFIX), "{name}");
            assert_eq!(ErrorName::parse(name.as_str()), Some(name));
        }
        assert_eq!(ErrorName::parse("Crat.Nope"), None);
        assert_eq!(ErrorName::parse("crat.transient"), None);
    }

    #[test]
    fn all_lists_every_variant_once() {
        let mut seen = ErrorName::ALL.to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), ErrorName::ALL.len());
        // Stable names: the ASL, alarms and mails depend on them.
        assert_eq!(ErrorName::ALL.len(), 18);
    }
}
