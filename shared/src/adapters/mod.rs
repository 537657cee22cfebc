//! Storage adapters: the embedded file store (SQLite) and DynamoDB.

mod channel_doc;
pub mod dynamodb;
pub mod sqlite;

pub use dynamodb::DynamoStore;
pub use sqlite::SqliteStore;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};

use crate::ports::{Page, StoreError, StoreResult};

/// A failed AWS SDK call as text (every AWS SDK crate shares this `SdkError`). For a
/// service error only the error itself is kept (code, message and request id), not the
/// raw HTTP response the whole `SdkError` would print; else the dispatch/timeout/parse
/// chain.
pub(crate) fn sdk_error_text<E, R>(err: SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(context) => DisplayErrorContext(context.into_err()).to_string(),
        other => DisplayErrorContext(other).to_string(),
    }
}

/// Reads the rows of a list, logging and leaving out any that cannot be read back
/// (`Corrupt`: a record written by an older, laxer version, or edited by hand). One bad
/// record must never take the whole list down; the log names it by `key` so it can be
/// repaired. Any other error still fails the list.
pub(crate) fn readable<R, T>(
    what: &'static str,
    rows: Vec<R>,
    key: impl Fn(&R) -> String,
    mut read: impl FnMut(R) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let k = key(&row);
        match read(row) {
            Ok(t) => out.push(t),
            Err(StoreError::Corrupt(why)) => tracing::warn!(
                record = what,
                key = %k,
                error = %why,
                "left a stored record that cannot be read back out of a list"
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Like [`readable`] on a page: the cursor comes from the raw rows, so a skipped row
/// never ends the paging early.
pub(crate) fn readable_page<R, T, K>(
    what: &'static str,
    rows: Vec<R>,
    limit: usize,
    cursor: impl Fn(&R) -> K,
    key: impl Fn(&R) -> String,
    read: impl FnMut(R) -> StoreResult<T>,
) -> StoreResult<Page<T, K>> {
    let page = Page::from_overfetch(rows, limit, cursor);
    Ok(Page {
        items: readable(what, page.items, key, read)?,
        next: page.next,
    })
}
