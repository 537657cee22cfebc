//! Record ids: positive integers, one type per kind of record, so a run id cannot be
//! passed where a test item id is meant. On the wire and in storage each is the bare
//! integer (`#[serde(transparent)]`; OpenAPI fields say `value_type = i64`).
//!
//! Input (a path segment) is checked with [`FromStr`] (positive, fits an `i64`); stored
//! values are read as they are, so a record written by an older version never fails to read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The one sentence every bad id gets, after the field name.
pub const BAD_ID: &str = "must be a positive integer id";

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// An id as stored (or handed out by the store's sequence): taken as it is.
            pub const fn from_stored(n: i64) -> Self {
                Self(n)
            }

            pub const fn get(self) -> i64 {
                self.0
            }

            /// Parses input: 400 naming `field` unless a positive integer.
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                raw.parse().map_err(|_| FieldError::new(field, BAD_ID))
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(raw: &str) -> Result<Self, InvalidId> {
                // `7.0` is the integer 7 (JSON Schema's integer, as in bodies); `7.5` is not.
                let whole = match raw.split_once('.') {
                    Some((whole, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
                    Some(_) => return Err(InvalidId),
                    None => raw,
                };
                whole
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Self)
                    .ok_or(InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl PartialEq<i64> for $name {
            fn eq(&self, other: &i64) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A path segment or value that is not a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidId;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BAD_ID)
    }
}

impl std::error::Error for InvalidId {}

record_id!(
    /// A deploy-test run (`/api/v1/deploy-test-runs/{run_id}`).
    RunId
);
record_id!(
    /// A build the webhook recorded (`build_info_id` in a run).
    BuildId
);
record_id!(
    /// A test item (`/api/v1/test-items/{id}`).
    TestItemId
);
record_id!(
    /// A parameter set (`/api/v1/parameter-sets/{id}`).
    ParameterSetId
);
record_id!(
    /// A test environment (`/api/v1/environments/{id}`).
    EnvironmentId
);

record_id!(
    /// A notification channel (`/api/v1/notification-channels/{id}`).
    ChannelId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_integers_that_fit_parse() {
        for bad in [
            "abc",
            "-1",
            "0",
            "99999999999999999999",
            "",
            " 1",
            "1.5",
            "1.",
            ".0",
            "+",
        ] {
            assert_eq!(RunId::from_str(bad), Err(InvalidId), "{bad:?}");
        }
        assert_eq!("7".parse::<RunId>().unwrap().get(), 7);
        // An integral float is the integer (schemathesis sends `1.0` for an integer id).
        assert_eq!("7.00".parse::<RunId>().unwrap().get(), 7);
        assert_eq!(
            TestItemId::parse("id", "x").unwrap_err(),
            FieldError::new("id", BAD_ID)
        );
    }

    #[test]
    fn the_wire_shape_is_the_bare_integer_and_stored_values_read_as_they_are() {
        let id = BuildId::from_stored(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<BuildId>("42").unwrap(), id);
        // Not input: whatever an older version stored still reads.
        assert_eq!(serde_json::from_str::<RunId>("0").unwrap().get(), 0);
        assert_eq!(id.to_string(), "42");
    }
}
