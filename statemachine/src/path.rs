//! The JSONPath subset ASL uses to pick values: `$`, `$.a.b`, `$.a[0]`, `$['a']`, and the
//! context object `$$.Execution.Id` and friends. Also ResultPath (writing a value into
//! the input) and Parameters/ResultSelector templates (keys ending in `.$`).

use serde_json::{Map, Value};

/// Where a path starts: the state's input (`$`) or the context object (`$$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Input,
    Context,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Field(String),
    Index(usize),
}

/// A parsed reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path {
    pub(crate) root: Root,
    pub(crate) segments: Vec<Segment>,
    text: String,
}

impl Path {
    /// `$`: the whole input.
    pub(crate) fn root() -> Path {
        Path {
            root: Root::Input,
            segments: Vec::new(),
            text: "$".to_string(),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Path, String> {
        let (root, rest) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            (Root::Input, rest)
        } else {
            return Err(format!("path '{text}' must start with '$'"));
        };
        let segments = parse_segments(rest).map_err(|e| format!("path '{text}': {e}"))?;
        Ok(Path {
            root,
            segments,
            text: text.to_string(),
        })
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The value the path points at, reading `$` from `input` and `$$` from `context`.
    pub(crate) fn get<'a>(&self, input: &'a Value, context: &'a Value) -> Option<&'a Value> {
        let mut current = match self.root {
            Root::Input => input,
            Root::Context => context,
        };
        for segment in &self.segments {
            current = match segment {
                Segment::Field(name) => current.as_object()?.get(name)?,
                Segment::Index(i) => current.as_array()?.get(*i)?,
            };
        }
        Some(current)
    }

    /// Like [`Path::get`], but a missing value is the `States.Runtime` message SFN gives.
    pub(crate) fn require<'a>(
        &self,
        input: &'a Value,
        context: &'a Value,
    ) -> Result<&'a Value, String> {
        self.get(input, context).ok_or_else(|| {
            format!(
                "Invalid path '{}': the path could not be found in the input",
                self.text
            )
        })
    }
}

fn parse_segments(mut rest: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return Err("empty field name (recursive descent '..' is not supported)".into());
            }
            if name.contains(['*', '?', '@', ']', '\'', '"', ' ']) {
                return Err(format!("field '{name}' uses unsupported JSONPath syntax"));
            }
            segments.push(Segment::Field(name.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (segment, after) = parse_bracket(after)?;
            segments.push(segment);
            rest = after;
        } else {
            return Err(format!("unexpected '{rest}'"));
        }
    }
    Ok(segments)
}

/// Parses the inside of `[...]` (after the `[`): a quoted field name or an index.
fn parse_bracket(after: &str) -> Result<(Segment, &str), String> {
    if let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let inner = &after[1..];
        let close = inner.find(quote).ok_or("unterminated quoted field name")?;
        let name = &inner[..close];
        let rest = inner[close + 1..]
            .strip_prefix(']')
            .ok_or("expected ']' after quoted field name")?;
        return Ok((Segment::Field(name.to_string()), rest));
    }
    let close = after.find(']').ok_or("unterminated '['")?;
    let index = &after[..close];
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'[{index}]' is not supported (only [<index>] and ['name'])"
        ));
    }
    let index = index
        .parse()
        .map_err(|_| format!("index '{index}' is too large"))?;
    Ok((Segment::Index(index), &after[close + 1..]))
}

/// InputPath/OutputPath: `None` (JSON `null`) gives `{}`, otherwise the selected value.
pub(crate) fn select(path: Option<&Path>, input: &Value, context: &Value) -> Result<Value, String> {
    match path {
        None => Ok(Value::Object(Map::new())),
        Some(path) => path.require(input, context).cloned(),
    }
}

/// ResultPath: `None` (JSON `null`) keeps the input, `$` replaces it with the result,
/// `$.a.b` writes the result there, creating objects on the way.
pub(crate) fn apply_result_path(
    input: &Value,
    result_path: Option<&Path>,
    result: Value,
) -> Result<Value, String> {
    let Some(path) = result_path else {
        return Ok(input.clone());
    };
    if path.segments.is_empty() {
        return Ok(result);
    }
    let mut output = input.clone();
    let mut current = &mut output;
    let last = path.segments.len() - 1;
    for (i, segment) in path.segments.iter().enumerate() {
        let fail = || {
            format!(
                "Unable to apply ResultPath '{}': the input does not have an object or array there",
                path.text()
            )
        };
        current = match segment {
            Segment::Field(name) => {
                let object = current.as_object_mut().ok_or_else(fail)?;
                if i == last {
                    object.insert(name.clone(), result);
                    return Ok(output);
                }
                object
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            Segment::Index(index) => {
                let slot = current
                    .as_array_mut()
                    .and_then(|array| array.get_mut(*index))
                    .ok_or_else(fail)?;
                if i == last {
                    *slot = result;
                    return Ok(output);
                }
                slot
            }
        };
    }
    Ok(output)
}

/// A Parameters / ResultSelector payload template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    Literal(Value),
    Path(Path),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

impl Template {
    /// Parses a template. An error is `(key path inside the template, message)`.
    pub(crate) fn parse(value: &Value) -> Result<Template, (String, String)> {
        parse_template(value, "")
    }

    /// Fills the template: `key.$` entries become `key` with the value at the path.
    pub(crate) fn render(&self, input: &Value, context: &Value) -> Result<Value, String> {
        Ok(match self {
            Template::Literal(value) => value.clone(),
            Template::Path(path) => path.require(input, context)?.clone(),
            Template::Object(entries) => {
                let mut object = Map::new();
                for (key, template) in entries {
                    object.insert(key.clone(), template.render(input, context)?);
                }
                Value::Object(object)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.render(input, context))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

fn parse_template(value: &Value, at: &str) -> Result<Template, (String, String)> {
    match value {
        Value::Object(object) => {
            let mut entries = Vec::with_capacity(object.len());
            for (key, value) in object {
                let here = format!("{at}.{key}");
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let Some(text) = value.as_str() else {
                            return Err((here, "a '.$' key needs a path string".into()));
                        };
                        if text.starts_with("States.") {
                            let message =
                                format!("intrinsic functions ('{text}') are not supported");
                            return Err((here, message));
                        }
                        let path = Path::parse(text).map_err(|e| (here, e))?;
                        entries.push((name.to_string(), Template::Path(path)));
                    }
                    None => entries.push((key.clone(), parse_template(value, &here)?)),
                }
            }
            Ok(Template::Object(entries))
        }
        Value::Array(items) => Ok(Template::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_template(item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(Template::Literal(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(path: &str, input: &Value) -> Option<Value> {
        let context = json!({"Execution": {"Id": "exec-1"}, "State": {"Name": "Poll"}});
        Path::parse(path).unwrap().get(input, &context).cloned()
    }

    #[test]
    fn paths_select_fields_indices_and_quoted_names() {
        let input = json!({"a": {"b": [10, {"c d": true}]}, "x": 1});
        assert_eq!(get("$", &input), Some(input.clone()));
        assert_eq!(get("$.x", &input), Some(json!(1)));
        assert_eq!(get("$.a.b[0]", &input), Some(json!(10)));
        assert_eq!(get("$.a.b[1]['c d']", &input), Some(json!(true)));
        assert_eq!(get("$['a'][\"b\"][0]", &input), Some(json!(10)));
        assert_eq!(get("$.a.b[2]", &input), None);
        assert_eq!(get("$.missing.deeper", &input), None);
        assert_eq!(get("$.x.y", &input), None);
    }

    #[test]
    fn context_paths_read_the_context_object() {
        assert_eq!(get("$$.Execution.Id", &json!({})), Some(json!("exec-1")));
        assert_eq!(get("$$.State.Name", &json!({})), Some(json!("Poll")));
    }

    #[test]
    fn unsupported_path_syntax_is_refused() {
        for bad in [
            "a.b",
            "$..a",
            "$.a[*]",
            "$.a[-1]",
            "$.a[0:2]",
            "$.a[?(@.b)]",
            "$.*",
            "$.a[",
            "$.",
            "$['a'",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn missing_path_is_a_runtime_message_naming_the_path() {
        let err = Path::parse("$.nope")
            .unwrap()
            .require(&json!({}), &json!({}))
            .unwrap_err();
        assert!(err.contains("$.nope"), "{err}");
    }

    #[test]
    fn input_and_output_path_null_give_empty_object() {
        assert_eq!(
            select(None, &json!({"a": 1}), &json!({})).unwrap(),
            json!({})
        );
        let path = Path::parse("$.a").unwrap();
        assert_eq!(
            select(Some(&path), &json!({"a": 1}), &json!({})).unwrap(),
            json!(1)
        );
    }

    #[test]
    fn result_path_replaces_merges_or_discards() {
        let input = json!({"keep": 1, "r": {"old": true}});
        let result = json!({"status": "ok"});
        assert_eq!(
            apply_result_path(&input, Some(&Path::root()), result.clone()).unwrap(),
            result
        );
        assert_eq!(
            apply_result_path(&input, None, result.clone()).unwrap(),
            input
        );
        let merged = apply_result_path(
            &input,
            Some(&Path::parse("$.r.poll").unwrap()),
            result.clone(),
        )
        .unwrap();
        assert_eq!(
            merged,
            json!({"keep": 1, "r": {"old": true, "poll": {"status": "ok"}}})
        );
        let created =
            apply_result_path(&input, Some(&Path::parse("$.new.deep").unwrap()), json!(5)).unwrap();
        assert_eq!(created["new"], json!({"deep": 5}));
        assert_eq!(created["keep"], json!(1));
    }

    #[test]
    fn result_path_into_a_non_object_fails() {
        let path = Path::parse("$.keep.x").unwrap();
        assert!(apply_result_path(&json!({"keep": 1}), Some(&path), json!(2)).is_err());
        assert!(
            apply_result_path(&json!("text"), Some(&Path::parse("$.x").unwrap()), json!(2))
                .is_err()
        );
    }

    #[test]
    fn result_path_writes_into_existing_array_slots() {
        let path = Path::parse("$.list[1]").unwrap();
        let out = apply_result_path(&json!({"list": [0, 0]}), Some(&path), json!(9)).unwrap();
        assert_eq!(out, json!({"list": [0, 9]}));
        assert!(apply_result_path(&json!({"list": []}), Some(&path), json!(9)).is_err());
    }

    #[test]
    fn templates_fill_paths_recursively_and_keep_literals() {
        let template = Template::parse(&json!({
            "run_id.$": "$.run.id",
            "literal": "$.not.a.path",
            "execution.$": "$$.Execution.Id",
            "nested": {"n.$": "$.n", "list": [{"x.$": "$.n"}, 3]}
        }))
        .unwrap();
        let input = json!({"run": {"id": "r1"}, "n": 7});
        let context = json!({"Execution": {"Id": "e1"}});
        assert_eq!(
            template.render(&input, &context).unwrap(),
            json!({
                "run_id": "r1",
                "literal": "$.not.a.path",
                "execution": "e1",
                "nested": {"n": 7, "list": [{"x": 7}, 3]}
            })
        );
    }

    #[test]
    fn template_with_a_missing_path_fails() {
        let template = Template::parse(&json!({"a.$": "$.missing"})).unwrap();
        assert!(template.render(&json!({}), &json!({})).is_err());
    }

    #[test]
    fn templates_refuse_intrinsics_and_bad_paths() {
        let (at, err) =
            Template::parse(&json!({"a": {"b.$": "States.Format('{}', $.x)"}})).unwrap_err();
        assert_eq!(at, ".a.b.$");
        assert!(err.contains("intrinsic"), "{err}");
        assert!(Template::parse(&json!({"a.$": 3})).is_err());
        assert!(Template::parse(&json!({"a.$": "$..x"})).is_err());
    }
}
