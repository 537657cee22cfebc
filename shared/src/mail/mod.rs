//! The result mail: the port ([`Mailer`]) with its adapters (SMTP and the outbox folder,
//! in [`transport`] and `outbox`), the Allure summary it reports ([`summary`]), what changed since the previous run ([`changes`]), its pie chart
//! ([`chart`]), the message itself ([`compose`], from the templates in `html` and `text`
//! in the [`words`] of the settings' `mail_language`) and the notify task logic ([`notify`])
//! that the notify Lambda, the sweeper and the local server all run.

pub mod changes;
pub mod chart;
pub mod compose;
mod facts;
mod html;
pub mod notify;
mod outbox;
pub(crate) mod record_cases;
pub mod summary;
pub mod test_cases;
mod text;
pub mod transport;
pub mod words;

use std::sync::Arc;

use crate::config::{Config, Host};

pub use notify::{NotifyOutput, handle};

/// The notify function's input: the ASL's `Notify` state sends the mail, its `Announce`
/// state (`"part": "chat"`) the chat notifications, after it.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct NotifyInput {
    pub run_id: i64,
    #[serde(default)]
    pub part: NotifyPart,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyPart {
    #[default]
    Mail,
    Chat,
}

#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum NotifyResult {
    Mail(NotifyOutput),
    Chat(crate::services::announce::AnnounceOutput),
}

/// The notify function: the mail or the chat part of a run's notifications.
pub async fn handle_part(
    deps: &crate::Deps,
    input: NotifyInput,
) -> Result<NotifyResult, crate::tasks::TaskError> {
    let run = crate::tasks::RunRef {
        run_id: input.run_id,
    };
    match input.part {
        NotifyPart::Mail => handle(deps, run).await.map(NotifyResult::Mail),
        NotifyPart::Chat => crate::services::announce::announce(deps, run)
            .await
            .map(NotifyResult::Chat),
    }
}

/// Both parts, for the paths that end a run outside the state machine (a cancel of a
/// queued run, the sweeper, a force-release): the mail, then the chat notifications.
pub async fn notify_all(deps: &crate::Deps, run: crate::tasks::RunRef) {
    if let Err(e) = handle(deps, crate::tasks::RunRef { run_id: run.run_id }).await {
        tracing::warn!(run_id = run.run_id, error = %e.message, "result mail not sent");
    }
    if let Err(e) = crate::services::announce::announce(deps, run).await {
        tracing::warn!(error = %e.message, "chat notifications not sent");
    }
}
pub use transport::{Delivery, MailError, MailTransport, NotSent};

/// Where result mails go: the one thing about mail that differs between hosts and tests.
#[async_trait::async_trait]
pub trait Mailer: std::fmt::Debug + Send + Sync {
    /// Sends `message` to every recipient of its envelope; the recipients a server
    /// refused are listed in the [`Delivery`] (everyone else got the mail).
    async fn deliver(&self, message: &lettre::Message) -> Result<Delivery, MailError>;
}

#[async_trait::async_trait]
impl Mailer for MailTransport {
    async fn deliver(&self, message: &lettre::Message) -> Result<Delivery, MailError> {
        MailTransport::deliver(self, message).await
    }
}

/// The mailer the configuration asks for: SMTP when `EMAIL_SEND_SERVER` is set, else the
/// outbox folder (`<data>/outbox`) in the embedded mode, else none (Lambda without SMTP).
pub fn mailer_from_config(config: &Config) -> Result<Option<Arc<dyn Mailer>>, String> {
    let transport = match &config.smtp {
        Some(smtp) => {
            let ca = match &config.smtp_ca_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("EMAIL_SEND_CA_FILE {}: {e}", path.display()))?,
                ),
                None => None,
            };
            MailTransport::smtp(smtp, ca.as_deref()).map_err(|e| e.to_string())?
        }
        None if config.host == Host::Embedded => {
            MailTransport::outbox(config.data_dir.join("outbox"))
        }
        None => return Ok(None),
    };
    Ok(Some(Arc::new(transport)))
}
