//! Learner identity from a bearer token (JWT, HS256).
//!
//! [`authenticate`] verifies signature, expiry, not-before, issuer and audience, refuses
//! tokens that live longer than `[auth] max_token_lifetime_secs`, checks that the subject
//! is a valid learner id, and puts the [`Learner`] into the request's extensions; anything
//! else is a 401 with a JSON error. [`Verifier::new`] refuses secrets shorter than
//! [`MIN_SECRET_BYTES`]. The claims and the token checks themselves live in `lf-auth`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::config::AuthConfig;
use crate::error::ApiError;

pub use lf_auth::MIN_SECRET_BYTES;

/// The authenticated learner of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learner(pub String);

impl Learner {
    /// The learner id [`authenticate`] put on `request` ("" before authentication).
    pub fn id_of(request: &axum::extract::Request) -> String {
        request
            .extensions()
            .get::<Self>()
            .map(|l| l.0.clone())
            .unwrap_or_default()
    }
}

/// Why no verifier can be made from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret is configured.
    #[error("no learner-token secret: set LEARNFLOW_AUTH__JWT_SECRET (or [auth] jwt_secret)")]
    Missing,
    /// The secret is too short to resist guessing.
    #[error(
        "the learner-token secret (LEARNFLOW_AUTH__JWT_SECRET) has {0} bytes; at least {MIN_SECRET_BYTES} are required (e.g. `openssl rand -hex 32`)"
    )]
    TooShort(usize),
}

/// Checks the configured secret: present and at least [`MIN_SECRET_BYTES`] long.
pub fn check_secret(config: &AuthConfig) -> Result<&[u8], SecretError> {
    let secret = config.jwt_secret.expose_secret().as_bytes();
    match secret.len() {
        0 => Err(SecretError::Missing),
        n if n < MIN_SECRET_BYTES => Err(SecretError::TooShort(n)),
        _ => Ok(secret),
    }
}

/// Verifies tokens ([`lf_auth::Verifier`]) and that their subject is a learner id.
pub struct Verifier(lf_auth::Verifier);

impl Verifier {
    /// A verifier for `config`, or why its secret cannot be used.
    pub fn new(config: &AuthConfig) -> Result<Self, SecretError> {
        let secret = check_secret(config)?;
        Ok(Self(lf_auth::Verifier::new(
            secret,
            &config.issuer,
            &config.audience,
            config.max_token_lifetime_secs,
        )))
    }

    /// The learner a token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Learner, ApiError> {
        let claims = self
            .0
            .verify(token)
            .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
        if !lf_events::valid_learner_id(&claims.sub) {
            return Err(ApiError::Unauthenticated(
                "the token's subject is not a valid learner id".into(),
            ));
        }
        Ok(Learner(claims.sub))
    }
}

/// Middleware: requires a valid bearer token on every route it wraps.
pub async fn authenticate(
    State(verifier): State<Arc<Verifier>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let Some(token) = token else {
        return ApiError::Unauthenticated("send `Authorization: Bearer <token>`".into())
            .into_response();
    };
    match verifier.verify(token.trim()) {
        Ok(learner) => {
            request.extensions_mut().insert(learner);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Learner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Learner>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated("no authenticated learner".into()))
    }
}
