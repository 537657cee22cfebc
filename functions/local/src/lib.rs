//! The embedded mode: every endpoint group's routes in one axum server, on the embedded
//! store (or DynamoDB with `CRAT_STORE=dynamodb`). Not deployed.

pub mod metrics;
pub mod openapi;
pub mod site;
pub mod workflow;

use std::sync::Arc;

use axum::Router;
use shared::Deps;
use shared::config::Config;
use shared::http::with_common_layers;

/// The local server: the one [`Deps`] its routers, tasks and timers all get (its workflow
/// bound to the embedded executor), and that executor, owned here.
pub struct Local {
    pub deps: Deps,
    /// The only strong handle: `deps.workflow` reaches the executor through a weak one,
    /// since the executor's tasks hold `deps` (a strong one would be an `Arc` cycle that
    /// never drops the executor). Dropping `Local` stops the executor.
    pub executor: Arc<statemachine::Executor>,
}

/// The one place the local server builds its [`Deps`]: the configured store, the system
/// clock, then [`assemble_with`].
pub async fn assemble(config: Config) -> anyhow::Result<Local> {
    assemble_with(Deps::from_config(config).await?, None).await
}

/// Binds the embedded workflow (executor + in-process tasks, mail through SMTP or the
/// outbox) into `deps`, then resumes the executions a previous process left running and
/// starts the head of every free lane's queue.
/// `executor_clock`: the executor's clock (tests: a simulated clock), else the system's.
pub async fn assemble_with(
    deps: Deps,
    executor_clock: Option<Arc<dyn statemachine::Clock>>,
) -> anyhow::Result<Local> {
    let executor = workflow::start_executor(deps.clone(), executor_clock)?;
    deps.workflow
        .bind(Arc::new(workflow::EmbeddedWorkflow::new(&executor)))?;
    let resumed = executor.resume_all().await?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed running executions");
    }
    // A lane freed just before the previous process stopped may still have its head waiting.
    let started = shared::services::lanes::start_free_lanes(&deps).await?;
    if !started.is_empty() {
        tracing::info!(started = started.len(), "started queued runs of free lanes");
    }
    Ok(Local { deps, executor })
}

/// Every router, merged, with the shared layers applied once; every other path is the
/// web site: the one inside the binary, or `CRAT_WEB_DIR`'s (see [`site`]).
pub fn app(state: Deps) -> Router {
    let site = site::handler(site::Site::from_config(state.config.web_dir.as_deref()));
    with_common_layers(
        Router::new()
            .merge(meta::routes())
            .merge(builds::routes(state.clone()))
            .merge(auth::routes(state.clone()))
            .merge(test_items::routes(state.clone()))
            .merge(environments::routes(state.clone()))
            .merge(parameter_sets::routes(state.clone()))
            .merge(job_versions::routes(state.clone()))
            .merge(settings::routes(state.clone()))
            .merge(deploy_runs::routes(state.clone()))
            .merge(notify::outbox_api::routes(state.clone()))
            .merge(metrics::routes(state.clone()))
            .route("/", axum::routing::any(site.clone()))
            .route("/{*path}", axum::routing::any(site))
            .layer(axum::middleware::from_fn_with_state(
                state,
                metrics::count_requests,
            )),
    )
}

/// Serves `app` on `listener` until SIGINT or SIGTERM, then finishes in-flight requests.
/// Also runs the schedules the cloud gives to EventBridge (auto-sync, the stale-run
/// sweeper) on in-process timers.
pub async fn serve(local: Local, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let timers = spawn_timers(&local.deps);
    // With the peer address: the admin login limit counts failures per client IP.
    let served = axum::serve(
        listener,
        app(local.deps.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    for t in timers {
        t.abort();
    }
    served
}

/// The schedules EventBridge runs in the cloud (auto-sync, the stale-run sweeper), on
/// in-process timers with the host's `deps`. Each runs once at once, then on its interval.
pub fn spawn_timers(deps: &Deps) -> [tokio::task::JoinHandle<()>; 2] {
    [
        auto_sync::spawn_timer(deps.clone()),
        sweeper::spawn_timer(deps.clone()),
    ]
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
