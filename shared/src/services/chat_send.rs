//! Sending one chat message: POST the platform's request, read its answer (an error inside
//! a 200 is a failure), retry what is transient with backoff. The request is built again
//! for every attempt, so a signature's timestamp is always fresh (DingTalk and Feishu
//! refuse one older than an hour).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::chat::{ChatRefusal, ChatRequest, read_answer};
use crate::deps::Deps;
use crate::domain::ChannelKind;
use crate::tasks::excerpt;

/// The attempts one message gets (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// The wait before the first retry; doubled for the next.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest `Retry-After` honoured (a longer one ends the retries).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(20);
/// The longest wait for a platform's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How a message's delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub attempts: u32,
    /// What the platform said (accepted), or why it was not delivered.
    pub outcome: Result<String, String>,
    /// The HTTP status of the last answer, if one came.
    pub status: Option<u16>,
}

/// Sends the message `build(now)` makes, up to [`MAX_ATTEMPTS`] times while the failure is
/// transient. Waits scale with `CRAT_TIME_SCALE` (tests run them fast).
pub async fn send(
    deps: &Deps,
    kind: ChannelKind,
    build: impl Fn(DateTime<Utc>) -> ChatRequest,
) -> SendResult {
    let scale = deps.config.time_scale;
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, answer, retry_after) = post(deps, kind, build(deps.clock.now())).await;
        let refusal = match answer {
            Ok(said) => {
                return SendResult {
                    attempts,
                    outcome: Ok(said),
                    status,
                };
            }
            Err(r) => r,
        };
        let wait = retry_after.unwrap_or(backoff);
        if !refusal.transient || attempts >= MAX_ATTEMPTS || wait > MAX_RETRY_AFTER {
            return SendResult {
                attempts,
                outcome: Err(refusal.message),
                status,
            };
        }
        tracing::info!(attempts, channel_kind = %kind, error = %refusal.message, "chat message not delivered yet; retrying");
        tokio::time::sleep(wait.mul_f64(scale)).await;
        backoff *= 2;
    }
}

/// One POST: the answer's status, how the platform's words read, and its `Retry-After`.
async fn post(
    deps: &Deps,
    kind: ChannelKind,
    request: ChatRequest,
) -> (Option<u16>, Result<String, ChatRefusal>, Option<Duration>) {
    let mut call = deps
        .http
        .post(request.url.clone())
        .timeout(REQUEST_TIMEOUT)
        .body(request.body);
    for (name, value) in &request.headers {
        call = call.header(*name, value);
    }
    let response = match call.send().await {
        Ok(r) => r,
        // The URL carries the platform's token: only the kind of failure is kept.
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "could not connect to the platform".to_owned()
            } else {
                "the request failed before an answer came".to_owned()
            };
            return (
                None,
                Err(ChatRefusal {
                    transient: true,
                    message: why,
                }),
                None,
            );
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_bounded(response).await;
    let answer = read_answer(kind, status, &body).map(|said: String| excerpt(&said));
    (Some(status), answer, retry_after)
}

/// At most [`MAX_ANSWER_BYTES`] of the body (a platform's answer is a few bytes; anything
/// else is not read to the end).
async fn read_bounded(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    body
}
