//! `crat`: the whole product in one process (embedded mode). `crat` (or `crat serve`)
//! runs the server; `crat --help` lists the subcommands, `crat --version` says which build.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use std::sync::Arc;

use shared::adapters::SqliteStore;
use shared::adapters::sqlite::backup::{self, DataFolderLock};
use shared::config::{ADMIN_PASSWORD_FILE, Config, Host, StoreConfig};
use shared::deps::open_dynamodb;
use shared::ports::Store;
use shared::services::export;
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
    /// Copy the embedded store and its secrets files to FILE, safely while the server runs.
    ///
    /// The copy is one moment of the store (SQLite's online backup), written owner-only
    /// since it holds the secrets; it never overwrites a file.
    Backup {
        /// The new backup file.
        file: PathBuf,
    },
    /// Restore FILE (made by `crat backup`) into the data folder; the server must be stopped.
    ///
    /// A store and secrets already there are kept beside them as `*.replaced-<time>`.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Write every record of the configured store as JSON lines to FILE (or `-`: stdout).
    ///
    /// The store is the one the server would use: the embedded file in CRAT_DATA_DIR, or
    /// CRAT_STORE=dynamodb with DYNAMODB_TABLE. Sessions, login failures, lane locks and
    /// executions are left out; records hold no secrets. FILE is never overwritten.
    Export {
        /// The new export file, or `-` for standard output (the default).
        #[arg(default_value = "-")]
        file: String,
    },
    /// Load FILE (made by `crat export`) into the configured store, keeping every id.
    ///
    /// Every line is checked before anything is written; a record equal to the stored one
    /// is left alone, so importing twice changes nothing. Meant for a stopped source and a
    /// target no server writes to meanwhile (an embedded target must be stopped).
    Import {
        /// The export file.
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Backup { file } => {
            let data_dir = data_dir();
            let copied = backup::backup(&data_dir, &file)?;
            println!(
                "Backed up {} to {} ({copied})",
                data_dir.display(),
                file.display()
            );
            Ok(())
        }
        Command::Restore { file } => {
            let data_dir = data_dir();
            let lock = DataFolderLock::acquire(&data_dir)?;
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let copied = backup::restore(&file, &data_dir, &lock, &stamp)?;
            println!(
                "Restored {} into {} ({copied}); start the server to use it",
                file.display(),
                data_dir.display()
            );
            Ok(())
        }
        Command::Export { file } => export(&file),
        Command::Import { file } => import(&file),
    }
}

/// The store `crat export`/`crat import` work on, as the server would open it, and how
/// to name it.
async fn open_store() -> anyhow::Result<(Arc<dyn Store>, String)> {
    telemetry::init_cli();
    let _ = dotenvy::dotenv();
    let vars = std::env::vars().collect();
    Ok(match StoreConfig::from_vars(Host::Embedded, &vars)? {
        StoreConfig::Embedded => {
            let data_dir = Config::data_dir_from(&vars);
            let name = format!("the embedded store in {}", data_dir.display());
            (Arc::new(SqliteStore::open(&data_dir)?), name)
        }
        StoreConfig::DynamoDb {
            table,
            create_table,
        } => (
            open_dynamodb(&table, create_table).await?,
            format!("DynamoDB table {table}"),
        ),
    })
}

#[tokio::main]
async fn export(file: &str) -> anyhow::Result<()> {
    let (store, name) = open_store().await?;
    let counts = if file == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        export::export(store.as_ref(), &mut out).await?
    } else {
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(file)
            .map_err(|e| {
                anyhow::anyhow!("cannot create {file}: {e} (an export never overwrites a file)")
            })?;
        let mut out = std::io::BufWriter::new(created);
        export::export(store.as_ref(), &mut out).await?
    };
    // On stderr: stdout may be the export itself.
    eprintln!("Exported {} records of {name}:", counts.total());
    for line in counts.export_lines() {
        eprintln!("  {line}");
    }
    Ok(())
}

#[tokio::main]
async fn import(file: &std::path::Path) -> anyhow::Result<()> {
    let input = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    // An embedded target must not have a server writing beside the import.
    let _ = dotenvy::dotenv();
    let _lock = match StoreConfig::from_vars(Host::Embedded, &std::env::vars().collect())? {
        StoreConfig::Embedded => Some(DataFolderLock::acquire(&data_dir())?),
        StoreConfig::DynamoDb { .. } => None,
    };
    let (store, name) = open_store().await?;
    let counts = export::import(store.as_ref(), std::io::BufReader::new(input)).await?;
    println!("Imported {} into {name}:", file.display());
    for line in counts.import_lines() {
        println!("  {line}");
    }
    Ok(())
}

/// The data folder as the server finds it (`CRAT_DATA_DIR`, also from `.env`).
fn data_dir() -> PathBuf {
    let _ = dotenvy::dotenv();
    Config::data_dir_from(&std::env::vars().collect())
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
    // One server per data folder; a restore waits for it to stop (released when it exits).
    let _lock = match config.store {
        StoreConfig::Embedded => Some(DataFolderLock::acquire(&config.data_dir)?),
        StoreConfig::DynamoDb { .. } => None,
    };
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
