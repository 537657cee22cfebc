//! A notification channel's fields as one JSON document, the same in both stores; read
//! back through the same checks as input, so a hand-edited record fails as `Corrupt`.

use serde::{Deserialize, Serialize};

use crate::domain::{ChannelFields, ChannelInput, ChannelSecret};
use crate::ports::{StoreError, StoreResult};

#[derive(Serialize, Deserialize)]
struct Doc {
    name: String,
    kind: String,
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    rule: String,
    #[serde(default)]
    test_item_ids: Vec<i64>,
    language: String,
    enabled: bool,
}

pub(crate) fn channel_doc(f: &ChannelFields) -> String {
    let doc = Doc {
        name: f.name.clone(),
        kind: f.kind.as_str().to_owned(),
        url: f.url.as_str().to_owned(),
        secret: f.secret.as_ref().map(|s| s.expose().to_owned()),
        rule: f.rule.as_str().to_owned(),
        test_item_ids: f.test_item_ids.iter().map(|i| i.get()).collect(),
        language: f.language.as_str().to_owned(),
        enabled: f.enabled,
    };
    // A struct of strings, numbers and bools always serialises.
    serde_json::to_string(&doc).unwrap_or_default()
}

pub(crate) fn channel_fields(raw: &str) -> StoreResult<ChannelFields> {
    let corrupt = |why: String| StoreError::Corrupt(format!("channel: {why}"));
    let doc: Doc = serde_json::from_str(raw).map_err(|e| corrupt(e.to_string()))?;
    let input = ChannelInput {
        name: &doc.name,
        kind: &doc.kind,
        url: &doc.url,
        // Checked apart: a stored secret is taken as it is.
        secret: None,
        rule: &doc.rule,
        test_item_ids: &doc.test_item_ids,
        language: &doc.language,
        enabled: doc.enabled,
    };
    let stored = doc.secret.clone().map(ChannelSecret::from_stored);
    ChannelFields::parse(&input, stored).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_re_reads_identically_and_bad_ones_are_corrupt() {
        let f = ChannelFields::parse(
            &ChannelInput {
                name: "team",
                kind: "feishu",
                url: "https://open.feishu.cn/open-apis/bot/v2/hook/x",
                secret: Some("s3"),
                rule: "changed",
                test_item_ids: &[4, 2],
                language: "zh-CN",
                enabled: false,
            },
            None,
        )
        .unwrap();
        let doc = channel_doc(&f);
        assert_eq!(channel_fields(&doc).unwrap(), f);
        assert_eq!(channel_doc(&channel_fields(&doc).unwrap()), doc);
        for bad in [
            "",
            "{}",
            r#"{"name":"x","kind":"irc","url":"http://h","rule":"always","language":"en","enabled":true}"#,
        ] {
            assert!(
                matches!(channel_fields(bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
    }
}
