//! `mail_language`: the language the result mails are written in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::field::FieldError;

/// The result mail's language (subject, HTML and text): `en` (default) or `zh-CN`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum MailLanguage {
    #[default]
    #[serde(rename = "en")]
    English,
    #[serde(rename = "zh-CN")]
    SimplifiedChinese,
}

impl MailLanguage {
    pub const ALL: [MailLanguage; 2] = [Self::English, Self::SimplifiedChinese];

    /// The tag stored in settings and used as the HTML `lang`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::SimplifiedChinese => "zh-CN",
        }
    }

    /// `field`'s value as a language, or an error naming `field` and the choices.
    pub fn parse(field: &str, value: &serde_json::Value) -> Result<Self, FieldError> {
        let tag = value.as_str().map(str::trim);
        Self::ALL
            .into_iter()
            .find(|l| Some(l.as_str()) == tag)
            .ok_or_else(|| FieldError::new(field, "must be \"en\" or \"zh-CN\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_two_tags_parse() {
        for l in MailLanguage::ALL {
            assert_eq!(
                MailLanguage::parse("mail_language", &json!(l.as_str())),
                Ok(l)
            );
            assert_eq!(serde_json::to_value(l).unwrap(), json!(l.as_str()));
        }
        for bad in [json!("EN"), json!("zh"), json!(""), json!(1), json!(null)] {
            let e = MailLanguage::parse("mail_language", &bad).unwrap_err();
            assert_eq!(e.field, "mail_language", "{bad}");
        }
    }
}
