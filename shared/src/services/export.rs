//! `crat export` / `crat import`: every record of a store as JSON lines, to move a store
//! to the other back end (the embedded file to DynamoDB, or back) or to look at it.
//!
//! One JSON object a line, tagged by `kind`; the first line is the header with the format
//! version. The order is fixed (kinds in [`KINDS`] order, each by id), so two exports of
//! equal stores are byte-identical, and every record comes after the ones it refers to
//! (an item after its set and environment, a run's cases after the run).
//!
//! Not exported: sessions, login failures, lane locks and queues, executions of the
//! embedded state machine (a stopped source has none running), and no secret: the
//! records hold none (the admin password and the JWT key live in the data folder or the
//! environment, never in the store).
//!
//! Import writes each record as it is, ids included, through [`ImportStore`]: a record
//! equal to the stored one writes nothing, so a second import changes nothing. Every line
//! is parsed and checked before it is written (an error names the line and the field),
//! and the id counters are moved past the imported ids at the end.

use std::io::{BufRead, Write};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Build, Email, Environment, FieldError, FlakyTest, HttpUrl, JobName, JobSelection,
    MAX_FLAKY_LISTED, Origin, PackagePath, ParameterSet, ParameterSetVersion, Params, Run,
    ServiceName, Settings, TestCase, TestId, TestItem,
};
use crate::ports::{Imported, Store, StoreError, sequences};

/// The format this version writes and reads.
pub const FORMAT: u32 = 1;

/// The records' kinds, in the order an export writes them.
pub const KINDS: [&str; 10] = [
    "header",
    "settings",
    "environment",
    "parameter_set",
    "build",
    "job_selection",
    "test_item",
    "run",
    "test_cases",
    "flaky_tests",
];

/// How many records a page of a list reads.
const PAGE: usize = 200;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Header {
        format: u32,
        crat_version: String,
    },
    Settings {
        version: i64,
        settings: Settings,
    },
    Environment(Environment),
    /// The set as it is now and every stored version, oldest first (the current one last).
    ParameterSet {
        set: ParameterSet,
        versions: Vec<ParameterSetVersion>,
    },
    Build(Build),
    JobSelection(JobSelection),
    TestItem(TestItem),
    Run(Box<Run>),
    /// A run's stored test cases, in id order.
    TestCases {
        run_id: i64,
        cases: Vec<TestCase>,
    },
    /// An item's flaky tests, the most recently seen first.
    FlakyTests {
        test_item_id: i64,
        tests: Vec<FlakyTest>,
    },
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Header { .. } => "header",
            Self::Settings { .. } => "settings",
            Self::Environment(_) => "environment",
            Self::ParameterSet { .. } => "parameter_set",
            Self::Build(_) => "build",
            Self::JobSelection(_) => "job_selection",
            Self::TestItem(_) => "test_item",
            Self::Run(_) => "run",
            Self::TestCases { .. } => "test_cases",
            Self::FlakyTests { .. } => "flaky_tests",
        }
    }

    /// The header of an export by this version.
    pub fn header() -> Self {
        Self::Header {
            format: FORMAT,
            crat_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The record as one line (without the newline).
    pub fn to_line(&self) -> Result<String, ExportError> {
        serde_json::to_string(self)
            .map_err(|e| ExportError::Encode(format!("{} record: {e}", self.kind())))
    }

    /// Reads line `number` (1-based, for the error) and checks every field as the stores
    /// check what they read back.
    pub fn parse_line(number: usize, line: &str) -> Result<Self, ExportError> {
        let bad = |message: String| ExportError::Line { number, message };
        let record: Self = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        record
            .check()
            .map_err(|e| bad(format!("{} {}: {e}", record.kind(), record.id_text())))?;
        Ok(record)
    }

    /// What identifies the record in an error message.
    fn id_text(&self) -> String {
        match self {
            Self::Header { .. } | Self::Settings { .. } => String::new(),
            Self::Environment(e) => e.id.to_string(),
            Self::ParameterSet { set, .. } => set.id.to_string(),
            Self::Build(b) => b.id.to_string(),
            Self::JobSelection(s) => s.job_name.to_string(),
            Self::TestItem(t) => t.id.to_string(),
            Self::Run(r) => r.id.to_string(),
            Self::TestCases { run_id, .. } => format!("of run {run_id}"),
            Self::FlakyTests { test_item_id, .. } => format!("of test item {test_item_id}"),
        }
    }

    /// The fields serde takes as they come (text newtypes, ids) checked by the domain's
    /// parsers.
    fn check(&self) -> Result<(), FieldError> {
        match self {
            Self::Header { format, .. } => {
                if *format > FORMAT {
                    return Err(FieldError::new(
                        "format",
                        format!(
                            "is {format}: written by a newer crat, which this one ({}) cannot read; import with that version",
                            env!("CARGO_PKG_VERSION")
                        ),
                    ));
                }
                if *format == 0 {
                    return Err(FieldError::new("format", "must be 1 or more"));
                }
            }
            Self::Settings { version, settings } => {
                non_negative("version", *version)?;
                let as_patch = serde_json::to_value(settings)
                    .map_err(|e| FieldError::new("settings", e.to_string()))?;
                Settings::default().patched(&as_patch)?;
            }
            Self::Environment(e) => {
                positive("id", e.id.get())?;
                non_empty("name", &e.name)?;
                HttpUrl::parse(
                    "external_test_server_url",
                    e.external_test_server_url.as_str(),
                )?;
                for o in &e.report_origins {
                    Origin::parse("report_origins", o.as_str())?;
                }
            }
            Self::ParameterSet { set, versions } => {
                positive("id", set.id)?;
                positive("version", set.version)?;
                non_empty("name", &set.name)?;
                Params::parse("params", &set.params.clone().into_value())?;
                for v in versions {
                    if v.parameter_set_id != set.id {
                        return Err(FieldError::new(
                            "versions",
                            format!(
                                "version {} names set {}, not this set",
                                v.version, v.parameter_set_id
                            ),
                        ));
                    }
                    positive("versions.version", v.version)?;
                    Params::parse("versions.params", &v.params.clone().into_value())?;
                }
                let mut numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
                numbers.sort_unstable();
                if numbers.windows(2).any(|w| w[0] == w[1]) {
                    return Err(FieldError::new("versions", "lists a version twice"));
                }
            }
            Self::Build(b) => {
                positive("id", b.id)?;
                JobName::parse("job_name", &b.job_name)?;
                positive("build_number", b.build_number.get())?;
                PackagePath::parse("package_path", b.package_path.as_str())?;
            }
            Self::JobSelection(s) => {
                JobName::parse("job_name", &s.job_name)?;
                positive("build_id", s.build_id)?;
                positive("build_number", s.build_number.get())?;
            }
            Self::TestItem(t) => {
                positive("id", t.id)?;
                ServiceName::parse("name", t.name.as_str())?;
                JobName::parse("job_name", &t.job_name)?;
                if let Some(set) = t.parameter_set_id {
                    positive("parameter_set_id", set)?;
                }
                if let Some(env) = t.environment_id {
                    positive("environment_id", env.get())?;
                }
                for e in &t.notify_emails {
                    Email::from_stored("notify_emails", e.as_str())?;
                }
            }
            Self::Run(r) => {
                positive("id", r.id.get())?;
                positive("test_item_id", r.test_item_id.get())?;
                positive("build_info_id", r.build_info_id.get())?;
                positive("revision", r.revision)?;
                Email::from_stored("triggered_by", r.triggered_by.as_str())?;
            }
            Self::TestCases { run_id, cases } => {
                positive("run_id", *run_id)?;
                if cases.len() > crate::domain::test_case::MAX_CASES_PER_RUN {
                    return Err(FieldError::new(
                        "cases",
                        format!(
                            "holds {} cases, more than the {} a run keeps",
                            cases.len(),
                            crate::domain::test_case::MAX_CASES_PER_RUN
                        ),
                    ));
                }
                for c in cases {
                    TestId::parse("cases.id", c.id.as_str())?;
                }
            }
            Self::FlakyTests {
                test_item_id,
                tests,
            } => {
                positive("test_item_id", *test_item_id)?;
                for t in tests {
                    TestId::parse("tests.id", t.id.as_str())?;
                    positive("tests.last_run_id", t.last_run_id)?;
                }
            }
        }
        Ok(())
    }
}

fn positive(field: &str, n: i64) -> Result<(), FieldError> {
    if n > 0 {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be 1 or more, got {n}"),
        ))
    }
}

fn non_negative(field: &str, n: i64) -> Result<(), FieldError> {
    if n >= 0 {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be 0 or more, got {n}"),
        ))
    }
}

fn non_empty(field: &str, s: &str) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        Err(FieldError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot encode {0}")]
    Encode(String),
    /// A line of an import that is not a valid record.
    #[error("line {number}: {message}")]
    Line { number: usize, message: String },
}

/// How many records of each kind an export wrote or an import did what with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// `(kind, created, replaced, unchanged)` in [`KINDS`] order, only kinds seen.
    rows: Vec<(&'static str, usize, usize, usize)>,
}

impl Counts {
    fn add(&mut self, kind: &'static str, what: Imported) {
        let i = match self.rows.iter().position(|r| r.0 == kind) {
            Some(i) => i,
            None => {
                self.rows.push((kind, 0, 0, 0));
                self.rows
                    .sort_by_key(|r| KINDS.iter().position(|k| *k == r.0));
                self.rows.iter().position(|r| r.0 == kind).unwrap_or(0)
            }
        };
        match what {
            Imported::Created => self.rows[i].1 += 1,
            Imported::Replaced => self.rows[i].2 += 1,
            Imported::Unchanged => self.rows[i].3 += 1,
        }
    }

    /// Records of `kind` created (an export counts what it wrote here).
    pub fn created(&self, kind: &str) -> usize {
        self.rows.iter().find(|r| r.0 == kind).map_or(0, |r| r.1)
    }

    pub fn replaced(&self, kind: &str) -> usize {
        self.rows.iter().find(|r| r.0 == kind).map_or(0, |r| r.2)
    }

    pub fn unchanged(&self, kind: &str) -> usize {
        self.rows.iter().find(|r| r.0 == kind).map_or(0, |r| r.3)
    }

    /// Every record counted.
    pub fn total(&self) -> usize {
        self.rows.iter().map(|r| r.1 + r.2 + r.3).sum()
    }

    /// Records created or replaced: what an import changed.
    pub fn changed(&self) -> usize {
        self.rows.iter().map(|r| r.1 + r.2).sum()
    }

    /// One line per kind: `build: 3 created, 0 replaced, 1 unchanged`.
    pub fn import_lines(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|(kind, c, r, u)| format!("{kind}: {c} created, {r} replaced, {u} unchanged"))
            .collect()
    }

    /// One line per kind: `build: 3`.
    pub fn export_lines(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|(kind, c, _, _)| format!("{kind}: {c}"))
            .collect()
    }
}

/// Writes every record of `store` to `out`, one line each; returns how many of each kind.
pub async fn export(store: &dyn Store, out: &mut dyn Write) -> Result<Counts, ExportError> {
    let mut counts = Counts::default();
    let mut emit = |record: Record| -> Result<(), ExportError> {
        let line = record.to_line()?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        counts.add(record.kind(), Imported::Created);
        Ok(())
    };
    emit(Record::header())?;

    let (settings, version) = store.get_settings().await?;
    emit(Record::Settings { version, settings })?;

    let mut after = None;
    loop {
        let page = store.list_environments(after, PAGE).await?;
        for e in page.items {
            emit(Record::Environment(e))?;
        }
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }

    let mut after = None;
    loop {
        let page = store.list_parameter_sets(after, PAGE).await?;
        for set in page.items {
            let mut versions = store.list_parameter_set_versions(set.id).await?;
            versions.sort_by_key(|v| v.version);
            emit(Record::ParameterSet { set, versions })?;
        }
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }

    // Listed newest first: gathered, then written by id.
    let mut builds = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_builds(None, before, PAGE).await?;
        builds.extend(page.items);
        match page.next {
            Some(k) => before = Some(k),
            None => break,
        }
    }
    builds.sort_by_key(|b| b.id);
    for b in builds {
        emit(Record::Build(b))?;
    }

    let mut selections = store.list_job_selections().await?;
    selections.sort_by(|a, b| a.job_name.cmp(&b.job_name));
    for s in selections {
        emit(Record::JobSelection(s))?;
    }

    let mut item_ids = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_test_items(after, PAGE).await?;
        for t in page.items {
            item_ids.push(t.id);
            emit(Record::TestItem(t))?;
        }
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }

    let mut run_ids = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_runs(None, before, PAGE).await?;
        run_ids.extend(page.items.iter().map(|r| r.id.get()));
        match page.next {
            Some(k) => before = Some(k),
            None => break,
        }
    }
    run_ids.sort_unstable();
    // Read again one by one, so the whole run history is never in memory at once.
    for &id in &run_ids {
        if let Some(run) = store.get_run(id).await? {
            emit(Record::Run(Box::new(run)))?;
        }
    }
    for &run_id in &run_ids {
        let cases = store.all_test_cases(run_id).await?;
        if !cases.is_empty() {
            emit(Record::TestCases { run_id, cases })?;
        }
    }

    for test_item_id in item_ids {
        let tests = store
            .list_flaky_tests(test_item_id, MAX_FLAKY_LISTED)
            .await?;
        if !tests.is_empty() {
            emit(Record::FlakyTests {
                test_item_id,
                tests,
            })?;
        }
    }
    out.flush()?;
    Ok(counts)
}

/// Reads every line of an export without writing anything: the first error, or how many
/// records of each kind it holds. `crat import` runs it over the file before importing.
pub fn check(input: impl BufRead) -> Result<Counts, ExportError> {
    let mut counts = Counts::default();
    for_each_record(input, |_, record| {
        counts.add(record.kind(), Imported::Created);
        Ok(())
    })?;
    Ok(counts)
}

/// Calls `f` with each record of `input` after the header, checked; errors name the line.
fn for_each_record(
    input: impl BufRead,
    mut f: impl FnMut(usize, Record) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut seen_header = false;
    for (i, line) in input.lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| ExportError::Line {
            number,
            message: format!("cannot be read: {e}"),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = Record::parse_line(number, &line)?;
        match (&record, seen_header) {
            (Record::Header { .. }, false) => seen_header = true,
            (Record::Header { .. }, true) => {
                return Err(ExportError::Line {
                    number,
                    message: "a second header: join exports by importing them one after the other"
                        .into(),
                });
            }
            (_, false) => {
                return Err(ExportError::Line {
                    number,
                    message: format!(
                        "kind: the first record must be the header ({{\"kind\":\"header\",\"format\":{FORMAT},...}}), got {}; is this a crat export?",
                        record.kind()
                    ),
                });
            }
            (_, true) => f(number, record)?,
        }
    }
    if !seen_header {
        return Err(ExportError::Line {
            number: 1,
            message: "the file is empty: an export starts with its header line".into(),
        });
    }
    Ok(())
}

/// Ids above which the counters must move, per sequence.
#[derive(Default)]
struct HighestIds {
    builds: i64,
    parameter_sets: i64,
    test_items: i64,
    environments: i64,
    runs: i64,
}

/// A time as compared across stores: to the millisecond (see [`Store`]).
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

fn same_selection(a: &JobSelection, b: &JobSelection) -> bool {
    let norm = |s: &JobSelection| JobSelection {
        last_synced_at: ms(s.last_synced_at),
        updated_at: ms(s.updated_at),
        ..s.clone()
    };
    norm(a) == norm(b)
}

fn same_flaky(a: &FlakyTest, b: &FlakyTest) -> bool {
    a.id == b.id
        && FlakyTest {
            last_seen_at: ms(a.last_seen_at),
            ..a.clone()
        } == FlakyTest {
            last_seen_at: ms(b.last_seen_at),
            ..b.clone()
        }
}

/// Writes every record of `input` into `store` as it is (see the module comment), line by
/// line, each checked before it is written; then moves the id counters past the highest
/// imported ids. Returns what it did per kind.
pub async fn import(store: &dyn Store, input: impl BufRead) -> Result<Counts, ExportError> {
    let mut records = Vec::new();
    // Lines are checked as they are read; the writes follow in file order.
    for_each_record(input, |number, record| {
        records.push((number, record));
        Ok(())
    })?;
    let mut counts = Counts::default();
    let mut high = HighestIds::default();
    for (number, record) in records {
        let kind = record.kind();
        let at_line = |e: StoreError| ExportError::Line {
            number,
            message: format!("{kind} {}: {e}", record.id_text()),
        };
        let what = match &record {
            Record::Header { .. } => continue,
            Record::Settings { version, settings } => store
                .import_settings(settings, *version)
                .await
                .map_err(at_line)?,
            Record::Environment(e) => {
                high.environments = high.environments.max(e.id.get());
                store.import_environment(e).await.map_err(at_line)?
            }
            Record::ParameterSet { set, versions } => {
                high.parameter_sets = high.parameter_sets.max(set.id);
                store
                    .import_parameter_set(set, versions)
                    .await
                    .map_err(at_line)?
            }
            Record::Build(b) => {
                high.builds = high.builds.max(b.id);
                store.import_build(b).await.map_err(at_line)?
            }
            Record::JobSelection(s) => {
                high.builds = high.builds.max(s.build_id);
                match store
                    .get_job_selection(&s.job_name)
                    .await
                    .map_err(at_line)?
                {
                    Some(stored) if same_selection(&stored, s) => Imported::Unchanged,
                    stored => {
                        store.put_job_selection(s, None).await.map_err(at_line)?;
                        if stored.is_some() {
                            Imported::Replaced
                        } else {
                            Imported::Created
                        }
                    }
                }
            }
            Record::TestItem(t) => {
                high.test_items = high.test_items.max(t.id);
                store.import_test_item(t).await.map_err(at_line)?
            }
            Record::Run(r) => {
                high.runs = high.runs.max(r.id.get());
                // A run may name records deleted since: their ids are never handed out
                // again, or a new item would inherit the old one's runs.
                high.test_items = high.test_items.max(r.test_item_id.get());
                high.builds = high.builds.max(r.build_info_id.get());
                high.parameter_sets = high.parameter_sets.max(r.parameter_set_id.get());
                if let Some(env) = r.environment_id {
                    high.environments = high.environments.max(env.get());
                }
                store.import_run(r).await.map_err(at_line)?
            }
            Record::TestCases { run_id, cases } => {
                let Some(run) = store.get_run(*run_id).await.map_err(at_line)? else {
                    return Err(ExportError::Line {
                        number,
                        message: format!(
                            "test_cases of run {run_id}: run_id: run {run_id} is not in the store; its run line must come before"
                        ),
                    });
                };
                let mut sorted = cases.clone();
                sorted.sort_by(|a, b| a.id.cmp(&b.id));
                let stored = store.all_test_cases(*run_id).await.map_err(at_line)?;
                if stored == sorted {
                    Imported::Unchanged
                } else {
                    store.put_test_cases(&run, &sorted).await.map_err(at_line)?;
                    if stored.is_empty() {
                        Imported::Created
                    } else {
                        Imported::Replaced
                    }
                }
            }
            Record::FlakyTests {
                test_item_id,
                tests,
            } => {
                high.test_items = high.test_items.max(*test_item_id);
                let stored = store
                    .list_flaky_tests(*test_item_id, MAX_FLAKY_LISTED)
                    .await
                    .map_err(at_line)?;
                let missing: Vec<FlakyTest> = tests
                    .iter()
                    .filter(|t| !stored.iter().any(|s| same_flaky(s, t)))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    Imported::Unchanged
                } else {
                    store
                        .put_flaky_tests(*test_item_id, &missing)
                        .await
                        .map_err(at_line)?;
                    if stored.is_empty() {
                        Imported::Created
                    } else {
                        Imported::Replaced
                    }
                }
            }
        };
        counts.add(kind, what);
    }
    for (sequence, id) in [
        (sequences::BUILDS, high.builds),
        (sequences::PARAMETER_SETS, high.parameter_sets),
        (sequences::TEST_ITEMS, high.test_items),
        (sequences::ENVIRONMENTS, high.environments),
        (sequences::RUNS, high.runs),
    ] {
        if id > 0 {
            store.advance_counter(sequence, id).await?;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests;
