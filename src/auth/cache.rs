//! Token lookups without a database read per request. A token's record is
//! read at most once per `ttl` (5 s), so `okrd token revoke` and a token
//! made by `okrd token create` in another process take effect within that
//! time. Unknown ids are remembered too, in a bounded map, so garbage
//! tokens cannot turn into a database query each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Principal, Role, token};
use crate::store::{Store, StoreError, TokenRecord};

/// How long a token read from the database is trusted.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Entries kept before the map is emptied (a flood of made-up ids).
const MAX_ENTRIES: usize = 10_000;

pub struct TokenCache {
    store: Store,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    record: Option<TokenRecord>,
    read_at: Instant,
}

impl TokenCache {
    pub fn new(store: Store) -> TokenCache {
        TokenCache {
            store,
            ttl: TOKEN_CACHE_TTL,
            entries: Mutex::new(HashMap::new()),
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
                let record = self.store.token(id).await?;
                let mut entries = self.lock();
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(
                    id.to_string(),
                    Entry {
                        record: record.clone(),
                        read_at: Instant::now(),
                    },
                );
                record
            }
        };
        Ok(record.and_then(|r| principal(token, r)))
    }

    fn cached(&self, id: &str) -> Option<Option<TokenRecord>> {
        let entries = self.lock();
        let e = entries.get(id)?;
        (e.read_at.elapsed() < self.ttl).then(|| e.record.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
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
