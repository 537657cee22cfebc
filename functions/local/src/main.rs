//! `crat`: the whole product in one process (embedded mode).

use shared::config::{ADMIN_PASSWORD_FILE, Config, Host, StoreConfig};
use shared::{AppState, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env(Host::Embedded)?;
    telemetry::init(Host::Embedded, config.debug);
    if config.webhook_token.is_none() {
        tracing::warn!(
            "WEBHOOK_TOKEN is not set: anyone who can reach this server can post builds"
        );
    }
    let bind = std::env::var("CRAT_BIND").unwrap_or_else(|_| "0.0.0.0".into());
    let listener = tokio::net::TcpListener::bind((bind.as_str(), config.port)).await?;
    let port = listener.local_addr()?.port();

    let data_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    println!("CRAT is running at http://localhost:{port}");
    match &config.store {
        StoreConfig::Embedded => println!("Data folder: {}", data_dir.display()),
        StoreConfig::DynamoDb { table, .. } => println!("Store: DynamoDB table {table}"),
    }
    if config.generated_admin_password {
        println!(
            "Admin password (shown once; kept in {}): {}",
            data_dir.join(ADMIN_PASSWORD_FILE).display(),
            config.admin_password.expose()
        );
    }
    let state = AppState::from_config(config).await?;
    local::serve(state, listener).await?;
    Ok(())
}
