//! Learner bearer tokens (JWT, HS256), defined once for everything that signs or checks them.
//!
//! Parts: [`Claims`] (what a token carries), [`Minter`] and the [`mint`]/[`mint_with`]
//! shorthands (signing: the gateway's dev route, the load generator, test harnesses),
//! [`Verifier`] (signature, expiry, not-before, issuer, audience and a lifetime cap) with
//! [`TokenError`] saying why a token is refused, and [`hmac_crypto`], the HMAC-only
//! cryptography behind them. What a valid subject is belongs to the API (the gateway checks
//! it); this crate only reads it.

pub mod hmac_crypto;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// The issuer the gateway trusts by default (`[auth] issuer`).
pub const ISSUER: &str = "learnflow-dev";
/// The audience the gateway expects by default (`[auth] audience`).
pub const AUDIENCE: &str = "learnflow-api";
/// The shortest HS256 secret worth accepting: 256 bits, the hash's size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;
/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

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

/// Why a token is refused (the messages are the API's 401 texts).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// Signed with another key.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// `aud` is not this API.
    #[error("the token is not for this API (audience)")]
    WrongAudience,
    /// `iss` is not trusted.
    #[error("the token's issuer is not trusted")]
    WrongIssuer,
    /// Not HS256.
    #[error("the token must be signed with HS256")]
    WrongAlgorithm,
    /// Not a JWS with the required claims.
    #[error("the bearer token is malformed")]
    Malformed,
    /// Would stay valid for longer than the cap.
    #[error("the token lives longer than the {max_secs} s this API accepts")]
    TooLongLived {
        /// The cap, in seconds.
        max_secs: u64,
    },
    /// Signing failed (a key the library refuses).
    #[error("signing a token")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs tokens for one issuer and audience.
#[derive(Clone)]
pub struct Minter {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl Minter {
    /// A minter signing with `secret` (HS256).
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        hmac_crypto::install();
        Self {
            key: EncodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// A token for `learner`, issued now, valid for `ttl_secs` (negative: already expired).
    pub fn mint(&self, learner: &str, ttl_secs: i64) -> Result<String, TokenError> {
        let now = now_secs();
        let claims = Claims {
            sub: learner.to_owned(),
            exp: now.saturating_add_signed(ttl_secs),
            nbf: None,
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.key).map_err(TokenError::Signing)
    }
}

/// A token for `learner` with the default issuer and audience (dev stacks, load, tests).
/// Empty if signing fails, which an HMAC key cannot make it do.
pub fn mint(secret: &str, learner: &str, ttl_secs: i64) -> String {
    mint_with(secret, learner, ttl_secs, ISSUER, AUDIENCE)
}

/// Like [`mint`], with explicit issuer and audience (for testing their checks).
pub fn mint_with(secret: &str, learner: &str, ttl_secs: i64, iss: &str, aud: &str) -> String {
    Minter::new(secret.as_bytes(), iss, aud)
        .mint(learner, ttl_secs)
        .unwrap_or_default()
}

/// Verifies tokens: HS256 signature, `exp`, `nbf`, issuer, audience, and a lifetime cap.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    max_lifetime_secs: u64,
}

impl Verifier {
    /// A verifier of tokens signed with `secret` by `issuer` for `audience`, refusing any
    /// that would live longer than `max_lifetime_secs`.
    pub fn new(secret: &[u8], issuer: &str, audience: &str, max_lifetime_secs: u64) -> Self {
        hmac_crypto::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
            max_lifetime_secs,
        }
    }

    /// The claims of a valid token, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed,
            })?;
        // A stolen long-lived token stays useful for long: refuse any that would live
        // longer than the cap from now, or from when it says it was issued.
        let now = now_secs();
        let lifetime_from = data.claims.iat.unwrap_or(now).min(now);
        if data.claims.exp.saturating_sub(lifetime_from) > self.max_lifetime_secs + LEEWAY_SECS {
            return Err(TokenError::TooLongLived {
                max_secs: self.max_lifetime_secs,
            });
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "unit-test-secret-of-at-least-32-bytes!";

    fn verifier() -> Verifier {
        Verifier::new(SECRET.as_bytes(), ISSUER, AUDIENCE, 86_400)
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let claims = verifier()
            .verify(&mint(SECRET, "learner-a", 600))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims.sub, "learner-a");
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            (ISSUER, AUDIENCE)
        );
        assert!(claims.iat.is_some());
    }

    #[test]
    fn each_refusal_says_why() {
        let v = verifier();
        let refused = |token: String| v.verify(&token).err().map(|e| e.to_string());
        assert_eq!(
            refused(mint(SECRET, "a", -600)).as_deref(),
            Some("the token has expired")
        );
        assert_eq!(
            refused(mint("another-secret-entirely-32-bytes-long", "a", 600)).as_deref(),
            Some("the token's signature is not valid")
        );
        assert_eq!(
            refused(mint_with(SECRET, "a", 600, ISSUER, "other")).as_deref(),
            Some("the token is not for this API (audience)")
        );
        assert_eq!(
            refused(mint_with(SECRET, "a", 600, "other", AUDIENCE)).as_deref(),
            Some("the token's issuer is not trusted")
        );
        assert_eq!(
            refused(mint(SECRET, "a", 2 * 86_400)).as_deref(),
            Some("the token lives longer than the 86400 s this API accepts")
        );
        assert_eq!(
            refused("not.a.token".into()).as_deref(),
            Some("the bearer token is malformed")
        );
        // Signed with the right secret by another HMAC: the provider signs it, the
        // verifier refuses it for its algorithm.
        let claims = Claims {
            sub: "a".into(),
            exp: now_secs() + 600,
            nbf: None,
            iat: None,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            refused(hs512).as_deref(),
            Some("the token must be signed with HS256")
        );
        // A flipped bit in the signature.
        let token = mint(SECRET, "a", 600);
        let (head, signature) = token.rsplit_once('.').unwrap_or_else(|| panic!("{token}"));
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        assert_eq!(
            refused(format!("{head}.{flipped}{}", &signature[1..])).as_deref(),
            Some("the token's signature is not valid")
        );
    }
}
