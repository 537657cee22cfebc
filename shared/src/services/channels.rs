//! Notification channels: the admin's CRUD and the Test button. The secret goes in and is
//! kept, but never comes out: answers show [`ChannelView`] (`secret_set`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::chat_send::{self, SendResult};
use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::{
    Channel, ChannelFields, ChannelId, ChannelInput, ChannelKind, ChannelRule, ChannelView,
    FieldError, MailLanguage,
};
use crate::ports::MAX_CHANNELS;

/// The body of POST and PUT (PUT replaces every field but the secret, which is kept
/// unless `secret` is given).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// 1–100 characters, one line.
    #[schema(
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x1f\x7f-\x9f\s])?\s*$"
    )]
    pub name: String,
    pub kind: ChannelKind,
    /// The platform's webhook URL (http or https; its query is kept, e.g. DingTalk's
    /// `access_token`).
    #[schema(
        max_length = 2000,
        pattern = r"^\s*https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~%/-]*)?(?:\?[A-Za-z0-9._~%=&-]*)?\s*$"
    )]
    pub url: String,
    /// The signing secret (Feishu, DingTalk, webhook). Write-only: absent or `null` keeps
    /// the stored one, `""` clears it.
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub secret: Option<String>,
    #[serde(default = "always")]
    pub rule: ChannelRule,
    /// Only runs of these test items (empty: every item).
    #[serde(default)]
    #[schema(schema_with = test_item_ids_schema)]
    pub test_item_ids: Vec<i64>,
    #[serde(default)]
    pub language: MailLanguage,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn always() -> ChannelRule {
    ChannelRule::Always
}

fn enabled_by_default() -> bool {
    true
}

async fn parse(
    state: &Deps,
    body: &ChannelBody,
    stored: Option<&Channel>,
) -> ServiceResult<ChannelFields> {
    let fields = ChannelFields::parse(
        &ChannelInput {
            name: &body.name,
            kind: body.kind.as_str(),
            url: &body.url,
            secret: body.secret.as_deref(),
            rule: body.rule.as_str(),
            test_item_ids: &body.test_item_ids,
            language: body.language.as_str(),
            enabled: body.enabled,
        },
        stored.and_then(|c| c.fields.secret.clone()),
    )?;
    for (i, id) in body.test_item_ids.iter().enumerate() {
        let Ok(item) = crate::domain::TestItemId::parse("", &id.to_string()) else {
            continue;
        };
        // Well-formed but not (or no longer) there: 422, like a missing parameter set.
        if state.store.get_test_item(item.get()).await?.is_none() {
            return Err(ServiceError::Unprocessable {
                code: "test_item_not_found",
                message: format!(
                    "test_item_ids[{i}]: no test item has id {id}; leave the list empty for every item"
                ),
            });
        }
    }
    Ok(fields)
}

pub async fn list(state: &Deps) -> ServiceResult<Vec<ChannelView>> {
    let channels = state.store.list_channels().await?;
    Ok(channels.iter().map(ChannelView::from).collect())
}

pub async fn get(state: &Deps, id: ChannelId) -> ServiceResult<Channel> {
    state
        .store
        .get_channel(id)
        .await?
        .ok_or_else(|| ServiceError::no_such("notification channel", id))
}

pub async fn create(state: &Deps, body: &ChannelBody) -> ServiceResult<Channel> {
    let fields = parse(state, body, None).await?;
    if state.store.list_channels().await?.len() >= MAX_CHANNELS {
        return Err(ServiceError::Conflict {
            code: "too_many_channels",
            message: format!(
                "there are {MAX_CHANNELS} notification channels already; delete one first"
            ),
            details: None,
        });
    }
    let channel = state
        .store
        .create_channel(&fields, state.clock.now())
        .await?;
    tracing::info!(id = %channel.id, kind = %channel.fields.kind, "notification channel created");
    Ok(channel)
}

pub async fn update(state: &Deps, id: ChannelId, body: &ChannelBody) -> ServiceResult<Channel> {
    let stored = get(state, id).await?;
    let fields = parse(state, body, Some(&stored)).await?;
    state
        .store
        .update_channel(id, &fields, state.clock.now())
        .await?
        .ok_or_else(|| ServiceError::no_such("notification channel", id))
}

pub async fn delete(state: &Deps, id: ChannelId) -> ServiceResult<()> {
    if state.store.delete_channel(id).await? {
        Ok(())
    } else {
        Err(ServiceError::no_such("notification channel", id))
    }
}

/// What the platform said to a test message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ChannelTestAnswer {
    /// The platform accepted the message.
    pub delivered: bool,
    /// The HTTP status of its (last) answer; `null` when none came.
    pub status: Option<u16>,
    pub attempts: u32,
    /// What it said, or why nothing was delivered.
    pub detail: String,
}

/// Sends a short test message through the channel (enabled or not), as a run's would go.
pub async fn test(state: &Deps, id: ChannelId) -> ServiceResult<ChannelTestAnswer> {
    let channel = get(state, id).await?;
    let settings = state.settings().await?;
    let f = &channel.fields;
    let url = f.url.url().map_err(|_| {
        ServiceError::Invalid(FieldError::new(
            "url",
            "the stored URL no longer parses; save the channel again",
        ))
    })?;
    let SendResult {
        attempts,
        outcome,
        status,
    } = chat_send::send(state, f.kind, |now| {
        crate::chat::test_message(
            f.kind,
            &url,
            f.secret.as_ref(),
            f.language,
            &settings.project_name,
            now,
        )
    })
    .await;
    let (delivered, detail) = match outcome {
        Ok(said) => (true, said),
        Err(why) => (false, why),
    };
    Ok(ChannelTestAnswer {
        delivered,
        status,
        attempts,
        detail,
    })
}

/// `test_item_ids`: at most 200 test item ids, each a positive integer.
fn test_item_ids_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        )
        .max_items(Some(200))
        .build()
}
