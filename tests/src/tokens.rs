//! Learner tokens that are wrong in every way a token can be, for the security matrix
//! (native stack) and the cluster suite's token checks through the gateway Service:
//! [`forged`] lists them by name; each must be answered 401.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Every forged or broken token for `learner`, by name; `secret` is the gateway's.
pub fn forged(secret: &str, learner: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "token signed with another secret",
            lf_auth::mint("not-the-gateway-secret", learner, 3600),
        ),
        ("expired token", lf_auth::mint(secret, learner, -3600)),
        (
            "token for another audience",
            lf_auth::mint_with(secret, learner, 3600, lf_auth::ISSUER, "another-api"),
        ),
        (
            "token from another issuer",
            lf_auth::mint_with(secret, learner, 3600, "evil-issuer", lf_auth::AUDIENCE),
        ),
        ("unsigned token (alg none)", alg_none_token(learner)),
        (
            "token signed with HS512 instead of HS256",
            signed_token(
                secret,
                Algorithm::HS512,
                &json!({"sub": learner, "exp": now() + 3600, "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE}),
            ),
        ),
        (
            "token without exp",
            signed_token(
                secret,
                Algorithm::HS256,
                &json!({"sub": learner, "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE}),
            ),
        ),
        (
            "token whose subject is not a learner id",
            lf_auth::mint(secret, "../../internal/progress/x", 3600),
        ),
        (
            "token whose subject is only dots",
            lf_auth::mint(secret, "..", 3600),
        ),
        (
            "token not valid yet (nbf in an hour)",
            signed_token(
                secret,
                Algorithm::HS256,
                &json!({"sub": learner, "exp": now() + 7200, "nbf": now() + 3600, "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE}),
            ),
        ),
        (
            "token living 30 days (over the 24 h cap)",
            lf_auth::mint(secret, learner, 30 * 24 * 3600),
        ),
        (
            "token issued 2 days ago, still unexpired (over the 24 h cap)",
            signed_token(
                secret,
                Algorithm::HS256,
                &json!({"sub": learner, "exp": now() + 3600, "iat": now() - 2 * 24 * 3600, "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE}),
            ),
        ),
        ("garbage token", "not.a.jwt".to_owned()),
    ]
}

/// Base64url without padding (JWT segments).
pub fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An unsigned token (`alg: none`) with otherwise valid claims.
pub fn alg_none_token(learner: &str) -> String {
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({"sub": learner, "exp": now() + 3600, "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE});
    format!("{header}.{}.", b64url(claims.to_string().as_bytes()))
}

/// A token signed with the right secret but the wrong algorithm (HS512), or without `exp`.
pub fn signed_token(secret: &str, alg: Algorithm, claims: &Value) -> String {
    lf_auth::hmac_crypto::install();
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_matches_known_values() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
        assert_eq!(
            b64url(br#"{"alg":"none","typ":"JWT"}"#),
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
        );
    }
}
