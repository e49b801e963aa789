//! Signing in through an identity provider. OpenID Connect: `start` sends the browser
//! to the provider with a fresh state, nonce and PKCE challenge, remembered
//! for this browser (its login cookie); `callback` takes that login back
//! (once: a replayed callback finds nothing), has oidc.rs exchange the code
//! and check the ID token, and signs in the federated identity it names.
//! SAML 2.0: `saml_start` sends an AuthnRequest (SP-initiated); `saml_acs`
//! takes the IdP's signed response (checked by saml.rs), matches it to that
//! request or accepts it unasked (IdP-initiated), uses each assertion once,
//! and goes where its RelayState says.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::guard::{Identity, PendingLogin, Started, LOGIN_LIFETIME};
use super::{
    cookie, html, lock, open_app, pages, see_other, session_cookie, set_cookie, start_session,
    SharedGuard,
};
use crate::credentials::random_bytes;
use crate::oidc::{Login, SignInFailure};
use crate::state::Server;

/// Binds a login to the browser that started it.
const LOGIN_COOKIE: &str = "porthole_login";

const EXPIRED: &str = "This sign-in has expired or was already used. Please sign in again.";
const NO_SUCH_PROVIDER: &str =
    "There is no such identity provider. Go back and choose another way to sign in.";
const TOO_MANY: &str = "Too many sign-ins are under way. Try again in a minute.";

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
    let Some(idp) = server.idps.oidc.get(&provider) else {
        return failed(StatusCode::NOT_FOUND, NO_SUCH_PROVIDER);
    };
    let login = Login::new();
    // One cookie per browser, so that logins started in two tabs both work.
    let browser = cookie(&headers, LOGIN_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(|| hex::encode(random_bytes(32)), str::to_owned);
    let url = match server
        .idps
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
    let state = login.state.clone();
    let started = Started::Oidc {
        login,
        browser: browser.clone(),
    };
    if !lock(&guard).begin_login(&state, &provider, started, Instant::now()) {
        return failed(StatusCode::SERVICE_UNAVAILABLE, TOO_MANY);
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
    let Some(PendingLogin {
        provider,
        started: Started::Oidc { login, browser },
        ..
    }) = pending
    else {
        return failed(StatusCode::BAD_REQUEST, EXPIRED);
    };
    if cookie(&headers, LOGIN_COOKIE) != Some(browser.as_str()) {
        return failed(
            StatusCode::BAD_REQUEST,
            "This sign-in was started in another browser. Please sign in again here.",
        );
    }
    let Some(idp) = server.idps.oidc.get(&provider) else {
        return failed(StatusCode::NOT_FOUND, NO_SUCH_PROVIDER);
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
    let identity = match server
        .idps
        .oidc
        .complete(idp, &login, &code, &redirect_uri(&server), now_secs)
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

/// Where a SAML sign-in goes once done: `stack=NAME&app=APP` (AppStream's
/// relay state names the stack as `stackname`), or the catalog.
#[derive(Default, Deserialize, serde::Serialize)]
pub(super) struct RelayState {
    #[serde(alias = "stackname", skip_serializing_if = "Option::is_none")]
    stack: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<String>,
}

/// SP-initiated SAML sign-in: an AuthnRequest to the IdP, by redirect.
pub(super) async fn saml_start(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    Path(provider): Path<String>,
    Query(then): Query<RelayState>,
) -> Response {
    let Some(idp) = server.idps.saml.get(&provider) else {
        return failed(StatusCode::NOT_FOUND, NO_SUCH_PROVIDER);
    };
    let relay_state = serde_urlencoded::to_string(&then).unwrap_or_default();
    let (request_id, url) = match idp.authn_request(&relay_state) {
        Ok(request) => request,
        Err(err) => {
            tracing::warn!("SAML identity provider {provider}: {err:#}");
            return failed(
                StatusCode::BAD_GATEWAY,
                &format!("Signing in with {} cannot start: {err}", idp.config.label()),
            );
        }
    };
    if !lock(&guard).begin_login(
        &request_id,
        &provider,
        Started::Saml { relay_state },
        Instant::now(),
    ) {
        return failed(StatusCode::SERVICE_UNAVAILABLE, TOO_MANY);
    }
    see_other(&url)
}

#[derive(Deserialize)]
pub(super) struct SamlPost {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
}

/// The assertion consumer service: the IdP's signed answer, posted by the
/// browser (asked for, or IdP-initiated).
pub(super) async fn saml_acs(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    Path(provider): Path<String>,
    Form(post): Form<SamlPost>,
) -> Response {
    let Some(idp) = server.idps.saml.get(&provider) else {
        return failed(StatusCode::NOT_FOUND, NO_SUCH_PROVIDER);
    };
    let checking = server.clone();
    let name = provider.clone();
    let encoded = post.saml_response;
    let checked = tokio::task::spawn_blocking(move || {
        checking
            .idps
            .saml
            .get(&name)
            .map(|idp| idp.check_response(&encoded, chrono::Utc::now()))
    })
    .await;
    let accepted = match checked {
        Ok(Some(Ok(accepted))) => accepted,
        Ok(Some(Err(why))) => {
            tracing::warn!("SAML identity provider {provider}: refused a sign-in: {why}");
            return failed(
                StatusCode::FORBIDDEN,
                &format!("Porthole refused the sign-in: {why}."),
            );
        }
        _ => {
            return failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The sign-in could not be checked.",
            )
        }
    };
    let label = idp.config.label();
    let relay_state = match &accepted.in_response_to {
        Some(request_id) => match lock(&guard).take_login(request_id, Instant::now()) {
            Some(PendingLogin {
                provider: asked,
                started: Started::Saml { relay_state },
                ..
            }) if asked == provider => relay_state,
            _ => return failed(StatusCode::BAD_REQUEST, EXPIRED),
        },
        None if idp.config.allow_idp_initiated => post.relay_state,
        None => {
            return failed(
                StatusCode::FORBIDDEN,
                &format!("Sign in with {label} from Porthole's sign-in page."),
            )
        }
    };
    if !lock(&guard).first_use_of_assertion(&accepted.assertion_id, Instant::now()) {
        return failed(StatusCode::BAD_REQUEST, EXPIRED);
    }
    let identity = accepted.identity;
    tracing::info!("{} signed in through {provider}", identity.user_id);
    let identity = Identity::Federated {
        provider,
        user_id: identity.user_id,
        attributes: identity.attributes,
    };
    let then: RelayState = serde_urlencoded::from_str(&relay_state).unwrap_or_default();
    let (Some(stack), Some(app)) = (then.stack, then.app) else {
        return start_session(&server, &guard, identity, false);
    };
    // A relay state naming an app goes straight to it, as on AppStream.
    let (token, session) = lock(&guard).signed_in(identity, false, Instant::now());
    let mut response = open_app(&server, &session, &stack, &app).await;
    response
        .headers_mut()
        .append(SET_COOKIE, session_cookie(&server, &token));
    response
}

/// Porthole's service-provider metadata, to give the IdP.
pub(super) async fn saml_metadata(
    State(server): State<Arc<Server>>,
    Path(provider): Path<String>,
) -> Response {
    let Some(idp) = server.idps.saml.get(&provider) else {
        return failed(StatusCode::NOT_FOUND, NO_SUCH_PROVIDER);
    };
    (
        [(CONTENT_TYPE, "application/samlmetadata+xml")],
        idp.metadata_xml(),
    )
        .into_response()
}
