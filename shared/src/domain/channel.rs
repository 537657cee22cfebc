//! Notification channels: a team chat (Feishu/Lark, DingTalk, WeCom, Slack, Teams) or a
//! plain webhook that hears about finished runs, beside the result mail.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::config_values::parse_text;
use super::field::{FieldError, has_control};
use super::ids::{ChannelId, TestItemId};
use super::mail_language::MailLanguage;
use super::run::RunOutcome;

/// The platform a channel posts to; decides the message's shape, signing and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Feishu / Lark custom bot (interactive card).
    Feishu,
    /// DingTalk custom robot (markdown).
    Dingtalk,
    /// WeCom (WeChat Work) group robot (markdown, at most 4,096 bytes).
    Wecom,
    /// Slack incoming webhook (text + blocks).
    Slack,
    /// Microsoft Teams Workflows webhook (Adaptive Card).
    Teams,
    /// Any HTTP endpoint: the run as JSON, signed with `X-CRAT-Signature` when a secret is set.
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 6] = [
        Self::Feishu,
        Self::Dingtalk,
        Self::Wecom,
        Self::Slack,
        Self::Teams,
        Self::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Feishu => "feishu",
            Self::Dingtalk => "dingtalk",
            Self::Wecom => "wecom",
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw.trim())
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    "must be one of feishu, dingtalk, wecom, slack, teams, webhook",
                )
            })
    }

    /// Whether the platform signs with a secret (WeCom, Slack and Teams put the
    /// credential in the URL; a secret set for them is refused rather than ignored).
    pub fn takes_secret(self) -> bool {
        matches!(self, Self::Feishu | Self::Dingtalk | Self::Webhook)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a channel hears about a finished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelRule {
    /// Every finished run.
    Always,
    /// Runs whose tests failed or that ended in an error.
    Failure,
    /// Only when the outcome differs from the item's previous run (its first run counts).
    Changed,
}

impl ChannelRule {
    pub const ALL: [ChannelRule; 3] = [Self::Always, Self::Failure, Self::Changed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Failure => "failure",
            Self::Changed => "changed",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw.trim())
            .ok_or_else(|| FieldError::new(field, "must be always, failure or changed"))
    }

    /// Whether a run with `outcome` is announced, given the item's previous outcome.
    /// A cancelled run is someone's decision, not news: only `always` announces it, and
    /// it is no "previous outcome" for `changed` (the caller skips cancelled runs).
    pub fn announces(self, outcome: RunOutcome, previous: Option<RunOutcome>) -> bool {
        match self {
            Self::Always => true,
            Self::Failure => matches!(outcome, RunOutcome::TestsFailed | RunOutcome::Error),
            Self::Changed => outcome != RunOutcome::Cancelled && previous != Some(outcome),
        }
    }
}

/// A chat webhook URL: absolute http(s) with a host; unlike [`super::HttpUrl`] it keeps
/// its query (DingTalk's `access_token`, WeCom's `key`). Stored as the URL standard
/// serialises it, so what is stored re-reads identically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The longest URL accepted (bytes).
    pub const MAX_LEN: usize = 2000;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| {
            FieldError::new(
                field,
                format!("must be the platform's http(s) webhook URL ({why})"),
            )
        };
        let s = raw.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(bad(&format!("longer than {} bytes", Self::MAX_LEN)));
        }
        if has_control(s) {
            return Err(bad("control characters"));
        }
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials in URLs are not allowed"));
        }
        if url.fragment().is_some() {
            return Err(bad("no fragment"));
        }
        if url.as_str().len() > Self::MAX_LEN {
            return Err(bad(&format!("longer than {} bytes", Self::MAX_LEN)));
        }
        Ok(Self(url.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parsed URL (checked on the way in; a stored value is re-parsed here).
    pub fn url(&self) -> Result<url::Url, url::ParseError> {
        url::Url::parse(&self.0)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signing secret. Never serialised into an answer, a log line or a run: `Debug` and
/// `Display` print a mask, and the API shows only `secret_set`.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSecret(String);

impl ChannelSecret {
    pub const MAX_LEN: usize = 200;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > Self::MAX_LEN || has_control(s) {
            return Err(FieldError::new(
                field,
                format!(
                    "must be the platform's signing secret: 1–{} bytes, no control characters",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// As stored; a stored value is taken as it is.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The secret itself, for signing and storing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ChannelSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSecret(***)")
    }
}

/// The most test items one channel may name.
pub const MAX_CHANNEL_ITEMS: usize = 200;
/// The longest channel name (characters).
pub const MAX_CHANNEL_NAME: usize = 100;

/// What a channel is, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub fields: ChannelFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Channel {
    /// Whether this channel hears about runs of `item`.
    pub fn covers(&self, item: TestItemId) -> bool {
        self.fields.test_item_ids.is_empty() || self.fields.test_item_ids.contains(&item)
    }
}

/// The writable fields of a channel, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFields {
    pub name: String,
    pub kind: ChannelKind,
    pub url: WebhookUrl,
    pub secret: Option<ChannelSecret>,
    pub rule: ChannelRule,
    /// Empty: every test item.
    pub test_item_ids: Vec<TestItemId>,
    pub language: MailLanguage,
    pub enabled: bool,
}

/// A channel as the API shows it: the secret only as set or unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    #[schema(value_type = i64)]
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
    #[schema(value_type = String, example = "https://open.feishu.cn/open-apis/bot/v2/hook/…")]
    pub url: WebhookUrl,
    /// Whether a signing secret is stored (the secret itself is never returned).
    pub secret_set: bool,
    pub rule: ChannelRule,
    #[schema(value_type = Vec<i64>)]
    pub test_item_ids: Vec<TestItemId>,
    pub language: MailLanguage,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> Self {
        let f = &c.fields;
        Self {
            id: c.id,
            name: f.name.clone(),
            kind: f.kind,
            url: f.url.clone(),
            secret_set: f.secret.is_some(),
            rule: f.rule,
            test_item_ids: f.test_item_ids.clone(),
            language: f.language,
            enabled: f.enabled,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The raw fields of a create or replace, before checking.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    /// `None`: keep the stored one (create: none); `Some("")`: clear; else set.
    pub secret: Option<&'a str>,
    pub rule: &'a str,
    pub test_item_ids: &'a [i64],
    pub language: &'a str,
    pub enabled: bool,
}

impl ChannelFields {
    /// Checks every field; errors name the field. `stored_secret` is kept when the input
    /// says nothing about the secret.
    pub fn parse(
        input: &ChannelInput<'_>,
        stored_secret: Option<ChannelSecret>,
    ) -> Result<Self, FieldError> {
        let name = parse_text("name", input.name.trim(), 1, MAX_CHANNEL_NAME)?;
        if name.contains(['\n', '\t']) {
            return Err(FieldError::new("name", "must be one line"));
        }
        let kind = ChannelKind::parse("kind", input.kind)?;
        let url = WebhookUrl::parse("url", input.url)?;
        let secret = match input.secret {
            None => stored_secret,
            Some(s) if s.trim().is_empty() => None,
            Some(s) => Some(ChannelSecret::parse("secret", s)?),
        };
        if secret.is_some() && !kind.takes_secret() {
            return Err(FieldError::new(
                "secret",
                format!(
                    "{kind} does not sign messages with a secret (its URL carries the credential); leave it empty"
                ),
            ));
        }
        if input.test_item_ids.len() > MAX_CHANNEL_ITEMS {
            return Err(FieldError::new(
                "test_item_ids",
                format!("at most {MAX_CHANNEL_ITEMS} test items (empty: every item)"),
            ));
        }
        let mut test_item_ids = Vec::with_capacity(input.test_item_ids.len());
        for (i, raw) in input.test_item_ids.iter().enumerate() {
            let id = TestItemId::parse(&format!("test_item_ids[{i}]"), &raw.to_string())?;
            if !test_item_ids.contains(&id) {
                test_item_ids.push(id);
            }
        }
        test_item_ids.sort();
        let language = MailLanguage::parse("language", &serde_json::json!(input.language))?;
        Ok(Self {
            name,
            kind,
            url,
            secret,
            rule: ChannelRule::parse("rule", input.rule)?,
            test_item_ids,
            language,
            enabled: input.enabled,
        })
    }
}

/// How one channel's delivery for a run went, as recorded on the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatStatus {
    Sent,
    Failed,
    /// The channel's rule or item filter left this run out.
    Skipped,
}

/// One channel's delivery for a run (`notifications.chat[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatDelivery {
    #[schema(value_type = i64)]
    pub channel_id: ChannelId,
    pub status: ChatStatus,
    pub attempts: u32,
    /// Why it failed or was skipped (the platform's own message when it gave one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// The run's deliveries besides the mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notifications {
    #[serde(default)]
    pub chat: Vec<ChatDelivery>,
}

impl Notifications {
    pub fn is_empty(&self) -> bool {
        self.chat.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(kind: &'a str, url: &'a str, secret: Option<&'a str>) -> ChannelInput<'a> {
        ChannelInput {
            name: " team ",
            kind,
            url,
            secret,
            rule: "always",
            test_item_ids: &[],
            language: "en",
            enabled: true,
        }
    }

    #[test]
    fn fields_are_checked_and_name_the_field() {
        let ok = ChannelFields::parse(
            &input(
                "dingtalk",
                "https://oapi.dingtalk.com/robot/send?access_token=abc",
                Some("SECxyz"),
            ),
            None,
        )
        .unwrap();
        assert_eq!(ok.name, "team");
        assert_eq!(
            ok.url.as_str(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc"
        );
        assert_eq!(ok.secret.as_ref().unwrap().expose(), "SECxyz");
        assert!(!format!("{ok:?}").contains("SECxyz"));
        let field = |i: ChannelInput<'_>| ChannelFields::parse(&i, None).unwrap_err().field;
        assert_eq!(field(input("irc", "http://h.example", None)), "kind");
        assert_eq!(field(input("slack", "ftp://h.example", None)), "url");
        assert_eq!(field(input("slack", "http://u:p@h.example", None)), "url");
        assert_eq!(field(input("slack", "http://h.example/#x", None)), "url");
        assert_eq!(
            field(input("slack", "http://h.example", Some("s"))),
            "secret"
        );
        let mut bad_rule = input("slack", "http://h.example", None);
        bad_rule.rule = "sometimes";
        assert_eq!(field(bad_rule), "rule");
        let mut bad_item = input("slack", "http://h.example", None);
        bad_item.test_item_ids = &[3, 0];
        assert_eq!(field(bad_item), "test_item_ids[1]");
        let mut bad_lang = input("slack", "http://h.example", None);
        bad_lang.language = "fr";
        assert_eq!(field(bad_lang), "language");
    }

    #[test]
    fn the_secret_is_kept_cleared_or_replaced() {
        let kept = ChannelSecret::from_stored("old".into());
        let url = "http://h.example/hook";
        let parse = |s| ChannelFields::parse(&input("webhook", url, s), Some(kept.clone()));
        assert_eq!(parse(None).unwrap().secret, Some(kept.clone()));
        assert_eq!(parse(Some("")).unwrap().secret, None);
        assert_eq!(parse(Some("new")).unwrap().secret.unwrap().expose(), "new");
    }

    #[test]
    fn urls_re_read_identically() {
        for raw in [
            "HTTPS://Oapi.DingTalk.com/robot/send?access_token=a%20b",
            "http://127.0.0.1:9/hook",
            "https://h.example/a b?x=ü",
        ] {
            let once = WebhookUrl::parse("url", raw).unwrap();
            let twice = WebhookUrl::parse("url", once.as_str()).unwrap();
            assert_eq!(once, twice, "{raw}");
        }
    }

    #[test]
    fn rules_decide_on_the_outcome() {
        use RunOutcome::*;
        assert!(ChannelRule::Always.announces(Passed, Some(Passed)));
        assert!(ChannelRule::Always.announces(Cancelled, None));
        assert!(!ChannelRule::Failure.announces(Passed, None));
        assert!(ChannelRule::Failure.announces(TestsFailed, None));
        assert!(ChannelRule::Failure.announces(Error, None));
        assert!(!ChannelRule::Failure.announces(Cancelled, None));
        assert!(ChannelRule::Changed.announces(Passed, None));
        assert!(!ChannelRule::Changed.announces(Passed, Some(Passed)));
        assert!(ChannelRule::Changed.announces(TestsFailed, Some(Passed)));
        assert!(ChannelRule::Changed.announces(Passed, Some(Error)));
        assert!(!ChannelRule::Changed.announces(Cancelled, Some(Passed)));
    }
}
