//! Records written as they are, ids included (`crat import`). Each put is one write job:
//! read the stored row with the table's own reader, compare, and only when it differs
//! upsert on the id (`ON CONFLICT (id) DO UPDATE`), so another row's uniqueness (a name,
//! a (job, build number)) or a missing referenced row is a `Conflict`, never a silent
//! replacement of another record. Times are compared as this store keeps them: to the
//! millisecond.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use super::builds::{BUILD_COLUMNS, RawBuild, raw_build};
use super::parameter_sets::{insert_version, read_set, read_versions};
use super::runs;
use super::test_items::read_item;
use super::{SqliteStore, conflict_or, corrupt, query_one, ts, unavailable};
use crate::domain::{
    Build, Environment, ParameterSet, ParameterSetVersion, Run, Settings, TestItem,
};
use crate::ports::{ImportStore, Imported, StoreResult};

/// A time as this store reads it back (milliseconds, truncated).
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

fn outcome(stored: bool) -> Imported {
    if stored {
        Imported::Replaced
    } else {
        Imported::Created
    }
}

fn read_build(c: &Connection, id: i64) -> StoreResult<Option<Build>> {
    query_one(
        c,
        &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"),
        [id],
        raw_build,
        RawBuild::into_build,
    )
}

#[async_trait]
impl ImportStore for SqliteStore {
    async fn import_build(&self, build: &Build) -> StoreResult<Imported> {
        let b = Build {
            created_at: ms(build.created_at),
            ..build.clone()
        };
        self.write(move |c| {
            let stored = read_build(c, b.id)?;
            if stored.as_ref() == Some(&b) {
                return Ok(Imported::Unchanged);
            }
            c.execute(
                "INSERT INTO builds (id, job_name, build_number, build_user, package_path, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET job_name = excluded.job_name,
                   build_number = excluded.build_number, build_user = excluded.build_user,
                   package_path = excluded.package_path, created_at = excluded.created_at",
                params![b.id, b.job_name.as_str(), b.build_number.get(), b.build_user,
                    b.package_path.as_str(), ts(b.created_at)],
            )
            .map_err(|e| conflict_or(e, || format!(
                "build {}: another build already has job {} number {}", b.id, b.job_name, b.build_number)))?;
            Ok(outcome(stored.is_some()))
        })
        .await
    }

    async fn import_parameter_set(
        &self,
        set: &ParameterSet,
        versions: &[ParameterSetVersion],
    ) -> StoreResult<Imported> {
        let set = ParameterSet {
            created_at: ms(set.created_at),
            updated_at: ms(set.updated_at),
            ..set.clone()
        };
        let mut versions: Vec<ParameterSetVersion> = versions
            .iter()
            .map(|v| ParameterSetVersion {
                updated_at: ms(v.updated_at),
                ..v.clone()
            })
            .collect();
        // As the store lists them: newest first.
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        self.write(move |c| {
            let stored = read_set(c, "id = ?1", set.id)?;
            if stored.as_ref() == Some(&set) && read_versions(c, set.id)? == versions {
                return Ok(Imported::Unchanged);
            }
            let taken = || {
                format!(
                    "parameter set {}: its name {:?} is taken by another set, or another set is the default",
                    set.id, set.name
                )
            };
            c.execute(
                "INSERT INTO parameter_sets (id, name, description, params, is_default, version, created_at, updated_at, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
                   params = excluded.params, is_default = excluded.is_default, version = excluded.version,
                   created_at = excluded.created_at, updated_at = excluded.updated_at,
                   updated_by = excluded.updated_by",
                params![set.id, set.name, set.description, set.params.clone().into_value().to_string(),
                    set.is_default, set.version, ts(set.created_at), ts(set.updated_at), set.updated_by],
            )
            .map_err(|e| conflict_or(e, taken))?;
            c.execute("DELETE FROM parameter_set_versions WHERE set_id = ?1", [set.id])
                .map_err(unavailable)?;
            for v in &versions {
                insert_version(c, v)?;
            }
            Ok(outcome(stored.is_some()))
        })
        .await
    }

    async fn import_environment(&self, environment: &Environment) -> StoreResult<Imported> {
        let env = Environment {
            created_at: ms(environment.created_at),
            updated_at: ms(environment.updated_at),
            ..environment.clone()
        };
        self.write(move |c| {
            let stored = super::environments::read_environment(c, env.id.get())?;
            if stored.as_ref() == Some(&env) {
                return Ok(Imported::Unchanged);
            }
            let origins = Value::from(
                env.report_origins.iter().map(|o| o.as_str().to_owned()).collect::<Vec<_>>(),
            )
            .to_string();
            c.execute(
                "INSERT INTO environments (id, name, external_test_server_url, report_origins, description, enabled, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                   external_test_server_url = excluded.external_test_server_url,
                   report_origins = excluded.report_origins, description = excluded.description,
                   enabled = excluded.enabled, created_at = excluded.created_at,
                   updated_at = excluded.updated_at",
                params![env.id.get(), env.name, env.external_test_server_url.as_str(), origins,
                    env.description, env.enabled, ts(env.created_at), ts(env.updated_at)],
            )
            .map_err(|e| conflict_or(e, || format!(
                "environment {}: its name {:?} is taken by another environment", env.id, env.name)))?;
            Ok(outcome(stored.is_some()))
        })
        .await
    }

    async fn import_test_item(&self, item: &TestItem) -> StoreResult<Imported> {
        let item = TestItem {
            created_at: ms(item.created_at),
            updated_at: ms(item.updated_at),
            ..item.clone()
        };
        self.write(move |c| {
            let stored = read_item(c, item.id)?;
            if stored.as_ref() == Some(&item) {
                return Ok(Imported::Unchanged);
            }
            let emails = Value::from(
                item.notify_emails.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            )
            .to_string();
            c.execute(
                "INSERT INTO test_items (id, name, job_name, parameter_set_id, environment_id, description, enabled, notify_emails, trigger_on_new_build, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, job_name = excluded.job_name,
                   parameter_set_id = excluded.parameter_set_id, environment_id = excluded.environment_id,
                   description = excluded.description, enabled = excluded.enabled,
                   notify_emails = excluded.notify_emails, trigger_on_new_build = excluded.trigger_on_new_build,
                   created_at = excluded.created_at, updated_at = excluded.updated_at",
                params![item.id, item.name.as_str(), item.job_name.as_str(), item.parameter_set_id,
                    item.environment_id.map(|e| e.get()), item.description, item.enabled, emails,
                    item.trigger_on_new_build, ts(item.created_at), ts(item.updated_at)],
            )
            .map_err(|e| conflict_or(e, || format!(
                "test item {}: another item is named {} for job {}, or its parameter set or environment does not exist",
                item.id, item.name, item.job_name)))?;
            Ok(outcome(stored.is_some()))
        })
        .await
    }

    async fn import_settings(&self, settings: &Settings, version: i64) -> StoreResult<Imported> {
        let json = serde_json::to_string(settings).map_err(|e| corrupt("settings", e))?;
        let settings = settings.clone();
        self.write(move |c| {
            let stored: Option<(String, i64)> = c
                .query_row("SELECT json, version FROM settings WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(unavailable(e)),
                })?;
            if let Some((stored_json, stored_version)) = &stored {
                let same =
                    serde_json::from_str::<Settings>(stored_json).ok().as_ref() == Some(&settings);
                if same && *stored_version == version {
                    return Ok(Imported::Unchanged);
                }
            } else if version == 0 && settings == Settings::default() {
                // Never saved, and the import says so too.
                return Ok(Imported::Unchanged);
            }
            c.execute(
                "INSERT INTO settings (id, json, version) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json, version = excluded.version",
                params![json, version],
            )
            .map_err(unavailable)?;
            Ok(outcome(stored.is_some()))
        })
        .await
    }

    async fn import_run(&self, run: &Run) -> StoreResult<Imported> {
        let run = run.clone();
        let json = runs::encode(&run)?;
        self.write(move |c| {
            let stored: Option<String> = c
                .query_row("SELECT json FROM runs WHERE id = ?1", [run.id.get()], |r| {
                    r.get(0)
                })
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(unavailable(e)),
                })?;
            if let Some(stored) = &stored
                && runs::decode(stored).ok().as_ref() == Some(&run)
            {
                return Ok(Imported::Unchanged);
            }
            c.execute(
                "INSERT INTO runs (id, test_item_id, status, revision, json, lane, queue_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET test_item_id = excluded.test_item_id,
                   status = excluded.status, revision = excluded.revision, json = excluded.json,
                   lane = excluded.lane, queue_seq = excluded.queue_seq",
                params![
                    run.id.get(),
                    run.test_item_id.get(),
                    run.status.as_str(),
                    run.revision,
                    json,
                    run.lane.as_str(),
                    run.queue_seq
                ],
            )
            .map_err(unavailable)?;
            Ok(outcome(stored.is_some()))
        })
        .await
    }

    async fn advance_counter(&self, sequence: &str, at_least: i64) -> StoreResult<()> {
        let sequence = sequence.to_owned();
        self.write(move |c| {
            c.execute(
                "INSERT INTO counters (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
                params![sequence, at_least],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
