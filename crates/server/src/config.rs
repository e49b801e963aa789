//! `porthole serve --config FILE`: what the command line does not carry,
//! today the identity providers users may sign in with. TOML:
//!
//! ```toml
//! [[oidc]]
//! name = "corp"                       # in URLs: /portal/oidc/corp/start
//! display_name = "Corp SSO"           # the sign-in button
//! issuer = "https://id.example.com/realms/corp"
//! client_id = "porthole"
//! client_secret = "..."               # omit for a public client (PKCE only)
//! scopes = ["openid", "email", "profile", "groups"]
//! stacks = ["default"]                # the stacks its users may open
//! user_id_claim = "email"             # the session's user id (else `sub`)
//! [oidc.attributes]                   # AppStream attribute = claim (a.b for nested)
//! groups = "groups"
//! ```
//!
//! The redirect URI to register at the provider is
//! `<server URL>/portal/oidc/callback`.
//!
//! ```toml
//! [[saml]]
//! name = "adfs"                       # in URLs: /portal/saml/adfs/...
//! display_name = "Corp ADFS"
//! idp_metadata = "/etc/porthole/adfs-metadata.xml"   # entity id, SSO URL, signing certificate
//! stacks = ["default"]
//! allow_idp_initiated = true          # AppStream's way: the IdP posts unasked
//! [saml.attributes]                   # AppStream attribute = SAML attribute name
//! groups = "http://schemas.xmlsoap.org/claims/Group"
//! ```
//!
//! The service provider's metadata is served at `/portal/saml/<name>/metadata`
//! (entity id `<server URL>/portal/saml/<name>`, assertion consumer service
//! `<server URL>/portal/saml/<name>/acs`).
//!
//! ```toml
//! [home_folders]
//! quota_mib = 10240                   # per user; 0 for none (the default: 10 GiB)
//! [home_folders.s3]                   # keep them in a bucket (else on local disk only)
//! bucket = "porthole-home-folders"
//! region = "us-east-1"
//! endpoint = "http://127.0.0.1:9000"  # an S3-compatible server; omit for AWS
//! access_key_id = "..."
//! secret_access_key = "..."
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use porthole_control::entitlement::ATTRIBUTE_NAMES;
use serde::Deserialize;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub oidc: Vec<OidcConfig>,
    #[serde(default)]
    pub saml: Vec<SamlConfig>,
    #[serde(default)]
    pub home_folders: HomeFoldersConfig,
}

/// Users' persistent home folders (stacks with the HOMEFOLDERS connector).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeFoldersConfig {
    /// Per user, in MiB; 0: no quota.
    #[serde(default = "default_quota_mib")]
    pub quota_mib: u64,
    /// Keep them in an S3 bucket (this host keeps a synced copy).
    pub s3: Option<S3Config>,
}

/// The bucket of home folders. No `Debug`: it holds the secret key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// An S3-compatible server's URL; none for AWS. `http://` only on loopback.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl Default for HomeFoldersConfig {
    fn default() -> Self {
        Self {
            quota_mib: default_quota_mib(),
            s3: None,
        }
    }
}

impl HomeFoldersConfig {
    pub fn quota_bytes(&self) -> Option<u64> {
        (self.quota_mib > 0).then(|| self.quota_mib.saturating_mul(1024 * 1024))
    }
}

fn default_quota_mib() -> u64 {
    crate::home_folders::DEFAULT_QUOTA_MIB
}

/// One OpenID Connect identity provider. No `Debug`: it holds the client
/// secret, which must never reach a log.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub name: String,
    pub display_name: Option<String>,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    pub stacks: Vec<String>,
    #[serde(default = "default_user_id_claim")]
    pub user_id_claim: String,
    /// AppStream attribute name -> claim; by default each attribute from
    /// the claim of the same name.
    #[serde(default = "default_attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One SAML 2.0 identity provider, described by its metadata.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    pub name: String,
    pub display_name: Option<String>,
    pub idp_metadata: PathBuf,
    pub stacks: Vec<String>,
    #[serde(default = "default_true")]
    pub allow_idp_initiated: bool,
    /// AppStream attribute name -> SAML attribute name; by default
    /// AppStream's `https://aws.amazon.com/SAML/Attributes/PrincipalTag:<name>`.
    #[serde(default = "default_saml_attributes")]
    pub attributes: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

fn default_saml_attributes() -> BTreeMap<String, String> {
    ATTRIBUTE_NAMES
        .iter()
        .map(|name| {
            let saml = format!("https://aws.amazon.com/SAML/Attributes/PrincipalTag:{name}");
            (name.to_string(), saml)
        })
        .collect()
}

impl SamlConfig {
    pub(crate) fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).into()
}

fn default_user_id_claim() -> String {
    "email".into()
}

fn default_attributes() -> BTreeMap<String, String> {
    ATTRIBUTE_NAMES
        .iter()
        .map(|name| (name.to_string(), name.to_string()))
        .collect()
}

impl OidcConfig {
    pub(crate) fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let config: FileConfig = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if let Some(endpoint) = self
            .home_folders
            .s3
            .as_ref()
            .and_then(|s| s.endpoint.as_ref())
        {
            check_issuer(endpoint).context("home_folders.s3.endpoint")?;
        }
        for idp in &self.oidc {
            let name = &idp.name;
            check_issuer(&idp.issuer).with_context(|| format!("identity provider {name}"))?;
            if !idp.scopes.iter().any(|s| s == "openid") {
                bail!("identity provider {name}: scopes must include openid");
            }
        }
        let common = self
            .oidc
            .iter()
            .map(|i| (&i.name, &i.stacks, &i.attributes))
            .chain(
                self.saml
                    .iter()
                    .map(|i| (&i.name, &i.stacks, &i.attributes)),
            );
        let mut names = BTreeSet::new();
        let mut served = BTreeMap::new();
        for (name, stacks, attributes) in common {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("identity provider name {name:?}: use letters, digits, - and _");
            }
            if !names.insert(name) {
                bail!("two identity providers are named {name}");
            }
            if stacks.is_empty() {
                bail!("identity provider {name}: list the stacks its users may open");
            }
            for attribute in attributes.keys() {
                if !ATTRIBUTE_NAMES.contains(&attribute.as_str()) {
                    bail!(
                        "identity provider {name}: {attribute} is not an attribute entitlements \
                         match (those are {})",
                        ATTRIBUTE_NAMES.join(", ")
                    );
                }
            }
            // Federated sessions are found by user id and stack: two
            // providers could assert the same id for different people.
            for stack in stacks {
                if let Some(other) = served.insert(stack, name) {
                    bail!("identity providers {other} and {name} both serve the stack {stack}; a stack takes one");
                }
            }
        }
        Ok(())
    }
}

/// An issuer is `https://`, or `http://` on this machine's loopback (a
/// provider for tests or a local setup): tokens never cross a network in
/// the clear.
/// An identity provider's issuer, an S3 endpoint: https, or http on loopback only.
pub(crate) fn check_issuer(url: &str) -> Result<()> {
    if url.starts_with("https://") || is_loopback_http(url) {
        Ok(())
    } else {
        bail!("{url} must be an https:// URL (http:// only on loopback)")
    }
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[oidc]]
name = "corp"
issuer = "http://127.0.0.1:9000"
client_id = "porthole"
stacks = ["default"]
"#;

    #[test]
    fn a_provider_gets_the_default_scopes_user_id_and_attributes() {
        let config = FileConfig::parse(ONE).unwrap();
        let idp = &config.oidc[0];
        assert_eq!(idp.scopes, ["openid", "email", "profile"]);
        assert_eq!(idp.user_id_claim, "email");
        assert_eq!(idp.attributes.len(), ATTRIBUTE_NAMES.len());
        assert_eq!(idp.attributes["costCenter"], "costCenter");
        assert_eq!(idp.label(), "corp");
        assert!(FileConfig::parse("").unwrap().oidc.is_empty());
        let saml = FileConfig::parse(
            "[[saml]]\nname = \"adfs\"\nidp_metadata = \"m.xml\"\nstacks = [\"default\"]",
        )
        .unwrap()
        .saml
        .remove(0);
        assert!(saml.allow_idp_initiated);
        assert_eq!(
            saml.attributes["groups"],
            "https://aws.amazon.com/SAML/Attributes/PrincipalTag:groups"
        );
    }

    #[test]
    fn issuers_in_the_clear_are_refused_beyond_loopback() {
        for good in [
            "https://id.example.com/realms/x",
            "http://127.0.0.1:9000",
            "http://localhost/x",
            "http://[::1]:80",
        ] {
            assert!(check_issuer(good).is_ok(), "{good}");
        }
        for bad in [
            "http://id.example.com",
            "http://127.0.0.1.example.com",
            "ftp://x",
            "id.example.com",
        ] {
            assert!(check_issuer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (ONE.replace("\"corp\"", "\"a b\""), "use letters"),
            (format!("{ONE}{ONE}"), "two identity providers"),
            (ONE.replace("http://127", "http://10"), "https"),
            (
                ONE.replace("stacks = [\"default\"]", "stacks = []"),
                "stacks",
            ),
            (
                format!("{ONE}scopes = [\"email\"]"),
                "scopes must include openid",
            ),
            (
                format!("{ONE}[oidc.attributes]\nshoe_size = \"x\""),
                "not an attribute",
            ),
            (
                format!("{ONE}{}", ONE.replace("\"corp\"", "\"other\"")),
                "both serve the stack default",
            ),
            (format!("{ONE}colour = 1"), "unknown field"),
            (
                format!("{ONE}[[saml]]\nname = \"corp\"\nidp_metadata = \"m.xml\"\nstacks = [\"x\"]"),
                "two identity providers",
            ),
            (
                format!("{ONE}[[saml]]\nname = \"adfs\"\nidp_metadata = \"m.xml\"\nstacks = [\"default\"]"),
                "both serve the stack default",
            ),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", FileConfig::parse(&text).err().expect(expected));
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
