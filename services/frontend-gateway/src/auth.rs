//! Learner identity from a bearer token (JWT, HS256).
//!
//! [`authenticate`] verifies signature, expiry, not-before, issuer and audience, refuses
//! tokens that live longer than `[auth] max_token_lifetime_secs`, checks that the subject
//! is a valid learner id, and puts the [`Learner`] into the request's extensions; anything
//! else is a 401 with a JSON error. [`Verifier::new`] refuses secrets shorter than
//! [`MIN_SECRET_BYTES`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::error::ApiError;

/// The claims LearnFlow tokens carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The learner id.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not valid before (seconds since the epoch), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at (seconds since the epoch), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

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

/// The shortest HS256 secret accepted: 256 bits, the hash's size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

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

/// Verifies tokens.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    max_lifetime_secs: u64,
}

impl Verifier {
    /// A verifier for `config`, or why its secret cannot be used.
    pub fn new(config: &AuthConfig) -> Result<Self, SecretError> {
        let secret = check_secret(config)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            key: DecodingKey::from_secret(secret),
            validation,
            max_lifetime_secs: config.max_token_lifetime_secs,
        })
    }

    /// The learner a token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Learner, ApiError> {
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ApiError::Unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".into(),
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
                ErrorKind::InvalidSignature => "the token's signature is not valid".into(),
                ErrorKind::InvalidAudience => "the token is not for this API (audience)".into(),
                ErrorKind::InvalidIssuer => "the token's issuer is not trusted".into(),
                ErrorKind::InvalidAlgorithm => "the token must be signed with HS256".into(),
                _ => "the bearer token is malformed".into(),
            })
        })?;
        // A stolen long-lived token stays useful for long: refuse any that would live
        // longer than the cap from now, or from when it says it was issued.
        let now = jsonwebtoken::get_current_timestamp();
        let lifetime_from = data.claims.iat.unwrap_or(now).min(now);
        if data.claims.exp.saturating_sub(lifetime_from) > self.max_lifetime_secs + LEEWAY_SECS {
            return Err(ApiError::Unauthenticated(format!(
                "the token lives longer than the {} s this API accepts",
                self.max_lifetime_secs
            )));
        }
        if !lf_events::valid_learner_id(&data.claims.sub) {
            return Err(ApiError::Unauthenticated(
                "the token's subject is not a valid learner id".into(),
            ));
        }
        Ok(Learner(data.claims.sub))
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
