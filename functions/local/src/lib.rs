//! The embedded mode: every endpoint group's routes in one axum server, on the embedded
//! store (or DynamoDB with `CRAT_STORE=dynamodb`). Not deployed.

pub mod workflow;

use axum::Router;
use shared::AppState;
use shared::http::with_common_layers;

/// Adds the embedded workflow (executor + in-process tasks) to `state` and resumes the
/// executions a previous process left running.
pub async fn assemble(
    state: AppState,
    data_dir: &std::path::Path,
    time_scale: f64,
) -> anyhow::Result<AppState> {
    let deps = shared::tasks::TaskDeps {
        state: state.clone(),
        http: shared::tasks::http::http_client(shared::tasks::HTTP_STALL_TIMEOUT)
            .map_err(anyhow::Error::msg)?,
        work_dir: data_dir.to_path_buf(),
    };
    let workflow = workflow::EmbeddedWorkflow::start(deps, time_scale).await?;
    Ok(state.with_workflow(std::sync::Arc::new(workflow)))
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

/// Every router, merged, with the shared layers applied once.
pub fn app(state: AppState) -> Router {
    with_common_layers(
        Router::new()
            .merge(meta::routes())
            .merge(builds::routes(state.clone()))
            .merge(auth::routes(state.clone()))
            .merge(test_items::routes(state.clone()))
            .merge(parameter_sets::routes(state.clone()))
            .merge(job_versions::routes(state.clone()))
            .merge(settings::routes(state.clone()))
            .merge(deploy_runs::routes(state)),
    )
}

/// Serves `app` on `listener` until SIGINT or SIGTERM, then finishes in-flight requests.
/// Also runs the schedules the cloud gives to EventBridge (auto-sync) on in-process timers.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let auto_sync = auto_sync::spawn_timer(state.clone());
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    auto_sync.abort();
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
