//! The static web site (`web/dist`, built by `make web`) on the API's origin: files as they
//! are, any other non-API path gets `index.html` (the single-page app routes itself).
//! Unknown `/api/...` paths keep their JSON 404.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use shared::ApiError;
use tower_http::services::{ServeDir, ServeFile};

/// The handler for every path no API route claims.
pub fn handler(
    dir: PathBuf,
) -> impl Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let dir = std::sync::Arc::new(dir);
    move |req: Request| {
        let dir = dir.clone();
        Box::pin(async move { serve(&dir, req).await })
    }
}

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>CRAT</title>\
<h1>CRAT</h1><p>The API is running under <code>/api/v1</code>, but the web site is not built.</p>\
<p>Build it with <code>make web</code> (or set <code>CRAT_WEB_DIR</code> to a built site) and reload.</p>";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

async fn serve(dir: &Path, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
            .into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let index = dir.join("index.html");
    if !tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file()) {
        let status = if path == "/" {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        return (status, Html(NOT_BUILT)).into_response();
    }
    // A path that names a file (`/assets/x.js`) is that file or a 404; any other path is
    // an app route and gets index.html.
    let names_file = path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    let immutable = path.starts_with("/assets/");
    let served = if names_file {
        ServeDir::new(dir).try_call(req).await
    } else {
        ServeDir::new(dir)
            .fallback(ServeFile::new(index))
            .try_call(req)
            .await
    };
    let mut resp = match served {
        Ok(resp) => resp.map(axum::body::Body::new),
        Err(e) => return ApiError::Internal(format!("serving the site: {e}")).into_response(),
    };
    let immutable = immutable && resp.status() == StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::any;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn site(dir: &Path) -> Router {
        let h = handler(dir.to_path_buf());
        Router::new()
            .route("/", any(h.clone()))
            .route("/{*path}", any(h))
    }

    async fn call(app: &Router, method: &str, path: &str) -> (StatusCode, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ctype, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn files_spa_fallback_and_api_404() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html>INDEX").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/app-1.js"), "console.log(1)").unwrap();
        let app = site(dir.path());

        let (s, ct, body) = call(&app, "GET", "/").await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "<!doctype html>INDEX"));
        assert!(ct.starts_with("text/html"));
        // An app route without a hash still gets the app.
        assert_eq!(call(&app, "GET", "/runs/5").await.2, "<!doctype html>INDEX");
        let (s, ct, body) = call(&app, "GET", "/assets/app-1.js").await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "console.log(1)"));
        assert!(ct.contains("javascript"));
        // A missing file is a 404, not the app.
        assert_eq!(
            call(&app, "GET", "/assets/gone.js").await.0,
            StatusCode::NOT_FOUND
        );
        // Unknown API paths keep the JSON error, whatever the method.
        for (method, path) in [
            ("GET", "/api/v1/nope"),
            ("POST", "/api/v1/nope"),
            ("GET", "/api"),
        ] {
            let (s, ct, body) = call(&app, method, path).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(ct, "application/json");
            assert!(body.contains(r#""code":"not_found""#), "{body}");
        }
        assert_eq!(
            call(&app, "POST", "/runs/5").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        // No escaping the folder.
        assert_ne!(call(&app, "GET", "/../Cargo.toml").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn without_a_built_site_the_root_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = site(&dir.path().join("missing"));
        let (s, ct, body) = call(&app, "GET", "/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(ct.starts_with("text/html"));
        assert!(body.contains("make web"), "{body}");
        assert_eq!(call(&app, "GET", "/tests").await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, "GET", "/api/v1/x").await.1, "application/json");
    }
}
