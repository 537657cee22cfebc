//! Choice rules: parsing the supported comparison operators and evaluating them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::DefinitionError;
use crate::fields::Fields;
use crate::path::Path;

/// A rule of a Choice state: a comparison on a variable, or And/Or/Not of rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: Path, test: Test },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Path(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    Compare {
        kind: Kind,
        op: Op,
        operand: Operand,
    },
    StringMatches(String),
    IsPresent(bool),
    IsNull(bool),
    IsKind {
        kind: Kind,
        expected: bool,
    },
}

const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];
const OPS: [(&str, Op); 5] = [
    ("GreaterThanEquals", Op::GreaterThanEquals),
    ("LessThanEquals", Op::LessThanEquals),
    ("GreaterThan", Op::GreaterThan),
    ("LessThan", Op::LessThan),
    ("Equals", Op::Equals),
];

/// `StringEquals`, `NumericLessThanPath`, ... → (kind, op, is_path). BooleanEquals only.
fn comparison(name: &str) -> Option<(Kind, Op, bool)> {
    let (name, is_path) = match name.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let (kind, rest) = KINDS
        .iter()
        .find_map(|(prefix, kind)| name.strip_prefix(prefix).map(|rest| (*kind, rest)))?;
    let op = OPS
        .iter()
        .find(|(suffix, _)| *suffix == rest)
        .map(|(_, op)| *op)?;
    if kind == Kind::Boolean && op != Op::Equals {
        return None;
    }
    Some((kind, op, is_path))
}

fn type_test(name: &str) -> Option<Kind> {
    match name {
        "IsString" => Some(Kind::String),
        "IsNumeric" => Some(Kind::Numeric),
        "IsBoolean" => Some(Kind::Boolean),
        "IsTimestamp" => Some(Kind::Timestamp),
        _ => None,
    }
}

/// Parses one rule. `top_level` rules carry `Next`, nested ones must not.
pub(crate) fn parse_rule(fields: &Fields, top_level: bool) -> Result<Rule, DefinitionError> {
    let structural = ["Next", "Comment", "Variable"];
    let operators: Vec<&String> = fields
        .object
        .keys()
        .filter(|key| !structural.contains(&key.as_str()))
        .collect();
    if top_level != fields.has("Next") {
        let message = if top_level {
            "is required"
        } else {
            "is only allowed on top-level choice rules"
        };
        return Err(fields.error("Next", message));
    }
    let [operator] = operators.as_slice() else {
        return Err(DefinitionError::invalid(
            fields.location.clone(),
            format!("a choice rule needs exactly one operator, found {operators:?}"),
        ));
    };
    let operator = operator.as_str();
    let value = &fields.object[operator];
    let combinator = match operator {
        "And" | "Or" => {
            let items = value
                .as_array()
                .filter(|items| !items.is_empty())
                .ok_or_else(|| fields.error(operator, "must be a non-empty array of rules"))?;
            let rules = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    parse_rule(
                        &Fields::new(item, format!("{}[{i}]", fields.at(operator)))?,
                        false,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(if operator == "And" {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            })
        }
        "Not" => Some(Rule::Not(Box::new(parse_rule(
            &Fields::new(value, fields.at(operator))?,
            false,
        )?))),
        _ => None,
    };
    if let Some(rule) = combinator {
        if fields.has("Variable") {
            return Err(fields.error("Variable", format!("is not allowed with {operator}")));
        }
        return Ok(rule);
    }
    let variable = fields
        .path("Variable")?
        .ok_or_else(|| fields.error("Variable", "is required"))?;
    let test = parse_test(fields, operator, value)?;
    Ok(Rule::Test { variable, test })
}

fn parse_test(fields: &Fields, operator: &str, value: &Value) -> Result<Test, DefinitionError> {
    let boolean = || {
        value
            .as_bool()
            .ok_or_else(|| fields.error(operator, "must be true or false"))
    };
    if operator == "IsPresent" {
        return Ok(Test::IsPresent(boolean()?));
    }
    if operator == "IsNull" {
        return Ok(Test::IsNull(boolean()?));
    }
    if let Some(kind) = type_test(operator) {
        return Ok(Test::IsKind {
            kind,
            expected: boolean()?,
        });
    }
    if operator == "StringMatches" {
        let pattern = value
            .as_str()
            .ok_or_else(|| fields.error(operator, "must be a string"))?;
        return Ok(Test::StringMatches(pattern.to_string()));
    }
    let Some((kind, op, is_path)) = comparison(operator) else {
        return Err(fields.error(
            operator,
            format!("unsupported Choice operator '{operator}'"),
        ));
    };
    let operand = if is_path {
        let text = value
            .as_str()
            .ok_or_else(|| fields.error(operator, "must be a path string"))?;
        Operand::Path(Path::parse(text).map_err(|e| fields.error(operator, e))?)
    } else {
        if !is_kind(kind, value) {
            return Err(fields.error(operator, format!("must be a {kind:?} value")));
        }
        Operand::Literal(value.clone())
    };
    Ok(Test::Compare { kind, op, operand })
}

fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn is_kind(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::String => value.is_string(),
        Kind::Numeric => value.is_number(),
        Kind::Boolean => value.is_boolean(),
        Kind::Timestamp => timestamp(value).is_some(),
    }
}

/// Evaluates a rule against the Choice state's effective input. A variable or operand
/// path that does not exist is a `States.Runtime` error (as in Step Functions), except
/// for `IsPresent`; a value of the wrong type simply does not match.
pub(crate) fn evaluate(rule: &Rule, input: &Value, context: &Value) -> Result<bool, String> {
    match rule {
        Rule::And(rules) => {
            for rule in rules {
                if !evaluate(rule, input, context)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rules) => {
            for rule in rules {
                if evaluate(rule, input, context)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(rule) => Ok(!evaluate(rule, input, context)?),
        Rule::Test { variable, test } => {
            if let Test::IsPresent(expected) = test {
                return Ok(variable.get(input, context).is_some() == *expected);
            }
            let value = variable.require(input, context)?;
            run_test(test, value, input, context)
        }
    }
}

fn run_test(test: &Test, value: &Value, input: &Value, context: &Value) -> Result<bool, String> {
    Ok(match test {
        Test::IsPresent(expected) => *expected,
        Test::IsNull(expected) => value.is_null() == *expected,
        Test::IsKind { kind, expected } => is_kind(*kind, value) == *expected,
        Test::StringMatches(pattern) => value.as_str().is_some_and(|s| wildcard_match(pattern, s)),
        Test::Compare { kind, op, operand } => {
            let other = match operand {
                Operand::Literal(literal) => literal,
                Operand::Path(path) => path.require(input, context)?,
            };
            compare(*kind, value, other).is_some_and(|ordering| holds(*op, ordering))
        }
    })
}

fn compare(kind: Kind, left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match kind {
        Kind::String => Some(left.as_str()?.cmp(right.as_str()?)),
        Kind::Numeric => left.as_f64()?.partial_cmp(&right.as_f64()?),
        Kind::Boolean => Some(left.as_bool()?.cmp(&right.as_bool()?)),
        Kind::Timestamp => Some(timestamp(left)?.cmp(&timestamp(right)?)),
    }
}

fn holds(op: Op, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        Op::Equals => ordering == Equal,
        Op::LessThan => ordering == Less,
        Op::GreaterThan => ordering == Greater,
        Op::LessThanEquals => ordering != Greater,
        Op::GreaterThanEquals => ordering != Less,
    }
}

/// `StringMatches`: `*` matches any run of characters, `\*` a literal star.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut tokens: Vec<Option<char>> = Vec::new(); // None = wildcard
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Some(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(None),
            c => tokens.push(Some(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // matches[j]: tokens so far match text[..j].
    let mut matches = vec![false; text.len() + 1];
    matches[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                None => matches[j] || (j > 0 && next[j - 1]),
                Some(c) => j > 0 && matches[j - 1] && text[j - 1] == c,
            };
        }
        matches = next;
    }
    matches[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(value: Value) -> Result<Rule, DefinitionError> {
        parse_rule(
            &Fields::new(&value, "States.Check.Choices[0]").unwrap(),
            true,
        )
    }

    fn eval(value: Value, input: Value) -> Result<bool, String> {
        evaluate(&rule(value).unwrap(), &input, &json!({}))
    }

    #[test]
    fn comparisons_on_strings_numbers_booleans_and_timestamps() {
        let input =
            json!({"s": "failed", "n": 5, "b": true, "t": "2024-01-02T00:00:00Z", "limit": 5});
        assert!(
            eval(
                json!({"Variable": "$.s", "StringEquals": "failed", "Next": "X"}),
                input.clone()
            )
            .unwrap()
        );
        assert!(
            !eval(
                json!({"Variable": "$.s", "StringEquals": "ok", "Next": "X"}),
                input.clone()
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.n", "NumericGreaterThanEquals": 5, "Next": "X"}),
                input.clone()
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.n", "NumericLessThan": 5.5, "Next": "X"}),
                input.clone()
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.n", "NumericEqualsPath": "$.limit", "Next": "X"}),
                input.clone()
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.b", "BooleanEquals": true, "Next": "X"}),
                input.clone()
            )
            .unwrap()
        );
        assert!(
            eval(json!({"Variable": "$.t", "TimestampLessThan": "2024-01-03T00:00:00+00:00", "Next": "X"}), input.clone())
                .unwrap()
        );
        assert!(
            !eval(json!({"Variable": "$.t", "TimestampGreaterThan": "2024-01-03T00:00:00Z", "Next": "X"}), input).unwrap()
        );
    }

    #[test]
    fn wrong_type_does_not_match() {
        assert!(
            !eval(
                json!({"Variable": "$.s", "NumericEquals": 1, "Next": "X"}),
                json!({"s": "1"})
            )
            .unwrap()
        );
    }

    #[test]
    fn presence_and_null_tests() {
        let present = json!({"Variable": "$.x", "IsPresent": true, "Next": "X"});
        assert!(eval(present.clone(), json!({"x": null})).unwrap());
        assert!(!eval(present, json!({})).unwrap());
        assert!(
            eval(
                json!({"Variable": "$.x", "IsNull": true, "Next": "X"}),
                json!({"x": null})
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.x", "IsNumeric": true, "Next": "X"}),
                json!({"x": 1})
            )
            .unwrap()
        );
    }

    #[test]
    fn missing_variable_is_a_runtime_error() {
        let err = eval(
            json!({"Variable": "$.x", "StringEquals": "a", "Next": "X"}),
            json!({}),
        )
        .unwrap_err();
        assert!(err.contains("$.x"), "{err}");
    }

    #[test]
    fn and_or_not_combine() {
        let input = json!({"status": "running", "deadline_passed": false});
        let both = json!({"And": [
            {"Variable": "$.status", "StringMatches": "running*"},
            {"Not": {"Variable": "$.deadline_passed", "BooleanEquals": true}}
        ], "Next": "X"});
        assert!(eval(both, input.clone()).unwrap());
        let either = json!({"Or": [
            {"Variable": "$.status", "StringEquals": "completed"},
            {"Variable": "$.status", "StringEquals": "failed"}
        ], "Next": "X"});
        assert!(!eval(either, input).unwrap());
    }

    #[test]
    fn string_matches_wildcards() {
        assert!(wildcard_match("running:*", "running:deploy"));
        assert!(wildcard_match("*.log", "a.log"));
        assert!(!wildcard_match("*.log", "a.txt"));
        assert!(wildcard_match("a\\*b", "a*b"));
        assert!(!wildcard_match("a\\*b", "axb"));
    }

    #[test]
    fn unsupported_operators_and_shapes_are_refused() {
        let err = rule(json!({"Variable": "$.x", "StringContains": "a", "Next": "X"})).unwrap_err();
        assert!(err.to_string().contains("StringContains"), "{err}");
        assert!(rule(json!({"Variable": "$.x", "BooleanLessThan": true, "Next": "X"})).is_err());
        assert!(rule(json!({"Variable": "$.x", "NumericEquals": "5", "Next": "X"})).is_err());
        assert!(
            rule(json!({"Variable": "$.x", "StringEquals": "a"})).is_err(),
            "top level needs Next"
        );
        assert!(
            rule(json!({"Variable": "$.x", "Next": "X"})).is_err(),
            "needs an operator"
        );
        assert!(
            rule(json!({"Not": {"Variable": "$.x", "IsNull": true, "Next": "Y"}, "Next": "X"}))
                .is_err(),
            "nested rules have no Next"
        );
    }
}
