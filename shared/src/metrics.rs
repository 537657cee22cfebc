//! The process's Prometheus metrics: what the local server shows at `GET /metrics` (text
//! exposition format). Every host records into its own [`Metrics`] (one per [`crate::Deps`]);
//! only the local server serves them (a Lambda's would be one instance's share).
//!
//! Labels take only bounded values: route templates (never raw paths), status codes, run
//! statuses and step names, lane ids (one per test environment).

use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::{NotificationStatus, Run, RunStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunEndLabels {
    pub status: &'static str,
    /// The step that failed (`DOWNLOAD`, ...), `""` for a run that did not fail.
    pub failing_step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChatLabels {
    pub kind: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    pub lane: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `sqlite` or `dynamodb`.
    pub store: &'static str,
    /// SQLite: `read` or `write` (a write's time includes its wait for the group commit);
    /// DynamoDB: the API operation (`GetItem`, `Query`, `TransactWriteItems`, ...).
    pub operation: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Store operation latencies: 0.1 ms to about 1.6 s.
fn store_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// The stores' operation latencies, for the whole process: a store is opened before any
/// [`Metrics`] exists and does not know it, so it records here and every [`Metrics`]
/// shows this one family.
static STORE_SECONDS: std::sync::LazyLock<Histograms<StoreLabels>> =
    std::sync::LazyLock::new(|| Histograms::new_with_constructor(store_seconds));

/// One store operation of `store` (`sqlite`, `dynamodb`) took `took`.
pub fn store_operation(store: &'static str, operation: &str, took: Duration) {
    STORE_SECONDS
        .get_or_create(&StoreLabels {
            store,
            operation: operation.to_owned(),
        })
        .observe(took.as_secs_f64());
}

/// Latencies of requests: 1 ms to about 33 s.
fn request_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Durations of runs and waits in the queue: 10 s to about 5.7 hours (the monitor limit is 3 h).
fn long_seconds() -> Histogram {
    Histogram::new(exponential_buckets(10.0, 2.0, 12))
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histograms<RouteLabels>,
    webhooks: Family<ResultLabels, Counter>,
    runs_ended: Family<RunEndLabels, Counter>,
    run_seconds: Histograms<StatusLabels>,
    queue_wait_seconds: Histogram,
    mails: Family<StatusLabels, Counter>,
    chats: Family<ChatLabels, Counter>,
    audit_entries: Family<ResultLabels, Counter>,
    lane_active: Family<LaneLabels, Gauge>,
    lane_queued: Family<LaneLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("crat");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = Histograms::<RouteLabels>::new_with_constructor(request_seconds);
        let webhooks = Family::<ResultLabels, Counter>::default();
        let runs_ended = Family::<RunEndLabels, Counter>::default();
        let run_seconds = Histograms::<StatusLabels>::new_with_constructor(long_seconds);
        let queue_wait_seconds = long_seconds();
        let mails = Family::<StatusLabels, Counter>::default();
        let chats = Family::<ChatLabels, Counter>::default();
        let audit_entries = Family::<ResultLabels, Counter>::default();
        let lane_active = Family::<LaneLabels, Gauge>::default();
        let lane_queued = Family::<LaneLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            http_seconds.clone(),
        );
        registry.register(
            "webhooks",
            "Jenkins webhooks received, by result (created, repeated, refused)",
            webhooks.clone(),
        );
        registry.register(
            "runs_ended",
            "Runs that ended, by terminal status and failing step",
            runs_ended.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "From a run's start to its end, by terminal status",
            run_seconds.clone(),
        );
        registry.register(
            "run_queue_wait_seconds",
            "How long a queued run waited for its lane",
            queue_wait_seconds.clone(),
        );
        registry.register(
            "mails",
            "Result mails, by outcome (SENT, FAILED, SKIPPED)",
            mails.clone(),
        );
        registry.register(
            "chat_messages",
            "Chat notifications, by channel kind and outcome (sent, failed, skipped)",
            chats.clone(),
        );
        registry.register(
            "audit_entries",
            "Audit trail appends, by result (written, failed: the change was made, its entry lost)",
            audit_entries.clone(),
        );
        registry.register(
            "store_operation_duration_seconds",
            "Time of a store operation, by store and operation (this process)",
            STORE_SECONDS.clone(),
        );
        registry.register(
            "lane_active_runs",
            "Runs holding each lane at the scrape (0 or 1)",
            lane_active.clone(),
        );
        registry.register(
            "lane_queued_runs",
            "Runs waiting in each lane's queue at the scrape",
            lane_queued.clone(),
        );
        Self {
            registry,
            http_requests,
            http_seconds,
            webhooks,
            runs_ended,
            run_seconds,
            queue_wait_seconds,
            mails,
            chats,
            audit_entries,
            lane_active,
            lane_queued,
        }
    }
}

impl Metrics {
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// `result`: `created`, `repeated` or `refused`.
    pub fn webhook(&self, result: &'static str) {
        self.webhooks.get_or_create(&ResultLabels { result }).inc();
    }

    /// A run reached its terminal status (once per run: finalize or a cancel).
    pub fn run_ended(&self, run: &Run) {
        let failing_step = match run.status {
            RunStatus::Failed => run.failing_step().map_or("", |s| s.as_str()),
            _ => "",
        };
        self.runs_ended
            .get_or_create(&RunEndLabels {
                status: run.status.as_str(),
                failing_step,
            })
            .inc();
        if let Some(end) = run.finished_at {
            let seconds = (end - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
            self.run_seconds
                .get_or_create(&StatusLabels {
                    status: run.status.as_str(),
                })
                .observe(seconds);
        }
    }

    /// A queued run left its lane's queue to start after `waited`.
    pub fn queue_wait(&self, waited: Duration) {
        self.queue_wait_seconds.observe(waited.as_secs_f64());
    }

    /// `result`: `written` or `failed`.
    pub fn audit_entry(&self, result: &'static str) {
        self.audit_entries
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn mail(&self, status: NotificationStatus) {
        self.mails
            .get_or_create(&StatusLabels {
                status: status.as_str(),
            })
            .inc();
    }

    /// One channel's delivery for a run (each channel counts once per run).
    pub fn chat(&self, kind: crate::domain::ChannelKind, status: crate::domain::ChatStatus) {
        self.chats
            .get_or_create(&ChatLabels {
                kind: kind.as_str(),
                status: match status {
                    crate::domain::ChatStatus::Sent => "sent",
                    crate::domain::ChatStatus::Failed => "failed",
                    crate::domain::ChatStatus::Skipped => "skipped",
                },
            })
            .inc();
    }

    /// The lanes as they are now: `(lane, active runs, queued runs)`.
    pub fn set_lanes(&self, lanes: &[(String, i64, i64)]) {
        self.lane_active.clear();
        self.lane_queued.clear();
        for (lane, active, queued) in lanes {
            let label = LaneLabels { lane: lane.clone() };
            self.lane_active.get_or_create(&label).set(*active);
            self.lane_queued.get_or_create(&label).set(*queued);
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            let _ = writeln!(out, "# the metrics could not be encoded");
        }
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
