//! API Gateway HTTP API (payload format 2.0) events for the functions, and their v2
//! responses.

use super::*;
use serde_json::{Value, json};

pub(super) const API_ID: &str = "a1b2c3d4e5";

/// An HTTP API v2.0 event as API Gateway sends it to a `$default` route.
pub(super) fn http_event(
    method: &str,
    path_and_query: &str,
    extra_headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let domain = format!("{API_ID}.execute-api.us-east-1.amazonaws.com");
    let user_agent = "crat-lambda-host-test/1.0";
    let body = body.map(Value::to_string);
    let mut headers = serde_json::Map::new();
    for (k, v) in [
        ("accept", "*/*"),
        ("host", domain.as_str()),
        ("user-agent", user_agent),
        (
            "x-amzn-trace-id",
            "Root=1-67890abc-0123456789abcdef01234567",
        ),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
    ] {
        headers.insert(k.to_owned(), json!(v));
    }
    if let Some(b) = &body {
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("content-length".into(), json!(b.len().to_string()));
    }
    for (k, v) in extra_headers {
        headers.insert(k.to_ascii_lowercase(), json!(v));
    }
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": user_agent,
            },
            "requestId": format!("{}=", &uuid::Uuid::new_v4().simple().to_string()[..14]),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        // API Gateway sends the parsed form too (lambda_http uses rawQueryString).
        let mut params = serde_json::Map::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(k.to_owned(), json!(v));
        }
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(b) = body {
        event["body"] = json!(b);
    }
    event
}

/// A parsed v2 response: `{statusCode, headers, body, isBase64Encoded}`.
pub(super) struct HttpResponse {
    pub(super) status: u16,
    pub(super) headers: serde_json::Map<String, Value>,
    pub(super) body: Vec<u8>,
    pub(super) raw: String,
}

impl HttpResponse {
    pub(super) fn parse(raw: &[u8]) -> Result<Self, String> {
        let raw = String::from_utf8_lossy(raw).into_owned();
        let v: Value = serde_json::from_str(&raw).map_err(|e| format!("not JSON: {e}"))?;
        let status = v["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("no integer statusCode")?;
        let headers = match &v["headers"] {
            Value::Object(h) => h.clone(),
            Value::Null => serde_json::Map::new(),
            other => return Err(format!("headers is not an object: {other}")),
        };
        let text = match &v["body"] {
            Value::String(s) => s.as_str(),
            Value::Null => "",
            other => return Err(format!("body is not a string: {other}")),
        };
        let body = if v["isBase64Encoded"].as_bool().unwrap_or(false) {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("bad base64 body: {e}"))?
        } else {
            text.as_bytes().to_vec()
        };
        Ok(Self {
            status,
            headers,
            body,
            raw,
        })
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {} raw response {}", self.status, self.raw)
    }
}

pub(super) fn assert_json_content_type(resp: &HttpResponse) {
    let ct = resp.headers.get("content-type").and_then(Value::as_str);
    assert!(
        ct.is_some_and(|c| c.starts_with("application/json")),
        "JSON content type: {resp}"
    );
}
