//! Signing in through an OpenID Connect provider: `start` sends the browser
//! to the provider with a fresh state, nonce and PKCE challenge, remembered
//! for this browser (its login cookie); `callback` takes that login back
//! (once: a replayed callback finds nothing), has oidc.rs exchange the code
//! and check the ID token, and signs in the federated identity it names.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

use super::guard::{Identity, LOGIN_LIFETIME};
use super::{cookie, html, lock, pages, see_other, set_cookie, start_session, SharedGuard};
use crate::credentials::random_bytes;
use crate::oidc::{Login, SignInFailure};
use crate::state::Server;

/// Binds a login to the browser that started it.
const LOGIN_COOKIE: &str = "porthole_login";

fn redirect_uri(server: &Server) -> String {
    format!("{}/portal/oidc/callback", server.base_url)
}

fn failed(status: StatusCode, message: &str) -> Response {
    html(status, pages::notice("Sign-in failed", message, None))
}

pub(super) async fn start(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(idp) = server.oidc.get(&provider) else {
        return failed(
            StatusCode::NOT_FOUND,
            "There is no such identity provider. Go back and choose another way to sign in.",
        );
    };
    let login = Login::new();
    // One cookie per browser, so that logins started in two tabs both work.
    let browser = cookie(&headers, LOGIN_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(|| hex::encode(random_bytes(32)), str::to_owned);
    let url = match server
        .oidc
        .authorization_url(idp, &login, &redirect_uri(&server))
        .await
    {
        Ok(url) => url,
        Err(err) => {
            tracing::warn!("identity provider {provider}: {err:#}");
            return failed(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "{} cannot be reached right now. Try again in a moment.",
                    idp.config.label()
                ),
            );
        }
    };
    if !lock(&guard).begin_login(&provider, login, &browser, Instant::now()) {
        return failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins are under way. Try again in a minute.",
        );
    }
    let mut response = see_other(&url);
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&server, LOGIN_COOKIE, &browser, LOGIN_LIFETIME.as_secs()),
    );
    response
}

#[derive(Deserialize)]
pub(super) struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub(super) async fn callback(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let pending = callback
        .state
        .as_deref()
        .and_then(|state| lock(&guard).take_login(state, Instant::now()));
    let Some(pending) = pending else {
        return failed(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used. Please sign in again.",
        );
    };
    if cookie(&headers, LOGIN_COOKIE) != Some(pending.browser.as_str()) {
        return failed(
            StatusCode::BAD_REQUEST,
            "This sign-in was started in another browser. Please sign in again here.",
        );
    }
    let Some(idp) = server.oidc.get(&pending.provider) else {
        return failed(StatusCode::NOT_FOUND, "There is no such identity provider.");
    };
    let label = idp.config.label();
    if let Some(error) = callback.error {
        let said = callback.error_description.unwrap_or(error);
        return failed(
            StatusCode::FORBIDDEN,
            &format!("{label} did not sign you in: {said}"),
        );
    }
    let Some(code) = callback.code else {
        return failed(
            StatusCode::BAD_REQUEST,
            &format!("{label} sent no authorization code. Please sign in again."),
        );
    };
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let provider = pending.provider;
    let identity = match server
        .oidc
        .complete(idp, &pending.login, &code, &redirect_uri(&server), now_secs)
        .await
    {
        Ok(identity) => identity,
        Err(SignInFailure::Provider(err)) => {
            tracing::warn!("identity provider {provider}: {err:#}");
            return failed(
                StatusCode::BAD_GATEWAY,
                &format!("{label} cannot be reached right now. Try again in a moment."),
            );
        }
        Err(SignInFailure::CodeRefused(said)) => {
            tracing::warn!("identity provider {provider} refused a code: {said}");
            return failed(
                StatusCode::FORBIDDEN,
                &format!("{label} refused the sign-in: {said}"),
            );
        }
        Err(SignInFailure::Token(refusal)) => {
            tracing::warn!("identity provider {provider}: refused a sign-in: {refusal}");
            return failed(
                StatusCode::FORBIDDEN,
                &format!("Porthole refused the sign-in: {refusal}."),
            );
        }
    };
    tracing::info!("{} signed in through {provider}", identity.user_id);
    start_session(
        &server,
        &guard,
        Identity::Federated {
            provider,
            user_id: identity.user_id,
            attributes: identity.attributes,
        },
        false,
    )
}
