//! A cache of bearer tokens obtained from a login or token-exchange call:
//! each token is kept until shortly before it expires, concurrent callers
//! for the same key share one mint, and failures are never cached.
//!
//! It knows nothing about how a token is minted; callers pass the login call
//! as a closure (Google service accounts in `google`, "log in, then use
//! the token" flows in the declarative engine).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::connectors::FetchError;

/// How long a token is kept when the login call does not say.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);

/// Longest a token is cached, whatever the issuer says (and no overflow).
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What a login call returns.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    pub token: String,
    /// Lifetime from the moment the login call was started; `None` means
    /// `DEFAULT_TOKEN_TTL` (pass `Some(..)` to use another default).
    pub expires_in: Option<Duration>,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken")
            .field("token", &"***")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Tokens by key (one key per identity and audience, e.g. account + scopes).
///
/// Cheap to share behind an `Arc`; `Debug` prints no token.
#[derive(Default)]
pub struct AccessTokenCache {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    /// Held while minting, so one caller mints and the others wait for it.
    minting: tokio::sync::Mutex<()>,
    /// Completed mint attempts, read before waiting on `minting` to tell
    /// whether the attempt a waiter queued behind has finished.
    attempts: AtomicU64,
}

#[derive(Default)]
struct SlotState {
    token: Option<CachedToken>,
    /// The outcome of the latest attempt when it failed, handed to the callers
    /// that were waiting for it (and only to them: later callers mint anew).
    last_error: Option<FetchError>,
}

struct CachedToken {
    token: Arc<str>,
    expires_at: Instant,
}

impl fmt::Debug for AccessTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenCache({} keys)", lock(&self.slots).len())
    }
}

impl AccessTokenCache {
    pub fn new() -> AccessTokenCache {
        AccessTokenCache::default()
    }

    /// The cached token for `key` if it is still valid at least `margin`
    /// before expiry, else `mint()`'s token, which is cached.
    ///
    /// Concurrent callers for the same key wait for a single mint and share
    /// its outcome, success or failure. A failed mint is not cached: the next
    /// caller mints again. A freshly minted token is returned even when it
    /// lives shorter than `margin` (it is then not reused). Cancel safe: if
    /// the minting caller is dropped, a waiter mints instead.
    pub async fn get_or_mint<F, Fut>(
        &self,
        key: &str,
        margin: Duration,
        mint: F,
    ) -> Result<Arc<str>, FetchError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<MintedToken, FetchError>>,
    {
        let slot = self.slot(key);
        let seen = slot.attempts.load(Ordering::Acquire);
        if let Some(token) = lock(&slot.state).valid_token(Instant::now() + margin) {
            return Ok(token);
        }

        let _minting = slot.minting.lock().await;
        {
            let state = lock(&slot.state);
            let now = Instant::now();
            if let Some(token) = state.valid_token(now + margin) {
                return Ok(token);
            }
            if slot.attempts.load(Ordering::Acquire) != seen {
                // The mint we queued behind has finished: share its outcome
                // rather than hitting a failing login endpoint once per waiter.
                if let Some(e) = &state.last_error {
                    return Err(e.clone());
                }
                if let Some(token) = state.valid_token(now) {
                    return Ok(token);
                }
            }
        }

        let started = Instant::now();
        let outcome = mint().await;
        let mut state = lock(&slot.state);
        let result = match outcome {
            Ok(minted) => {
                let ttl = minted
                    .expires_in
                    .unwrap_or(DEFAULT_TOKEN_TTL)
                    .min(MAX_TOKEN_TTL);
                let token: Arc<str> = minted.token.into();
                state.token = Some(CachedToken {
                    token: token.clone(),
                    // From the start of the call: the issuer's clock started
                    // no earlier, so the token cannot outlive this.
                    expires_at: started + ttl,
                });
                state.last_error = None;
                Ok(token)
            }
            Err(e) => {
                state.last_error = Some(e.clone());
                Err(e)
            }
        };
        slot.attempts.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Forget the cached token for `key` if it is still `rejected` (e.g. after
    /// a 401 with it), so the next call mints a new one. A token minted since
    /// by another caller is kept: it is not the one that was refused.
    pub fn invalidate(&self, key: &str, rejected: &str) {
        let Some(slot) = lock(&self.slots).get(key).cloned() else {
            return;
        };
        let mut state = lock(&slot.state);
        if state.token.as_ref().is_some_and(|t| &*t.token == rejected) {
            state.token = None;
        }
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        let slot = Arc::new(Slot::default());
        slots.insert(key.to_string(), slot.clone());
        slot
    }
}

impl SlotState {
    /// The cached token if it is still valid at `at`.
    fn valid_token(&self, at: Instant) -> Option<Arc<str>> {
        self.token
            .as_ref()
            .filter(|t| at < t.expires_at)
            .map(|t| t.token.clone())
    }
}

/// No code panics while holding these locks, but a poisoned map of tokens is
/// still a usable map of tokens.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures_util::FutureExt as _;

    use super::*;
    use crate::connectors::Reason;

    const MARGIN: Duration = Duration::from_secs(300);

    fn minted(token: &str, secs: u64) -> Result<MintedToken, FetchError> {
        Ok(MintedToken {
            token: token.to_string(),
            expires_in: Some(Duration::from_secs(secs)),
        })
    }

    // tokio's `test-util` (time::pause) is not enabled in this crate, so
    // expiry is tested by asking for more or less remaining lifetime: a token
    // with 3600 s left is valid with a 3590 s margin and stale with 3610 s.

    #[tokio::test]
    async fn reuses_a_token_until_margin_before_expiry() {
        let cache = AccessTokenCache::new();
        let mints = AtomicUsize::new(0);
        let get = |margin: u64| {
            cache.get_or_mint("k", Duration::from_secs(margin), || async {
                let n = mints.fetch_add(1, Ordering::SeqCst) + 1;
                minted(&format!("t{n}"), 3600)
            })
        };
        assert_eq!(&*get(300).await.unwrap(), "t1");
        assert_eq!(&*get(300).await.unwrap(), "t1");
        assert_eq!(&*get(3590).await.unwrap(), "t1");
        assert_eq!(&*get(3610).await.unwrap(), "t2");
        assert_eq!(&*get(300).await.unwrap(), "t2");
        assert_eq!(mints.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keys_are_independent_and_default_ttl_is_an_hour() {
        let cache = AccessTokenCache::new();
        let no_ttl = |t: &'static str| async move {
            Ok(MintedToken {
                token: t.to_string(),
                expires_in: None,
            })
        };
        let get = |key: &'static str, margin: u64, t: &'static str| {
            cache.get_or_mint(key, Duration::from_secs(margin), move || no_ttl(t))
        };
        assert_eq!(&*get("a", 300, "a1").await.unwrap(), "a1");
        assert_eq!(&*get("b", 300, "b1").await.unwrap(), "b1");
        assert_eq!(&*get("a", 3590, "a2").await.unwrap(), "a1");
        assert_eq!(&*get("a", 3610, "a2").await.unwrap(), "a2");
        assert_eq!(&*get("b", 300, "b2").await.unwrap(), "b1");
    }

    #[tokio::test]
    async fn a_token_shorter_lived_than_the_margin_is_used_once() {
        let cache = AccessTokenCache::new();
        let t = cache.get_or_mint("k", MARGIN, || async { minted("short", 60) });
        assert_eq!(&*t.await.unwrap(), "short");
        let t = cache.get_or_mint("k", MARGIN, || async { minted("again", 60) });
        assert_eq!(&*t.await.unwrap(), "again");
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = AccessTokenCache::new();
        let e = cache
            .get_or_mint("k", MARGIN, || async {
                Err(FetchError::new(Reason::Auth, "invalid_grant"))
            })
            .await
            .unwrap_err();
        assert_eq!(e.reason, Reason::Auth);
        let t = cache.get_or_mint("k", MARGIN, || async { minted("ok", 3600) });
        assert_eq!(&*t.await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn invalidate_drops_only_the_rejected_token() {
        let cache = AccessTokenCache::new();
        let t = cache.get_or_mint("k", MARGIN, || async { minted("t1", 3600) });
        assert_eq!(&*t.await.unwrap(), "t1");
        cache.invalidate("k", "someone-elses");
        cache.invalidate("other-key", "t1");
        let t = cache.get_or_mint("k", MARGIN, || async { minted("t2", 3600) });
        assert_eq!(&*t.await.unwrap(), "t1");
        cache.invalidate("k", "t1");
        let t = cache.get_or_mint("k", MARGIN, || async { minted("t2", 3600) });
        assert_eq!(&*t.await.unwrap(), "t2");
    }

    /// Callers that arrive while a mint is under way wait for it and share its
    /// outcome: one login call, whether it succeeds or fails.
    async fn concurrent_callers(outcome: Result<MintedToken, FetchError>) -> (usize, Vec<String>) {
        let cache = AccessTokenCache::new();
        let mints = AtomicUsize::new(0);
        let (release, released) = tokio::sync::watch::channel(false);
        let call = || {
            let mut released = released.clone();
            let outcome = outcome.clone();
            let mints = &mints;
            cache.get_or_mint("k", MARGIN, move || async move {
                mints.fetch_add(1, Ordering::SeqCst);
                // Hold the mint open until every caller is queued behind it.
                let _ = released.wait_for(|r| *r).await;
                outcome
            })
        };
        let all = futures_util::future::join_all((0..5).map(|_| call()));
        let opener = async {
            tokio::task::yield_now().await;
            let _ = release.send(true);
        };
        let (results, ()) = tokio::join!(all, opener);
        let texts = results
            .into_iter()
            .map(|r| match r {
                Ok(t) => t.to_string(),
                Err(e) => e.to_string(),
            })
            .collect();
        (mints.load(Ordering::SeqCst), texts)
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_mint() {
        let (mints, texts) = concurrent_callers(minted("shared", 3600)).await;
        assert_eq!(mints, 1);
        assert_eq!(texts, vec!["shared"; 5]);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_failure() {
        let err = Err(FetchError::new(Reason::Http5xx, "token endpoint down"));
        let (mints, texts) = concurrent_callers(err).await;
        assert_eq!(mints, 1);
        assert_eq!(texts, vec!["http_5xx: token endpoint down"; 5]);
    }

    #[tokio::test]
    async fn a_cancelled_mint_leaves_the_work_to_a_waiter() {
        let cache = AccessTokenCache::new();
        let first = cache.get_or_mint("k", MARGIN, std::future::pending);
        // Poll the first caller once, so it holds the mint, then drop it.
        assert!(first.now_or_never().is_none());
        let t = cache.get_or_mint("k", MARGIN, || async { minted("second", 3600) });
        assert_eq!(&*t.await.unwrap(), "second");
    }

    #[test]
    fn debug_shows_no_token() {
        let m = MintedToken {
            token: "s3cret-token".into(),
            expires_in: None,
        };
        assert!(!format!("{m:?}").contains("s3cret"));
        let cache = AccessTokenCache::new();
        assert_eq!(format!("{cache:?}"), "TokenCache(0 keys)");
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<AccessTokenCache>();
    }
}
