//! Messages to user-pool users (welcome, stack assigned). They are written
//! as RFC 5322 `.eml` files into the data directory's outbox, so none is
//! ever lost; an administrator (or a mail relay) picks them up from there.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::credentials::random_bytes;

pub(crate) const OUTBOX_DIR: &str = "outbox";
const FROM: &str = "Porthole <no-reply@porthole.invalid>";

pub(crate) struct Message {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) body: String,
}

impl Message {
    /// The message as an .eml file (plain text, UTF-8).
    fn to_eml(&self, date: SystemTime, id: &str) -> String {
        format!(
            "From: {FROM}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\
             Message-ID: <{id}@porthole.invalid>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
            to = header_value(&self.to),
            subject = header_value(&self.subject),
            date = httpdate::fmt_http_date(date),
            body = self.body.replace("\r\n", "\n").replace('\n', "\r\n"),
        )
    }
}

/// A header's value on one line: a line break would start a header of the
/// sender's choosing.
fn header_value(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

/// The welcome message: the portal link and a temporary password.
pub(crate) fn welcome(to: &str, first_name: Option<&str>, portal: &str, password: &str) -> Message {
    let greeting = first_name.map_or("Hello,".to_owned(), |name| format!("Hello {name},"));
    Message {
        to: to.to_owned(),
        subject: "Your Porthole account".to_owned(),
        body: format!(
            "{greeting}\n\nAn account was made for you on Porthole.\n\n\
             Sign in at: {portal}\nEmail: {to}\nTemporary password: {password}\n\n\
             The temporary password works for 7 days; you choose your own password at \
             your first sign-in.\n"
        ),
    }
}

/// A stack was assigned to the user.
pub(crate) fn stack_assigned(to: &str, stack: &str, portal: &str) -> Message {
    Message {
        to: to.to_owned(),
        subject: format!("New applications for you: {stack}"),
        body: format!(
            "Hello,\n\nThe applications of {stack} are now yours to use on Porthole.\n\n\
             Sign in at: {portal}\n"
        ),
    }
}

pub(crate) struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(OUTBOX_DIR),
        }
    }

    /// Writes the message, complete or not at all (written aside, then
    /// renamed), and answers its path.
    pub(crate) fn deliver(&self, message: &Message) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let id = format!("{secs}-{}", hex::encode(random_bytes(6)));
        let path = self.dir.join(format!("{id}.eml"));
        let partial = self.dir.join(format!(".{id}.eml.partial"));
        std::fs::write(&partial, message.to_eml(now, &id))
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("moving the message to {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_message_is_a_complete_eml_file_in_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path());
        let path = outbox
            .deliver(&Message {
                to: "ana@example.com\r\nBcc: eve@example.com".into(),
                subject: "Welcome".into(),
                body: "line one\nline two\n".into(),
            })
            .unwrap();
        assert_eq!(path.parent().unwrap(), dir.path().join(OUTBOX_DIR));
        let eml = std::fs::read_to_string(&path).unwrap();
        assert!(
            eml.contains("\r\nTo: ana@example.com  Bcc: eve@example.com\r\n"),
            "{eml}"
        );
        assert!(!eml.contains("\r\nBcc:"), "no injected header: {eml}");
        assert!(eml.ends_with("\r\n\r\nline one\r\nline two\r\n"), "{eml}");
        let names: Vec<_> = std::fs::read_dir(dir.path().join(OUTBOX_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no partial file left: {names:?}");
    }
}
