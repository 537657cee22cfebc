//! Failed admin logins on DynamoDB.
//! - admin login attempts: read, then (same window, under the limit) UpdateItem `ADD
//!   count :1` if `window_start = :ws AND count < :max`, or PutItem a new window if the
//!   old one (or none) is still there; retried on a lost race. The check and the count
//!   are one conditional write, so concurrent callers take at most `max`. A success
//!   gives one back (`ADD count :-1` if `count > 0`). `ttl` is the window end.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Item, corrupt, fmt_time, get_i64, get_s, get_time, n, s};
use super::keys::{LOGIN_FAILURES_SK, key, login_failures_pk};
use super::requests::condition_held;
use super::table::{PK, TTL};
use super::tx::MAX_ATTEMPTS;
use crate::domain::LoginFailures;
use crate::ports::{LoginFailureStore, StoreError, StoreResult};

impl DynamoStore {
    async fn login_failures_item(&self, k: &str) -> StoreResult<Option<(LoginFailures, String)>> {
        let Some(item) = self
            .get_item(login_failures_pk(k), LOGIN_FAILURES_SK)
            .await?
        else {
            return Ok(None);
        };
        let raw = get_s(&item, "window_start")?.to_owned();
        Ok(Some((login_failures_from_item(&item)?, raw)))
    }

    /// One try at taking an attempt: `None` when a concurrent writer changed the record
    /// between the read and the conditional write (try again).
    async fn try_take_login_attempt(
        &self,
        k: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Result<LoginFailures, LoginFailures>>> {
        let stored = self.login_failures_item(k).await?;
        let current = LoginFailures::current(stored.as_ref().map(|(f, _)| *f), now);
        if let Some(f) = current.filter(|f| f.count >= max) {
            return Ok(Some(Err(f)));
        }
        let pk = login_failures_pk(k);
        if let (Some(_), Some((_, raw_start))) = (current, &stored) {
            // Same window: count it only while still under the limit, in one conditional
            // update, so concurrent callers can never take more than `max`.
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, LOGIN_FAILURES_SK)))
                .update_expression("ADD #count :one")
                .condition_expression("window_start = :ws AND #count < :max")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(i64::from(max)))
                .expression_attribute_values(":ws", s(raw_start))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            // `None`: the window or the count changed meanwhile.
            let Some(out) = condition_held("UpdateItem (login failures)", result)? else {
                return Ok(None);
            };
            return match out.attributes {
                Some(item) => login_failures_from_item(&item).map(|f| Some(Ok(f))),
                None => Err(StoreError::Corrupt(format!(
                    "UpdateItem on login failures of {k} returned no attributes"
                ))),
            };
        }
        let next = LoginFailures::after_failure(None, now);
        let mut item = key(pk, LOGIN_FAILURES_SK);
        item.insert("count".to_owned(), n(i64::from(next.count)));
        item.insert("window_start".to_owned(), s(&fmt_time(next.window_start)));
        // DynamoDB deletes the record once its window has closed (late; read checks too).
        item.insert(TTL.to_owned(), n(next.window_end().timestamp()));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match &stored {
            Some((_, raw_start)) => put
                .condition_expression("attribute_not_exists(#pk) OR window_start = :ws")
                .expression_attribute_values(":ws", s(raw_start)),
            None => put.condition_expression("attribute_not_exists(#pk)"),
        };
        let result = put.expression_attribute_names("#pk", PK).send().await;
        Ok(condition_held("PutItem (login failures)", result)?.map(|_| Ok(next)))
    }
}

#[async_trait]
impl LoginFailureStore for DynamoStore {
    async fn get_login_failures(&self, k: &str) -> StoreResult<Option<LoginFailures>> {
        Ok(self.login_failures_item(k).await?.map(|(f, _)| f))
    }

    async fn take_login_attempt(
        &self,
        k: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<LoginFailures, LoginFailures>> {
        // Every lost race means another caller's write went through, and at most `max`
        // of those can be counts: the loop ends once the limit is seen.
        for _ in 0..MAX_ATTEMPTS.max(2 * max as usize + 2) {
            if let Some(taken) = self.try_take_login_attempt(k, max, now).await? {
                return Ok(taken);
            }
            tracing::debug!(key = k, "login attempt count lost a race; retrying");
        }
        Err(StoreError::Conflict(format!(
            "login failures of {k} are being updated concurrently"
        )))
    }

    async fn give_back_login_attempt(&self, k: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let Some((f, raw_start)) = self.login_failures_item(k).await? else {
            return Ok(());
        };
        if LoginFailures::current(Some(f), now).is_none() {
            return Ok(());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(login_failures_pk(k), LOGIN_FAILURES_SK)))
            .update_expression("ADD #count :minus")
            .condition_expression("window_start = :ws AND #count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":ws", s(&raw_start))
            .send()
            .await;
        // A failed condition: a new window or nothing left to give back, nothing to do.
        condition_held("UpdateItem (login failures)", result)?;
        Ok(())
    }

    async fn clear_login_failures(&self, k: &str) -> StoreResult<()> {
        self.delete_item(login_failures_pk(k), LOGIN_FAILURES_SK)
            .await?;
        Ok(())
    }
}

fn login_failures_from_item(item: &Item) -> StoreResult<LoginFailures> {
    let count = get_i64(item, "count")?;
    Ok(LoginFailures {
        count: u32::try_from(count).map_err(|_| corrupt(item, "count", "is out of range"))?,
        window_start: get_time(item, "window_start")?,
    })
}
