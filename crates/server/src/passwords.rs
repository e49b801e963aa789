//! User-pool passwords: Argon2id hashes in PHC strings, the temporary
//! passwords of welcome messages, and the rule a chosen password follows.

use anyhow::{anyhow, Result};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::credentials::random_bytes;

/// The PHC string of `password` (Argon2id, the crate's OWASP-recommended
/// parameters, a fresh salt). Slow on purpose: call it off the async threads.
pub(crate) fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow!("hashing a password: {err}"))
}

/// [`hash`] on a blocking thread, for async callers.
pub(crate) async fn hash_off_thread(secret: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash(&secret))
        .await
        .map_err(|err| anyhow!("hashing a password: {err}"))?
}

/// Whether `password` matches the PHC string. Slow on purpose, like [`hash`].
pub(crate) fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A welcome message's password: 14 characters with every class the
/// password rule asks for, none easily misread (no 0/O, 1/l/I).
pub(crate) fn temporary_password() -> String {
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"#%+-=?@",
    ];
    let random = random_bytes(14);
    random
        .iter()
        .enumerate()
        .map(|(i, &byte)| {
            // The first four cover each class once; the rest draw from all.
            let class = if i < CLASSES.len() {
                CLASSES[i]
            } else {
                CLASSES[usize::from(byte) % CLASSES.len()]
            };
            char::from(class[usize::from(byte) % class.len()])
        })
        .collect()
}

/// A forgot-password code: 8 digits, easy to type from another device.
pub(crate) fn reset_code() -> String {
    let mut code = String::new();
    while code.len() < 8 {
        // Bytes of 250 and above are skipped: each digit stays equally likely.
        let digits = random_bytes(16).into_iter().filter(|b| *b < 250);
        code.extend(
            digits
                .map(|b| char::from(b'0' + b % 10))
                .take(8 - code.len()),
        );
    }
    code
}

/// The rule for a password a user chooses (AppStream's user pool rule):
/// at least 8 characters, with upper and lower case letters, a digit and a
/// symbol. The error says what is missing.
pub(crate) fn check_rule(password: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    if password.chars().count() < 8 {
        missing.push("at least 8 characters");
    }
    type Class = fn(char) -> bool;
    let checks: [(&str, Class); 4] = [
        ("an upper-case letter", char::is_uppercase),
        ("a lower-case letter", char::is_lowercase),
        ("a digit", |c| c.is_ascii_digit()),
        ("a symbol", |c| !c.is_alphanumeric() && !c.is_whitespace()),
    ];
    for (what, matches) in checks {
        if !password.chars().any(matches) {
            missing.push(what);
        }
    }
    match missing.is_empty() {
        true => Ok(()),
        false => Err(format!("The password needs {}.", missing.join(", "))),
    }
}

/// A new password from a form with its confirmation: the rule, and both the same.
pub(crate) fn check_new(password: &str, confirm: &str) -> Result<(), String> {
    check_rule(password)?;
    match password == confirm {
        true => Ok(()),
        false => Err("The two passwords differ.".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("Correct-horse-9").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("Correct-horse-9", &phc));
        assert!(!verify("correct-horse-9", &phc));
        assert!(!verify("Correct-horse-9", "not a phc string"));
        assert_ne!(
            phc,
            hash("Correct-horse-9").unwrap(),
            "each hash has its own salt"
        );
    }

    #[test]
    fn temporary_passwords_follow_the_rule_and_differ() {
        let first = temporary_password();
        assert_eq!(first.len(), 14);
        assert_eq!(check_rule(&first), Ok(()));
        assert_ne!(first, temporary_password());
    }

    #[test]
    fn the_rule_names_what_a_password_lacks() {
        assert_eq!(check_rule("Abcdef1!"), Ok(()));
        assert_eq!(
            check_rule("abc"),
            Err("The password needs at least 8 characters, an upper-case letter, a digit, a symbol.".into())
        );
    }
}
