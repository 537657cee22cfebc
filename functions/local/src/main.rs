//! `crat`: the whole product in one process (embedded mode). `crat` (or `crat serve`)
//! runs the server; `crat --help` lists the subcommands, `crat --version` says which build.

use clap::{Parser, Subcommand};
use shared::config::{ADMIN_PASSWORD_FILE, Config, Host, StoreConfig};
use shared::telemetry;

/// The version and the git revision it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CRAT_GIT_REVISION"),
    ")"
);

/// CRAT, the CDN Regression Automation Trigger: one-click deploy-and-test of a Jenkins build.
///
/// Configuration comes from the environment (and `.env` in the working directory); see the
/// README's Configuration section.
#[derive(Parser)]
#[command(name = "crat", version = VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the API, the site and the deploy-test flow (the default).
    Serve,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
    }
}

#[tokio::main]
async fn serve() -> anyhow::Result<()> {
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
