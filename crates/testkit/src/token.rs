//! Learner bearer tokens for dev stacks and tests, signed as the gateway expects.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header, encode};
use serde::Serialize;

/// Issuer the gateway trusts by default.
pub const ISSUER: &str = "learnflow-dev";
/// Audience the gateway expects by default.
pub const AUDIENCE: &str = "learnflow-api";

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iss: &'a str,
    aud: &'a str,
}

/// An HS256 token for `learner`, valid for `ttl_secs` (negative: already expired).
pub fn mint(secret: &str, learner: &str, ttl_secs: i64) -> String {
    mint_with(secret, learner, ttl_secs, ISSUER, AUDIENCE)
}

/// Like [`mint`], with explicit issuer and audience (for testing their checks).
pub fn mint_with(secret: &str, learner: &str, ttl_secs: i64, iss: &str, aud: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let exp = now.saturating_add_signed(ttl_secs);
    let claims = Claims {
        sub: learner,
        exp,
        iss,
        aud,
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}
