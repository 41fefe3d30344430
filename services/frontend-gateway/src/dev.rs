//! Dev mode only: `POST /dev/token {"learner": "..."}` mints a learner token.
//!
//! It lets the learner page (and a person trying the native stack) sign in without a
//! separate identity provider. Anyone who can reach it can act as any learner, so the
//! route exists only when `[dev] enabled = true`; the default is off, and the native
//! stack harness turns it on. The token is signed with the configured secret and
//! carries the configured issuer and audience, exactly what [`crate::auth`] verifies.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, extract::State};
use lf_auth::Minter;
use lf_http::error::FieldError;
use lf_http::json::ApiJson;
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::error::ApiError;

/// How long a dev token lasts: a working day.
pub const DEV_TOKEN_TTL_SECS: u64 = 8 * 3600;

/// `POST /dev/token` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// The learner id to sign in as.
    pub learner: String,
}

/// `POST /dev/token` answer.
#[derive(Debug, Serialize)]
pub struct DevToken {
    /// The bearer token.
    pub token: String,
    /// Its subject.
    pub learner: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// The dev routes, or why the secret cannot be used.
pub fn routes(config: &AuthConfig) -> Result<Router, crate::auth::SecretError> {
    let secret = crate::auth::check_secret(config)?;
    let minter = Minter::new(secret, &config.issuer, &config.audience);
    Ok(Router::new()
        .route("/dev/token", post(mint))
        .with_state(minter))
}

async fn mint(
    State(minter): State<Minter>,
    ApiJson(request): ApiJson<DevTokenRequest>,
) -> Result<Response, ApiError> {
    if !lf_events::valid_learner_id(&request.learner) {
        return Err(ApiError::Validation(vec![FieldError {
            field: "learner".into(),
            message: lf_events::LEARNER_ID_RULE.into(),
        }]));
    }
    let ttl = i64::try_from(DEV_TOKEN_TTL_SECS).unwrap_or(i64::MAX);
    let token = minter
        .mint(&request.learner, ttl)
        .map_err(|e| ApiError::internal("signing a dev token", e))?;
    let mut response = Json(DevToken {
        token,
        learner: request.learner,
        expires_in: DEV_TOKEN_TTL_SECS,
    })
    .into_response();
    // A credential: never cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
