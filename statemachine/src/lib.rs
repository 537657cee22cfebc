//! An embedded executor for a checked subset of Amazon States Language (ASL): durable,
//! with Step-Functions-shaped history. It knows ASL, not the application: tasks run
//! through a [`TaskInvoker`], executions are kept by an [`ExecutionStore`].
//!
//! ```text
//! Definition::parse(json, &substitutions)?      // ${Var} filled, subset checked
//! definition.lint()                             // Next targets exist, all reachable, ...
//! let executor = Executor::new(Arc::new(definition), invoker, store, ExecutorOptions::default());
//! executor.start("run-1", input).await?;        // persisted, then driven on a tokio task
//! executor.resume_all().await?;                 // after a restart
//! executor.stop("run-1", error, cause).await?;  // ABORTED
//! executor.describe("run-1").await?;            // status, output, whole history
//! executor.history("run-1", HistoryPage::first(100)).await?; // one page of it
//! ```
//!
//! # Supported subset (anything else is refused by [`Definition::parse`])
//! - Top level: `StartAt`, `States`, `Comment`, `TimeoutSeconds`, `Version`.
//! - `Task`: `Resource`, `Parameters`, `ResultSelector`, `ResultPath`, `InputPath`,
//!   `OutputPath`, `TimeoutSeconds`, `Retry`, `Catch`, `Next`/`End`.
//! - `Choice`: `Choices` (`Variable` + `String|Numeric|Timestamp` `Equals|LessThan|
//!   GreaterThan|LessThanEquals|GreaterThanEquals` and their `…Path` forms,
//!   `BooleanEquals(Path)`, `StringMatches`, `IsPresent`, `IsNull`, `IsString`,
//!   `IsNumeric`, `IsBoolean`, `IsTimestamp`, `And`/`Or`/`Not`), `Default`,
//!   `InputPath`, `OutputPath`.
//! - `Wait`: `Seconds`/`SecondsPath`/`Timestamp`/`TimestampPath`, `Next`/`End`, paths.
//! - `Pass`: `Result`, `ResultPath`, `Parameters`, `InputPath`, `OutputPath`.
//! - `Succeed`; `Fail` with `Error`/`Cause` or `ErrorPath`/`CausePath`.
//! - Paths: `$`, `$.a.b`, `$.a[0]`, `$['a']`, and the context object `$$`
//!   (`Execution.Id|Name|Input|StartTime`, `State.Name|EnteredTime|RetryCount`,
//!   `StateMachine.Id|Name`). No wildcards, filters, slices or intrinsic functions.
//! - Retry: `ErrorEquals`, `IntervalSeconds` (1), `MaxAttempts` (3), `BackoffRate` (2.0),
//!   `MaxDelaySeconds`, `JitterStrategy: NONE`. Catch: `ErrorEquals`, `Next`,
//!   `ResultPath` (`$`); the error output is `{"Error": name, "Cause": cause}`.
//!   `States.ALL` matches everything, `States.TaskFailed` everything but `States.Timeout`.
//!
//! # Semantics worth knowing
//! - A path that does not resolve (InputPath, Parameters, ResultSelector, ResultPath,
//!   OutputPath, a Choice variable) fails the execution with `States.Runtime`, which
//!   Retry/Catch do not see, as in Step Functions. No Choice match and no `Default`
//!   fails with `States.NoChoiceMatched`.
//! - A task that exceeds its `TimeoutSeconds` fails with `States.Timeout`
//!   (`TaskTimedOut` event); the machine's `TimeoutSeconds` ends it `TIMED_OUT`.
//! - Each transition is saved before the next effect starts. After a restart a task
//!   that was scheduled but did not finish is invoked again (at-least-once), with a
//!   fresh task timeout; waits and retry delays keep their persisted deadline.
//!
//! Decide and effect are separate: `step` (pure) turns the effect's result into events
//! and the next [`Cursor`]; the runner invokes, sleeps and saves.

mod choice;
mod clock;
mod definition;
mod error;
mod fields;
mod history;
mod invoker;
mod path;
mod record;
mod runner;
mod state;
mod step;
mod store;
mod substitution;

pub use clock::{Clock, SystemClock};
pub use definition::Definition;
pub use error::{DefinitionError, ExecutorError, TaskFailure};
pub use history::HistoryEvent;
pub use invoker::TaskInvoker;
pub use record::{Cursor, ExecutionRecord, ExecutionStatus, Pending};
pub use runner::{Executor, ExecutorOptions};
pub use store::{ExecutionStore, ExecutionStoreError, HistoryPage, MemoryExecutionStore};
