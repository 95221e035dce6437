//! Credential fingerprints: what the response cache and in-flight sharing
//! file answers under, so that one token's data never reaches another.
//!
//! HMAC-SHA256 keyed with `cache_key_secret` when set (instances sharing a
//! cache must agree on fingerprints), else with 32 random bytes drawn at
//! start: the same credential always gives the same fingerprint under one
//! key, the fingerprint reveals nothing of the token, and without the key
//! nobody can compute one from a guessed token.

use super::credential::Credential;
use ring::hmac;
use ring::rand::SystemRandom;
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not secret, but nothing reads it: keep it out of logs entirely.
        f.write_str("Fingerprint(..)")
    }
}

impl Fingerprint {
    /// Lowercase hex, for keys outside the process (the shared cache).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub struct Fingerprinter {
    key: hmac::Key,
}

impl Fingerprinter {
    /// A fingerprinter with a fresh random key.
    pub fn random() -> Result<Fingerprinter, String> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| "no system randomness for credential fingerprints".to_string())?;
        Ok(Fingerprinter { key })
    }

    /// A fingerprinter keyed with a configured secret.
    pub fn with_secret(secret: &[u8]) -> Fingerprinter {
        Fingerprinter {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The form is part of the fingerprint: a token sent as a Bearer header
    /// and the same token sent as `apikey` are kept apart, since an upstream
    /// may treat the two forms differently.
    pub fn of(&self, credential: &Credential) -> Fingerprint {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(match credential {
            Credential::Bearer(_) => b"bearer\0",
            Credential::ApiKey(_) => b"apikey\0",
        });
        ctx.update(credential.secret().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        Fingerprint(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(s: &str) -> Credential {
        Credential::Bearer(s.into())
    }

    #[test]
    fn same_credential_same_fingerprint_others_differ() {
        let f = Fingerprinter::random().expect("randomness");
        assert_eq!(
            f.of(&bearer("admin-token-1")),
            f.of(&bearer("admin-token-1"))
        );
        assert_ne!(
            f.of(&bearer("admin-token-1")),
            f.of(&bearer("admin-token-2"))
        );
        assert_ne!(f.of(&bearer("a")), f.of(&bearer("a ")));
        assert_ne!(
            f.of(&bearer("admin-token-1")),
            f.of(&Credential::ApiKey("admin-token-1".into()))
        );
    }

    #[test]
    fn fingerprints_depend_on_the_process_key_and_hide_the_token() {
        let a = Fingerprinter::random().expect("randomness");
        let b = Fingerprinter::random().expect("randomness");
        let cred = bearer("admin-token-1");
        assert_ne!(a.of(&cred), b.of(&cred));
        let fp = a.of(&cred);
        assert!(!fp.0.windows(5).any(|w| w == b"admin"));
        assert_eq!(format!("{fp:?}"), "Fingerprint(..)");
    }

    #[test]
    fn a_configured_secret_gives_the_same_fingerprints_everywhere() {
        let a = Fingerprinter::with_secret(b"0123456789abcdef");
        let b = Fingerprinter::with_secret(b"0123456789abcdef");
        let c = Fingerprinter::with_secret(b"0123456789abcdeF");
        let cred = bearer("admin-token-1");
        assert_eq!(a.of(&cred), b.of(&cred));
        assert_ne!(a.of(&cred), c.of(&cred));
        assert_eq!(a.of(&cred).hex().len(), 64);
    }
}
