//! Principals by their token's name, for visitors an authenticating proxy
//! names (`[server.proxy_auth]`): the header says `dana@acme.example`, the
//! token named so says what Dana may do. The token list is read at most
//! once per `TOKEN_CACHE_TTL`, like single tokens (`cache`), so a revoked
//! or new token takes effect within that time; while the database is away
//! the last list read keeps acting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::cache::TOKEN_CACHE_TTL;
use super::{Principal, Role};
use crate::store::{Store, StoreError};

pub struct TokenNames {
    store: Store,
    /// Valid tokens' principals by name, and when they were read.
    read: Mutex<Option<(HashMap<String, Principal>, Instant)>>,
}

impl TokenNames {
    pub fn new(store: Store) -> TokenNames {
        TokenNames {
            store,
            read: Mutex::new(None),
        }
    }

    /// The principal of the newest unrevoked token named `name`.
    pub async fn principal(&self, name: &str) -> Result<Option<Principal>, StoreError> {
        if let Some((names, at)) = &*self.lock()
            && at.elapsed() < TOKEN_CACHE_TTL
        {
            return Ok(names.get(name).cloned());
        }
        let names = match self.store.tokens().await {
            Ok(tokens) => by_name(tokens),
            Err(e) if e.is_unavailable() => {
                return match &*self.lock() {
                    Some((names, _)) => Ok(names.get(name).cloned()),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let found = names.get(name).cloned();
        *self.lock() = Some((names, Instant::now()));
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(HashMap<String, Principal>, Instant)>> {
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Tokens come oldest first: a newer token of the same name wins.
fn by_name(tokens: Vec<crate::store::TokenRecord>) -> HashMap<String, Principal> {
    tokens
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .filter_map(|t| {
            let role = Role::parse(&t.role)?;
            let principal = Principal {
                token_id: Some(t.id),
                name: t.name.clone(),
                role,
                team: t.team,
            };
            Some((t.name, principal))
        })
        .collect()
}
