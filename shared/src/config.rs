//! Configuration from the environment (or `.env`), SPEC §5. The embedded mode needs no
//! variables: missing secrets are generated once and kept in the data folder. Under
//! Lambda a missing secret is a start-up error naming the variable.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use rand::Rng;
use rand::distr::Alphanumeric;

/// A value that must never reach a log line or a response.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the code runs: decides defaults and how missing secrets are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// `functions/local`: one process, generated secrets, embedded store by default.
    Embedded,
    /// A Lambda function: every secret must be configured, DynamoDB only.
    Lambda,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite file in the data folder.
    Embedded,
    DynamoDb {
        table: String,
        create_table: bool,
    },
}

impl StoreConfig {
    /// `CRAT_STORE` (and `DYNAMODB_TABLE`, `CRAT_CREATE_TABLE` with `dynamodb`) alone: what
    /// `crat export` and `crat import` need, without the server's secrets.
    pub fn from_vars(host: Host, vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let store = match (get("CRAT_STORE"), host) {
            (Some("embedded"), Host::Lambda) => {
                return Err(err(
                    "CRAT_STORE",
                    "must be dynamodb under Lambda (there is no local disk to keep)",
                ));
            }
            (Some("embedded"), _) | (None, Host::Embedded) => StoreConfig::Embedded,
            (Some("dynamodb"), _) | (None, Host::Lambda) => StoreConfig::DynamoDb {
                table: get("DYNAMODB_TABLE")
                    .ok_or_else(|| {
                        err(
                            "DYNAMODB_TABLE",
                            "is required when CRAT_STORE=dynamodb: the table name",
                        )
                    })?
                    .to_owned(),
                create_table: matches!(get("CRAT_CREATE_TABLE"), Some("1" | "true")),
            },
            (Some(other), _) => {
                return Err(err(
                    "CRAT_STORE",
                    format!("must be embedded or dynamodb, got {other:?}"),
                ));
            }
        };
        Ok(store)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Implicit TLS (port 465).
    Tls,
    StartTls,
    /// No TLS: only for local mail catchers.
    Plain,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub server: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: Option<Secret>,
    pub from: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: Host,
    pub port: u16,
    pub debug: bool,
    pub admin_password: Secret,
    pub jwt_secret: Secret,
    pub webhook_token: Option<Secret>,
    /// When set, `GET /metrics` needs it as a bearer token (local server).
    pub metrics_token: Option<Secret>,
    pub session_ttl: TimeDelta,
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub smtp: Option<SmtpConfig>,
    pub state_machine_arn: Option<String>,
    /// Where people open CRAT (links in mail): `CRAT_PUBLIC_URL`, else
    /// `http://localhost:PORT` in the embedded mode.
    pub public_url: Option<String>,
    /// `EMAIL_SEND_CA_FILE`: PEM of an extra CA to trust for the SMTP server (private CAs).
    pub smtp_ca_file: Option<PathBuf>,
    /// Set when this start generated the admin password: shown once, then only in the file.
    pub generated_admin_password: bool,
    /// Local server only. `CRAT_BIND`: the address it listens on (an IP address or a host
    /// name), default `0.0.0.0`.
    pub bind: String,
    /// Local server only. `CRAT_TIME_SCALE` in (0, 1], default 1: multiplies the state
    /// machine's waits and retry intervals (tests and demos use less).
    pub time_scale: f64,
    /// Local server only. `CRAT_WEB_DIR`: a built site on disk to serve instead of the one
    /// inside the binary (for working on the site); `None`: the embedded one.
    pub web_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// The file under the data folder that keeps a generated secret.
pub const JWT_SECRET_FILE: &str = "jwt_secret";
pub const ADMIN_PASSWORD_FILE: &str = "admin_password";

impl Config {
    /// Reads the process environment; in the embedded mode `.env` in the working
    /// directory is loaded first (real environment variables win).
    pub fn from_env(host: Host) -> Result<Self, ConfigError> {
        if host == Host::Embedded {
            let _ = dotenvy::dotenv();
        }
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_vars(host, &vars)
    }

    /// `CRAT_DATA_DIR`, or `./data`.
    pub fn data_dir_from(vars: &HashMap<String, String>) -> PathBuf {
        let set = vars
            .get("CRAT_DATA_DIR")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        PathBuf::from(set.unwrap_or("./data"))
    }

    pub fn from_vars(host: Host, vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let number =
            |k: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(k) {
                    None => Ok(default),
                    Some(v) => v
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or_else(|| {
                            err(
                                k,
                                format!("must be an integer from {min} to {max}, got {v:?}"),
                            )
                        }),
                }
            };

        let port = number("PORT", 8000, 0, 65535)? as u16;
        let debug = matches!(get("DEBUG"), Some("1" | "true" | "TRUE" | "yes"));
        let session_ttl = TimeDelta::hours(number("SESSION_TTL_HOURS", 24, 1, 24 * 90)? as i64);
        let data_dir = Self::data_dir_from(vars);

        let store = StoreConfig::from_vars(host, vars)?;

        let secret = |k: &'static str| get(k).map(Secret::new);
        let (jwt_secret, admin_password, generated_admin_password) = match host {
            Host::Lambda => (
                secret("JWT_SECRET")
                    .ok_or_else(|| err("JWT_SECRET", "is required under Lambda"))?,
                secret("ADMIN_PASSWD")
                    .ok_or_else(|| err("ADMIN_PASSWD", "is required under Lambda"))?,
                false,
            ),
            Host::Embedded => {
                let jwt = match secret("JWT_SECRET") {
                    Some(s) => s,
                    None => kept_or_generated(&data_dir, JWT_SECRET_FILE, 48)?.0,
                };
                let (admin, generated) = match secret("ADMIN_PASSWD") {
                    Some(s) => (s, false),
                    None => kept_or_generated(&data_dir, ADMIN_PASSWORD_FILE, 20)?,
                };
                (jwt, admin, generated)
            }
        };
        if jwt_secret.expose().len() < 32 {
            return Err(err(
                "JWT_SECRET",
                "must be at least 32 characters (e.g. `openssl rand -hex 32`)",
            ));
        }

        let smtp = match get("EMAIL_SEND_SERVER") {
            None => None,
            Some(server) => {
                let port = number("EMAIL_SEND_SERVER_PORT", 465, 1, 65535)? as u16;
                let security = match get("EMAIL_SEND_SECURITY") {
                    Some("tls") => SmtpSecurity::Tls,
                    Some("starttls") => SmtpSecurity::StartTls,
                    Some("plain") => SmtpSecurity::Plain,
                    Some(other) => {
                        return Err(err(
                            "EMAIL_SEND_SECURITY",
                            format!("must be tls, starttls or plain, got {other:?}"),
                        ));
                    }
                    None => match port {
                        465 => SmtpSecurity::Tls,
                        587 => SmtpSecurity::StartTls,
                        _ => SmtpSecurity::Plain,
                    },
                };
                let username = get("EMAIL_SEND_USERNAME").unwrap_or_default().to_owned();
                let from = get("EMAIL_FROM")
                    .map(str::to_owned)
                    .or_else(|| username.contains('@').then(|| username.clone()))
                    .ok_or_else(|| {
                        err(
                            "EMAIL_FROM",
                            "is required when EMAIL_SEND_USERNAME is not an address",
                        )
                    })?;
                Some(SmtpConfig {
                    server: server.to_owned(),
                    port,
                    security,
                    password: secret("EMAIL_SEND_PASSWORD"),
                    username,
                    from,
                })
            }
        };

        Ok(Self {
            host,
            port,
            debug,
            admin_password,
            jwt_secret,
            webhook_token: secret("WEBHOOK_TOKEN"),
            metrics_token: secret("METRICS_TOKEN"),
            session_ttl,
            data_dir,
            store,
            smtp,
            state_machine_arn: get("STATE_MACHINE_ARN").map(str::to_owned),
            public_url: match get("CRAT_PUBLIC_URL") {
                Some(u) => Some(
                    crate::domain::HttpUrl::parse("CRAT_PUBLIC_URL", u)
                        .map_err(|e| err("CRAT_PUBLIC_URL", e.message))?
                        .to_string(),
                ),
                None if host == Host::Embedded => Some(format!("http://localhost:{port}")),
                None => None,
            },
            smtp_ca_file: get("EMAIL_SEND_CA_FILE").map(PathBuf::from),
            generated_admin_password,
            bind: bind_address(get("CRAT_BIND"))?,
            time_scale: time_scale(get("CRAT_TIME_SCALE"))?,
            web_dir: get("CRAT_WEB_DIR")
                .filter(|d| !d.trim().is_empty())
                .map(PathBuf::from),
        })
    }
}

fn bind_address(value: Option<&str>) -> Result<String, ConfigError> {
    let Some(v) = value else {
        return Ok("0.0.0.0".into());
    };
    let host_name = v.len() <= 253
        && v.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if v.parse::<std::net::IpAddr>().is_ok() || host_name {
        Ok(v.to_owned())
    } else {
        Err(err(
            "CRAT_BIND",
            format!("must be an IP address or a host name (e.g. 127.0.0.1), got {v:?}"),
        ))
    }
}

fn time_scale(value: Option<&str>) -> Result<f64, ConfigError> {
    let Some(v) = value else { return Ok(1.0) };
    v.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s <= 1.0)
        .ok_or_else(|| {
            err(
                "CRAT_TIME_SCALE",
                format!("must be a number in (0, 1], got {v:?}"),
            )
        })
}

/// Reads `data_dir/file`, or writes a new random value there (owner-only) and says so.
fn kept_or_generated(
    data_dir: &Path,
    file: &str,
    len: usize,
) -> Result<(Secret, bool), ConfigError> {
    let path = data_dir.join(file);
    let io = |e: std::io::Error| {
        err(
            "CRAT_DATA_DIR",
            format!("cannot use {}: {e}", path.display()),
        )
    };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if !existing.is_empty() {
            return Ok((Secret::new(existing), false));
        }
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let value: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    write_private(&path, &value).map_err(io)?;
    Ok((Secret::new(value), true))
}

fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(value.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_needs_nothing_and_keeps_generated_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let first = Config::from_vars(Host::Embedded, &vars(&[("CRAT_DATA_DIR", d)])).unwrap();
        assert!(first.generated_admin_password);
        assert_eq!(first.port, 8000);
        assert_eq!(first.store, StoreConfig::Embedded);
        let second = Config::from_vars(Host::Embedded, &vars(&[("CRAT_DATA_DIR", d)])).unwrap();
        assert!(!second.generated_admin_password);
        assert_eq!(first.admin_password, second.admin_password);
        assert_eq!(first.jwt_secret, second.jwt_secret);
    }

    #[test]
    fn lambda_names_the_missing_secret() {
        let e = Config::from_vars(
            Host::Lambda,
            &vars(&[("DYNAMODB_TABLE", "t"), ("ADMIN_PASSWD", "x")]),
        )
        .unwrap_err();
        assert_eq!(e.var, "JWT_SECRET");
        let e =
            Config::from_vars(Host::Lambda, &vars(&[("JWT_SECRET", &"k".repeat(32))])).unwrap_err();
        assert_eq!(e.var, "DYNAMODB_TABLE");
    }

    #[test]
    fn smtp_security_follows_the_port_unless_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let with = |extra: &[(&str, &str)]| {
            let mut v = vars(&[
                ("CRAT_DATA_DIR", d),
                ("EMAIL_SEND_SERVER", "127.0.0.1"),
                ("EMAIL_FROM", "crat@example.com"),
            ]);
            v.extend(vars(extra));
            Config::from_vars(Host::Embedded, &v).map(|c| c.smtp.map(|s| s.security))
        };
        assert_eq!(with(&[]), Ok(Some(SmtpSecurity::Tls)));
        assert_eq!(
            with(&[("EMAIL_SEND_SERVER_PORT", "587")]),
            Ok(Some(SmtpSecurity::StartTls))
        );
        assert_eq!(
            with(&[("EMAIL_SEND_SERVER_PORT", "1025")]),
            Ok(Some(SmtpSecurity::Plain))
        );
        assert_eq!(
            with(&[
                ("EMAIL_SEND_SERVER_PORT", "1025"),
                ("EMAIL_SEND_SECURITY", "tls")
            ]),
            Ok(Some(SmtpSecurity::Tls))
        );
        assert_eq!(
            with(&[("EMAIL_SEND_SECURITY", "ssl")]).unwrap_err().var,
            "EMAIL_SEND_SECURITY"
        );
    }

    #[test]
    fn local_server_settings_have_defaults_and_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let with = |extra: &[(&str, &str)]| {
            let mut v = vars(&[("CRAT_DATA_DIR", d)]);
            v.extend(vars(extra));
            Config::from_vars(Host::Embedded, &v)
        };
        let defaults = with(&[]).unwrap();
        assert_eq!(defaults.bind, "0.0.0.0");
        assert_eq!(defaults.time_scale, 1.0);
        assert_eq!(defaults.web_dir, None);
        let set = with(&[
            ("CRAT_BIND", "127.0.0.1"),
            ("CRAT_TIME_SCALE", "0.05"),
            ("CRAT_WEB_DIR", "/srv/site"),
        ])
        .unwrap();
        assert_eq!(
            (set.bind.as_str(), set.time_scale, set.web_dir),
            ("127.0.0.1", 0.05, Some(PathBuf::from("/srv/site")))
        );
        assert_eq!(with(&[("CRAT_BIND", "::1")]).unwrap().bind, "::1");
        assert_eq!(
            with(&[("CRAT_BIND", "localhost")]).unwrap().bind,
            "localhost"
        );
        for bad in ["0", "1.5", "-0.1", "fast", "NaN"] {
            let e = with(&[("CRAT_TIME_SCALE", bad)]).unwrap_err();
            assert_eq!(e.var, "CRAT_TIME_SCALE", "{bad}");
        }
        for bad in ["127.0.0.1:8000", "a b", "host/path"] {
            let e = with(&[("CRAT_BIND", bad)]).unwrap_err();
            assert_eq!(e.var, "CRAT_BIND", "{bad}");
        }
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let e = Config::from_vars(
            Host::Embedded,
            &vars(&[("PORT", "eighty"), ("CRAT_DATA_DIR", "/nonexistent")]),
        )
        .unwrap_err();
        assert_eq!(e.var, "PORT");
    }
}
