//! `lf_http::json::ApiJson` on arbitrary bodies and content types, for every request
//! body of the public and internal APIs.
//!
//! Input: one selector byte (body type, content type), then the body. A body is
//! either accepted — a JSON object under a JSON content type, whose value survives
//! a serde round trip — or refused with a 4xx JSON error that has a code.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use lf_events::api::{
    CompletionRequest, CreateLessonRequest, GenerateLessonRequest, RecordCompletion,
};
use lf_http::json::ApiJson;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/merge-patch+json"),
    Some("text/plain"),
    None,
    Some("APPLICATION/JSON"),
    Some("application/jsonx"),
    Some(""),
];

/// The body is in memory, so extraction never waits: poll it to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn check<T: DeserializeOwned + Serialize + std::fmt::Debug>(
    content_type: Option<&str>,
    body: &[u8],
) {
    let mut request = Request::post("/");
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let request = request.body(Body::from(body.to_vec())).expect("a request");
    match ready(ApiJson::<T>::from_request(request, &())) {
        Ok(ApiJson(value)) => {
            let essence = content_type
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            assert!(
                essence == "application/json" || essence.ends_with("+json"),
                "accepted content type {content_type:?}"
            );
            assert_eq!(
                body.iter().find(|b| !b.is_ascii_whitespace()),
                Some(&b'{'),
                "accepted a body that is not a JSON object"
            );
            let json = serde_json::to_value(&value).expect("serialises");
            let again: T = serde_json::from_value(json.clone()).expect("round-trips");
            assert_eq!(serde_json::to_value(&again).expect("serialises"), json);
        }
        Err(refusal) => {
            assert!(
                refusal.status.is_client_error(),
                "refused with {}",
                refusal.status
            );
            assert!(!refusal.error.code.is_empty(), "a refusal without a code");
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector >> 2) % CONTENT_TYPES.len()];
    match selector % 4 {
        0 => check::<CreateLessonRequest>(content_type, body),
        1 => check::<CompletionRequest>(content_type, body),
        2 => check::<GenerateLessonRequest>(content_type, body),
        _ => check::<RecordCompletion>(content_type, body),
    }
});
