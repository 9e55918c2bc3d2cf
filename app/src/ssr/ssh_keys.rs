//! SSH public keys: parsed and checked once (type, strength, fingerprint), stored per account,
//! looked up by fingerprint when a git client authenticates over SSH.

use super::accounts::User;
use super::db::{Db, DbError, now};
use super::schema::{ssh_keys, users};
use crate::model::SshKeyInfo;
use crate::with_conn;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey};

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_TITLE: usize = 100;
/// Keys a user may hold.
pub const MAX_KEYS_PER_USER: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum SshKeyError {
    /// Bad input; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SshKeyError {
    fn from(e: diesel::result::Error) -> Self {
        SshKeyError::Db(DbError::Query(e))
    }
}

/// A public key that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKey {
    pub algorithm: String,
    /// `<type> <base64>`, without the comment.
    pub public_key: String,
    pub fingerprint: String,
}

fn invalid(message: impl Into<String>) -> SshKeyError {
    SshKeyError::Invalid(message.into())
}

/// The fingerprint of a key as OpenSSH prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses an OpenSSH public key line (`ssh-ed25519 AAAA… comment`) and checks it is a kind
/// GitBlixt accepts: Ed25519, ECDSA, security keys, and RSA of at least [`MIN_RSA_BITS`]; never DSA.
pub fn check_key(line: &str) -> Result<CheckedKey, SshKeyError> {
    let line = line.trim();
    if line.is_empty() {
        return Err(invalid("Paste a public key: the line of your .pub file, e.g. ssh-ed25519 AAAA… you@host."));
    }
    if line.contains("PRIVATE KEY") {
        return Err(invalid("That is a private key. Paste the public key instead (the .pub file); keep the private key secret."));
    }
    if line.lines().count() > 1 {
        return Err(invalid("A public key is one line: the content of your .pub file."));
    }
    let key = PublicKey::from_openssh(line)
        .map_err(|_| invalid("The key is not a valid OpenSSH public key. Paste the whole line of your .pub file, starting with its type (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa)."))?;
    match key.key_data() {
        KeyData::Dsa(_) => return Err(invalid("DSA keys are not accepted (they are insecure). Use an Ed25519 key: ssh-keygen -t ed25519")),
        KeyData::Rsa(rsa) => {
            let bits = rsa.n.as_positive_bytes().map_or(0, |b| b.len() * 8 - b.first().map_or(0, |x| x.leading_zeros() as usize));
            if bits < MIN_RSA_BITS {
                return Err(invalid(format!(
                    "RSA keys must have at least {MIN_RSA_BITS} bits (this one has {bits}). Use an Ed25519 key: ssh-keygen -t ed25519"
                )));
            }
        }
        KeyData::Ed25519(_) | KeyData::Ecdsa(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => {}
        _ => return Err(invalid("This type of key is not accepted. Use an Ed25519, ECDSA or RSA key.")),
    }
    let bare = PublicKey::new(key.key_data().clone(), "");
    let public_key = bare.to_openssh().map_err(|_| invalid("The key could not be read back; paste it again."))?;
    Ok(CheckedKey { algorithm: key.algorithm().as_str().to_string(), public_key: public_key.trim().to_string(), fingerprint: fingerprint(&key) })
}

fn check_title(title: &str, key_line: &str) -> Result<String, SshKeyError> {
    // Like GitLab: the key's comment is the title when none is given.
    let title = match title.trim() {
        "" => key_line.split_whitespace().nth(2).unwrap_or("").to_string(),
        t => t.to_string(),
    };
    if title.is_empty() {
        return Err(invalid("Give the key a title (e.g. the computer it is on)."));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(invalid(format!("The title is too long (at most {MAX_TITLE} characters).")));
    }
    if title.chars().any(char::is_control) {
        return Err(invalid("The title cannot contain control characters."));
    }
    Ok(title)
}

#[derive(Debug, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = ssh_keys)]
struct KeyRow {
    id: i64,
    title: String,
    algorithm: String,
    public_key: String,
    fingerprint: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<KeyRow> for SshKeyInfo {
    fn from(r: KeyRow) -> Self {
        SshKeyInfo {
            id: r.id,
            title: r.title,
            algorithm: r.algorithm,
            fingerprint: r.fingerprint,
            public_key: r.public_key,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// Adds a key to `user`'s account. A key that any account has already is refused without
/// saying whose.
pub async fn add(db: &Db, user: &User, title: &str, key_line: &str) -> Result<SshKeyInfo, SshKeyError> {
    let key = check_key(key_line)?;
    let title = check_title(title, key_line)?;
    let count: i64 = with_conn!(db, |conn| Ok::<_, DbError>(ssh_keys::table.filter(ssh_keys::user_id.eq(user.id)).count().get_result(conn).await?))?;
    if count >= MAX_KEYS_PER_USER {
        return Err(invalid(format!("An account can hold at most {MAX_KEYS_PER_USER} SSH keys. Remove one first.")));
    }
    let inserted: Result<KeyRow, DbError> = with_conn!(db, |conn| diesel::insert_into(ssh_keys::table)
        .values((
            ssh_keys::user_id.eq(user.id),
            ssh_keys::title.eq(&title),
            ssh_keys::algorithm.eq(&key.algorithm),
            ssh_keys::public_key.eq(&key.public_key),
            ssh_keys::fingerprint.eq(&key.fingerprint),
            ssh_keys::created_at.eq(now()),
        ))
        .returning(KeyRow::as_returning())
        .get_result(conn)
        .await
        .map_err(DbError::Query));
    match inserted {
        Ok(row) => {
            tracing::info!(user = %user.name, fingerprint = %row.fingerprint, "SSH key added");
            Ok(row.into())
        }
        Err(e) if e.is_unique_violation() => Err(invalid("This key is already in use. Each SSH key can belong to one account only.")),
        Err(e) => Err(e.into()),
    }
}

/// The user's keys, newest first.
pub async fn list(db: &Db, user_id: i64) -> Result<Vec<SshKeyInfo>, DbError> {
    let rows: Vec<KeyRow> = with_conn!(db, |conn| Ok::<_, DbError>(
        ssh_keys::table
            .filter(ssh_keys::user_id.eq(user_id))
            .order(ssh_keys::id.desc())
            .select(KeyRow::as_select())
            .load(conn)
            .await?
    ))?;
    Ok(rows.into_iter().map(SshKeyInfo::from).collect())
}

/// Removes one of the user's keys; whether it was theirs.
pub async fn remove(db: &Db, user_id: i64, id: i64) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::delete(ssh_keys::table.filter(ssh_keys::id.eq(id)).filter(ssh_keys::user_id.eq(user_id)))
        .execute(conn)
        .await?
        == 1))
}

/// The account a key (by fingerprint) belongs to, and the key's id.
pub async fn owner_of(db: &Db, fingerprint: &str) -> Result<Option<(i64, User)>, DbError> {
    with_conn!(db, |conn| Ok::<_, DbError>(
        ssh_keys::table
            .inner_join(users::table)
            .filter(ssh_keys::fingerprint.eq(fingerprint))
            .select((ssh_keys::id, User::as_select()))
            .first(conn)
            .await
            .optional()?
    ))
}

/// Records that the key was just used to sign in.
pub async fn mark_used(db: &Db, key_id: i64) -> Result<(), DbError> {
    with_conn!(db, |conn| {
        diesel::update(ssh_keys::table.find(key_id)).set(ssh_keys::last_used_at.eq(Some(now()))).execute(conn).await?;
        Ok::<_, DbError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

    #[test]
    fn an_ed25519_key_is_accepted_with_its_fingerprint() {
        let k = check_key(ED25519).unwrap();
        assert_eq!(k.algorithm, "ssh-ed25519");
        assert!(k.fingerprint.starts_with("SHA256:"), "{}", k.fingerprint);
        assert!(!k.public_key.contains("alice@laptop"));
        assert_eq!(check_title("", ED25519).unwrap(), "alice@laptop");
    }

    #[test]
    fn bad_keys_get_a_reason() {
        for (line, says) in [
            ("", "Paste a public key"),
            ("ssh-ed25519 not-base64!!", "not a valid OpenSSH public key"),
            ("hello world", "not a valid OpenSSH public key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "That is a private key"),
        ] {
            let e = check_key(line).unwrap_err().to_string();
            assert!(e.contains(says), "{line}: {e}");
        }
    }
}
