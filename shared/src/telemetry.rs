//! Logs: readable lines locally, JSON under Lambda (CloudWatch). `RUST_LOG` filters;
//! `DEBUG=1` lowers the default level to debug.

use tracing_subscriber::EnvFilter;

use crate::config::Host;

pub fn init(host: Host, debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default},aws_smithy_runtime=warn,aws_config=warn,hyper=warn,h2=warn,rustls=warn"
        ))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match host {
        Host::Lambda => builder
            .json()
            .with_current_span(true)
            .without_time()
            .try_init(),
        Host::Embedded => builder.with_target(false).try_init(),
    };
}

/// Logs of a command-line tool (`crat export`, `crat import`): warnings and errors only, on
/// stderr, so a record left out of a list as unreadable is reported and stdout stays the
/// command's own output. `RUST_LOG` filters.
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
