//! Token lookups without a database read per request. A token's record is
//! read at most once per `ttl` (5 s), so `okrd token revoke` and a token
//! made by `okrd token create` in another process take effect within that
//! time. Ids that name no token are remembered apart, in a bounded map, so
//! a flood of made-up ones cannot push out the real ones. While the
//! database is unavailable, a token read before keeps acting as it did.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Principal, Role, token};
use crate::store::{Store, StoreError, TokenRecord};

/// How long a token read from the database is trusted.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Unknown ids remembered before that map is emptied.
const MAX_UNKNOWN: usize = 10_000;

pub struct ApiTokenCache {
    store: Store,
    ttl: Duration,
    maps: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    /// Stored tokens (revoked ones too), as read at that instant.
    known: HashMap<String, (TokenRecord, Instant)>,
    /// Ids that named no token, and when that was read.
    unknown: HashMap<String, Instant>,
}

impl ApiTokenCache {
    pub fn new(store: Store) -> ApiTokenCache {
        ApiTokenCache::with_ttl(store, TOKEN_CACHE_TTL)
    }

    pub fn with_ttl(store: Store, ttl: Duration) -> ApiTokenCache {
        ApiTokenCache {
            store,
            ttl,
            maps: Mutex::new(Maps::default()),
        }
    }

    /// The principal `token` acts as, or `None` when it is unknown, malformed or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let Some(id) = token::id_of(token) else {
            return Ok(None);
        };
        let record = match self.cached(id) {
            Some(record) => record,
            None => {
                let record = match self.store.token(id).await {
                    Ok(record) => record,
                    // The database is away: a token known before still
                    // acts as it did (reads keep working from memory, and
                    // a revocation cannot be written meanwhile either).
                    Err(e) if e.is_unavailable() => match self.stale(id) {
                        Some(record) => return Ok(principal(token, record)),
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                };
                let mut maps = self.lock();
                let now = Instant::now();
                match &record {
                    Some(r) => {
                        maps.unknown.remove(id);
                        maps.known.insert(id.to_string(), (r.clone(), now));
                    }
                    None => {
                        if maps.unknown.len() >= MAX_UNKNOWN {
                            maps.unknown.clear();
                        }
                        maps.known.remove(id);
                        maps.unknown.insert(id.to_string(), now);
                    }
                }
                record
            }
        };
        Ok(record.and_then(|r| principal(token, r)))
    }

    /// `Some(record or none)` while what was read of `id` is fresh.
    fn cached(&self, id: &str) -> Option<Option<TokenRecord>> {
        let maps = self.lock();
        if let Some((r, at)) = maps.known.get(id) {
            return (at.elapsed() < self.ttl).then(|| Some(r.clone()));
        }
        let at = maps.unknown.get(id)?;
        (at.elapsed() < self.ttl).then_some(None)
    }

    /// What was last read of a known `id`, however old.
    fn stale(&self, id: &str) -> Option<TokenRecord> {
        self.lock().known.get(id).map(|(r, _)| r.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The principal of a stored token, if `token` is it and it is still valid.
fn principal(token: &str, r: TokenRecord) -> Option<Principal> {
    if r.revoked_at.is_some() || !token::matches(token, &r.hash) {
        return None;
    }
    Some(Principal {
        role: Role::parse(&r.role)?,
        token_id: Some(r.id),
        name: r.name,
        team: r.team,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditEntry;

    async fn store_with(role: Role, team: Option<&str>) -> (Store, String, String) {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let t = token::generate(role, team.map(String::from), "dana".into(), 0).unwrap();
        let audit = AuditEntry {
            actor: "test".into(),
            action: "token.create".into(),
            entity_kind: "token",
            entity_id: t.record.id.clone(),
            before: None,
            after: None,
        };
        store.insert_token(&t.record, &audit).await.unwrap();
        (store, t.token, t.record.id)
    }

    #[tokio::test]
    async fn a_token_acts_as_its_role_and_team_until_revoked() {
        let (store, token, id) = store_with(Role::Member, Some("auth")).await;
        let cache = ApiTokenCache::with_ttl(store.clone(), Duration::ZERO);
        let p = cache.authenticate(&token).await.unwrap().unwrap();
        assert_eq!(
            (p.role, p.team.as_deref(), p.name.as_str()),
            (Role::Member, Some("auth"), "dana")
        );
        assert_eq!(p.token_id.as_deref(), Some(id.as_str()));
        // Right id, wrong secret.
        let forged = format!("okrd_{id}_not-the-secret");
        assert_eq!(cache.authenticate(&forged).await.unwrap(), None);
        assert_eq!(cache.authenticate("garbage").await.unwrap(), None);
        let audit = AuditEntry {
            actor: "test".into(),
            action: "token.revoke".into(),
            entity_kind: "token",
            entity_id: id.clone(),
            before: None,
            after: None,
        };
        assert!(store.revoke_token(&id, 1, &audit).await.unwrap());
        assert_eq!(cache.authenticate(&token).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_revocation_shows_once_the_cached_record_expires() {
        let (store, token, id) = store_with(Role::Admin, None).await;
        let cache = ApiTokenCache::with_ttl(store.clone(), Duration::from_secs(3600));
        assert!(cache.authenticate(&token).await.unwrap().is_some());
        let audit = AuditEntry {
            actor: "test".into(),
            action: "token.revoke".into(),
            entity_kind: "token",
            entity_id: id.clone(),
            before: None,
            after: None,
        };
        store.revoke_token(&id, 1, &audit).await.unwrap();
        // Within the TTL the cached record still answers; a fresh cache does not.
        assert!(cache.authenticate(&token).await.unwrap().is_some());
        let fresh = ApiTokenCache::with_ttl(store, Duration::from_secs(3600));
        assert_eq!(fresh.authenticate(&token).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_known_token_still_acts_while_the_database_is_away() {
        let (store, token, _) = store_with(Role::Leader, None).await;
        let (_, other, _) = store_with(Role::Admin, None).await;
        let cache = ApiTokenCache::with_ttl(store.clone(), Duration::ZERO);
        assert!(cache.authenticate(&token).await.unwrap().is_some());
        store.close().await;
        let p = cache.authenticate(&token).await.unwrap().unwrap();
        assert_eq!(p.role, Role::Leader);
        // A token never read cannot be checked: the caller answers 503.
        let e = cache.authenticate(&other).await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
    }
}
