//! OpenID Connect sign-in: the authorization code flow with PKCE against
//! each configured provider (Keycloak, Authentik, Entra ID, Google, ...).
//! The portal (portal/federation.rs) keeps each login's state, nonce and
//! PKCE verifier; this module talks to the provider (discovery, the token
//! endpoint, its keys) and decides whether an ID token is one Porthole
//! accepts ([`verify_id_token`], pure, with time as a parameter).
//!
//! Accepted: RS256 or ES256 signatures by a key of the provider's JWKS
//! (fetched again when a token names a key not seen yet), the configured
//! issuer, Porthole's client id in `aud` (and as `azp` when there are
//! several audiences), not expired (a minute of clock skew allowed), and
//! the nonce of this login. The claims then make the session's user id and
//! AppStream attributes ([`identity`]), which entitlements match.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use porthole_control::entitlement::Attribute;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{check_issuer, OidcConfig};
use crate::credentials::random_bytes;

/// Clock skew allowed between Porthole and the provider.
const LEEWAY_SECS: u64 = 60;
/// A token naming an unknown key fetches the keys again, at most this often.
const KEYS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What one login sends and must get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) state: String,
    pub(crate) nonce: String,
    /// PKCE: only its SHA-256 goes to the browser.
    pub(crate) verifier: String,
}

impl Login {
    pub(crate) fn new() -> Self {
        let random = || URL_SAFE_NO_PAD.encode(random_bytes(32));
        Self {
            state: random(),
            nonce: random(),
            verifier: random(),
        }
    }

    fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

/// Who signed in, as the control plane sees a federated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FederatedIdentity {
    pub(crate) user_id: String,
    pub(crate) attributes: Vec<Attribute>,
}

/// Why an ID token was not accepted (shown to the user in these words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    Malformed(String),
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    Nonce,
    NoUserId,
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "the identity token is malformed ({why})"),
            Self::Algorithm => f.write_str("the identity token is not signed with RS256 or ES256"),
            Self::UnknownKey => f.write_str("the identity token is signed by an unknown key"),
            Self::Signature => f.write_str("the identity token's signature is wrong"),
            Self::Issuer => f.write_str("the identity token is from another issuer"),
            Self::Audience => f.write_str("the identity token was issued for another application"),
            Self::Expired => f.write_str("the identity token has expired"),
            Self::Nonce => f.write_str("the identity token belongs to another sign-in"),
            Self::NoUserId => f.write_str("the identity token names no user"),
        }
    }
}

/// What a token must say to be accepted.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) nonce: &'a str,
}

/// The claims of `token` if it is an ID token Porthole accepts at `now_secs`
/// (seconds since the epoch).
pub(crate) fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    expected: &Expected<'_>,
    now_secs: u64,
) -> Result<Map<String, Value>, TokenRefusal> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|err| TokenRefusal::Malformed(err.to_string()))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(TokenRefusal::Algorithm);
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a key id, only a provider with a single key is unambiguous.
        None => match keys.keys.as_slice() {
            [only] => Some(only),
            _ => None,
        },
    }
    .ok_or(TokenRefusal::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| TokenRefusal::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // Checked below against `now_secs`, not the system clock.
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|err| {
            use jsonwebtoken::errors::ErrorKind as Kind;
            match err.kind() {
                Kind::InvalidSignature => TokenRefusal::Signature,
                Kind::InvalidIssuer => TokenRefusal::Issuer,
                Kind::InvalidAudience => TokenRefusal::Audience,
                Kind::InvalidAlgorithm => TokenRefusal::Algorithm,
                _ => TokenRefusal::Malformed(err.to_string()),
            }
        })?
        .claims;
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| TokenRefusal::Malformed("exp is not a number".into()))?;
    if exp + LEEWAY_SECS <= now_secs {
        return Err(TokenRefusal::Expired);
    }
    // Several audiences: the token must say it was issued to Porthole.
    let audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != expected.client_id => return Err(TokenRefusal::Audience),
        None if audiences > 1 => return Err(TokenRefusal::Audience),
        _ => {}
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(expected.nonce) {
        return Err(TokenRefusal::Nonce);
    }
    Ok(claims)
}

/// The session's user id and attributes from accepted claims, as the
/// provider's configuration maps them.
pub(crate) fn identity(
    claims: &Map<String, Value>,
    config: &OidcConfig,
) -> Result<FederatedIdentity, TokenRefusal> {
    let user_id = [config.user_id_claim.as_str(), "sub"]
        .into_iter()
        .find_map(|claim| claims.get(claim).and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .ok_or(TokenRefusal::NoUserId)?
        .to_owned();
    let mut attributes: Vec<Attribute> = config
        .attributes
        .iter()
        .flat_map(|(name, claim)| {
            claim_values(claims, claim)
                .into_iter()
                .map(|value| Attribute {
                    name: name.clone(),
                    value,
                })
        })
        .collect();
    attributes.sort();
    attributes.dedup();
    Ok(FederatedIdentity {
        user_id,
        attributes,
    })
}

/// A claim's values by path (`realm_access.roles`): a string, each string
/// or number of a list, a number or a boolean as text.
fn claim_values(claims: &Map<String, Value>, path: &str) -> Vec<String> {
    let mut segments = path.split('.');
    let first = segments.next().and_then(|s| claims.get(s));
    let found = segments.try_fold(first, |value, segment| {
        Some(value.and_then(|v| v.get(segment)))
    });
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match found.flatten() {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(value) => text(value).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Why a sign-in did not complete.
#[derive(Debug)]
pub(crate) enum SignInFailure {
    /// The provider could not be reached or answered nonsense.
    Provider(anyhow::Error),
    /// The provider refused the code (its error, in its words).
    CodeRefused(String),
    Token(TokenRefusal),
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Discovered {
    metadata: Metadata,
    keys: JwkSet,
    keys_fetched: Instant,
}

/// One configured provider and what was learnt from it.
pub(crate) struct Provider {
    pub(crate) config: OidcConfig,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
}

pub(crate) struct OidcProviders {
    providers: Vec<Provider>,
    http: reqwest::Client,
}

impl OidcProviders {
    pub(crate) fn new(configs: Vec<OidcConfig>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("making the identity providers' HTTP client")?;
        Ok(Self {
            providers: configs
                .into_iter()
                .map(|config| Provider {
                    config,
                    discovered: tokio::sync::Mutex::new(None),
                })
                .collect(),
            http,
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.config.name == name)
    }

    pub(crate) fn configs(&self) -> impl Iterator<Item = &OidcConfig> {
        self.providers.iter().map(|p| &p.config)
    }

    /// Where to send the browser to sign in.
    pub(crate) async fn authorization_url(
        &self,
        provider: &Provider,
        login: &Login,
        redirect_uri: &str,
    ) -> Result<String> {
        let discovered = self.discover(provider).await?;
        let endpoint = &discovered.metadata.authorization_endpoint;
        let mut url = reqwest::Url::parse(endpoint)
            .with_context(|| format!("the authorization endpoint {endpoint}"))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &provider.config.scopes.join(" "))
            .append_pair("state", &login.state)
            .append_pair("nonce", &login.nonce)
            .append_pair("code_challenge", &login.challenge())
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges the callback's `code` for an ID token and accepts it or not.
    pub(crate) async fn complete(
        &self,
        provider: &Provider,
        login: &Login,
        code: &str,
        redirect_uri: &str,
        now_secs: u64,
    ) -> Result<FederatedIdentity, SignInFailure> {
        let config = &provider.config;
        let token_endpoint = self
            .discover(provider)
            .await
            .map_err(SignInFailure::Provider)?
            .metadata
            .token_endpoint
            .clone();
        let mut request = self.http.post(&token_endpoint).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &login.verifier),
            ("client_id", &config.client_id),
        ]);
        if let Some(secret) = &config.client_secret {
            // RFC 6749 2.3.1: both form-encoded inside the Basic credentials.
            request = request.basic_auth(form_encode(&config.client_id), Some(form_encode(secret)));
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling the token endpoint {token_endpoint}"))
            .map_err(SignInFailure::Provider)?;
        let status = response.status();
        let body: TokenResponse = response
            .json()
            .await
            .with_context(|| format!("reading the token endpoint's answer ({status})"))
            .map_err(SignInFailure::Provider)?;
        let id_token = match body {
            TokenResponse {
                id_token: Some(token),
                ..
            } if status.is_success() => token,
            TokenResponse {
                error,
                error_description,
                ..
            } => {
                let said = error_description
                    .or(error)
                    .unwrap_or_else(|| status.to_string());
                return Err(SignInFailure::CodeRefused(said));
            }
        };
        let expected = Expected {
            issuer: &config.issuer,
            client_id: &config.client_id,
            nonce: &login.nonce,
        };
        let claims = match self.verify(provider, &id_token, &expected, now_secs).await {
            Err(TokenRefusal::UnknownKey) => {
                self.refresh_keys(provider)
                    .await
                    .map_err(SignInFailure::Provider)?;
                self.verify(provider, &id_token, &expected, now_secs).await
            }
            verified => verified,
        }
        .map_err(SignInFailure::Token)?;
        identity(&claims, config).map_err(SignInFailure::Token)
    }

    async fn verify(
        &self,
        provider: &Provider,
        token: &str,
        expected: &Expected<'_>,
        now_secs: u64,
    ) -> Result<Map<String, Value>, TokenRefusal> {
        let discovered = provider.discovered.lock().await;
        let keys = discovered.as_ref().map(|d| &d.keys);
        verify_id_token(
            token,
            keys.ok_or(TokenRefusal::UnknownKey)?,
            expected,
            now_secs,
        )
    }

    /// The provider's metadata and keys, fetched at first use (and again
    /// after a failure).
    async fn discover<'a>(
        &self,
        provider: &'a Provider,
    ) -> Result<tokio::sync::MappedMutexGuard<'a, Discovered>> {
        let mut discovered = provider.discovered.lock().await;
        if discovered.is_none() {
            let issuer = &provider.config.issuer;
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let metadata: Metadata = self.get_json(&url).await?;
            if metadata.issuer != *issuer {
                bail!("{url} names the issuer {}, not {issuer}", metadata.issuer);
            }
            for endpoint in [
                &metadata.authorization_endpoint,
                &metadata.token_endpoint,
                &metadata.jwks_uri,
            ] {
                check_issuer(endpoint).context("an endpoint of the provider")?;
            }
            let keys = self.get_json(&metadata.jwks_uri).await?;
            *discovered = Some(Discovered {
                metadata,
                keys,
                keys_fetched: Instant::now(),
            });
        }
        Ok(tokio::sync::MutexGuard::map(discovered, |d| {
            d.as_mut().expect("filled above")
        }))
    }

    async fn refresh_keys(&self, provider: &Provider) -> Result<()> {
        let mut discovered = self.discover(provider).await?;
        if discovered.keys_fetched.elapsed() >= KEYS_REFETCH_INTERVAL {
            discovered.keys = self.get_json(&discovered.metadata.jwks_uri).await?;
            discovered.keys_fetched = Instant::now();
        }
        Ok(())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("fetching {url}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        response
            .json()
            .await
            .with_context(|| format!("reading {url}"))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// application/x-www-form-urlencoded, for the Basic credentials.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const ISSUER: &str = "http://127.0.0.1:9000";
    const CLIENT: &str = "porthole";
    const NONCE: &str = "n-0S6_WzA2Mj";
    const NOW: u64 = 1_800_000_000;

    /// A P-256 key pair: its signing key and its JWKS.
    fn key(kid: &str) -> (EncodingKey, JwkSet) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw();
        let (x, y) = point[1..].split_at(32);
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]});
        let signing = EncodingKey::from_ec_der(&pair.serialize_der());
        (signing, serde_json::from_value(jwks).unwrap())
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "u-1", "email": "eng@example.com",
            "exp": NOW + 300, "iat": NOW, "nonce": NONCE,
            "groups": ["eng", "staff"], "department": "R&D",
            "realm_access": {"roles": ["builder"]},
        })
    }

    fn sign(signing: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, signing).unwrap()
    }

    fn verify(token: &str, keys: &JwkSet) -> Result<Map<String, Value>, TokenRefusal> {
        let expected = Expected {
            issuer: ISSUER,
            client_id: CLIENT,
            nonce: NONCE,
        };
        verify_id_token(token, keys, &expected, NOW)
    }

    fn with(changes: Value) -> Value {
        let mut claims = claims();
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    #[test]
    fn a_token_from_the_provider_for_porthole_is_accepted() {
        let (signing, keys) = key("k1");
        let claims = verify(&sign(&signing, "k1", &claims()), &keys).unwrap();
        assert_eq!(claims["email"], "eng@example.com");
        let several = with(json!({"aud": [CLIENT, "other"], "azp": CLIENT}));
        assert!(verify(&sign(&signing, "k1", &several), &keys).is_ok());
        let skewed = with(json!({"exp": NOW - LEEWAY_SECS + 1}));
        assert!(verify(&sign(&signing, "k1", &skewed), &keys).is_ok());
    }

    #[test]
    fn tokens_for_others_expired_replayed_or_forged_are_refused() {
        let (signing, keys) = key("k1");
        let (other_signing, _) = key("k1");
        let cases = [
            (with(json!({"aud": "someone-else"})), TokenRefusal::Audience),
            (
                with(json!({"aud": [CLIENT, "other"], "azp": "other"})),
                TokenRefusal::Audience,
            ),
            (
                with(json!({"aud": [CLIENT, "other"]})),
                TokenRefusal::Audience,
            ),
            (
                with(json!({"iss": "http://127.0.0.1:9001"})),
                TokenRefusal::Issuer,
            ),
            (
                with(json!({"exp": NOW - LEEWAY_SECS})),
                TokenRefusal::Expired,
            ),
            (with(json!({"nonce": "another login"})), TokenRefusal::Nonce),
        ];
        for (claims, refusal) in cases {
            assert_eq!(verify(&sign(&signing, "k1", &claims), &keys), Err(refusal));
        }
        let mut no_nonce = claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(
            verify(&sign(&signing, "k1", &no_nonce), &keys),
            Err(TokenRefusal::Nonce)
        );
        let forged = sign(&other_signing, "k1", &claims());
        assert_eq!(verify(&forged, &keys), Err(TokenRefusal::Signature));
        let unknown = sign(&signing, "k2", &claims());
        assert_eq!(verify(&unknown, &keys), Err(TokenRefusal::UnknownKey));
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"the client secret"),
        )
        .unwrap();
        assert_eq!(verify(&hmac, &keys), Err(TokenRefusal::Algorithm));
        let (head, rest) = forged.split_once('.').unwrap();
        let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        assert!(verify(&none, &keys).is_err(), "{head}");
        assert!(matches!(
            verify("not a token", &keys),
            Err(TokenRefusal::Malformed(_))
        ));
    }

    fn config(attributes: &[(&str, &str)]) -> OidcConfig {
        let mut config = crate::config::FileConfig::parse(
            "[[oidc]]\nname = \"corp\"\nissuer = \"http://127.0.0.1:9000\"\nclient_id = \"porthole\"\nstacks = [\"s\"]",
        )
        .unwrap()
        .oidc
        .remove(0);
        if !attributes.is_empty() {
            config.attributes = attributes
                .iter()
                .map(|(a, c)| (a.to_string(), c.to_string()))
                .collect();
        }
        config
    }

    fn attribute(name: &str, value: &str) -> Attribute {
        Attribute {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn claims_become_the_user_id_and_attributes_entitlements_match() {
        let claims = claims().as_object().unwrap().clone();
        let found = identity(&claims, &config(&[])).unwrap();
        assert_eq!(found.user_id, "eng@example.com");
        assert_eq!(
            found.attributes,
            [
                attribute("department", "R&D"),
                attribute("groups", "eng"),
                attribute("groups", "staff"),
            ]
        );
        let mapped = identity(&claims, &config(&[("roles", "realm_access.roles")])).unwrap();
        assert_eq!(mapped.attributes, [attribute("roles", "builder")]);
        let mut no_email = claims.clone();
        no_email.remove("email");
        assert_eq!(identity(&no_email, &config(&[])).unwrap().user_id, "u-1");
        no_email.remove("sub");
        assert_eq!(
            identity(&no_email, &config(&[])),
            Err(TokenRefusal::NoUserId)
        );
    }

    #[test]
    fn pkce_challenges_are_the_verifiers_sha256_and_logins_differ() {
        let login = Login::new();
        assert_eq!(login.verifier.len(), 43);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(login.challenge()).unwrap(),
            Sha256::digest(login.verifier.as_bytes()).as_slice()
        );
        assert_ne!(Login::new(), login);
        assert_eq!(form_encode("a b:c%"), "a+b%3Ac%25");
    }
}
