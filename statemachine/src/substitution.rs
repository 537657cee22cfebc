//! `${Var}` placeholders in the definition text, as SAM's `DefinitionSubstitutions` fills them.

use std::collections::{BTreeSet, HashMap};

use crate::error::DefinitionError;

/// Every `${Name}` in `text` (name = letters, digits, `_`, `-`, `.`, `:`).
pub(crate) fn vars(text: &str) -> BTreeSet<String> {
    placeholders(text)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// Replaces each `${Name}` with its value, verbatim (as SAM does). A name without a
/// value is an error naming it.
pub(crate) fn substitute(
    text: &str,
    values: &HashMap<String, String>,
) -> Result<String, DefinitionError> {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, name) in placeholders(text) {
        let value = values
            .get(name)
            .ok_or_else(|| DefinitionError::MissingSubstitution(name.to_string()))?;
        out.push_str(&text[copied..start]);
        out.push_str(value);
        copied = start + name.len() + 3;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// (byte offset of `$`, name) for each placeholder, in order.
fn placeholders(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.match_indices("${").filter_map(move |(start, _)| {
        let rest = &text[start + 2..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        valid.then_some((start, name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_replaces_placeholders() {
        let text = r#"{"Resource": "${DownloadFunctionArn}", "x": "${Other}-${DownloadFunctionArn}", "y": "${ not }"}"#;
        assert_eq!(
            vars(text),
            BTreeSet::from(["DownloadFunctionArn".to_string(), "Other".to_string()])
        );
        let values = HashMap::from([
            ("DownloadFunctionArn".to_string(), "download".to_string()),
            ("Other".to_string(), "o".to_string()),
        ]);
        assert_eq!(
            substitute(text, &values).unwrap(),
            r#"{"Resource": "download", "x": "o-download", "y": "${ not }"}"#
        );
    }

    #[test]
    fn missing_value_names_the_variable() {
        let err = substitute(
            "${A} ${B}",
            &HashMap::from([("A".to_string(), "a".to_string())]),
        )
        .unwrap_err();
        assert_eq!(err, DefinitionError::MissingSubstitution("B".to_string()));
        assert!(err.to_string().contains("${B}"));
    }
}
