//! Messages to user-pool users (welcome, stack assigned). Each is first
//! written as an RFC 5322 `.eml` file into the data directory's outbox, so
//! none is ever lost. With an SMTP server configured it is then sent and
//! moved to `outbox/sent/`; one that could not be sent stays in the outbox
//! and is retried every minute (and at the next start). Without SMTP the
//! outbox is where an administrator (or a relay) picks messages up.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::credentials::random_bytes;

pub(crate) const OUTBOX_DIR: &str = "outbox";
const SENT_DIR: &str = "sent";
const DEFAULT_FROM: &str = "no-reply@porthole.invalid";
/// How often messages that could not be sent are tried again.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) struct Message {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) body: String,
}

impl Message {
    /// The message as an .eml file (plain text, UTF-8).
    fn to_eml(&self, from: &str, date: SystemTime, id: &str) -> String {
        format!(
            "From: Porthole <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\
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

/// A forgot-password code.
pub(crate) fn password_reset(to: &str, code: &str, portal: &str) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Your Porthole password reset code".to_owned(),
        body: format!(
            "Hello,\n\nSomeone (we hope you) asked to reset your Porthole password.\n\n\
             Code: {code}\n\nEnter it at {portal}portal/reset within 24 hours. \
             If it was not you, ignore this message: your password stays as it is.\n"
        ),
    }
}

pub(crate) struct Mailer {
    dir: PathBuf,
    from: Address,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Mailer {
    /// `smtp_url` as lettre reads it: `smtp://host:port` (plain;
    /// `?tls=required` for STARTTLS), `smtps://host:port` (TLS), with
    /// `user:password@` to authenticate.
    pub(crate) fn new(data_dir: &Path, smtp_url: Option<&str>, from: Option<&str>) -> Result<Self> {
        let from = from.unwrap_or(DEFAULT_FROM);
        let smtp = smtp_url
            .map(|url| {
                // The URL may hold a password: the error does not repeat it.
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map(|builder| builder.build())
                    .map_err(|err| anyhow!("the SMTP URL is not valid: {err}"))
            })
            .transpose()?;
        Ok(Self {
            dir: data_dir.join(OUTBOX_DIR),
            from: from
                .parse()
                .map_err(|err| anyhow!("the sender address {from} is not valid: {err}"))?,
            smtp,
        })
    }

    pub(crate) fn sends_by_smtp(&self) -> bool {
        self.smtp.is_some()
    }

    /// Writes the message to the outbox and, with SMTP, sends it; answers
    /// where the file is. A failed send is retried later, not lost.
    pub(crate) async fn deliver(&self, message: &Message) -> Result<PathBuf> {
        let path = self.write(message)?;
        if self.smtp.is_none() {
            return Ok(path);
        }
        match self.send(&path).await {
            Ok(sent) => Ok(sent),
            Err(err) => {
                tracing::warn!("sending {} failed, will retry: {err:#}", path.display());
                Ok(path)
            }
        }
    }

    /// Tries every message still in the outbox again.
    pub(crate) async fn send_pending(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let pending: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        for path in pending {
            if let Err(err) = self.send(&path).await {
                tracing::warn!("sending {} failed, will retry: {err:#}", path.display());
            }
        }
    }

    /// Sends one outbox file by SMTP and moves it to `sent/`.
    async fn send(&self, path: &Path) -> Result<PathBuf> {
        let smtp = self.smtp.as_ref().context("no SMTP server is configured")?;
        let eml = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let to =
            recipient(&eml).with_context(|| format!("{} names no recipient", path.display()))?;
        let envelope = Envelope::new(Some(self.from.clone()), vec![to])
            .map_err(|err| anyhow!("the envelope: {err}"))?;
        smtp.send_raw(&envelope, &eml)
            .await
            .map_err(|err| anyhow!("the SMTP server refused the message: {err}"))?;
        let sent_dir = self.dir.join(SENT_DIR);
        std::fs::create_dir_all(&sent_dir)
            .with_context(|| format!("creating {}", sent_dir.display()))?;
        let sent = sent_dir.join(path.file_name().context("an outbox file has a name")?);
        std::fs::rename(path, &sent).with_context(|| format!("moving {}", path.display()))?;
        Ok(sent)
    }

    /// Writes the message, complete or not at all (written aside, then
    /// renamed), and answers its path.
    fn write(&self, message: &Message) -> Result<PathBuf> {
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
        std::fs::write(&partial, message.to_eml(self.from.as_ref(), now, &id))
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("moving the message to {}", path.display()))?;
        Ok(path)
    }
}

/// The address of an .eml file's To header.
fn recipient(eml: &[u8]) -> Option<Address> {
    let text = std::str::from_utf8(eml).ok()?;
    let headers = text.split("\r\n\r\n").next()?;
    headers
        .split("\r\n")
        .find_map(|line| line.strip_prefix("To: "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_message_is_a_complete_eml_file_in_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(dir.path(), None, None).unwrap();
        let path = mailer
            .write(&Message {
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
