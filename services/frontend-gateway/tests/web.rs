//! The learner page and the dev-mode token endpoint, over HTTP on a free port with a
//! fake sidecar standing in for user-progress.

mod common;

use lf_dapr::fake::FakeSidecar;
use lf_dapr::{DaprError, InvokeResponse};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const SECRET: &str = "web-test-secret-web-test-secret-web";

/// Starts a gateway with `extra_env` and returns its base URL.
async fn spawn(extra_env: &[(&str, &str)]) -> String {
    let sidecar = FakeSidecar::new();
    sidecar.on_invoke(|app, method, _| match (app, method) {
        ("user-progress", m) if m.starts_with("internal/progress/") => {
            let learner = m.trim_start_matches("internal/progress/");
            Ok(InvokeResponse::json(
                200,
                &json!({"learner_id": learner, "lessons_received": 0,
                    "lessons_completed": 0, "topics": []}),
            ))
        }
        _ => Err(DaprError::Unreachable("unexpected call".into())),
    });
    common::spawn_gateway(sidecar, SECRET, extra_env).await
}

async fn get(base: &str, path: &str) -> (u16, HeaderMap, String) {
    let r = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

async fn post_json(base: &str, path: &str, body: &str) -> (u16, HeaderMap, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let base = spawn(&[]).await;
    let (status, h, html) = get(&base, "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let csp = header(&h, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    assert!(
        !csp.contains("unsafe"),
        "no unsafe-inline or unsafe-eval: {csp}"
    );
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "cache-control"), "no-cache");
    assert!(html.contains("<main"), "an HTML page");
    assert!(html.contains("id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\""));

    // Every asset the page names is served with its own type and the same policy.
    let expected = [
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ];
    for (path, content_type) in expected {
        assert!(
            html.contains(&format!("\"{path}\"")),
            "the page links {path}"
        );
        let (status, h, body) = get(&base, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&h, "content-type"), content_type, "{path}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&h, "content-security-policy"), csp, "{path}");
        assert!(!body.is_empty(), "{path}");
    }

    // Revalidation: the same ETag gets a 304 without a body; another gets the page.
    let etag = header(&h, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag:?}");
    let client = reqwest::Client::new();
    let again = client
        .get(format!("{base}/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status().as_u16(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
    let stale = client
        .get(format!("{base}/"))
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status().as_u16(), 200);

    // An unknown asset is the API's JSON 404, not the page.
    let (status, _, body) = get(&base, "/static/nothing.js").await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"), "{body}");
}

#[tokio::test]
async fn the_course_list_the_page_offers_comes_from_the_api_document() {
    let base = spawn(&[]).await;
    let (status, _, doc) = get(&base, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    let courses =
        doc["components"]["schemas"]["CreateLessonRequest"]["properties"]["course"]["enum"]
            .as_array()
            .cloned()
            .unwrap_or_default();
    assert!(
        courses.iter().any(|c| c == "arithmetic"),
        "the document lists the courses: {courses:?}"
    );
}

#[tokio::test]
async fn dev_tokens_do_not_exist_unless_dev_mode_is_on() {
    let base = spawn(&[]).await;
    let (status, _, body) = post_json(&base, "/dev/token", r#"{"learner":"learner-a"}"#).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn dev_mode_mints_tokens_the_api_accepts() {
    let base = spawn(&[("LEARNFLOW_DEV__ENABLED", "true")]).await;
    let (status, h, body) = post_json(&base, "/dev/token", r#"{"learner":"learner-a.1"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cache-control"), "no-store");
    assert_eq!(body["learner"], "learner-a.1");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0));
    let token = body["token"].as_str().expect("a token");
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/progress"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let progress: Value = r.json().await.expect("json");
    assert_eq!(
        progress["learner_id"], "learner-a.1",
        "the token names the learner"
    );
}

#[tokio::test]
async fn dev_mode_refuses_bad_learner_ids_with_4xx_json() {
    let base = spawn(&[("LEARNFLOW_DEV__ENABLED", "true")]).await;
    let long = format!(r#"{{"learner":"{}"}}"#, "x".repeat(129));
    let cases: [(&str, u16, &str); 9] = [
        (r#"{"learner":""}"#, 422, "validation_failed"),
        (r#"{"learner":"../etc/passwd"}"#, 422, "validation_failed"),
        (r#"{"learner":"a b"}"#, 422, "validation_failed"),
        (r#"{"learner":"ünï"}"#, 422, "validation_failed"),
        (&long, 422, "validation_failed"),
        (r#"{"learner":7}"#, 422, "validation_failed"),
        (r#"{"learner":"a","admin":true}"#, 422, "validation_failed"),
        ("{}", 422, "validation_failed"),
        (r#"{"learner": "#, 400, "malformed_json"),
    ];
    for (body, status, code) in cases {
        let (s, _, answer) = post_json(&base, "/dev/token", body).await;
        assert_eq!(
            (s, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{}: {answer}",
            &body[..body.len().min(40)]
        );
        assert!(answer.get("token").is_none(), "no token for {body}");
    }
    let (_, _, answer) = post_json(&base, "/dev/token", r#"{"learner":"a/b"}"#).await;
    assert_eq!(answer["error"]["details"][0]["field"], "learner");
    let r = reqwest::Client::new()
        .post(format!("{base}/dev/token"))
        .body(r#"{"learner":"a"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 415, "only JSON bodies");
}
