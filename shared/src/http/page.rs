use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::FieldError;
use crate::ports::Page;

/// `limit` and `cursor` of every list endpoint. Kept as text so errors name the field.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–200 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page, as it was returned (opaque).
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl PageParams {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 200;

    pub fn limit(&self) -> Result<usize, FieldError> {
        match self.limit.as_deref().map(str::trim) {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| FieldError::new("limit", "must be an integer from 1 to 200")),
        }
    }

    /// The decoded cursor text, or `None` for the first page.
    pub fn cursor(&self) -> Result<Option<String>, FieldError> {
        let bad = || {
            FieldError::new(
                "cursor",
                "is not a next_cursor returned by this list; start again without it",
            )
        };
        match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(c) => {
                let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
                String::from_utf8(bytes).map(Some).map_err(|_| bad())
            }
        }
    }

    /// The cursor as an integer key (lists ordered by id).
    pub fn id_cursor(&self) -> Result<Option<i64>, FieldError> {
        self.cursor()?
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    FieldError::new(
                        "cursor",
                        "is not a next_cursor returned by this list; start again without it",
                    )
                })
            })
            .transpose()
    }
}

/// `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> ListResponse<T> {
    pub fn from_page<K: ToString>(page: Page<T, K>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next.map(|k| URL_SAFE_NO_PAD.encode(k.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>, cursor: Option<&str>) -> PageParams {
        PageParams {
            limit: limit.map(Into::into),
            cursor: cursor.map(Into::into),
        }
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(params(None, None).limit(), Ok(20));
        assert_eq!(params(Some("200"), None).limit(), Ok(200));
        // An empty `limit=` is not a number (the schema says integer): leave it out instead.
        for bad in ["0", "201", "-1", "x", ""] {
            assert_eq!(params(Some(bad), None).limit().unwrap_err().field, "limit");
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let page = Page {
            items: vec![1],
            next: Some(42i64),
        };
        let list = ListResponse::from_page(page);
        let p = params(None, list.next_cursor.as_deref());
        assert_eq!(p.id_cursor(), Ok(Some(42)));
        assert_eq!(
            params(None, Some("!!")).cursor().unwrap_err().field,
            "cursor"
        );
        assert_eq!(
            params(None, Some("eA")).id_cursor().unwrap_err().field,
            "cursor"
        );
    }
}
