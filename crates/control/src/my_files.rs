//! Users' files: where a user's persistent home folder is kept (AppStream's layout) and
//! which paths of My Files (the client's file panel) name something inside a folder.

use sha2::{Digest, Sha256};

use crate::session::AuthenticationType;

/// The home folder's place in storage, AppStream's layout: `user/<kind>/<SHA-256 of the
/// user id, lowercase hex>`, kind `userpool`, `federated` (SAML, and so every identity
/// provider) or `custom` (streaming URLs made by the API for any user id). No trailing '/'.
pub fn home_folder_key(authentication: AuthenticationType, user_id: &str) -> String {
    let kind = match authentication {
        AuthenticationType::Userpool => "userpool",
        AuthenticationType::Saml | AuthenticationType::AwsAd => "federated",
        AuthenticationType::Api => "custom",
    };
    let digest = Sha256::digest(user_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("user/{kind}/{hex}")
}

/// The two folders of My Files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// The persistent home folder (`~/MyFiles/HomeFolder`), when the stack has one.
    Home,
    /// The instance's temporary files (`~/MyFiles/TemporaryFiles`), gone with it.
    Temporary,
}

impl FolderKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "home" => Some(Self::Home),
            "temporary" => Some(Self::Temporary),
            _ => None,
        }
    }
}

/// Name prefix of a file being uploaded, renamed to its own name once complete; My Files
/// neither lists nor accepts such names, so a broken upload never passes for a file.
pub const PARTIAL_UPLOAD_PREFIX: &str = ".porthole-upload-";

/// Why a My Files path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    #[error("the path {0:?} leaves its folder")]
    Escapes(String),
    #[error("the path {0:?} has an empty or invalid name in it")]
    Invalid(String),
}

/// The components of `path` (relative to a folder: '/'-separated, a leading or trailing
/// '/' allowed, "" the folder itself). Refused: "..", ".", empty inner components,
/// backslashes, NUL and other control characters, names of partial uploads, names over
/// 255 bytes. Symbolic links are the resolver's business (they are never followed).
pub fn folder_path(path: &str) -> Result<Vec<&str>, PathRefused> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split('/')
        .map(|name| match name {
            ".." => Err(PathRefused::Escapes(path.to_owned())),
            "" | "." => Err(PathRefused::Invalid(path.to_owned())),
            _ if name.len() > 255
                || name.starts_with(PARTIAL_UPLOAD_PREFIX)
                || name.chars().any(|c| c == '\\' || c.is_control()) =>
            {
                Err(PathRefused::Invalid(path.to_owned()))
            }
            _ => Ok(name),
        })
        .collect()
}

/// A quota's verdict on a folder of `used` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaState {
    Within,
    /// At or past the quota: the user is told, uploads are refused and the folder turns
    /// read-only until files are deleted.
    Full,
}

pub fn quota_state(used: u64, quota: Option<u64>) -> QuotaState {
    match quota {
        Some(limit) if used >= limit => QuotaState::Full,
        _ => QuotaState::Within,
    }
}

/// Whether `incoming` more bytes fit a folder of `used` bytes.
pub fn fits(used: u64, incoming: u64, quota: Option<u64>) -> bool {
    quota.is_none_or(|limit| used.saturating_add(incoming) <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_appstreams_layout() {
        // sha256("alice@example.com")
        let alice = "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976";
        assert_eq!(
            home_folder_key(AuthenticationType::Userpool, "alice@example.com"),
            format!("user/userpool/{alice}")
        );
        assert_eq!(
            home_folder_key(AuthenticationType::Saml, "alice@example.com"),
            format!("user/federated/{alice}")
        );
        assert_eq!(
            home_folder_key(AuthenticationType::Api, "alice@example.com"),
            format!("user/custom/{alice}")
        );
        assert_ne!(
            home_folder_key(AuthenticationType::Api, "bob"),
            home_folder_key(AuthenticationType::Api, "alice@example.com")
        );
    }

    #[test]
    fn folder_paths_stay_inside() {
        assert_eq!(folder_path(""), Ok(vec![]));
        assert_eq!(folder_path("/"), Ok(vec![]));
        assert_eq!(folder_path("docs/a b.txt"), Ok(vec!["docs", "a b.txt"]));
        assert_eq!(folder_path("/docs/"), Ok(vec!["docs"]));
        assert_eq!(folder_path(".hidden"), Ok(vec![".hidden"]));
        for escape in ["..", "../../etc/passwd", "docs/../../x", "/.."] {
            assert!(
                matches!(folder_path(escape), Err(PathRefused::Escapes(_))),
                "{escape}"
            );
        }
        let long = "x".repeat(256);
        for invalid in [
            "a//b",
            "./a",
            "a/./b",
            "a\\..\\b",
            "a\0b",
            "line\nbreak",
            ".porthole-upload-1-report.pdf",
            long.as_str(),
        ] {
            assert!(
                matches!(folder_path(invalid), Err(PathRefused::Invalid(_))),
                "{invalid:?}"
            );
        }
    }

    #[test]
    fn quotas() {
        assert_eq!(quota_state(10, None), QuotaState::Within);
        assert_eq!(quota_state(9, Some(10)), QuotaState::Within);
        assert_eq!(quota_state(10, Some(10)), QuotaState::Full);
        assert!(fits(4, 6, Some(10)));
        assert!(!fits(4, 7, Some(10)));
        assert!(fits(u64::MAX, 1, None));
        assert!(!fits(u64::MAX, 1, Some(10)));
    }
}
