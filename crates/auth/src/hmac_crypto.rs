//! The only cryptography LearnFlow tokens need: HMAC-SHA-2 (HS256, and HS384/HS512 so the
//! tests can forge tokens the verifier must refuse), as a `jsonwebtoken` crypto provider
//! built on the `hmac` and `sha2` crates.
//!
//! `jsonwebtoken`'s bundled backends bring every JWS algorithm (RSA, ECDSA, EdDSA) and
//! their dependencies; a verifier that accepts HS256 only has no use for them.

use std::sync::Once;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result, new_error};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::{Sha256, Sha384, Sha512};

/// One keyed MAC for one algorithm.
enum Keyed {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
}

/// Signs and verifies with one HMAC key.
struct HmacKey {
    algorithm: Algorithm,
    mac: Keyed,
}

impl HmacKey {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        let invalid = |_| new_error(ErrorKind::InvalidKeyFormat);
        let mac = match algorithm {
            Algorithm::HS256 => Keyed::Hs256(Hmac::new_from_slice(secret).map_err(invalid)?),
            Algorithm::HS384 => Keyed::Hs384(Hmac::new_from_slice(secret).map_err(invalid)?),
            Algorithm::HS512 => Keyed::Hs512(Hmac::new_from_slice(secret).map_err(invalid)?),
            _ => return Err(new_error(ErrorKind::InvalidAlgorithm)),
        };
        Ok(Self { algorithm, mac })
    }
}

impl Signer<Vec<u8>> for HmacKey {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(match &self.mac {
            Keyed::Hs256(mac) => mac
                .clone()
                .chain_update(message)
                .finalize()
                .into_bytes()
                .to_vec(),
            Keyed::Hs384(mac) => mac
                .clone()
                .chain_update(message)
                .finalize()
                .into_bytes()
                .to_vec(),
            Keyed::Hs512(mac) => mac
                .clone()
                .chain_update(message)
                .finalize()
                .into_bytes()
                .to_vec(),
        })
    }
}

impl Verifier<Vec<u8>> for HmacKey {
    /// Constant-time comparison (`verify_slice`).
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        match &self.mac {
            Keyed::Hs256(mac) => mac.clone().chain_update(message).verify_slice(tag),
            Keyed::Hs384(mac) => mac.clone().chain_update(message).verify_slice(tag),
            Keyed::Hs512(mac) => mac.clone().chain_update(message).verify_slice(tag),
        }
        .map_err(signature::Error::from_source)
    }
}

impl JwtSigner for HmacKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl JwtVerifier for HmacKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |algorithm, key: &EncodingKey| {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        Ok(Box::new(HmacKey::new(*algorithm, key.as_bytes())?))
    },
    verifier_factory: |algorithm, key: &DecodingKey| {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        Ok(Box::new(HmacKey::new(*algorithm, key.try_get_as_bytes()?)?))
    },
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes the HMAC provider `jsonwebtoken`'s for this process (once; later calls do
/// nothing). [`crate::Minter`] and [`crate::Verifier`] call it; code that uses
/// `jsonwebtoken` directly (tests forging tokens) must call it first.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Err only when another provider was installed first: then that one serves.
        let _ = PROVIDER.install_default();
    });
}
