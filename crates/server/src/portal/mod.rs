//! The user portal at `/`: user-pool users sign in with their email and
//! password (first with the welcome message's temporary one, then one they
//! choose), federated users through their identity provider (federation.rs);
//! they see the apps of their stacks (for federated users, those their
//! attributes entitle them to) and launch one into a session. Every check is made here on the server (and again by the
//! plane when the session opens), not only by what the page shows.
//!
//! Cookies are HttpOnly, SameSite=Lax, Secure when served over TLS; the
//! session cookie changes at every sign-in; every form that changes state
//! carries a CSRF token (the session's, or before sign-in a double-submit
//! cookie's).

mod federation;
mod guard;
mod pages;

pub(crate) use pages::escape;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use porthole_control::session::{AuthenticationType, StreamingGrant};
use porthole_control::{ControlPlane, DomainError, EndReason, ErrorKind, Timestamp};
use serde::Deserialize;

use crate::catalog;
use crate::credentials::random_bytes;
use crate::passwords;
use crate::state::{now, Server};
use guard::{Guard, Identity, Locked, SignedIn, SESSION_LIFETIME};
use pages::{CatalogApp, CatalogStack};

const SESSION_COOKIE: &str = "porthole_portal";
const CSRF_COOKIE: &str = "porthole_csrf";
/// A launch without capacity is retried after this many seconds.
const RETRY_SECS: u32 = 10;

pub(crate) fn routes() -> Router<Arc<Server>> {
    let guard = Arc::new(Mutex::new(Guard::default()));
    Router::new()
        .route("/", get(home))
        .route("/portal/sign-in", post(sign_in))
        .route("/portal/password", get(password_page).post(set_password))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/forgot", get(forgot_page).post(forgot))
        .route("/portal/reset", get(reset_page).post(reset))
        .route("/portal/launch", post(launch))
        .route("/portal/end", post(end))
        .route("/portal/oidc/{provider}/start", get(federation::start))
        .route("/portal/oidc/callback", get(federation::callback))
        .route("/portal/saml/{provider}/start", get(federation::saml_start))
        .route("/portal/saml/{provider}/acs", post(federation::saml_acs))
        .route(
            "/portal/saml/{provider}/metadata",
            get(federation::saml_metadata),
        )
        .layer(Extension(guard))
}

type SharedGuard = Arc<Mutex<Guard>>;

fn lock(guard: &SharedGuard) -> std::sync::MutexGuard<'_, Guard> {
    guard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn set_cookie(server: &Server, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if server.base_url.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are hex")
}

/// Signs `identity` in with a new cookie and sends the browser home.
fn start_session(
    server: &Server,
    guard: &SharedGuard,
    identity: Identity,
    must_change_password: bool,
) -> Response {
    let (token, _) = lock(guard).signed_in(identity, must_change_password, Instant::now());
    let mut response = see_other("/");
    response
        .headers_mut()
        .append(SET_COOKIE, session_cookie(server, &token));
    response
}

fn session_cookie(server: &Server, token: &str) -> HeaderValue {
    set_cookie(server, SESSION_COOKIE, token, SESSION_LIFETIME.as_secs())
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_owned())]).into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// The signed-in user of this request, if their account still lets them in
/// (a disabled or deleted user is signed out everywhere at their next request).
async fn current(server: &Server, guard: &SharedGuard, headers: &HeaderMap) -> Option<SignedIn> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let session = lock(guard).session(token, Instant::now()).cloned()?;
    if let Identity::UserPool(user_name) = &session.identity {
        let allowed = server
            .plane
            .lock()
            .await
            .user(user_name)
            .is_ok_and(|u| u.enabled);
        if !allowed {
            lock(guard).sign_out_user(user_name);
            return None;
        }
    }
    Some(session)
}

/// A page with a form used before sign-in, and its fresh double-submit
/// CSRF cookie.
fn with_csrf_cookie(
    server: &Server,
    status: StatusCode,
    render: impl FnOnce(&str) -> String,
) -> Response {
    let csrf = hex::encode(random_bytes(16));
    let mut response = html(status, render(&csrf));
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(server, CSRF_COOKIE, &csrf, 3600));
    response
}

/// A form posted before sign-in carries the token of its cookie.
fn csrf_cookie_matches(headers: &HeaderMap, csrf: &str) -> bool {
    cookie(headers, CSRF_COOKIE).is_some_and(|c| !c.is_empty() && c == csrf)
}

fn sign_in_page(server: &Server, status: StatusCode, error: Option<&str>, email: &str) -> Response {
    let providers: Vec<(String, &str)> = server
        .idps
        .oidc
        .configs()
        .map(|idp| (format!("/portal/oidc/{}/start", idp.name), idp.label()))
        .chain(
            server
                .idps
                .saml
                .configs()
                .map(|idp| (format!("/portal/saml/{}/start", idp.name), idp.label())),
        )
        .collect();
    with_csrf_cookie(server, status, |csrf| {
        pages::sign_in(csrf, error, email, &providers)
    })
}

async fn home(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
) -> Response {
    match current(&server, &guard, &headers).await {
        Some(s) if s.must_change_password => see_other("/portal/password"),
        Some(s) => {
            let stacks = user_catalog(&server, &*server.plane.lock().await, &s.identity);
            html(
                StatusCode::OK,
                pages::catalog(s.identity.user_id(), &s.csrf, &stacks),
            )
        }
        None => sign_in_page(&server, StatusCode::OK, None, ""),
    }
}

/// The stacks the identity may open: a user's assigned stacks, or those
/// its identity provider serves (that exist).
fn identity_stacks(server: &Server, cp: &ControlPlane, identity: &Identity) -> Vec<String> {
    match identity {
        Identity::UserPool(user_name) => cp
            .user(user_name)
            .map_or(Vec::new(), |u| u.stacks.iter().cloned().collect()),
        Identity::Federated { provider, .. } => server
            .idps
            .stacks(provider)
            .iter()
            .filter(|stack| cp.stack(stack).is_ok())
            .cloned()
            .collect(),
    }
}

fn authentication_type(identity: &Identity) -> AuthenticationType {
    match identity {
        Identity::UserPool(_) => AuthenticationType::Userpool,
        // AppStream's name for every federated identity.
        Identity::Federated { .. } => AuthenticationType::Saml,
    }
}

/// The apps of each of the identity's stacks, as the portal lists them.
fn user_catalog(server: &Server, cp: &ControlPlane, identity: &Identity) -> Vec<CatalogStack> {
    let attributes = match identity {
        Identity::Federated { attributes, .. } => attributes.as_slice(),
        Identity::UserPool(_) => &[],
    };
    identity_stacks(server, cp, identity)
        .iter()
        .filter_map(|name| cp.stack(name).ok())
        .map(|stack| {
            let apps = cp.stack_image(&stack.name).map_or(Vec::new(), |image| {
                cp.stack_catalog(&stack.name)
                    .iter()
                    .filter(|a| {
                        cp.is_entitled(
                            &stack.name,
                            authentication_type(identity),
                            attributes,
                            &a.name,
                        )
                    })
                    .map(|a| CatalogApp {
                        name: a.name.clone(),
                        display_name: a.display_name.clone(),
                        icon_url: catalog::icon_url(image, a),
                    })
                    .collect()
            });
            CatalogStack {
                name: stack.name.clone(),
                display_name: stack
                    .display_name
                    .clone()
                    .unwrap_or_else(|| stack.name.clone()),
                running_session: live_session_id(cp, identity, &stack.name).is_some(),
                apps,
            }
        })
        .collect()
}

fn live_session_id(cp: &ControlPlane, identity: &Identity, stack: &str) -> Option<String> {
    cp.live_sessions_of(identity.user_id(), authentication_type(identity))
        .find(|s| s.stack == stack)
        .map(|s| s.id.clone())
}

/// The grant to stream `app` of `stack` as this identity, if it may.
fn grant(
    server: &Server,
    cp: &ControlPlane,
    identity: &Identity,
    stack: &str,
    app: &str,
    now: Timestamp,
) -> porthole_control::error::Result<StreamingGrant> {
    match identity {
        Identity::UserPool(user_name) => cp.user_grant(user_name, stack, Some(app), now),
        Identity::Federated {
            user_id,
            attributes,
            ..
        } => {
            if !identity_stacks(server, cp, identity)
                .iter()
                .any(|s| s == stack)
            {
                return Err(DomainError::not_permitted(format!(
                    "Your identity provider does not give access to the stack {stack}."
                )));
            }
            cp.federated_grant(user_id, attributes.clone(), stack, Some(app), now)
        }
    }
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    email: String,
    password: String,
}

/// Verifies against this when there is no such user, so that a wrong email
/// takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| passwords::hash("not anyone's password").expect("hashing works"))
}

enum Matched {
    Chosen,
    Temporary,
}

async fn sign_in(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !csrf_cookie_matches(&headers, &form.csrf) {
        return sign_in_page(
            &server,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again."),
            &form.email,
        );
    }
    if let Err(Locked::For(wait)) = lock(&guard).check(&form.email, peer.ip(), Instant::now()) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return sign_in_page(
            &server,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many wrong passwords. Try again in {minutes} minute(s)."
            )),
            &form.email,
        );
    }
    let account = server.plane.lock().await.user(&form.email).ok().cloned();
    let at = now();
    let enabled = account.as_ref().is_some_and(|u| u.enabled);
    let matched = tokio::task::spawn_blocking(move || {
        let Some(user) = account else {
            passwords::verify(&form.password, dummy_hash());
            return None;
        };
        if let Some(chosen) = &user.password_hash {
            return passwords::verify(&form.password, chosen).then_some(Matched::Chosen);
        }
        let temporary = user.temporary_password.filter(|t| at < t.expires)?;
        passwords::verify(&form.password, &temporary.hash).then_some(Matched::Temporary)
    })
    .await
    .unwrap_or(None);
    let Some(matched) = matched else {
        lock(&guard).failed(&form.email, peer.ip(), Instant::now());
        return sign_in_page(
            &server,
            StatusCode::UNAUTHORIZED,
            Some("Wrong email or password."),
            &form.email,
        );
    };
    if !enabled {
        return html(
            StatusCode::FORBIDDEN,
            pages::notice(
                "Account disabled",
                "Your account is disabled. Ask your administrator to enable it.",
                None,
            ),
        );
    }
    let mut response = start_session(
        &server,
        &guard,
        Identity::UserPool(form.email.clone()),
        matches!(matched, Matched::Temporary),
    );
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&server, CSRF_COOKIE, "", 0));
    response
}

async fn password_page(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
) -> Response {
    match current(&server, &guard, &headers).await {
        Some(SignedIn {
            identity: Identity::UserPool(user_name),
            csrf,
            ..
        }) => html(StatusCode::OK, pages::new_password(&user_name, &csrf, None)),
        // A federated identity's password is its provider's business.
        _ => see_other("/"),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    password: String,
    confirm: String,
}

async fn set_password(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(SignedIn {
        identity: Identity::UserPool(user_name),
        csrf,
        ..
    }) = current(&server, &guard, &headers).await
    else {
        return see_other("/");
    };
    if form.csrf != csrf {
        return StatusCode::FORBIDDEN.into_response();
    }
    let refused = |message: &str| {
        html(
            StatusCode::BAD_REQUEST,
            pages::new_password(&user_name, &csrf, Some(message)),
        )
    };
    if let Err(message) = passwords::check_new(&form.password, &form.confirm) {
        return refused(&message);
    }
    if save_password(&server, &guard, &user_name, form.password)
        .await
        .is_err()
    {
        return refused(NOT_SAVED);
    }
    start_session(&server, &guard, Identity::UserPool(user_name), false)
}

const NOT_SAVED: &str = "The password could not be saved; please try again.";

/// Makes `password` the user's (durably), and signs out every browser
/// signed in with the old one.
async fn save_password(
    server: &Server,
    guard: &SharedGuard,
    user_name: &str,
    password: String,
) -> anyhow::Result<()> {
    let hash = passwords::hash_off_thread(password).await?;
    server.plane.lock().await.set_password(user_name, hash)?;
    server.plane.persist().await?;
    lock(guard).sign_out_user(user_name);
    Ok(())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let (Some(session), Some(token)) = (
        current(&server, &guard, &headers).await,
        cookie(&headers, SESSION_COOKIE),
    ) {
        if session.csrf == form.csrf {
            lock(&guard).sign_out(token);
        }
    }
    let mut response = see_other("/");
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&server, SESSION_COOKIE, "", 0));
    response
}

#[derive(Deserialize)]
struct LaunchForm {
    csrf: String,
    stack: String,
    app: String,
}

/// Opens (or returns to) the user's session of the stack with `app`, then
/// sends the browser to its stream.
async fn launch(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
    Form(form): Form<LaunchForm>,
) -> Response {
    let Some(session) = current(&server, &guard, &headers).await else {
        return see_other("/");
    };
    if session.must_change_password {
        return see_other("/portal/password");
    }
    if form.csrf != session.csrf {
        return StatusCode::FORBIDDEN.into_response();
    }
    open_app(&server, &session, &form.stack, &form.app).await
}

/// Opens (or returns to) the identity's session of `stack` with `app`, and
/// sends the browser to its stream, or says why not.
async fn open_app(server: &Arc<Server>, session: &SignedIn, stack: &str, app: &str) -> Response {
    let opened = {
        let mut cp = server.plane.lock().await;
        let running = live_session_id(&cp, &session.identity, stack);
        grant(server, &cp, &session.identity, stack, app, now()).and_then(|grant| {
            let (session, effects) = cp.open_session(&grant, now())?;
            Ok((grant, session.id, running.is_some(), effects))
        })
    };
    server.plane.persist_soon().await;
    let (grant, session_id, was_running, effects) = match opened {
        Ok(opened) => opened,
        Err(err) if err.kind == ErrorKind::ResourceNotAvailable => {
            let retry = pages::post_form(
                "/portal/launch",
                &session.csrf,
                &[("stack", stack), ("app", app)],
                r#"<button id="retry-now" type="submit">Try now</button>"#,
            )
            .replacen("<form ", r#"<form id="retry" "#, 1);
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::notice(
                    "No capacity right now",
                    &format!("{} All streaming instances are busy.", err.message),
                    Some((&retry, RETRY_SECS)),
                ),
            );
        }
        Err(err) => {
            return html(
                StatusCode::FORBIDDEN,
                pages::notice("Cannot open this application", &err.message, None),
            )
        }
    };
    server.apply(effects).await;
    // A session that was already running starts the app now; a new one
    // starts the URL's app when its page connects.
    if was_running {
        if let Err(err) = catalog::start_app(server, &session_id, app).await {
            tracing::debug!("starting {app} in a running session: {err}");
        }
    }
    see_other(&format!("/session/{}/", server.tokens.sign(&grant)))
}

#[derive(Deserialize)]
struct EndForm {
    csrf: String,
    stack: String,
}

async fn end(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    headers: HeaderMap,
    Form(form): Form<EndForm>,
) -> Response {
    let Some(session) = current(&server, &guard, &headers).await else {
        return see_other("/");
    };
    if form.csrf != session.csrf {
        return StatusCode::FORBIDDEN.into_response();
    }
    let running = live_session_id(&*server.plane.lock().await, &session.identity, &form.stack);
    if let Some(id) = running {
        server
            .observe(|cp| cp.end_session(&id, EndReason::UserEnded, now()))
            .await;
    }
    see_other("/")
}

async fn forgot_page(State(server): State<Arc<Server>>) -> Response {
    with_csrf_cookie(&server, StatusCode::OK, pages::forgot)
}

#[derive(Deserialize)]
struct ForgotForm {
    csrf: String,
    email: String,
}

/// Sends a code if the account exists, and says the same either way.
async fn forgot(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Response {
    if !csrf_cookie_matches(&headers, &form.csrf) {
        return with_csrf_cookie(&server, StatusCode::FORBIDDEN, pages::forgot);
    }
    let effects = {
        let mut cp = server.plane.lock().await;
        cp.request_password_reset(&form.email);
        cp.take_effects()
    };
    server.apply(effects).await;
    let info = format!(
        "If {} has an account, a code is on its way there.",
        form.email
    );
    with_csrf_cookie(&server, StatusCode::OK, |csrf| {
        pages::reset(csrf, &form.email, Some(&info), None)
    })
}

async fn reset_page(State(server): State<Arc<Server>>) -> Response {
    with_csrf_cookie(&server, StatusCode::OK, |csrf| {
        pages::reset(csrf, "", None, None)
    })
}

#[derive(Deserialize)]
struct ResetForm {
    csrf: String,
    email: String,
    code: String,
    password: String,
    confirm: String,
}

async fn reset(
    State(server): State<Arc<Server>>,
    Extension(guard): Extension<SharedGuard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    let refused = |status: StatusCode, error: &str| {
        with_csrf_cookie(&server, status, |csrf| {
            pages::reset(csrf, &form.email, None, Some(error))
        })
    };
    if !csrf_cookie_matches(&headers, &form.csrf) {
        return refused(StatusCode::FORBIDDEN, "The form expired. Please try again.");
    }
    // Codes are guessed like passwords: the same limits apply.
    if let Err(Locked::For(wait)) = lock(&guard).check(&form.email, peer.ip(), Instant::now()) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many wrong codes. Try again in {minutes} minute(s)."),
        );
    }
    if let Err(message) = passwords::check_new(&form.password, &form.confirm) {
        return refused(StatusCode::BAD_REQUEST, &message);
    }
    let code = server
        .plane
        .lock()
        .await
        .user(&form.email)
        .ok()
        .filter(|u| u.enabled)
        .and_then(|u| u.reset_code.clone())
        .filter(|c| now() < c.expires);
    let entered = form.code.trim().to_owned();
    let valid = tokio::task::spawn_blocking(move || {
        code.is_some_and(|c| passwords::verify(&entered, &c.hash))
    })
    .await
    .unwrap_or(false);
    if !valid {
        lock(&guard).failed(&form.email, peer.ip(), Instant::now());
        return refused(
            StatusCode::UNAUTHORIZED,
            "The code is wrong or has expired.",
        );
    }
    if save_password(&server, &guard, &form.email, form.password.clone())
        .await
        .is_err()
    {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, NOT_SAVED);
    }
    sign_in_page(&server, StatusCode::OK, None, &form.email)
}
