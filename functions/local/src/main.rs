//! `crat`: the whole product in one process (embedded mode).

use shared::config::{ADMIN_PASSWORD_FILE, Config, Host, StoreConfig};
use shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env(Host::Embedded)?;
    telemetry::init(Host::Embedded, config.debug);
    if config.webhook_token.is_none() {
        tracing::warn!(
            "WEBHOOK_TOKEN is not set: anyone who can reach this server can post builds"
        );
    }
    let listener = tokio::net::TcpListener::bind((config.bind.as_str(), config.port)).await?;
    let port = listener.local_addr()?.port();

    let data_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let store_line = match &config.store {
        StoreConfig::Embedded => format!("Data folder: {}", data_dir.display()),
        StoreConfig::DynamoDb { table, .. } => format!("Store: DynamoDB table {table}"),
    };
    let password_line = config.generated_admin_password.then(|| {
        format!(
            "Admin password (shown once; kept in {}): {}",
            data_dir.join(ADMIN_PASSWORD_FILE).display(),
            config.admin_password.expose()
        )
    });
    let parts = local::assemble(config).await?;
    println!("CRAT is running at http://localhost:{port}");
    println!("{store_line}");
    if let Some(line) = password_line {
        println!("{line}");
    }
    local::serve(parts, listener).await?;
    Ok(())
}
