//! The portal's sign-in state: who is signed in (by cookie token), their
//! CSRF token, how many wrong passwords each user and each client address
//! gave lately, and the identity-provider logins under way. In memory: a restart signs everyone out, which
//! costs a sign-in and loses no data. Time is a parameter, for the tests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use porthole_control::entitlement::Attribute;

use crate::credentials::random_bytes;
use crate::oidc::Login;

/// A signed-in browser lasts this long (AppStream's portal: a working day).
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Wrong passwords count for this long.
pub(crate) const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// This many wrong passwords for one user lock that user's sign-in.
pub(crate) const MAX_FAILURES_PER_USER: usize = 20;
/// This many from one address lock that address (a spray over many users).
pub(crate) const MAX_FAILURES_PER_ADDRESS: usize = 100;

/// An identity-provider login must come back within this time.
pub(crate) const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// At most this many logins under way: starting logins must not grow memory
/// without bound.
const MAX_PENDING_LOGINS: usize = 10_000;

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A user of the user pool, by user name (their email).
    UserPool(String),
    /// Signed in through an identity provider, with the attributes it asserted.
    Federated {
        provider: String,
        user_id: String,
        attributes: Vec<Attribute>,
    },
}

impl Identity {
    /// What the page shows as who is signed in.
    pub(crate) fn user_id(&self) -> &str {
        match self {
            Self::UserPool(user_name) => user_name,
            Self::Federated { user_id, .. } => user_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedIn {
    pub(crate) identity: Identity,
    /// Every state-changing form carries it back.
    pub(crate) csrf: String,
    /// Signed in with the welcome message's password: choose one first.
    pub(crate) must_change_password: bool,
    expires: Instant,
}

#[derive(Default)]
pub(crate) struct Guard {
    sessions: HashMap<String, SignedIn>,
    user_failures: HashMap<String, Vec<Instant>>,
    address_failures: HashMap<IpAddr, Vec<Instant>>,
    /// By the OIDC login's `state` or the SAML request's ID: each comes back once.
    logins: HashMap<String, PendingLogin>,
    /// SAML assertions already used, until they could no longer be accepted.
    used_assertions: HashMap<String, Instant>,
}

/// An identity-provider login under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingLogin {
    pub(crate) provider: String,
    pub(crate) started: Started,
    expires: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Started {
    /// The login's secrets, and the login cookie of the browser that
    /// started it (the provider sends that browser back).
    Oidc { login: Login, browser: String },
    /// Where to go once signed in. Not bound to a browser: the IdP posts
    /// the answer cross-site, where SameSite cookies are not sent.
    Saml { relay_state: String },
}

/// Sign-in refused before the password is checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Until the oldest counted failure leaves the window.
    For(Duration),
}

fn token() -> String {
    hex::encode(random_bytes(32))
}

impl Guard {
    /// Whether `user_name` may try a password from `address` now.
    pub(crate) fn check(
        &mut self,
        user_name: &str,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), Locked> {
        // Looked up, not inserted: trying a name must not grow the maps.
        let by_user = self
            .user_failures
            .get_mut(user_name)
            .map_or(&[][..], |f| recent(f, now));
        let by_address = self
            .address_failures
            .get_mut(&address)
            .map_or(&[][..], |f| recent(f, now));
        let wait = [
            (by_user, MAX_FAILURES_PER_USER),
            (by_address, MAX_FAILURES_PER_ADDRESS),
        ]
        .into_iter()
        .filter(|(failures, max)| failures.len() >= *max)
        .filter_map(|(failures, _)| failures.first())
        .map(|oldest| (*oldest + ATTEMPT_WINDOW).saturating_duration_since(now))
        .max();
        match wait {
            Some(wait) => Err(Locked::For(wait)),
            None => Ok(()),
        }
    }

    pub(crate) fn failed(&mut self, user_name: &str, address: IpAddr, now: Instant) {
        // Names and addresses whose failures all aged out are dropped.
        self.user_failures.retain(|_, f| !recent(f, now).is_empty());
        self.address_failures
            .retain(|_, f| !recent(f, now).is_empty());
        self.user_failures
            .entry(user_name.to_owned())
            .or_default()
            .push(now);
        self.address_failures.entry(address).or_default().push(now);
    }

    /// A correct password: the user's failures are forgotten and a new
    /// session starts (the cookie token changes at every sign-in).
    pub(crate) fn signed_in(
        &mut self,
        identity: Identity,
        must_change_password: bool,
        now: Instant,
    ) -> (String, SignedIn) {
        if let Identity::UserPool(user_name) = &identity {
            self.user_failures.remove(user_name);
        }
        self.sessions.retain(|_, s| s.expires > now);
        let session = SignedIn {
            identity,
            csrf: token(),
            must_change_password,
            expires: now + SESSION_LIFETIME,
        };
        let cookie = token();
        self.sessions.insert(cookie.clone(), session.clone());
        (cookie, session)
    }

    pub(crate) fn session(&self, cookie: &str, now: Instant) -> Option<&SignedIn> {
        self.sessions.get(cookie).filter(|s| s.expires > now)
    }

    pub(crate) fn sign_out(&mut self, cookie: &str) {
        self.sessions.remove(cookie);
    }

    /// Ends every browser session of the user (their password changed, or
    /// they were disabled or deleted).
    pub(crate) fn sign_out_user(&mut self, user_name: &str) {
        self.sessions
            .retain(|_, s| !matches!(&s.identity, Identity::UserPool(u) if u == user_name));
    }

    /// Remembers a login under `key` until it comes back (false: too many
    /// under way).
    pub(crate) fn begin_login(
        &mut self,
        key: &str,
        provider: &str,
        started: Started,
        now: Instant,
    ) -> bool {
        self.logins.retain(|_, l| l.expires > now);
        if self.logins.len() >= MAX_PENDING_LOGINS {
            return false;
        }
        self.logins.insert(
            key.to_owned(),
            PendingLogin {
                provider: provider.to_owned(),
                started,
                expires: now + LOGIN_LIFETIME,
            },
        );
        true
    }

    /// The login an answer names, once: a replayed answer finds nothing.
    pub(crate) fn take_login(&mut self, key: &str, now: Instant) -> Option<PendingLogin> {
        self.logins.remove(key).filter(|l| l.expires > now)
    }

    /// Whether the SAML assertion `id` is used for the first time (it is
    /// remembered for as long as it could be accepted).
    pub(crate) fn first_use_of_assertion(&mut self, id: &str, now: Instant) -> bool {
        self.used_assertions.retain(|_, until| *until > now);
        if self.used_assertions.len() >= MAX_PENDING_LOGINS || self.used_assertions.contains_key(id)
        {
            return false;
        }
        self.used_assertions
            .insert(id.to_owned(), now + LOGIN_LIFETIME);
        true
    }
}

/// The failures still inside the window, oldest first.
fn recent(failures: &mut Vec<Instant>, now: Instant) -> &[Instant] {
    failures.retain(|at| now.saturating_duration_since(*at) < ATTEMPT_WINDOW);
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANA: &str = "ana@example.com";
    const BEA: &str = "bea@example.com";

    fn address(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn twenty_wrong_passwords_lock_that_user_only_until_the_window_passes() {
        let mut guard = Guard::default();
        let start = Instant::now();
        for i in 0..MAX_FAILURES_PER_USER {
            assert_eq!(guard.check(ANA, address(1), start), Ok(()), "attempt {i}");
            guard.failed(ANA, address(1), start);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(
            guard.check(ANA, address(2), later),
            Err(Locked::For(ATTEMPT_WINDOW - Duration::from_secs(60))),
            "from any address"
        );
        assert_eq!(
            guard.check(BEA, address(1), later),
            Ok(()),
            "others may sign in"
        );
        assert_eq!(guard.check(ANA, address(1), start + ATTEMPT_WINDOW), Ok(()));
    }

    #[test]
    fn one_address_spraying_many_users_is_locked() {
        let mut guard = Guard::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            guard.failed(&format!("user{i}@example.com"), address(9), now);
        }
        assert!(guard.check(ANA, address(9), now).is_err());
        assert_eq!(guard.check(ANA, address(8), now), Ok(()));
    }

    #[test]
    fn sign_in_rotates_the_token_and_forgets_failures() {
        let mut guard = Guard::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES_PER_USER - 1 {
            guard.failed(ANA, address(1), now);
        }
        let (first, _) = guard.signed_in(Identity::UserPool(ANA.into()), true, now);
        let (second, session) = guard.signed_in(Identity::UserPool(ANA.into()), false, now);
        assert_ne!(first, second);
        assert!(!session.must_change_password);
        guard.failed(ANA, address(1), now);
        assert_eq!(
            guard.check(ANA, address(1), now),
            Ok(()),
            "failures were reset"
        );
        assert!(guard.session(&second, now).is_some());
        assert!(
            guard.session(&second, now + SESSION_LIFETIME).is_none(),
            "expired"
        );
        let federated = Identity::Federated {
            provider: "corp".into(),
            user_id: ANA.into(),
            attributes: Vec::new(),
        };
        let (theirs, _) = guard.signed_in(federated, false, now);
        guard.sign_out_user(ANA);
        assert!(guard.session(&first, now).is_none() && guard.session(&second, now).is_none());
        assert!(
            guard.session(&theirs, now).is_some(),
            "a federated identity of the same name is someone else"
        );
    }

    #[test]
    fn a_login_comes_back_once_and_only_in_time() {
        let mut guard = Guard::default();
        let now = Instant::now();
        let login = Login::new();
        let started = Started::Oidc {
            login: login.clone(),
            browser: "browser-1".into(),
        };
        assert!(guard.begin_login(&login.state, "corp", started.clone(), now));
        let back = guard.take_login(&login.state, now).unwrap();
        assert_eq!((back.provider.as_str(), &back.started), ("corp", &started));
        assert!(guard.take_login(&login.state, now).is_none(), "replayed");
        guard.begin_login("id-2", "corp", started, now);
        assert!(guard.take_login("id-2", now + LOGIN_LIFETIME).is_none());
    }

    #[test]
    fn an_assertion_is_used_once() {
        let mut guard = Guard::default();
        let now = Instant::now();
        assert!(guard.first_use_of_assertion("a-1", now));
        assert!(!guard.first_use_of_assertion("a-1", now + Duration::from_secs(60)));
        assert!(guard.first_use_of_assertion("a-2", now));
    }
}
