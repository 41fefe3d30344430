//! Learner identity from a bearer token (JWT, HS256).
//!
//! [`authenticate`] verifies signature, expiry, issuer and audience, checks that
//! the subject is a valid learner id, and puts the [`Learner`] into the request's
//! extensions; anything else is a 401 with a JSON error.

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

/// Verifies tokens.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// A verifier for `config`; `None` if no secret is configured.
    pub fn new(config: &AuthConfig) -> Option<Self> {
        let secret = config.jwt_secret.expose_secret();
        if secret.is_empty() {
            return None;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Some(Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        })
    }

    /// The learner a token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Learner, ApiError> {
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ApiError::Unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".into(),
                ErrorKind::InvalidSignature => "the token's signature is not valid".into(),
                ErrorKind::InvalidAudience => "the token is not for this API (audience)".into(),
                ErrorKind::InvalidIssuer => "the token's issuer is not trusted".into(),
                ErrorKind::InvalidAlgorithm => "the token must be signed with HS256".into(),
                _ => "the bearer token is malformed".into(),
            })
        })?;
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
