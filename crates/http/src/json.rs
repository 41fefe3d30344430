//! `ApiJson<T>`: like `axum::Json`, but a bad body is answered with a JSON error.
//!
//! Missing or wrong content type → 415; oversize → 413; not JSON → 400;
//! valid JSON of the wrong shape (not an object, missing field, wrong type,
//! unknown field) → 422 with the field named in `details`. Every LearnFlow request
//! body is a JSON object, so an array is refused even where serde would accept one.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{ErrorResponse, FieldError};

/// A JSON request body of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ErrorResponse;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_content = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
        if !json_content {
            return Err(reject(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ErrorResponse::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is too large",
                ));
            }
            Err(_) => {
                return Err(ErrorResponse::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the request body could not be read",
                ));
            }
        };
        let value = axum::Json::<T>::from_bytes(&bytes).map_err(reject)?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ErrorResponse::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request body must be a JSON object",
            )
            .with_details(vec![FieldError {
                field: "body".into(),
                message: "expected a JSON object".into(),
            }]));
        }
        Ok(Self(value.0))
    }
}

fn reject(rejection: JsonRejection) -> ErrorResponse {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ErrorResponse::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::JsonDataError(e) => {
            let body_text = e.body_text();
            let detail = body_text
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                .to_owned();
            // The message starts with the field's path ("score: invalid type …") or names it
            // in backticks ("missing field `score`", "unknown field `x`").
            let field = match detail.split_once(": ") {
                Some((path, _)) if !path.contains(' ') && path != "." => path.to_owned(),
                _ => detail
                    .split('`')
                    .nth(1)
                    .map(str::to_owned)
                    .unwrap_or_else(|| "body".to_owned()),
            };
            ErrorResponse::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request body does not have the expected fields and types",
            )
            .with_details(vec![FieldError {
                field,
                message: detail,
            }])
        }
        JsonRejection::JsonSyntaxError(_) => ErrorResponse::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the request body is not valid JSON",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ErrorResponse::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            )
        }
        other => ErrorResponse::new(
            other.status(),
            "bad_request",
            "the request body could not be read",
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, header};
    use axum::routing::post;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body1 {
        score: f64,
    }

    async fn call(
        body: &'static str,
        content_type: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/", post(|ApiJson(_b): ApiJson<Body1>| async { "ok" }));
        let mut req = HttpRequest::post("/");
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let res = app
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn each_kind_of_bad_body_gets_its_status_and_a_json_error() {
        let json = Some("application/json");
        let (s, b) = call("{\"score\": 0.5", json).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
        let (s, b) = call("{\"score\": \"high\"}", json).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(b["error"]["details"][0]["field"], "score", "{b}");
        let (s, b) = call("{}", json).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(b["error"]["details"][0]["field"], "score");
        let (s, b) = call("{\"score\": 1, \"extra\": 1}", json).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(b["error"]["details"][0]["field"], "extra");
        let (s, _) = call("{\"score\": 1}", None).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (s, b) = call("[1]", json).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
        );
        let (s, _) = call("{\"score\": 1}", json).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(
            "{\"score\": 1}",
            Some("application/merge-patch+json; charset=utf-8"),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
}
