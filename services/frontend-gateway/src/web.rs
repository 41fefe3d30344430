//! The learner web page: `GET /` and its stylesheet, script and icon under `/static/`.
//!
//! The files live in `static/` and are embedded in the binary, so the page needs no
//! build step and no file system at run time. Every response carries a strict
//! Content-Security-Policy (same-origin scripts, styles and fetches only; no inline
//! script; no framing; forms may not navigate, so a pasted token never lands in a URL),
//! `nosniff`, and `Cache-Control: no-cache` with a content-hash `ETag`: the paths are
//! stable, so browsers revalidate and get a 304 until the binary changes.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: u64,
}

impl Asset {
    const fn new(body: &'static [u8], content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            etag: fnv1a(body),
        }
    }
}

/// FNV-1a over the file, at compile time: a cheap, stable validator for `ETag`.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

static INDEX: Asset = Asset::new(
    include_bytes!("../static/index.html"),
    "text/html; charset=utf-8",
);
static CSS: Asset = Asset::new(
    include_bytes!("../static/app.css"),
    "text/css; charset=utf-8",
);
static JS: Asset = Asset::new(
    include_bytes!("../static/app.js"),
    "text/javascript; charset=utf-8",
);
static ICON: Asset = Asset::new(include_bytes!("../static/favicon.svg"), "image/svg+xml");

/// `GET /` and the page's assets.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { serve(&INDEX, &h) }))
        .route(
            "/static/app.css",
            get(|h: HeaderMap| async move { serve(&CSS, &h) }),
        )
        .route(
            "/static/app.js",
            get(|h: HeaderMap| async move { serve(&JS, &h) }),
        )
        .route(
            "/static/favicon.svg",
            get(|h: HeaderMap| async move { serve(&ICON, &h) }),
        )
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_runs_no_inline_script() {
        let html = std::str::from_utf8(INDEX.body).unwrap_or_default();
        assert!(html.contains(r#"<script src="/static/app.js" defer></script>"#));
        // Every <script> has a same-origin src; no inline handlers or styles.
        assert_eq!(html.matches("<script").count(), 1);
        for banned in [
            "http://",
            "https://",
            " onclick=",
            " onload=",
            " style=",
            "<style",
        ] {
            assert!(!html.contains(banned), "index.html contains {banned:?}");
        }
        let css = std::str::from_utf8(CSS.body).unwrap_or_default();
        assert!(
            !css.contains("url("),
            "the stylesheet loads no fonts or images"
        );
        assert!(!css.contains("@import"));
        let js = std::str::from_utf8(JS.body).unwrap_or_default();
        assert!(!js.contains("innerHTML"), "server text is inserted as text");
        assert!(!js.contains("eval("));
    }

    #[test]
    fn etags_differ_by_content() {
        assert_ne!(INDEX.etag, CSS.etag);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
