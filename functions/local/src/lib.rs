//! The embedded mode: every endpoint group's routes in one axum server, on the embedded
//! store (or DynamoDB with `CRAT_STORE=dynamodb`). Not deployed.

pub mod openapi;
pub mod site;
pub mod workflow;

use axum::Router;
use shared::AppState;
use shared::http::with_common_layers;

/// The local server's parts: the state every router gets (with the embedded workflow)
/// and what the timers need (on that same state).
#[derive(Clone)]
pub struct Local {
    pub state: AppState,
    pub notify: shared::mail::NotifyDeps,
}

/// Adds the embedded workflow (executor + in-process tasks, mail through SMTP or the
/// outbox) to `state`, and resumes the executions a previous process left running.
pub async fn assemble(
    state: AppState,
    data_dir: &std::path::Path,
    time_scale: f64,
) -> anyhow::Result<Local> {
    assemble_with_clock(state, data_dir, time_scale, None).await
}

/// [`assemble`] with the executor on `executor_clock` (tests: a simulated clock).
pub async fn assemble_with_clock(
    state: AppState,
    data_dir: &std::path::Path,
    time_scale: f64,
    executor_clock: Option<std::sync::Arc<dyn statemachine::Clock>>,
) -> anyhow::Result<Local> {
    let task = shared::tasks::TaskDeps {
        state: state.clone(),
        http: shared::tasks::http::http_client(shared::tasks::HTTP_STALL_TIMEOUT)
            .map_err(anyhow::Error::msg)?,
        work_dir: data_dir.to_path_buf(),
    };
    let mailer = shared::mail::mailer_from_config(&state.config).map_err(anyhow::Error::msg)?;
    let notify = shared::mail::NotifyDeps { task, mailer };
    // The executor's own tasks never start or stop executions, so they keep the state
    // without the workflow (no Arc cycle). Everything else, the routers and the timers (the
    // sweeper stops the executions of the runs it fails), gets the state WITH it.
    let workflow =
        workflow::EmbeddedWorkflow::start_with_clock(notify.clone(), time_scale, executor_clock)
            .await?;
    let state = state.with_workflow(std::sync::Arc::new(workflow));
    let mut notify = notify;
    notify.task.state = state.clone();
    Ok(Local { state, notify })
}

/// `CRAT_TIME_SCALE`: multiplies the state machine's waits and retry intervals. 1 (default)
/// in production; tests and demos use less so a poll loop takes seconds, not minutes.
pub fn time_scale_from_env() -> anyhow::Result<f64> {
    match std::env::var("CRAT_TIME_SCALE") {
        Err(_) => Ok(1.0),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0 && *s <= 1.0)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "configuration: CRAT_TIME_SCALE: must be a number in (0, 1], got {v:?}"
                )
            }),
    }
}

/// Every router, merged, with the shared layers applied once; every other path is the
/// web site from `CRAT_WEB_DIR` (see [`site`]).
pub fn app(state: AppState) -> Router {
    let site = site::handler(site::web_dir_from_env());
    with_common_layers(
        Router::new()
            .merge(meta::routes())
            .merge(builds::routes(state.clone()))
            .merge(auth::routes(state.clone()))
            .merge(test_items::routes(state.clone()))
            .merge(parameter_sets::routes(state.clone()))
            .merge(job_versions::routes(state.clone()))
            .merge(settings::routes(state.clone()))
            .merge(deploy_runs::routes(state.clone()))
            .merge(notify::outbox_api::routes(state))
            .route("/", axum::routing::any(site.clone()))
            .route("/{*path}", axum::routing::any(site)),
    )
}

/// Serves `app` on `listener` until SIGINT or SIGTERM, then finishes in-flight requests.
/// Also runs the schedules the cloud gives to EventBridge (auto-sync, the stale-run
/// sweeper) on in-process timers.
pub async fn serve(local: Local, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let timers = [
        auto_sync::spawn_timer(local.state.clone()),
        sweeper::spawn_timer(local.notify.clone()),
    ];
    // With the peer address: the admin login limit counts failures per client IP.
    let served = axum::serve(
        listener,
        app(local.state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    for t in timers {
        t.abort();
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
