//! The embedded mode: every endpoint group's routes in one axum server, on the embedded
//! store (or DynamoDB with `CRAT_STORE=dynamodb`). Not deployed.

use axum::Router;
use shared::AppState;
use shared::http::with_common_layers;

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
            .merge(settings::routes(state)),
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
