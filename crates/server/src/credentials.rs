//! The administrator's API credentials: from PORTHOLE_ACCESS_KEY_ID /
//! PORTHOLE_SECRET_ACCESS_KEY when set, otherwise generated once and kept in
//! DATA_DIR/credentials (mode 0600) in the AWS shared-credentials format, so
//! `AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials aws appstream ...` works.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub const FILE_NAME: &str = "credentials";

pub fn load_or_create(data_dir: &Path) -> Result<Credentials> {
    let from_env = (
        std::env::var("PORTHOLE_ACCESS_KEY_ID"),
        std::env::var("PORTHOLE_SECRET_ACCESS_KEY"),
    );
    if let (Ok(access_key_id), Ok(secret_access_key)) = from_env {
        if access_key_id.is_empty() || secret_access_key.is_empty() {
            bail!("PORTHOLE_ACCESS_KEY_ID and PORTHOLE_SECRET_ACCESS_KEY must not be empty");
        }
        return Ok(Credentials {
            access_key_id,
            secret_access_key,
        });
    }
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).with_context(|| format!("reading {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let credentials = Credentials {
                access_key_id: format!("PH{}", random_text(18, ALPHABET_UPPER)),
                secret_access_key: random_text(40, ALPHABET_MIXED),
            };
            let text = format!(
                "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                credentials.access_key_id, credentials.secret_access_key
            );
            write_private_file(&path, text.as_bytes())?;
            Ok(credentials)
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Creates `path` readable by its owner only (it must not exist yet) and writes `bytes`:
/// for secrets (credentials, TLS keys).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn parse(text: &str) -> Result<Credentials> {
    let value = |name: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_owned())
            .with_context(|| format!("no {name} in the credentials file"))
    };
    Ok(Credentials {
        access_key_id: value("aws_access_key_id")?,
        secret_access_key: value("aws_secret_access_key")?,
    })
}

const ALPHABET_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALPHABET_MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `len` characters drawn uniformly from `alphabet` (whose size divides 256).
fn random_text(len: usize, alphabet: &[u8]) -> String {
    random_bytes(len)
        .into_iter()
        .map(|b| char::from(alphabet[usize::from(b) % alphabet.len()]))
        .collect()
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    let mut urandom = std::fs::File::open("/dev/urandom").expect("/dev/urandom exists on Linux");
    std::io::Read::read_exact(&mut urandom, &mut bytes).expect("reading /dev/urandom");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.access_key_id, again.access_key_id);
        assert_eq!(first.secret_access_key, again.secret_access_key);
        assert_eq!(first.secret_access_key.len(), 40);
        assert!(!format!("{first:?}").contains(&first.secret_access_key));
    }
}
