//! The supported state types and how each is read from its ASL object.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::choice::{Rule, parse_rule};
use crate::error::DefinitionError;
use crate::fields::Fields;
use crate::path::{Path, Template};

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    Next(String),
    End,
}

/// InputPath and OutputPath: `None` means JSON `null` (→ `{}`); absent means `$`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IoPaths {
    pub(crate) input: Option<Path>,
    pub(crate) output: Option<Path>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retrier {
    pub(crate) errors: Vec<String>,
    pub(crate) interval_seconds: u64,
    pub(crate) max_attempts: u64,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Catcher {
    pub(crate) errors: Vec<String>,
    pub(crate) next: String,
    pub(crate) result_path: Option<Path>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskState {
    pub(crate) resource: String,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: Option<Path>,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChoiceBranch {
    pub(crate) rule: Rule,
    pub(crate) next: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(DateTime<Utc>),
    TimestampPath(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PassState {
    pub(crate) parameters: Option<Template>,
    pub(crate) result: Option<Value>,
    pub(crate) result_path: Option<Path>,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailState {
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
    pub(crate) error_path: Option<Path>,
    pub(crate) cause_path: Option<Path>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Task(TaskState),
    Choice {
        choices: Vec<ChoiceBranch>,
        default: Option<String>,
    },
    Wait {
        wait: WaitFor,
        transition: Transition,
    },
    Pass(PassState),
    Succeed,
    Fail(FailState),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub(crate) io: IoPaths,
    pub(crate) kind: Kind,
}

impl State {
    /// The ASL `Type`, which is also the prefix of its history events (`TaskStateEntered`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Task(_) => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait { .. } => "Wait",
            Kind::Pass(_) => "Pass",
            Kind::Succeed => "Succeed",
            Kind::Fail(_) => "Fail",
        }
    }

    /// Every state this one can go to (Next, Choices' Next, Default, Catch Next).
    pub(crate) fn successors(&self) -> Vec<&str> {
        fn transition(t: &Transition) -> Vec<&str> {
            match t {
                Transition::Next(next) => vec![next.as_str()],
                Transition::End => vec![],
            }
        }
        match &self.kind {
            Kind::Task(task) => {
                let mut next = transition(&task.transition);
                next.extend(task.catch.iter().map(|c| c.next.as_str()));
                next
            }
            Kind::Choice { choices, default } => choices
                .iter()
                .map(|c| c.next.as_str())
                .chain(default.as_deref())
                .collect(),
            Kind::Wait { transition: t, .. } => transition(t),
            Kind::Pass(pass) => transition(&pass.transition),
            Kind::Succeed | Kind::Fail(_) => vec![],
        }
    }

    /// Whether the execution can end in this state.
    pub(crate) fn is_terminal(&self) -> bool {
        match &self.kind {
            Kind::Task(TaskState { transition, .. })
            | Kind::Wait { transition, .. }
            | Kind::Pass(PassState { transition, .. }) => *transition == Transition::End,
            Kind::Choice { .. } => false,
            Kind::Succeed | Kind::Fail(_) => true,
        }
    }
}

const COMMON: [&str; 2] = ["Type", "Comment"];

pub(crate) fn parse_state(name: &str, value: &Value) -> Result<State, DefinitionError> {
    let fields = Fields::new(value, format!("States.{name}"))?;
    let kind = fields.required_string("Type")?;
    let allowed: &[&str] = match kind.as_str() {
        "Task" => &[
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "InputPath",
            "OutputPath",
            "TimeoutSeconds",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
        "Choice" => &["Choices", "Default", "InputPath", "OutputPath"],
        "Wait" => &[
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
            "InputPath",
            "OutputPath",
            "Next",
            "End",
        ],
        "Pass" => &[
            "Result",
            "ResultPath",
            "Parameters",
            "InputPath",
            "OutputPath",
            "Next",
            "End",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        other => {
            return Err(fields.error(
                "Type",
                format!("state type '{other}' is not supported (supported: Task, Choice, Wait, Pass, Succeed, Fail)"),
            ));
        }
    };
    let allowed: Vec<&str> = COMMON.iter().chain(allowed).copied().collect();
    fields.only(&allowed, &format!("a {kind} state"))?;
    let io = IoPaths {
        input: fields.nullable_path("InputPath", Some(Path::root()))?,
        output: fields.nullable_path("OutputPath", Some(Path::root()))?,
    };
    let kind = match kind.as_str() {
        "Task" => Kind::Task(parse_task(&fields)?),
        "Choice" => parse_choice(&fields)?,
        "Wait" => Kind::Wait {
            wait: parse_wait(&fields)?,
            transition: parse_transition(&fields)?,
        },
        "Pass" => Kind::Pass(PassState {
            parameters: fields.template("Parameters")?,
            result: fields.get("Result").cloned(),
            result_path: fields.result_path()?,
            transition: parse_transition(&fields)?,
        }),
        "Succeed" => Kind::Succeed,
        _ => Kind::Fail(parse_fail(&fields)?),
    };
    Ok(State { io, kind })
}

fn parse_transition(fields: &Fields) -> Result<Transition, DefinitionError> {
    let next = fields.string("Next")?;
    let end = fields.boolean("End")?;
    match (next, end) {
        (Some(next), None | Some(false)) => Ok(Transition::Next(next)),
        (None, Some(true)) => Ok(Transition::End),
        (Some(_), Some(true)) => Err(fields.error("End", "cannot be combined with Next")),
        (None, _) => Err(fields.error("Next", "is required (or \"End\": true)")),
    }
}

fn parse_task(fields: &Fields) -> Result<TaskState, DefinitionError> {
    Ok(TaskState {
        resource: fields.required_string("Resource")?,
        parameters: fields.template("Parameters")?,
        result_selector: fields.template("ResultSelector")?,
        result_path: fields.result_path()?,
        timeout_seconds: fields.positive("TimeoutSeconds")?,
        retry: list(fields, "Retry", parse_retrier)?,
        catch: list(fields, "Catch", parse_catcher)?,
        transition: parse_transition(fields)?,
    })
}

/// Reads an optional array field, each element an object parsed by `parse`.
fn list<T>(
    fields: &Fields,
    field: &str,
    parse: impl Fn(&Fields) -> Result<T, DefinitionError>,
) -> Result<Vec<T>, DefinitionError> {
    let Some(value) = fields.get(field) else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| fields.error(field, "must be an array"))?;
    let parsed = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(&Fields::new(item, format!("{}[{i}]", fields.at(field)))?))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, item) in items.iter().enumerate() {
        let catch_all = item["ErrorEquals"]
            .as_array()
            .is_some_and(|errors| errors.iter().any(|e| e == "States.ALL"));
        if catch_all && i + 1 != items.len() {
            return Err(fields.error(
                &format!("{field}[{i}]"),
                "States.ALL must be in the last entry",
            ));
        }
    }
    Ok(parsed)
}

fn error_equals(fields: &Fields) -> Result<Vec<String>, DefinitionError> {
    let value = fields
        .get("ErrorEquals")
        .ok_or_else(|| fields.error("ErrorEquals", "is required"))?;
    let errors: Vec<String> = value
        .as_array()
        .filter(|items| !items.is_empty())
        .and_then(|items| items.iter().map(|e| e.as_str().map(String::from)).collect())
        .ok_or_else(|| fields.error("ErrorEquals", "must be a non-empty array of error names"))?;
    if errors.len() > 1 && errors.iter().any(|e| e == "States.ALL") {
        return Err(fields.error("ErrorEquals", "States.ALL must be the only error name"));
    }
    Ok(errors)
}

fn parse_retrier(fields: &Fields) -> Result<Retrier, DefinitionError> {
    fields.only(
        &[
            "ErrorEquals",
            "IntervalSeconds",
            "MaxAttempts",
            "BackoffRate",
            "MaxDelaySeconds",
            "JitterStrategy",
            "Comment",
        ],
        "a retrier",
    )?;
    if let Some(jitter) = fields.string("JitterStrategy")?.filter(|j| j != "NONE") {
        return Err(fields.error(
            "JitterStrategy",
            format!("'{jitter}' is not supported (only NONE)"),
        ));
    }
    let backoff_rate = fields.number("BackoffRate")?.unwrap_or(2.0);
    if backoff_rate < 1.0 {
        return Err(fields.error("BackoffRate", "must be at least 1.0"));
    }
    Ok(Retrier {
        errors: error_equals(fields)?,
        interval_seconds: fields.positive("IntervalSeconds")?.unwrap_or(1),
        max_attempts: fields.unsigned("MaxAttempts")?.unwrap_or(3),
        backoff_rate,
        max_delay_seconds: fields.positive("MaxDelaySeconds")?,
    })
}

fn parse_catcher(fields: &Fields) -> Result<Catcher, DefinitionError> {
    fields.only(
        &["ErrorEquals", "Next", "ResultPath", "Comment"],
        "a catcher",
    )?;
    Ok(Catcher {
        errors: error_equals(fields)?,
        next: fields.required_string("Next")?,
        result_path: fields.result_path()?,
    })
}

fn parse_choice(fields: &Fields) -> Result<Kind, DefinitionError> {
    let items = fields
        .get("Choices")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| fields.error("Choices", "must be a non-empty array"))?;
    let choices = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let rule_fields = Fields::new(item, format!("{}[{i}]", fields.at("Choices")))?;
            Ok(ChoiceBranch {
                rule: parse_rule(&rule_fields, true)?,
                next: rule_fields.required_string("Next")?,
            })
        })
        .collect::<Result<Vec<_>, DefinitionError>>()?;
    Ok(Kind::Choice {
        choices,
        default: fields.string("Default")?,
    })
}

fn parse_wait(fields: &Fields) -> Result<WaitFor, DefinitionError> {
    let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        .into_iter()
        .filter(|f| fields.has(f))
        .collect();
    match given.as_slice() {
        ["Seconds"] => Ok(WaitFor::Seconds(fields.unsigned("Seconds")?.unwrap_or(0))),
        ["SecondsPath"] => Ok(WaitFor::SecondsPath(
            fields.path("SecondsPath")?.unwrap_or_else(Path::root),
        )),
        ["TimestampPath"] => Ok(WaitFor::TimestampPath(
            fields.path("TimestampPath")?.unwrap_or_else(Path::root),
        )),
        ["Timestamp"] => {
            let text = fields.required_string("Timestamp")?;
            let at = DateTime::parse_from_rfc3339(&text).map_err(|e| {
                fields.error(
                    "Timestamp",
                    format!("'{text}' is not an RFC 3339 timestamp: {e}"),
                )
            })?;
            Ok(WaitFor::Timestamp(at.with_timezone(&Utc)))
        }
        _ => Err(DefinitionError::invalid(
            fields.location.clone(),
            "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
        )),
    }
}

fn parse_fail(fields: &Fields) -> Result<FailState, DefinitionError> {
    let fail = FailState {
        error: fields.string("Error")?,
        cause: fields.string("Cause")?,
        error_path: fields.path("ErrorPath")?,
        cause_path: fields.path("CausePath")?,
    };
    if fail.error.is_some() && fail.error_path.is_some() {
        return Err(fields.error("ErrorPath", "cannot be combined with Error"));
    }
    if fail.cause.is_some() && fail.cause_path.is_some() {
        return Err(fields.error("CausePath", "cannot be combined with Cause"));
    }
    Ok(fail)
}
