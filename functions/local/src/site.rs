//! The web site on the API's origin: the one built into the binary (`web/dist` when it was
//! compiled, see build.rs), or a built site on disk (`CRAT_WEB_DIR`, for working on the
//! site). Files as they are; any other non-API path gets `index.html` (the single-page app
//! routes itself); unknown `/api/...` paths keep their JSON 404. Every answer carries the
//! same Content-Security-Policy, `nosniff` and caching headers, whichever the source.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use include_dir::{Dir, include_dir};
use shared::ApiError;
use tower_http::services::{ServeDir, ServeFile};

/// The site as it was when the binary was built (empty when it was not built then).
static BUILT_IN: Dir<'static> = include_dir!("$CRAT_SITE_DIR");

/// Where the site's files come from.
#[derive(Debug, Clone)]
pub enum Site {
    /// Inside the binary.
    Embedded(&'static Dir<'static>),
    /// A built site in a folder (`CRAT_WEB_DIR`).
    Disk(PathBuf),
}

impl Site {
    /// `CRAT_WEB_DIR` when set, else the site inside the binary.
    pub fn from_config(web_dir: Option<&Path>) -> Self {
        match web_dir {
            Some(dir) => Self::Disk(dir.to_path_buf()),
            None => Self::Embedded(&BUILT_IN),
        }
    }

    /// Whether the binary was built with a site inside (`make web` before the build).
    pub fn built_in_present() -> bool {
        BUILT_IN.get_file("index.html").is_some()
    }
}

/// The handler for every path no API route claims.
pub fn handler(
    site: Site,
) -> impl Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let site = Arc::new(site);
    move |req: Request| {
        let site = site.clone();
        Box::pin(async move { serve(&site, req).await })
    }
}

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>CRAT</title>\
<h1>CRAT</h1><p>The API is running under <code>/api/v1</code>, but the web site is not built.</p>\
<p>Build it with <code>make web</code> and build CRAT again (it is then inside the binary), \
or set <code>CRAT_WEB_DIR</code> to a built site, and reload.</p>";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// A path that names a file (`/assets/x.js`) is that file or a 404; any other path is an
/// app route and gets index.html.
fn names_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

fn not_built(path: &str) -> Response {
    let status = if path == "/" {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, Html(NOT_BUILT)).into_response()
}

async fn serve(site: &Site, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
            .into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let mut resp = match site {
        Site::Embedded(dir) => from_memory(dir, &path, req.method() == Method::HEAD),
        Site::Disk(dir) => match from_disk(dir, req).await {
            Ok(resp) => resp,
            Err(resp) => return resp,
        },
    };
    let immutable = path.starts_with("/assets/") && resp.status() == StatusCode::OK;
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

/// A file of the site inside the binary (no file system access at all).
fn from_memory(dir: &'static Dir<'static>, path: &str, head: bool) -> Response {
    let Some(index) = dir.get_file("index.html") else {
        return not_built(path);
    };
    let relative = path.trim_start_matches('/');
    let file = if names_file(path) {
        match dir.get_file(relative) {
            Some(file) => file,
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    } else {
        index
    };
    let content_type = mime_guess::from_path(file.path())
        .first_raw()
        .unwrap_or("application/octet-stream");
    let body = if head {
        Body::empty()
    } else {
        Body::from(file.contents())
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(file.contents().len()),
    );
    resp
}

/// A file of a built site in a folder; `Err` is an answer to send as it is.
async fn from_disk(dir: &Path, req: Request) -> Result<Response, Response> {
    let path = req.uri().path().to_owned();
    let index = dir.join("index.html");
    if !tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file()) {
        return Err(not_built(&path));
    }
    let served = if names_file(&path) {
        ServeDir::new(dir).try_call(req).await
    } else {
        ServeDir::new(dir)
            .fallback(ServeFile::new(index))
            .try_call(req)
            .await
    };
    match served {
        Ok(resp) => Ok(resp.map(Body::new)),
        Err(e) => Err(ApiError::Internal(format!("serving the site: {e}")).into_response()),
    }
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
        router(Site::Disk(dir.to_path_buf()))
    }

    fn router(site: Site) -> Router {
        let h = handler(site);
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

    static FIXTURE: include_dir::Dir<'static> =
        include_dir::include_dir!("$CARGO_MANIFEST_DIR/tests/fixtures/site");

    #[tokio::test]
    async fn the_site_inside_the_binary_is_served_like_the_one_on_disk() {
        let app = router(Site::Embedded(&FIXTURE));
        let (s, ct, body) = call(&app, "GET", "/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body.ends_with("EMBEDDED INDEX"), "{body}");
        assert!(
            call(&app, "GET", "/runs/5")
                .await
                .2
                .ends_with("EMBEDDED INDEX")
        );
        let (s, ct, body) = call(&app, "GET", "/assets/app-1.js").await;
        assert_eq!(
            (s, body.as_str()),
            (StatusCode::OK, r#"console.log("embedded")"#)
        );
        assert!(ct.contains("javascript"), "{ct}");
        let (s, _, body) = call(&app, "HEAD", "/assets/app-1.js").await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, ""));
        assert_eq!(
            call(&app, "GET", "/assets/gone.js").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "GET", "/../Cargo.toml").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "GET", "/api/v1/nope").await.1,
            "application/json"
        );
        assert_eq!(
            call(&app, "PUT", "/").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let req = Request::builder()
            .uri("/assets/app-1.js")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let h = resp.headers();
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let req = Request::builder().uri("/").body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
    }

    #[tokio::test]
    async fn a_binary_built_without_the_site_says_how_to_build_it() {
        static EMPTY: include_dir::Dir<'static> = include_dir::Dir::new("", &[]);
        let app = router(Site::Embedded(&EMPTY));
        let (s, _, body) = call(&app, "GET", "/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("make web"), "{body}");
        assert_eq!(call(&app, "GET", "/tests").await.0, StatusCode::NOT_FOUND);
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
