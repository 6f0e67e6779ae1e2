//! API tokens: `okrd_<id>_<secret>`. The id is public (it names the token in
//! `okrd token list` and audit records); the secret is 32 random bytes. The
//! store keeps only the SHA-256 of the whole token, and a presented token is
//! looked up by its id and then compared by hash in constant time, so
//! neither the lookup nor the comparison reveals how much of a guess was right.

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine as _;

use super::Role;
use crate::store::TokenRecord;

const PREFIX: &str = "okrd_";
/// Bytes of the public id (hex in the token).
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A token just made: the text to hand out once, and what to store.
pub struct NewToken {
    pub token: String,
    pub record: TokenRecord,
}

/// Makes a token for `role` (and `team`, for members) held by `name`.
pub fn generate(
    role: Role,
    team: Option<String>,
    name: String,
    now_ms: i64,
) -> Result<NewToken, String> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rand::fill(&mut id).map_err(|_| "the system random generator failed".to_string())?;
    rand::fill(&mut secret).map_err(|_| "the system random generator failed".to_string())?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{PREFIX}{id}_{secret}");
    Ok(NewToken {
        record: TokenRecord {
            hash: hash(&token),
            id,
            role: role.as_str().to_string(),
            team,
            name,
            created_at: now_ms,
            revoked_at: None,
        },
        token,
    })
}

/// The public id of a presented token, or `None` when it is not one of ours.
pub fn id_of(token: &str) -> Option<&str> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let well_formed =
        id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty();
    well_formed.then_some(id)
}

/// Hex SHA-256 of the token.
pub fn hash(token: &str) -> String {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `token` hashes to `stored_hash`, compared in constant time.
pub fn matches(token: &str, stored_hash: &str) -> bool {
    constant_time::verify_slices_are_equal(hash(token).as_bytes(), stored_hash.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_matches_its_record_and_nothing_else() {
        let t = generate(Role::Member, Some("auth".into()), "dana".into(), 1).unwrap();
        assert_eq!(id_of(&t.token), Some(t.record.id.as_str()));
        assert!(matches(&t.token, &t.record.hash));
        assert!(!t.record.hash.contains(&t.token));
        let mut wrong = t.token.clone();
        wrong.pop();
        assert!(!matches(&wrong, &t.record.hash));
        let other = generate(Role::Member, None, "kim".into(), 1).unwrap();
        assert_ne!(t.token, other.token);
        assert_ne!(t.record.id, other.record.id);
    }

    #[test]
    fn only_our_token_shape_has_an_id() {
        assert_eq!(id_of("okrd_0123456789ab_secret"), Some("0123456789ab"));
        assert_eq!(id_of("okrd_0123456789ab_"), None);
        assert_eq!(id_of("okrd_0123_secret"), None);
        assert_eq!(id_of("okrd_0123456789zz_secret"), None);
        assert_eq!(id_of("Bearer okrd_0123456789ab_secret"), None);
        assert_eq!(id_of(""), None);
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
