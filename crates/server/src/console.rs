//! The admin console at `/console/`: plain ES modules (web/console, embedded
//! in the binary) that call the same admin API as the AWS CLI, signing each
//! request in the browser. Signing in with the administrator's access key
//! mints temporary credentials for an hour, as STS hands them out: an `ASIA`
//! access key id, a secret and a session token. They are stateless: the token
//! is signed with the server's key and names the key id and its expiry, and
//! the secret is derived from the token, so the SigV4 verifier needs no table
//! and a forged, altered or expired token is refused.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use porthole_control::Timestamp;
use porthole_sigv4::AuthError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::credentials::random_bytes;
use crate::state::{now, Server};
use crate::tokens::{TokenError, TokenKey};

/// How long a console sign-in lasts, unless it asks for less or more (as
/// STS's DurationSeconds, at most MAX_LIFETIME_SECS).
pub(crate) const LIFETIME_SECS: u64 = 3600;
const MAX_LIFETIME_SECS: u64 = 12 * 3600;

pub(crate) fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(|| async { porthole_web_client::asset("console/index.html") }),
        )
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>| async move {
                porthole_web_client::asset(&format!("console/{path}"))
            }),
        )
        .route("/console/credentials", post(sign_in))
}

/// What a session token says.
#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "k")]
    access_key_id: String,
    #[serde(rename = "e")]
    expires: Timestamp,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Temporary {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: String,
    pub(crate) expiration: Timestamp,
}

fn token_key(key: &TokenKey) -> TokenKey {
    key.derive("console session token")
}

fn secret_of(key: &TokenKey, session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        key.derive("console secret access key")
            .mac_of(session_token.as_bytes()),
    )
}

/// New temporary credentials, valid from `now` for `lifetime_secs`.
pub(crate) fn mint(key: &TokenKey, now: Timestamp, lifetime_secs: u64) -> Temporary {
    let access_key_id = format!("ASIA{}", hex::encode_upper(random_bytes(8)));
    let expiration = now.plus_secs(lifetime_secs);
    let session_token = token_key(key).sign_value(&Claims {
        access_key_id: access_key_id.clone(),
        expires: expiration,
    });
    Temporary {
        secret_access_key: secret_of(key, &session_token),
        access_key_id,
        session_token,
        expiration,
    }
}

/// The secret of temporary credentials, for the SigV4 verifier.
pub(crate) fn secret_for(
    key: &TokenKey,
    access_key_id: &str,
    session_token: &str,
    now: Timestamp,
) -> Result<String, AuthError> {
    let claims: Claims = token_key(key)
        .open_value(session_token)
        .map_err(|_: TokenError| AuthError::UnknownAccessKey)?;
    if claims.access_key_id != access_key_id {
        return Err(AuthError::UnknownAccessKey);
    }
    if now >= claims.expires {
        return Err(AuthError::ExpiredToken);
    }
    Ok(secret_of(key, session_token))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default = "default_lifetime")]
    duration_seconds: u64,
}

fn default_lifetime() -> u64 {
    LIFETIME_SECS
}

fn refused(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// Exchanges the administrator's access key for temporary credentials.
/// JSON only: a cross-site form cannot send it.
async fn sign_in(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Send JSON.");
    }
    let Ok(given) = serde_json::from_slice::<SignIn>(&body) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Send accessKeyId and secretAccessKey.",
        );
    };
    let admin = &server.credentials;
    // Compared as MACs: the time taken says nothing about the secret.
    let key = &server.tokens;
    let matches = given.access_key_id == admin.access_key_id
        && key.mac_of(given.secret_access_key.as_bytes())
            == key.mac_of(admin.secret_access_key.as_bytes());
    if !matches {
        tracing::warn!(
            "console sign-in refused for access key {}",
            given.access_key_id
        );
        return refused(
            StatusCode::FORBIDDEN,
            "Wrong access key ID or secret access key.",
        );
    }
    if !(1..=MAX_LIFETIME_SECS).contains(&given.duration_seconds) {
        return refused(
            StatusCode::BAD_REQUEST,
            &format!("durationSeconds must be between 1 and {MAX_LIFETIME_SECS}."),
        );
    }
    let temporary = mint(&server.tokens, now(), given.duration_seconds);
    Json(json!({
        "AccessKeyId": temporary.access_key_id,
        "SecretAccessKey": temporary.secret_access_key,
        "SessionToken": temporary.session_token,
        "Expiration": temporary.expiration.as_secs_f64(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_credentials_verify_until_they_expire() {
        let key = TokenKey::new(vec![3; 32]);
        let now = Timestamp::from_secs(1_000);
        let t = mint(&key, now, LIFETIME_SECS);
        assert!(t.access_key_id.starts_with("ASIA"));
        assert_eq!(t.expiration, Timestamp::from_secs(1_000 + LIFETIME_SECS));
        assert_eq!(
            secret_for(&key, &t.access_key_id, &t.session_token, now),
            Ok(t.secret_access_key.clone())
        );
        assert_eq!(
            secret_for(&key, &t.access_key_id, &t.session_token, t.expiration),
            Err(AuthError::ExpiredToken)
        );
        assert_ne!(
            mint(&key, now, LIFETIME_SECS),
            t,
            "every sign-in gets its own"
        );
    }

    #[test]
    fn forged_swapped_or_foreign_tokens_are_unknown() {
        let key = TokenKey::new(vec![3; 32]);
        let now = Timestamp::from_secs(1_000);
        let t = mint(&key, now, LIFETIME_SECS);
        let other = mint(&key, now, LIFETIME_SECS);
        assert_eq!(
            secret_for(&key, &t.access_key_id, &other.session_token, now),
            Err(AuthError::UnknownAccessKey),
            "another sign-in's token"
        );
        let longer = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                access_key_id: t.access_key_id.clone(),
                expires: Timestamp::from_secs(u64::MAX / 2000),
            })
            .unwrap(),
        );
        let (_, signature) = t.session_token.split_once('.').unwrap();
        assert_eq!(
            secret_for(
                &key,
                &t.access_key_id,
                &format!("{longer}.{signature}"),
                now
            ),
            Err(AuthError::UnknownAccessKey),
            "an extended expiry keeps the old signature"
        );
        let foreign = TokenKey::new(vec![4; 32]);
        assert_eq!(
            secret_for(&foreign, &t.access_key_id, &t.session_token, now),
            Err(AuthError::UnknownAccessKey)
        );
        // A streaming-URL token of the same key is no session token.
        let grant_like = key.sign_value(&Claims {
            access_key_id: t.access_key_id.clone(),
            expires: Timestamp::from_secs(9_999),
        });
        assert_eq!(
            secret_for(&key, &t.access_key_id, &grant_like, now),
            Err(AuthError::UnknownAccessKey)
        );
    }
}
