//! `bench-noop`: the peer `make bench` measures CRAT against, in the same run. The same HTTP
//! stack as CRAT (tokio, axum over http1, serde_json) doing the JSON work of a request and
//! nothing else: no storage, no auth, no middleware. Ratios to it say how much of the
//! machine's HTTP ceiling CRAT's own work leaves.
//!
//! - `POST /webhook-like`: a Jenkins webhook body in, a build record out (201).
//! - `GET /page`: a page of 20 build records shaped like CRAT's `GET /api/v1/builds` answer,
//!   serialised on every request as CRAT does.
//!
//! Usage: `bench-noop --bind 127.0.0.1:PORT` (prints `listening on ADDR` once bound).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The webhook body CRAT accepts (README, Jenkins setup).
#[allow(non_snake_case)]
#[derive(Deserialize)]
struct WebhookBody {
    BUILD_USER: Option<String>,
    JOB_NAME: String,
    PACKAGE_PATH: String,
    BUILD_NUMBER: String,
}

/// A build as CRAT answers it (`shared::domain::Build`'s JSON).
#[derive(Serialize, Clone)]
struct BuildRecord {
    id: i64,
    job_name: String,
    build_number: i64,
    build_user: Option<String>,
    package_path: String,
    created_at: String,
}

#[derive(Serialize)]
struct Page {
    items: Vec<BuildRecord>,
    next_cursor: Option<String>,
}

struct Noop {
    next_id: AtomicI64,
    page: Page,
}

const CREATED_AT: &str = "2026-01-02T03:04:05.678901Z";

fn synthesised_page() -> Page {
    let items = (0..20)
        .map(|i| BuildRecord {
            id: 100_000 - i,
            job_name: "BENCH_J07".to_owned(),
            build_number: 2_000 - i,
            build_user: Some("JenkinsUser".to_owned()),
            package_path: format!(
                "CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7/{i}"
            ),
            created_at: CREATED_AT.to_owned(),
        })
        .collect();
    // CRAT's cursor is the base64 of the last id: the same length here.
    Page {
        items,
        next_cursor: Some("OTk5ODE".to_owned()),
    }
}

async fn webhook_like(
    State(noop): State<Arc<Noop>>,
    Json(body): Json<WebhookBody>,
) -> (StatusCode, Json<BuildRecord>) {
    let build_number = body.BUILD_NUMBER.trim().parse().unwrap_or(0);
    let record = BuildRecord {
        id: noop.next_id.fetch_add(1, Ordering::Relaxed),
        job_name: body.JOB_NAME,
        build_number,
        build_user: body.BUILD_USER,
        package_path: body.PACKAGE_PATH,
        created_at: CREATED_AT.to_owned(),
    };
    (StatusCode::CREATED, Json(record))
}

async fn page(State(noop): State<Arc<Noop>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    // Serialised per request (not cached bytes): CRAT serialises its page on every request.
    match serde_json::to_vec(&noop.page) {
        Ok(body) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn bind_arg(mut args: impl Iterator<Item = String>) -> Result<String, String> {
    match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--bind"), Some(addr), None) => Ok(addr),
        _ => Err("usage: bench-noop --bind 127.0.0.1:PORT".to_owned()),
    }
}

fn app() -> Router {
    let noop = Arc::new(Noop {
        next_id: AtomicI64::new(1),
        page: synthesised_page(),
    });
    Router::new()
        .route("/webhook-like", post(webhook_like))
        .route("/page", get(page))
        .with_state(noop)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = bind_arg(std::env::args().skip(1))?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("--bind {addr}: {e}"))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn bind_takes_exactly_one_address() {
        assert_eq!(
            bind_arg(args(&["--bind", "127.0.0.1:0"])),
            Ok("127.0.0.1:0".to_owned())
        );
        assert!(bind_arg(args(&[])).is_err());
        assert!(bind_arg(args(&["--bind"])).is_err());
        assert!(bind_arg(args(&["--port", "1"])).is_err());
        assert!(bind_arg(args(&["--bind", "127.0.0.1:0", "x"])).is_err());
    }

    #[test]
    fn the_page_has_twenty_builds_shaped_like_crats_answer() {
        let page = serde_json::to_value(synthesised_page()).unwrap();
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 20);
        let mut keys: Vec<_> = items[0].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "build_number",
                "build_user",
                "created_at",
                "id",
                "job_name",
                "package_path"
            ]
        );
        assert!(page["next_cursor"].is_string());
    }

    #[tokio::test]
    async fn the_webhook_like_route_answers_the_build_it_was_sent() {
        let noop = Arc::new(Noop {
            next_id: AtomicI64::new(7),
            page: synthesised_page(),
        });
        let body: WebhookBody = serde_json::from_str(
            r#"{"BUILD_USER":"u","JOB_NAME":"J","PACKAGE_PATH":"CDN/p/el7","BUILD_NUMBER":"101"}"#,
        )
        .unwrap();
        let (status, Json(record)) = webhook_like(State(noop), Json(body)).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!((record.id, record.build_number), (7, 101));
        assert_eq!(record.job_name, "J");
    }
}
