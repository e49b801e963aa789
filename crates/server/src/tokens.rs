//! Signed tokens: streaming URLs (the grant the control plane authorised,
//! signed with the server's key so that it cannot be forged or altered, and
//! checked for expiry when opened) and, with a derived key, the console's
//! temporary credentials. Pure: the key and the time are parameters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use porthole_control::{StreamingGrant, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not made by this server, or altered since.
    Invalid,
    Expired,
}

impl TokenError {
    /// What the browser shows.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Invalid => "This streaming link is not valid. Ask for a new one.",
            Self::Expired => "This streaming link has expired. Ask for a new one.",
        }
    }
}

/// The signing key: 32 random bytes, kept in the store so URLs survive restarts.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// A key for another purpose, so that no token made for one is
    /// accepted for the other.
    pub fn derive(&self, purpose: &str) -> TokenKey {
        TokenKey(self.mac_of(purpose.as_bytes()))
    }

    pub fn mac_of(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// `value` as JSON, signed: `payload.signature`, both base64url.
    pub fn sign_value<T: Serialize>(&self, value: &T) -> String {
        let payload = serde_json::to_vec(value).expect("token payloads serialize");
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.mac_of(&payload))
        )
    }

    /// The value of a token this key signed ([`TokenError::Invalid`] if not).
    pub fn open_value<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let (payload, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)
    }

    pub fn sign(&self, grant: &StreamingGrant) -> String {
        self.sign_value(grant)
    }

    /// A streaming URL's grant, signed by this key, whatever its validity: what requests
    /// from inside a session (its catalog, launches, My Files, End session) need, along
    /// with the grant's live session. The URL's validity bounds only opening a session.
    pub fn open_grant(&self, token: &str) -> Result<StreamingGrant, TokenError> {
        self.open_value(token)
    }

    /// A grant that may open (or resume) a session: signed and not expired.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<StreamingGrant, TokenError> {
        let grant: StreamingGrant = self.open_value(token)?;
        if now >= grant.expires {
            return Err(TokenError::Expired);
        }
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(expires: u64) -> StreamingGrant {
        StreamingGrant {
            stack: "stack".into(),
            fleet: "fleet".into(),
            user_id: "alice".into(),
            application_id: Some("xterm".into()),
            session_context: None,
            expires: Timestamp::from_secs(expires),
            authentication_type: porthole_control::session::AuthenticationType::Saml,
            attributes: vec![porthole_control::entitlement::Attribute {
                name: "groups".into(),
                value: "eng".into(),
            }],
            image_builder: None,
        }
    }

    #[test]
    fn a_signed_grant_verifies_until_it_expires() {
        let key = TokenKey::new(vec![7; 32]);
        let token = key.sign(&grant(100));
        assert_eq!(key.verify(&token, Timestamp::from_secs(99)), Ok(grant(100)));
        assert_eq!(
            key.verify(&token, Timestamp::from_secs(100)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_tokens_are_invalid() {
        let key = TokenKey::new(vec![7; 32]);
        let token = key.sign(&grant(100));
        let other = TokenKey::new(vec![8; 32]);
        assert_eq!(
            other.verify(&token, Timestamp::from_secs(1)),
            Err(TokenError::Invalid)
        );

        // A payload claiming another user keeps the old signature: refused.
        let (_, signature) = token.split_once('.').unwrap();
        let mut forged = grant(100);
        forged.user_id = "mallory".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let forged_token = format!("{payload}.{signature}");
        assert_eq!(
            key.verify(&forged_token, Timestamp::from_secs(1)),
            Err(TokenError::Invalid)
        );

        for junk in ["", ".", "abc", "a.b", "%%%.%%%"] {
            assert_eq!(
                key.verify(junk, Timestamp::from_secs(1)),
                Err(TokenError::Invalid),
                "{junk}"
            );
        }
    }
}
