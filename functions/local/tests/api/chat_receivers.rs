//! Local stand-ins for the chat platforms (issue 15): one axum server per platform on
//! 127.0.0.1 that checks what the real platform checks (signature and its time window
//! against an injected clock, content type, body shape, byte limits) and answers as the
//! platform does, including its errors inside a 200. Every accepted message is recorded.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::clock::Clock;
use shared::domain::ChannelKind;

/// The credential each fake platform expects in its URL.
const TOKEN: &str = "tok123";

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub body: Value,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    /// The decoded query (DingTalk's timestamp and sign are here).
    pub query: HashMap<String, String>,
}

struct State {
    kind: ChannelKind,
    secret: Option<String>,
    clock: Arc<dyn Clock>,
    accepted: Mutex<Vec<Accepted>>,
    attempts: AtomicUsize,
    /// Answers to give before answering normally, first first.
    scripted: Mutex<Vec<(u16, String)>>,
}

pub struct Receiver {
    base: String,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// A receiver for `kind`, signing with `secret` when given, its time from `clock`.
    pub async fn start(kind: ChannelKind, secret: Option<&str>, clock: Arc<dyn Clock>) -> Self {
        let state = Arc::new(State {
            kind,
            secret: secret.map(str::to_owned),
            clock,
            accepted: Mutex::new(Vec::new()),
            attempts: AtomicUsize::new(0),
            scripted: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move { answer(&s, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            state,
            server,
        }
    }

    /// The webhook URL a channel of this kind would be given (with its token).
    pub fn url(&self) -> String {
        let b = &self.base;
        match self.state.kind {
            ChannelKind::Feishu => format!("{b}/open-apis/bot/v2/hook/{TOKEN}"),
            ChannelKind::Dingtalk => format!("{b}/robot/send?access_token={TOKEN}"),
            ChannelKind::Wecom => format!("{b}/cgi-bin/webhook/send?key={TOKEN}"),
            ChannelKind::Slack => format!("{b}/services/T000/B000/{TOKEN}"),
            ChannelKind::Teams => {
                format!("{b}/workflows/w1/triggers/manual/paths/invoke?api-version=1&sig={TOKEN}")
            }
            ChannelKind::Webhook => format!("{b}/hook"),
        }
    }

    /// The bodies of the accepted messages, in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.accepted_full().into_iter().map(|a| a.body).collect()
    }

    pub fn accepted_full(&self) -> Vec<Accepted> {
        self.state.accepted.lock().unwrap().clone()
    }

    /// Every request received, refused and failed ones included.
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// The next `n` requests get a 500, then it answers normally.
    pub fn fail_next(&self, n: usize) {
        for _ in 0..n {
            self.answer_next(500, "internal error");
        }
    }

    /// The next request gets this answer (queued after any already scripted).
    pub fn answer_next(&self, status: u16, body: &str) {
        self.state
            .scripted
            .lock()
            .unwrap()
            .push((status, body.to_owned()));
    }
}

/// RFC 2104 HMAC-SHA256 with sha2 alone: the receiver checks signatures without sharing
/// code with the sender.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn json_answer(status: u16, v: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn text_answer(status: u16, body: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), body.to_owned()).into_response()
}

fn answer(s: &State, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.attempts.fetch_add(1, Ordering::SeqCst);
    {
        let mut scripted = s.scripted.lock().unwrap();
        if !scripted.is_empty() {
            let (status, body) = scripted.remove(0);
            return text_answer(status, &body);
        }
    }
    let query: HashMap<String, String> = reqwest::Url::parse(&format!("http://h{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let json_type = headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let now = s.clock.now();
    let verdict = if method != Method::POST {
        Refuse(text_answer(405, "method not allowed"))
    } else {
        match s.kind {
            ChannelKind::Feishu => feishu(s, uri.path(), json_type, &body, parsed.as_ref(), now),
            ChannelKind::Dingtalk => dingtalk(s, &query, json_type, parsed.as_ref(), now),
            ChannelKind::Wecom => wecom(&query, json_type, parsed.as_ref()),
            ChannelKind::Slack => slack(uri.path(), json_type, parsed.as_ref()),
            ChannelKind::Teams => teams(&query, json_type, &body, parsed.as_ref()),
            ChannelKind::Webhook => webhook(s, &headers, json_type, &body, parsed.as_ref()),
        }
    };
    match verdict {
        Verdict::Accept(ok) => {
            s.accepted.lock().unwrap().push(Accepted {
                body: parsed.unwrap_or(Value::Null),
                headers,
                query,
            });
            ok
        }
        Verdict::Refuse(refusal) => refusal,
    }
}

enum Verdict {
    Accept(Response),
    Refuse(Response),
}
use Verdict::{Accept, Refuse};

fn within_an_hour(then: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (now - then).num_seconds().abs() <= 3600
}

fn feishu(
    s: &State,
    path: &str,
    json_type: bool,
    raw: &[u8],
    body: Option<&Value>,
    now: DateTime<Utc>,
) -> Verdict {
    let refuse = |code: i64, msg: &str| Refuse(json_answer(200, json!({"code": code, "msg": msg})));
    if path != format!("/open-apis/bot/v2/hook/{TOKEN}") {
        return refuse(
            19001,
            "param invalid: incoming webhook access token invalid",
        );
    }
    let Some(b) = body.filter(|_| json_type) else {
        return Refuse(json_answer(
            400,
            json!({"code": 9499, "msg": "Bad Request"}),
        ));
    };
    if raw.len() > 20 * 1024 {
        return refuse(19002, "params error, request body exceeds 20 KB");
    }
    let msg_type = b["msg_type"].as_str();
    let shaped = match msg_type {
        Some("interactive") => b["card"].is_object(),
        Some("text") => b["content"]["text"].is_string(),
        _ => false,
    };
    if !shaped {
        return refuse(19002, "params error, msg_type need");
    }
    if let Some(secret) = &s.secret {
        let good = b["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| DateTime::from_timestamp(*t, 0).is_some_and(|t| within_an_hour(t, now)))
            .is_some_and(|t| {
                let want = STANDARD.encode(hmac_sha256(format!("{t}\n{secret}").as_bytes(), b""));
                b["sign"].as_str() == Some(want.as_str())
            });
        if !good {
            return refuse(
                19021,
                "sign match fail or timestamp is not within one hour from current time",
            );
        }
    }
    Accept(json_answer(
        200,
        json!({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}),
    ))
}

fn dingtalk(
    s: &State,
    query: &HashMap<String, String>,
    json_type: bool,
    body: Option<&Value>,
    now: DateTime<Utc>,
) -> Verdict {
    let refuse =
        |code: i64, msg: &str| Refuse(json_answer(200, json!({"errcode": code, "errmsg": msg})));
    if query.get("access_token").map(String::as_str) != Some(TOKEN) {
        return refuse(300001, "token is not exist");
    }
    if let Some(secret) = &s.secret {
        let Some(ts) = query.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
            return refuse(310000, "invalid timestamp");
        };
        if !DateTime::from_timestamp_millis(ts).is_some_and(|t| within_an_hour(t, now)) {
            return refuse(310000, "invalid timestamp");
        }
        let want = STANDARD.encode(hmac_sha256(
            secret.as_bytes(),
            format!("{ts}\n{secret}").as_bytes(),
        ));
        if query.get("sign") != Some(&want) {
            return refuse(310000, "sign not match");
        }
    }
    let Some(b) = body.filter(|_| json_type) else {
        return refuse(43004, "无效的HTTP HEADER Content-Type");
    };
    match b["msgtype"].as_str() {
        Some("markdown") => {
            let (Some(_), Some(text)) = (
                b["markdown"]["title"].as_str(),
                b["markdown"]["text"].as_str(),
            ) else {
                return refuse(40035, "缺少参数 markdown.title or markdown.text");
            };
            if text.len() > 20_000 {
                return refuse(460101, "message too long, exceed 20000 bytes");
            }
        }
        Some("text") if b["text"]["content"].is_string() => {}
        _ => return refuse(40035, "缺少参数 msgtype"),
    }
    Accept(json_answer(200, json!({"errcode": 0, "errmsg": "ok"})))
}

fn wecom(query: &HashMap<String, String>, json_type: bool, body: Option<&Value>) -> Verdict {
    let refuse =
        |code: i64, msg: &str| Refuse(json_answer(200, json!({"errcode": code, "errmsg": msg})));
    if query.get("key").map(String::as_str) != Some(TOKEN) {
        return refuse(93000, "invalid webhook url, please check");
    }
    let Some(b) = body.filter(|_| json_type) else {
        return refuse(40016, "invalid button size, the request is not json");
    };
    match b["msgtype"].as_str() {
        Some("markdown") => match b["markdown"]["content"].as_str() {
            None | Some("") => return refuse(44004, "markdown.content is empty"),
            Some(c) if c.len() > 4096 => {
                return refuse(40058, "markdown.content exceed max length 4096");
            }
            Some(_) => {}
        },
        Some("text") if b["text"]["content"].is_string() => {}
        _ => return refuse(40008, "invalid message type"),
    }
    Accept(json_answer(200, json!({"errcode": 0, "errmsg": "ok"})))
}

fn slack(path: &str, json_type: bool, body: Option<&Value>) -> Verdict {
    if path != format!("/services/T000/B000/{TOKEN}") {
        return Refuse(text_answer(404, "no_service"));
    }
    let Some(b) = body.filter(|_| json_type) else {
        return Refuse(text_answer(400, "invalid_payload"));
    };
    let has_text = b["text"].as_str().is_some_and(|t| !t.is_empty());
    let blocks = b["blocks"].as_array();
    if !has_text && blocks.is_none_or(Vec::is_empty) {
        return Refuse(text_answer(400, "no_text"));
    }
    if let Some(blocks) = blocks {
        if blocks.len() > 50 {
            return Refuse(text_answer(400, "invalid_blocks"));
        }
        for block in blocks {
            let text = block["text"]["text"].as_str();
            let ok = match block["type"].as_str() {
                Some("header") => {
                    block["text"]["type"] == "plain_text"
                        && text.is_some_and(|t| t.chars().count() <= 150)
                }
                Some("section") => text.is_some_and(|t| t.chars().count() <= 3000),
                Some("divider" | "context" | "actions") => true,
                _ => false,
            };
            if !ok {
                return Refuse(text_answer(400, "invalid_blocks"));
            }
        }
    }
    Accept(text_answer(200, "ok"))
}

fn teams(
    query: &HashMap<String, String>,
    json_type: bool,
    raw: &[u8],
    body: Option<&Value>,
) -> Verdict {
    let refuse = |status: u16, code: &str, msg: &str| {
        Refuse(json_answer(
            status,
            json!({"error": {"code": code, "message": msg}}),
        ))
    };
    if query.get("sig").map(String::as_str) != Some(TOKEN) {
        return refuse(
            401,
            "DirectApiAuthorizationRequired",
            "The request must be authenticated",
        );
    }
    let Some(b) = body.filter(|_| json_type) else {
        return refuse(
            400,
            "InvalidRequestContent",
            "The request content is not valid JSON",
        );
    };
    if raw.len() > 28 * 1024 {
        return refuse(
            413,
            "MessageSizeExceeded",
            "The message is larger than 28 KB",
        );
    }
    let card = &b["attachments"][0];
    let shaped = b["type"] == "message"
        && card["contentType"] == "application/vnd.microsoft.card.adaptive"
        && card["content"]["type"] == "AdaptiveCard"
        && card["content"]["body"].is_array()
        && card["content"]["version"].is_string();
    if !shaped {
        return refuse(
            400,
            "InvalidRequestContent",
            "attachments[0] is not an Adaptive Card",
        );
    }
    Accept(text_answer(202, ""))
}

fn webhook(
    s: &State,
    headers: &HashMap<String, String>,
    json_type: bool,
    raw: &[u8],
    body: Option<&Value>,
) -> Verdict {
    if !json_type || body.is_none() {
        return Refuse(text_answer(415, "expected application/json"));
    }
    if let Some(secret) = &s.secret {
        let want = format!(
            "sha256={}",
            hex::encode(hmac_sha256(secret.as_bytes(), raw))
        );
        if headers.get("x-crat-signature") != Some(&want) {
            return Refuse(text_answer(401, "bad signature"));
        }
    }
    Accept(text_answer(204, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::chat::{ChatFacts, ChatRequest, read_answer, run_message, test_message};
    use shared::clock::ManualClock;
    use shared::domain::run::{RunOutcome, Summary};
    use shared::domain::{ChannelSecret, MailLanguage};

    fn facts(failures: Vec<(String, Option<String>)>, total: u64) -> ChatFacts {
        ChatFacts {
            project: "CRAT".into(),
            test_item: "cds".into(),
            job_name: "J".into(),
            build_number: 12,
            run_id: 34,
            outcome: RunOutcome::TestsFailed,
            summary: Some(Summary {
                passed: 19,
                failed: 1,
                broken: 0,
                skipped: 0,
                unknown: 0,
                total: 20,
                duration_ms: Some(1000),
            }),
            new_failures: failures,
            new_failures_total: total,
            duration: Some(std::time::Duration::from_secs(125)),
            failed_step: None,
            error: None,
            report_link: Some("http://reports.example/34/".into()),
            run_link: Some("http://crat.example/runs/34".into()),
        }
    }

    async fn post(req: &ChatRequest) -> (u16, Vec<u8>) {
        let mut r = reqwest::Client::new().post(req.url.clone());
        for (k, v) in &req.headers {
            r = r.header(*k, v);
        }
        let answer = r.body(req.body.clone()).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.bytes().await.unwrap().to_vec())
    }

    fn start_time() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
            .unwrap()
            .to_utc()
    }

    #[tokio::test]
    async fn each_receiver_accepts_the_builders_messages_and_refuses_bad_signs() {
        let clock = Arc::new(ManualClock::new(start_time()));
        let run_json = json!({"id": 34, "status": "COMPLETED", "outcome": "tests_failed"});
        let f = facts(vec![("login fails".into(), Some("expected 200".into()))], 3);
        for kind in ChannelKind::ALL {
            let secret = kind
                .takes_secret()
                .then(|| ChannelSecret::from_stored("SEC+s/ecret=".into()));
            let rx =
                Receiver::start(kind, secret.as_ref().map(|s| s.expose()), clock.clone()).await;
            let url = reqwest::Url::parse(&rx.url()).unwrap();
            let message = |secret: Option<&ChannelSecret>, now: DateTime<Utc>| {
                run_message(
                    kind,
                    &url,
                    secret,
                    MailLanguage::English,
                    &f,
                    &run_json,
                    now,
                )
            };

            let (status, body) = post(&message(secret.as_ref(), clock.now())).await;
            let said = read_answer(kind, status, &body);
            assert!(said.is_ok(), "{kind}: {status} {said:?}");
            assert_eq!(rx.accepted().len(), 1, "{kind}");
            let text = rx.accepted()[0].to_string();
            if kind == ChannelKind::Webhook {
                assert_eq!(rx.accepted()[0], run_json);
            } else {
                assert!(
                    text.contains("login fails") && text.contains("and 2 more"),
                    "{kind}: {text}"
                );
            }
            if kind == ChannelKind::Teams {
                assert_eq!(status, 202);
            }

            let (status, body) = post(&test_message(
                kind,
                &url,
                secret.as_ref(),
                MailLanguage::SimplifiedChinese,
                "CRAT",
                clock.now(),
            ))
            .await;
            assert!(
                read_answer(kind, status, &body).is_ok(),
                "{kind} test message: {status}"
            );
            assert_eq!(rx.accepted().len(), 2, "{kind}");

            if let Some(secret) = &secret {
                let wrong = ChannelSecret::from_stored("not the secret".into());
                let (status, body) = post(&message(Some(&wrong), clock.now())).await;
                let refusal = read_answer(kind, status, &body).unwrap_err();
                assert!(!refusal.transient, "{kind}");
                assert!(!refusal.message.contains("not the secret"));
                let expected = match kind {
                    ChannelKind::Feishu => "code 19021: sign match fail",
                    ChannelKind::Dingtalk => "errcode 310000: sign not match",
                    _ => "bad signature",
                };
                assert!(
                    refusal.message.contains(expected),
                    "{kind}: {}",
                    refusal.message
                );

                if kind != ChannelKind::Webhook {
                    let two_hours_ago = clock.now() - chrono::TimeDelta::hours(2);
                    let (status, body) = post(&message(Some(secret), two_hours_ago)).await;
                    let refusal = read_answer(kind, status, &body).unwrap_err();
                    assert!(
                        refusal.message.contains(match kind {
                            ChannelKind::Feishu => "19021",
                            _ => "310000",
                        }),
                        "{kind}: {}",
                        refusal.message
                    );
                    // 59 minutes off is still inside the window.
                    let (status, body) = post(&message(
                        Some(secret),
                        clock.now() + chrono::TimeDelta::minutes(59),
                    ))
                    .await;
                    assert!(read_answer(kind, status, &body).is_ok(), "{kind}");
                }
                // No signature at all is refused too.
                let (status, body) = post(&message(None, clock.now())).await;
                assert!(read_answer(kind, status, &body).is_err(), "{kind}");
            }

            // A failing platform is transient, and the next attempt goes through.
            rx.fail_next(1);
            let before = rx.attempts();
            let (status, body) = post(&message(secret.as_ref(), clock.now())).await;
            assert!(
                read_answer(kind, status, &body).unwrap_err().transient,
                "{kind}"
            );
            let (status, body) = post(&message(secret.as_ref(), clock.now())).await;
            assert!(read_answer(kind, status, &body).is_ok(), "{kind}");
            assert_eq!(rx.attempts(), before + 2);
        }
    }

    #[tokio::test]
    async fn receivers_refuse_what_the_platforms_refuse() {
        let clock = Arc::new(ManualClock::new(start_time()));
        let slack = Receiver::start(ChannelKind::Slack, None, clock.clone()).await;
        let bad = ChatRequest {
            url: reqwest::Url::parse(&slack.url()).unwrap(),
            headers: vec![("content-type", "application/json".into())],
            body: b"not json".to_vec(),
        };
        let (status, body) = post(&bad).await;
        let refusal = read_answer(ChannelKind::Slack, status, &body).unwrap_err();
        assert_eq!(status, 400);
        assert!(
            refusal.message.contains("invalid_payload"),
            "{}",
            refusal.message
        );
        assert!(slack.accepted().is_empty());

        let wecom = Receiver::start(ChannelKind::Wecom, None, clock.clone()).await;
        let too_long = ChatRequest {
            url: reqwest::Url::parse(&wecom.url()).unwrap(),
            headers: vec![("content-type", "application/json".into())],
            body: json!({"msgtype": "markdown", "markdown": {"content": "测".repeat(1366)}})
                .to_string()
                .into_bytes(),
        };
        let (status, body) = post(&too_long).await;
        let refusal = read_answer(ChannelKind::Wecom, status, &body).unwrap_err();
        assert!(
            refusal.message.contains("40058") && refusal.message.contains("exceed max length 4096")
        );

        // A huge CJK failure list is cut to fit, and accepted.
        let failures: Vec<_> = (0..10)
            .map(|i| {
                (
                    format!("{i}号{}", "中文测试用例名称".repeat(60)),
                    Some("断言失败".repeat(50)),
                )
            })
            .collect();
        let f = facts(failures, 812);
        let url = reqwest::Url::parse(&wecom.url()).unwrap();
        let req = run_message(
            ChannelKind::Wecom,
            &url,
            None,
            MailLanguage::SimplifiedChinese,
            &f,
            &json!({}),
            clock.now(),
        );
        let (status, body) = post(&req).await;
        assert!(
            read_answer(ChannelKind::Wecom, status, &body).is_ok(),
            "{}",
            String::from_utf8_lossy(&body)
        );
        let content = wecom.accepted()[0]["markdown"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(content.len() <= 4096, "{}", content.len());
        assert!(content.contains("另有"), "{content}");

        // A chosen answer, e.g. the platform's rate limit.
        let ding = Receiver::start(ChannelKind::Dingtalk, None, clock.clone()).await;
        ding.answer_next(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#);
        let url = reqwest::Url::parse(&ding.url()).unwrap();
        let req = run_message(
            ChannelKind::Dingtalk,
            &url,
            None,
            MailLanguage::English,
            &facts(vec![], 0),
            &json!({}),
            clock.now(),
        );
        let (status, body) = post(&req).await;
        let refusal = read_answer(ChannelKind::Dingtalk, status, &body).unwrap_err();
        assert!(refusal.transient && refusal.message.contains("send too fast"));
    }
}
