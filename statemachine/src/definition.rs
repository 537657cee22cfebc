//! A parsed, checked state machine definition.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use crate::error::DefinitionError;
use crate::fields::Fields;
use crate::state::{Kind, State, parse_state};
use crate::substitution;

/// A state machine in the supported ASL subset. Everything outside the subset is refused
/// by [`Definition::parse`]; structural problems between states are reported by
/// [`Definition::lint`].
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub(crate) start_at: String,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) states: BTreeMap<String, State>,
}

impl Definition {
    /// Replaces each `${Var}` in the JSON text from `substitutions` (a missing one is an
    /// error naming it), then parses and checks the subset.
    pub fn parse(
        json: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<Definition, DefinitionError> {
        let text = substitution::substitute(json, substitutions)?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| DefinitionError::Json(e.to_string()))?;
        let fields = Fields::new(&value, "definition")?;
        fields.only(
            &["StartAt", "States", "Comment", "TimeoutSeconds", "Version"],
            "the top level",
        )?;
        let states_value = fields
            .get("States")
            .ok_or_else(|| fields.error("States", "is required"))?;
        let states_object = states_value
            .as_object()
            .filter(|states| !states.is_empty())
            .ok_or_else(|| DefinitionError::invalid("States", "must be a non-empty object"))?;
        let states = states_object
            .iter()
            .map(|(name, state)| Ok((name.clone(), parse_state(name, state)?)))
            .collect::<Result<_, DefinitionError>>()?;
        Ok(Definition {
            start_at: fields.required_string("StartAt")?,
            timeout_seconds: fields.positive("TimeoutSeconds")?,
            states,
        })
    }

    /// The `${Var}` names the raw text uses.
    pub fn substitution_vars(json: &str) -> BTreeSet<String> {
        substitution::vars(json)
    }

    /// Structural problems: a missing StartAt/Next/Default/Catch target, a state not
    /// reachable from StartAt, no state that can end the execution. Empty = clean.
    pub fn lint(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.states.contains_key(&self.start_at) {
            problems.push(format!("StartAt '{}' is not a state", self.start_at));
        }
        for (name, state) in &self.states {
            for next in state.successors() {
                if !self.states.contains_key(next) {
                    problems.push(format!(
                        "state '{name}' goes to '{next}', which is not a state"
                    ));
                }
            }
        }
        let reachable = self.reachable();
        for name in self
            .states
            .keys()
            .filter(|name| !reachable.contains(name.as_str()))
        {
            problems.push(format!(
                "state '{name}' is not reachable from StartAt '{}'",
                self.start_at
            ));
        }
        if !self.states.values().any(State::is_terminal) {
            problems
                .push("no state ends the execution (Succeed, Fail or \"End\": true)".to_string());
        }
        problems
    }

    fn reachable(&self) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([self.start_at.as_str()]);
        while let Some(name) = queue.pop_front() {
            let Some(state) = self.states.get(name) else {
                continue;
            };
            if seen.insert(name) {
                queue.extend(state.successors());
            }
        }
        seen
    }

    /// Every Task `Resource`.
    pub fn task_resources(&self) -> BTreeSet<String> {
        self.states
            .values()
            .filter_map(|state| match &state.kind {
                Kind::Task(task) => Some(task.resource.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every error name used in a Retry or Catch `ErrorEquals`.
    pub fn error_names(&self) -> BTreeSet<String> {
        self.states
            .values()
            .filter_map(|state| match &state.kind {
                Kind::Task(task) => Some(task),
                _ => None,
            })
            .flat_map(|task| {
                let retried = task.retry.iter().flat_map(|r| r.errors.iter());
                let caught = task.catch.iter().flat_map(|c| c.errors.iter());
                retried.chain(caught).cloned()
            })
            .collect()
    }

    pub fn start_at(&self) -> &str {
        &self.start_at
    }

    /// The machine-level `TimeoutSeconds`, if set.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.timeout_seconds
    }

    /// The state names, sorted.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    pub(crate) fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}
