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
            .merge(auth::routes(state)),
    )
}

/// Serves `app` on `listener` until SIGINT or SIGTERM, then finishes in-flight requests.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
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
