//! Learner identity from a bearer token: `auth::Verifier::verify` on arbitrary strings,
//! and the learner id rule it enforces on the token's subject.
//!
//! Verification must never panic; a token it accepts names a valid learner id and is
//! a three-part JWS; `valid_learner_id` matches its written rule.

#![no_main]

use std::sync::OnceLock;

use frontend_gateway::auth::Verifier;
use frontend_gateway::config::AuthConfig;
use frontend_gateway::error::ApiError;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

/// The secret the seed tokens in `corpus/bearer_token` are signed with.
const SECRET: &str = "fuzz-secret-not-used-anywhere-else";

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        Verifier::new(&AuthConfig {
            jwt_secret: SecretString::from(SECRET),
            issuer: "learnflow-dev".into(),
            audience: "learnflow-api".into(),
            max_token_lifetime_secs: 86400,
        })
        .expect("a verifier")
    })
}

/// 1–128 characters of `A-Z a-z 0-9 . _ -`, not only dots (the rule as documented).
fn rule(id: &str) -> bool {
    (1..=128).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && id.chars().any(|c| c != '.')
}

fuzz_target!(|input: &[u8]| {
    let Ok(token) = std::str::from_utf8(input) else {
        return;
    };
    assert_eq!(lf_events::valid_learner_id(token), rule(token), "{token:?}");
    match verifier().verify(token) {
        Ok(learner) => {
            assert!(
                lf_events::valid_learner_id(&learner.0),
                "accepted subject {:?}",
                learner.0
            );
            assert_eq!(token.split('.').count(), 3, "accepted {token:?}");
        }
        Err(ApiError::Unauthenticated(why)) => assert!(!why.is_empty()),
        Err(other) => panic!("a token refusal other than 401: {other:?}"),
    }
});
