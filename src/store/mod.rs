//! The database: one `Store` over sqlx's `AnyPool` that serves SQLite (the
//! embedded default) and PostgreSQL (production, multi-replica) with the same
//! query text.
//!
//! Portable column types keep one query text valid on both backends: ids and
//! dates as TEXT, instants as BIGINT unix milliseconds, numbers as DOUBLE
//! PRECISION, JSON as TEXT (the Any driver decodes only bool, integers,
//! floats, text and bytes). Rows are sorted in Rust, not by `ORDER BY` on
//! text, because PostgreSQL's collation would order ids differently from
//! SQLite's byte order.
//!
//! NULLABLE_DOUBLES: a statement that binds an `Option<f64>` must run with
//! `.persistent(false)`. sqlx 0.9's Any driver sends a NULL double to
//! PostgreSQL typed as `float4` (transact-rs/sqlx#4284); a statement cached
//! after a NULL then fails with "incorrect binary data format" when the same
//! parameter carries a value. Unprepared statements are typed per call.
//!
//! One file per aggregate: `pool` (connecting), `migrate` (schema, readiness),
//! `okrs` (reading the model), `apply` (OKRs-as-code), `model_tx` (API
//! writes), `check_ins` (and `check_in_writer`, their group commit, which
//! applies the `heartbeat`),
//! `compaction` (thinning old fetched check-ins), `backfill` (the days a
//! KR already has), `leases`, `tokens`, `reviews`, `audit`.

mod apply;
mod audit;
mod backfill;
mod batch;
mod check_in_writer;
mod check_ins;
mod codec;
mod compaction;
mod error;
mod heartbeat;
mod history;
mod holds;
mod leases;
mod migrate;
mod model_tx;
mod okrs;
mod pool;
mod reviews;
mod tokens;
mod version;

pub use apply::{ApplyPlan, Change};
pub use audit::{AuditEntry, AuditQuery, AuditRecord};
pub use backfill::DaySpan;
pub use check_in_writer::CheckInWriter;
pub use check_ins::{CheckInGuard, CheckInWrite, HistoryQuery, StoredCheckIn, Written};
pub use compaction::{Compacted, CompactionPlan, Compactor};
pub use error::{StoreError, redact_url};
pub use history::CountedValue;
pub use holds::{HeldValue, Resolution};
pub use leases::Lease;
pub use model_tx::ModelTx;
pub use okrs::{Current, EntityMeta, Stored};
pub use reviews::{NewReview, Review};
pub use tokens::TokenRecord;
pub use version::ModelVersion;

use sqlx::AnyPool;

/// Which database a `Store` talks to, chosen by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The database handle. Cheap to clone: the pool is shared.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool; the backend is chosen by the URL scheme:
    /// - `sqlite://PATH` (created if missing; WAL, synchronous=FULL,
    ///   busy_timeout 5 s, foreign keys on) or `sqlite::memory:` (tests: one
    ///   connection that lives as long as the pool);
    /// - `postgres://…` or `postgresql://…`.
    ///
    /// Anything else is refused with an error naming the accepted schemes.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let (pool, backend) = pool::open(url, max_connections).await?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; later calls fail. For graceful shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
