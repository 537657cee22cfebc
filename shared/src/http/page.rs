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
    /// `next_cursor` of the previous page (URL-safe base64, at most 1100 characters;
    /// anything else is a 400 naming `cursor`).
    #[param(pattern = r"^[A-Za-z0-9_-]*$", max_length = 1100)]
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

    /// The longest `cursor` accepted, encoded: the longest key any list pages by (a
    /// 200-character job name, up to 800 bytes of UTF-8) fits. Checked before decoding,
    /// so nothing longer ever reaches a store (DynamoDB refuses keys over 1024 bytes).
    pub const MAX_CURSOR_CHARS: usize = 1100;

    /// The decoded cursor text, or `None` for the first page. Refused by shape before
    /// anything is decoded: at most [`Self::MAX_CURSOR_CHARS`] URL-safe base64 characters
    /// (no padding), decoding to UTF-8 text without control characters.
    pub fn cursor(&self) -> Result<Option<String>, FieldError> {
        self.cursor_within(Self::MAX_CURSOR_CHARS)
    }

    /// [`Self::cursor`] for a list whose keys are longer than the stores' (a Step Functions
    /// history `nextToken` is up to 1024 characters, about 1366 encoded): at most
    /// `max_chars` encoded characters.
    pub fn cursor_within(&self, max_chars: usize) -> Result<Option<String>, FieldError> {
        let Some(c) = self.cursor.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        if c.len() > max_chars {
            return Err(FieldError::new(
                "cursor",
                format!(
                    "must be at most {max_chars} characters: pass next_cursor from the previous page, or start again without it"
                ),
            ));
        }
        if !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad_cursor());
        }
        let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad_cursor())?;
        let text = String::from_utf8(bytes).map_err(|_| bad_cursor())?;
        if text.is_empty() || text.chars().any(char::is_control) {
            return Err(bad_cursor());
        }
        Ok(Some(text))
    }

    /// The cursor as an id key (lists ordered by id): a positive integer.
    pub fn id_cursor(&self) -> Result<Option<i64>, FieldError> {
        self.cursor()?
            .map(|c| {
                c.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0 && c == id.to_string())
                    .ok_or_else(bad_cursor)
            })
            .transpose()
    }
}

fn bad_cursor() -> FieldError {
    FieldError::new(
        "cursor",
        "is not a next_cursor returned by this list; start again without it",
    )
}

/// A cursor as the API hands it out (what [`PageParams::cursor`] decodes).
pub fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw)
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

    #[test]
    fn a_longer_key_fits_within_its_own_limit() {
        // A Step Functions nextToken of the longest documented length.
        let token = "t".repeat(1024);
        let encoded = URL_SAFE_NO_PAD.encode(&token);
        assert!(encoded.len() > PageParams::MAX_CURSOR_CHARS);
        let p = params(None, Some(&encoded));
        assert_eq!(p.cursor().unwrap_err().field, "cursor");
        assert_eq!(p.cursor_within(2048), Ok(Some(token)));
        let too_long = "A".repeat(2049);
        let err = params(None, Some(&too_long))
            .cursor_within(2048)
            .unwrap_err();
        assert!(err.message.contains("2048"), "{}", err.message);
    }

    #[test]
    fn cursors_are_refused_by_shape_and_length_before_decoding() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let long = "A".repeat(PageParams::MAX_CURSOR_CHARS + 1);
        let err = params(None, Some(&long)).cursor().unwrap_err();
        assert_eq!(err.field, "cursor");
        assert!(err.message.contains("1100"), "{}", err.message);
        for bad in [
            "eA==".to_owned(),
            "e A".to_owned(),
            "e.A".to_owned(),
            "e+A/".to_owned(),
            enc("a\u{0}b"),
            enc("x\ny"),
        ] {
            let err = params(None, Some(&bad)).cursor().unwrap_err();
            assert_eq!(err.field, "cursor", "{bad:?}");
        }
        for bad_id in ["0", "-5", "+5", "05", " 5", "99999999999999999999"] {
            let err = params(None, Some(&enc(bad_id))).id_cursor().unwrap_err();
            assert_eq!(err.field, "cursor", "{bad_id:?}");
        }
        // The longest real key still fits: a 200-character job name of 4-byte characters.
        let job = "\u{1F680}".repeat(200);
        assert_eq!(params(None, Some(&enc(&job))).cursor().unwrap(), Some(job));
    }
}
