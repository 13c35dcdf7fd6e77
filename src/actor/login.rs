//! Checking a subscriber's credentials against the subscriber table: the same rule for the LAC
//! (which authenticates before it picks a tunnel, seed 000 claim 12) and the LNS (which checks what
//! it authenticated itself or what a LAC proxied, RFC 2661 §4.4.5).
//!
//! Owns: the verdict and the reason for a refusal. Must not touch: the PPP link (the caller
//! answers it) or the log line (the caller logs the name and the reason, never the password).

use crate::config::{SubscriberRef, SubscriberTable};
use crate::ppp::{AuthRequest, Credentials};

/// Why a login was refused: one phrase for the log and the PAP/CHAP failure message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    /// No subscriber has that name.
    UnknownSubscriber,
    /// PAP password does not match.
    WrongPassword,
    /// CHAP response does not match.
    WrongChapResponse,
    /// CHAP needs the cleartext secret and only a hash is stored.
    ChapWithHashedSecret,
    /// The peer negotiated no authentication at all.
    NoCredentials,
}

impl LoginFailure {
    /// The reason, for logs.
    pub fn reason(self) -> &'static str {
        match self {
            LoginFailure::UnknownSubscriber => "unknown subscriber",
            LoginFailure::WrongPassword => "wrong PAP password",
            LoginFailure::WrongChapResponse => "wrong CHAP response",
            LoginFailure::ChapWithHashedSecret => {
                "CHAP-MD5 needs a cleartext secret but only a hash is stored"
            }
            LoginFailure::NoCredentials => "no authentication was negotiated",
        }
    }
}

/// Looks the subscriber up and checks what it presented.
pub(crate) fn check<'t>(
    table: &'t SubscriberTable,
    request: &AuthRequest,
) -> Result<SubscriberRef<'t>, LoginFailure> {
    let name = request.name_lossy();
    let subscriber = table.get(&name).ok_or(LoginFailure::UnknownSubscriber)?;
    match &request.credentials {
        Credentials::None => Err(LoginFailure::NoCredentials),
        Credentials::Pap { password } => {
            if subscriber.secret.verify_pap(password) {
                Ok(subscriber)
            } else {
                Err(LoginFailure::WrongPassword)
            }
        }
        Credentials::ChapMd5 { .. } => {
            let Some(clear) = subscriber.secret.cleartext() else {
                return Err(LoginFailure::ChapWithHashedSecret);
            };
            if request.verify_secret(clear) {
                Ok(subscriber)
            } else {
                Err(LoginFailure::WrongChapResponse)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::{AuthProtocol, chap_md5_response};

    fn table() -> std::sync::Arc<SubscriberTable> {
        let hash = crate::config::hash_password(b"builder", b"0123456789", 1000);
        crate::config::load_str(
            "t.toml",
            &format!(
                "[[subscriber]]\nname = \"alice@isp\"\nsecret = \"wonderland\"\n\
                 [[subscriber]]\nname = \"bob\"\nsecret_hash = \"{hash}\"\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .subscribers
    }

    fn pap(name: &str, password: &str) -> AuthRequest {
        AuthRequest {
            protocol: Some(AuthProtocol::Pap),
            name: name.as_bytes().to_vec(),
            credentials: Credentials::Pap {
                password: password.as_bytes().to_vec(),
            },
            proxied: false,
        }
    }

    #[test]
    fn pap_and_chap_verdicts() {
        let t = table();
        assert!(check(&t, &pap("alice@isp", "wonderland")).is_ok());
        assert_eq!(
            check(&t, &pap("alice@isp", "nope")).err(),
            Some(LoginFailure::WrongPassword)
        );
        assert_eq!(
            check(&t, &pap("mallory", "x")).err(),
            Some(LoginFailure::UnknownSubscriber)
        );
        let challenge = vec![7u8; 16];
        let good = AuthRequest {
            protocol: Some(AuthProtocol::ChapMd5),
            name: b"alice@isp".to_vec(),
            credentials: Credentials::ChapMd5 {
                id: 3,
                challenge: challenge.clone(),
                response: chap_md5_response(3, b"wonderland", &challenge).to_vec(),
            },
            proxied: true,
        };
        assert!(check(&t, &good).is_ok());
        let mut bad = good.clone();
        bad.credentials = Credentials::ChapMd5 {
            id: 4,
            challenge: challenge.clone(),
            response: chap_md5_response(3, b"wonderland", &challenge).to_vec(),
        };
        assert_eq!(check(&t, &bad).err(), Some(LoginFailure::WrongChapResponse));
        let mut none = good.clone();
        none.credentials = Credentials::None;
        assert_eq!(check(&t, &none).err(), Some(LoginFailure::NoCredentials));
        assert!(check(&t, &pap("bob", "builder")).is_ok());
        let mut hashed = good;
        hashed.name = b"bob".to_vec();
        assert_eq!(
            check(&t, &hashed).err(),
            Some(LoginFailure::ChapWithHashedSecret)
        );
    }
}
