//! SAML 2.0 sign-in, as AppStream does it: the identity provider posts a
//! signed SAML response to the provider's assertion consumer service, either
//! unasked (IdP-initiated, with a RelayState naming the stack and app) or in
//! answer to an AuthnRequest Porthole sent (SP-initiated, HTTP-Redirect).
//!
//! The XML signature is checked by samael with xmlsec against the signing
//! certificate of the provider's metadata, and what is not covered by a valid
//! signature is cut away before anything is read (no signature wrapping).
//! samael also checks the destination, the issuer, the issue instant and the
//! conditions' times and audience; [`accept`] then requires what samael lets
//! pass when absent: an audience restriction naming Porthole and a bearer
//! subject confirmation for this ACS, in time. Replays (an assertion ID seen
//! before) and InResponseTo are the portal's (portal/federation.rs).

use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use porthole_control::entitlement::Attribute;
use samael::metadata::{EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING};
use samael::schema::Assertion;
use samael::service_provider::{Error as SamlError, ServiceProvider, ServiceProviderBuilder};

use crate::config::SamlConfig;
use crate::credentials::random_bytes;
use crate::oidc::FederatedIdentity;
use crate::portal::escape;

/// Clock skew allowed between Porthole and the provider.
const CLOCK_SKEW_SECS: i64 = 180;
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// xmlsec and libxml2 keep global state: one check at a time.
static XMLSEC: Mutex<()> = Mutex::new(());

/// A response Porthole accepted: who, and what the portal still checks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) identity: FederatedIdentity,
    pub(crate) assertion_id: String,
    /// The AuthnRequest it answers; None when IdP-initiated.
    pub(crate) in_response_to: Option<String>,
}

pub(crate) struct SamlProvider {
    pub(crate) config: SamlConfig,
    sp: ServiceProvider,
    sso_url: Option<String>,
}

pub(crate) struct SamlProviders {
    providers: Vec<SamlProvider>,
}

impl SamlProviders {
    /// Reads each provider's metadata; `base_url` makes Porthole's entity id
    /// and ACS URL.
    pub(crate) fn new(configs: Vec<SamlConfig>, base_url: &str) -> Result<Self> {
        let providers = configs
            .into_iter()
            .map(|config| {
                let name = config.name.clone();
                SamlProvider::new(config, base_url)
                    .with_context(|| format!("SAML identity provider {name}"))
            })
            .collect::<Result<_>>()?;
        Ok(Self { providers })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&SamlProvider> {
        self.providers.iter().find(|p| p.config.name == name)
    }

    pub(crate) fn configs(&self) -> impl Iterator<Item = &SamlConfig> {
        self.providers.iter().map(|p| &p.config)
    }
}

impl SamlProvider {
    fn new(config: SamlConfig, base_url: &str) -> Result<Self> {
        let path = &config.idp_metadata;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading its metadata {}", path.display()))?;
        let metadata: EntityDescriptor = text
            .parse()
            .with_context(|| format!("parsing its metadata {}", path.display()))?;
        let entity_id = format!("{base_url}/portal/saml/{}", config.name);
        let sp = ServiceProviderBuilder::default()
            .entity_id(entity_id.clone())
            .metadata_url(format!("{entity_id}/metadata"))
            .acs_url(format!("{entity_id}/acs"))
            .slo_url(None)
            .idp_metadata(metadata)
            // InResponseTo is checked by the portal, which knows the requests.
            .allow_idp_initiated(true)
            .max_clock_skew(Duration::seconds(CLOCK_SKEW_SECS))
            .build()
            .context("making the service provider")?;
        // Without a certificate samael would accept unsigned responses.
        match sp.idp_signing_certs() {
            Ok(Some(certs)) if !certs.is_empty() => {}
            Ok(_) => bail!("its metadata {} has no signing certificate", path.display()),
            Err(err) => bail!("its metadata's certificate: {err}"),
        }
        let sso_url = sp.sso_binding_location(HTTP_REDIRECT_BINDING);
        Ok(Self {
            config,
            sp,
            sso_url,
        })
    }

    pub(crate) fn entity_id(&self) -> &str {
        self.sp.entity_id.as_deref().unwrap_or_default()
    }

    pub(crate) fn acs_url(&self) -> &str {
        self.sp.acs_url.as_deref().unwrap_or_default()
    }

    /// Porthole's service-provider metadata, for the IdP's administrator:
    /// its entity id and ACS (HTTP-POST), wanting signed assertions.
    /// Written here: samael's requires a logout endpoint Porthole has not.
    pub(crate) fn metadata_xml(&self) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{HTTP_POST_BINDING}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
            entity_id = escape(self.entity_id()),
            acs = escape(self.acs_url()),
        )
    }

    /// An AuthnRequest for the IdP's HTTP-Redirect endpoint: its ID (which
    /// the answer's InResponseTo names) and where to send the browser.
    pub(crate) fn authn_request(&self, relay_state: &str) -> Result<(String, String)> {
        let sso_url = self
            .sso_url
            .as_deref()
            .context("its metadata names no HTTP-Redirect sign-in endpoint")?;
        let mut request = self
            .sp
            .make_authentication_request(sso_url)
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        // samael's IDs carry 32 random bits; a request ID is a secret here.
        request.id = format!("id-{}", hex::encode(random_bytes(16)));
        let url = request
            .redirect(relay_state)
            .map_err(|err| anyhow::anyhow!("{err}"))?
            .context("no destination")?;
        Ok((request.id, url.into()))
    }

    /// Checks the base64 `SAMLResponse` of a POST to the ACS.
    pub(crate) fn check_response(
        &self,
        encoded: &str,
        now: DateTime<Utc>,
    ) -> Result<Accepted, String> {
        let compact: String = encoded.split_ascii_whitespace().collect();
        let xml = STANDARD
            .decode(compact)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or("the response is not base64-encoded XML")?;
        let assertion = {
            let _one = XMLSEC
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.sp.parse_xml_response(&xml, None)
        }
        .map_err(|err| refusal(&err))?;
        accept(&assertion, self, now)
    }
}

/// samael's refusals, in words for the page.
fn refusal(err: &SamlError) -> String {
    match err {
        SamlError::FailedToValidateSignature | SamlError::FailedToParseSamlResponse => {
            "the response is not signed by the identity provider, or was altered".into()
        }
        SamlError::DestinationValidationError { .. } => {
            "the response was sent to another address".into()
        }
        SamlError::AssertionExpired { .. }
        | SamlError::ResponseExpired { .. }
        | SamlError::AssertionConditionExpired { .. } => "the response has expired".into(),
        SamlError::AssertionConditionExpiredBefore { .. } => "the response is not valid yet".into(),
        SamlError::AssertionIssuerMismatch { .. } | SamlError::ResponseIssuerMismatch { .. } => {
            "the response is from another identity provider".into()
        }
        SamlError::AssertionConditionAudienceRestrictionFailed { .. } => {
            "the response was issued for another service".into()
        }
        SamlError::ResponseBadStatusCode { code } => {
            format!("the identity provider did not sign you in ({code})")
        }
        other => format!("the response was refused ({other})"),
    }
}

/// What Porthole requires of an assertion samael verified, at `now`.
fn accept(
    assertion: &Assertion,
    provider: &SamlProvider,
    now: DateTime<Utc>,
) -> Result<Accepted, String> {
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    let for_porthole = assertion
        .conditions
        .as_ref()
        .and_then(|c| c.audience_restrictions.as_ref())
        .is_some_and(|restrictions| {
            restrictions
                .iter()
                .all(|r| r.audience.iter().any(|a| a == provider.entity_id()))
        });
    if !for_porthole {
        return Err("the response does not say it was issued for Porthole".into());
    }
    let subject = assertion
        .subject
        .as_ref()
        .ok_or("the response names no user")?;
    let confirmation = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .find_map(|c| c.subject_confirmation_data.as_ref())
        .ok_or("the response has no bearer confirmation")?;
    if confirmation
        .recipient
        .as_deref()
        .is_some_and(|r| r != provider.acs_url())
    {
        return Err("the response was sent to another address".into());
    }
    match confirmation.not_on_or_after {
        Some(until) if now < until + skew => {}
        _ => return Err("the response has expired".into()),
    }
    let user_id = subject
        .name_id
        .as_ref()
        .map(|n| n.value.trim().to_owned())
        .filter(|id| !id.is_empty())
        .ok_or("the response names no user")?;
    let mut attributes: Vec<Attribute> = assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|statement| &statement.attributes)
        .flat_map(|saml| {
            let names: Vec<&String> = provider
                .config
                .attributes
                .iter()
                .filter(|(_, wanted)| saml.name.as_ref() == Some(wanted))
                .map(|(name, _)| name)
                .collect();
            names.into_iter().flat_map(|name| {
                saml.values
                    .iter()
                    .filter_map(|v| v.value.as_deref().map(str::trim))
                    .filter(|v| !v.is_empty())
                    .map(|value| Attribute {
                        name: name.clone(),
                        value: value.to_owned(),
                    })
            })
        })
        .collect();
    attributes.sort();
    attributes.dedup();
    Ok(Accepted {
        identity: FederatedIdentity {
            user_id,
            attributes,
        },
        assertion_id: assertion.id.clone(),
        in_response_to: confirmation.in_response_to.clone(),
    })
}
