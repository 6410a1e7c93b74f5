//! The users file (`users.toml`): who may log in, with which argon2id
//! password hash, and the identity forwarded to backends for them.
//!
//! Everything is checked at load, so a request never meets a malformed hash
//! or a name that cannot be sent as a header value.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use argon2::password_hash::{self, PasswordHashString, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;

/// OWASP's argon2id recommendation: 19 MiB of memory, 2 passes, 1 lane.
const ARGON2_MEMORY_KIB: u32 = 19_456;
const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// One account. `Debug` leaves out the password hash, so a user can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The login name, also sent upstream as the user identity header.
    pub name: String,
    /// Sent upstream in the email identity header when present.
    pub email: Option<String>,
    /// Sent upstream comma-separated, hence no commas inside a group name.
    pub groups: Vec<String>,
    /// An argon2id PHC string; only [`Users::verify`] looks at it.
    password: PasswordHashString,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// All accounts of the users file, looked up by name.
#[derive(Debug, Clone)]
pub struct Users {
    by_name: HashMap<String, User>,
    /// Verified against for unknown names, so that the time a login takes
    /// does not reveal which names exist.
    dummy: PasswordHashString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    #[serde(default)]
    user: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    password: Spanned<String>,
    email: Option<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
}

impl Users {
    /// Reads and checks the users file. Also hashes a random password once
    /// (tens of milliseconds) for [`Users::verify`]'s unknown-user path.
    pub fn load(path: &Path) -> Result<Users, ConfigError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::unreadable(path, "login.users_file", &e))?;
        let raw: RawUsers =
            toml::from_str(&source).map_err(|e| ConfigError::from_toml(path, &source, &e))?;
        let mut by_name = HashMap::with_capacity(raw.user.len());
        let mut order: Vec<&str> = Vec::with_capacity(raw.user.len());
        for (i, raw_user) in raw.user.iter().enumerate() {
            let error = |field: &str, at: &Spanned<String>, reason: String| {
                ConfigError::new(path, format!("user[{i}].{field}"), reason)
                    .at_span(&source, at.span())
            };
            let name = raw_user.name.get_ref();
            if let Some(reason) = header_unsafe(name, false) {
                return Err(error("name", &raw_user.name, format!("{name:?} {reason}")));
            }
            if let Some(first) = order.iter().position(|n| n == name) {
                let reason = format!("{name:?} is already defined by user[{first}]");
                return Err(error("name", &raw_user.name, reason));
            }
            let password = parse_argon2id(raw_user.password.get_ref()).map_err(|why| {
                error(
                    "password",
                    &raw_user.password,
                    format!("user {name:?}: {why}"),
                )
            })?;
            if let Some(email) = &raw_user.email {
                if let Some(reason) = header_unsafe(email.get_ref(), false) {
                    let reason = format!("user {name:?}: {:?} {reason}", email.get_ref());
                    return Err(error("email", email, reason));
                }
            }
            for group in &raw_user.groups {
                if let Some(reason) = header_unsafe(group.get_ref(), true) {
                    let reason = format!("user {name:?}: {:?} {reason}", group.get_ref());
                    return Err(error("groups", group, reason));
                }
            }
            order.push(name);
            let user = User {
                name: name.clone(),
                email: raw_user.email.as_ref().map(|e| e.get_ref().clone()),
                groups: raw_user
                    .groups
                    .iter()
                    .map(|g| g.get_ref().clone())
                    .collect(),
                password,
            };
            by_name.insert(name.clone(), user);
        }
        let random = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy = hash(random.as_str()).map_err(|e| {
            ConfigError::new(path, "", format!("cannot prepare password checks: {e}"))
        })?;
        Ok(Users { by_name, dummy })
    }

    /// The account named exactly `name` (case-sensitive), e.g. to check on
    /// reload that a session's user still exists.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    /// How many accounts the file holds.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when nobody can log in (public routes still work).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The user, if `password` is theirs. Blocking and CPU-heavy by design
    /// (an argon2id hash): call it from `spawn_blocking`. Unknown names cost
    /// the same as wrong passwords, and the comparison is constant-time.
    pub fn verify(&self, name: &str, password: &str) -> Option<User> {
        let user = self.by_name.get(name);
        let hash = user.map_or(&self.dummy, |u| &u.password);
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &hash.password_hash())
            .is_ok();
        user.filter(|_| matches).cloned()
    }
}

/// Hashes `password` as argon2id (m=19456 KiB, t=2, p=1) with a fresh random
/// salt, as a PHC string for the users file.
///
/// # Panics
/// Only if `password` is longer than 4 GiB, argon2's input limit.
pub fn hash_password(password: &str) -> String {
    hash(password)
        .expect("argon2id with constant, valid parameters hashes any password under 4 GiB")
        .to_string()
}

fn hash(password: &str) -> Result<PasswordHashString, password_hash::Error> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)?;
    Ok(hash.serialize())
}

/// Accepts only a complete argon2id PHC string. The reason never quotes the
/// value: a rejected "hash" may well be a plaintext password.
fn parse_argon2id(text: &str) -> Result<PasswordHashString, String> {
    let hint = "store the output of `gatehouse hash-password`";
    let Ok(phc) = PasswordHashString::new(text) else {
        return Err(format!("the password is not a PHC hash string; {hint}"));
    };
    let hash = phc.password_hash();
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!(
            "the password is hashed with {}, only argon2id is accepted; {hint}",
            hash.algorithm
        ));
    }
    if hash.salt.is_none() || hash.hash.is_none() || Params::try_from(&hash).is_err() {
        return Err(format!(
            "the password is an incomplete argon2id hash; {hint}"
        ));
    }
    Ok(phc)
}

/// Why `value` cannot be forwarded in an identity header, if it cannot.
/// Control characters would split or end the header; surrounding spaces are
/// stripped by HTTP parsers; commas separate groups.
fn header_unsafe(value: &str, is_group: bool) -> Option<&'static str> {
    if value.trim().is_empty() {
        Some("must not be empty")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if value.trim() != value {
        Some("must not start or end with spaces")
    } else if is_group && value.contains(',') {
        Some("must not contain a comma (groups are sent comma-separated)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// One real hash shared by the tests: argon2 is slow in debug builds.
    fn alice_hash() -> &'static str {
        static HASH: OnceLock<String> = OnceLock::new();
        HASH.get_or_init(|| hash_password("correct horse"))
    }

    fn write(body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("users.toml");
        std::fs::write(&path, body).expect("write users.toml");
        (dir, path)
    }

    fn load_err(body: &str) -> (std::path::PathBuf, ConfigError) {
        let (_dir, path) = write(body);
        let err = Users::load(&path).expect_err("expected an error");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
        (path, err)
    }

    fn user(name: &str, password: &str, extra: &str) -> String {
        format!("[[user]]\nname = {name:?}\npassword = {password:?}\n{extra}\n")
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let hash = alice_hash();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_ne!(hash, hash_password("correct horse"), "salted");
    }

    #[test]
    fn round_trip() {
        let body = user(
            "alice",
            alice_hash(),
            "email = \"a@example.com\"\ngroups = [\"staff\"]",
        ) + &user("bob", alice_hash(), "");
        let (_dir, path) = write(&body);
        let users = Users::load(&path).expect("valid users file");
        assert_eq!(users.len(), 2);
        let alice = users
            .verify("alice", "correct horse")
            .expect("right password");
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.email.as_deref(), Some("a@example.com"));
        assert_eq!(alice.groups, ["staff"]);
        assert_eq!(users.get("alice"), Some(&alice));
        assert_eq!(users.get("bob").map(|u| u.email.clone()), Some(None));
        assert!(users.verify("alice", "wrong horse").is_none());
        assert!(users.verify("Alice", "correct horse").is_none());
        assert!(users.verify("mallory", "correct horse").is_none());
        assert!(
            !format!("{alice:?}").contains("argon2"),
            "Debug hides the hash"
        );
    }

    #[test]
    fn rejects_everything_but_argon2id() {
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::generate(&mut rand::rngs::OsRng))
            .unwrap()
            .to_string();
        let bcrypt = "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m";
        let incomplete = "$argon2id$v=19$m=19456,t=2,p=1";
        let cases = [
            ("hunter2", "not a PHC hash string"),
            (bcrypt, "not a PHC hash string"),
            (&argon2i, "hashed with argon2i, only argon2id"),
            (incomplete, "incomplete argon2id hash"),
        ];
        for (password, expected) in cases {
            let (path, err) = load_err(&user("alice", password, ""));
            assert_eq!(err.file(), path.as_path());
            assert_eq!(err.key(), "user[0].password");
            assert_eq!(err.position().map(|p| (p.line, p.column)), Some((3, 12)));
            assert!(err.reason().starts_with("user \"alice\": "), "{err}");
            assert!(err.reason().contains(expected), "{err}");
            assert!(!err.to_string().contains(password), "never echo: {err}");
        }
    }

    #[test]
    fn rejects_duplicates_and_unknown_keys() {
        let body = user("alice", alice_hash(), "") + &user("alice", alice_hash(), "");
        let (_, err) = load_err(&body);
        assert_eq!(err.key(), "user[1].name");
        assert_eq!(err.reason(), "\"alice\" is already defined by user[0]");
        assert_eq!(err.position().map(|p| p.line), Some(6));

        let (_, err) = load_err(&user("alice", alice_hash(), "admin = true"));
        assert_eq!(err.key(), "user[0].admin");
        assert!(err.reason().starts_with("unknown key"), "{err}");
        let (_, err) = load_err("[[user]]\nname = \"alice\"\n");
        assert_eq!(err.key(), "user[0].password");
        assert_eq!(err.reason(), "missing key `password`");
    }

    #[test]
    fn rejects_header_unsafe_values() {
        let cases = [
            (
                user("", alice_hash(), ""),
                "user[0].name",
                "must not be empty",
            ),
            (
                user("al\nice", alice_hash(), ""),
                "user[0].name",
                "control characters",
            ),
            (user(" alice", alice_hash(), ""), "user[0].name", "spaces"),
            (
                user("alice", alice_hash(), "email = \"a@b\\r\\nX-Evil: 1\""),
                "user[0].email",
                "control characters",
            ),
            (
                user("alice", alice_hash(), "groups = [\"staff,admin\"]"),
                "user[0].groups",
                "comma",
            ),
        ];
        for (body, key, expected) in cases {
            let (path, err) = load_err(&body);
            assert_eq!((err.file(), err.key()), (path.as_path(), key), "{err}");
            assert!(err.reason().contains(expected), "{err}");
            assert!(err.position().is_some(), "{err}");
        }
    }

    #[test]
    fn unreadable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let err = Users::load(&path).expect_err("missing");
        assert_eq!(err.file(), path.as_path());
        assert!(err.reason().contains("No such file"), "{err}");
    }
}
