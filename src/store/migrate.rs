//! Schema migrations, embedded per backend, and the readiness check.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};

use super::{Backend, Store, StoreError};

/// `SQLITE` and `POSTGRES`: (version, description, sql) per file, generated
/// by `build.rs` from `migrations/` (what `sqlx::migrate!` would embed).
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// sqlx's bookkeeping table (its default name).
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

fn migrator(backend: Backend) -> Migrator {
    let files = match backend {
        Backend::Sqlite => embedded::SQLITE,
        Backend::Postgres => embedded::POSTGRES,
    };
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                // The directive sqlx's own migration source honours.
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    // During a rolling upgrade a newer replica may have applied migrations
    // this binary does not know; those are additive (migrations are
    // append-only), so the older replica may still start.
    migrator.set_ignore_missing(true);
    migrator
}

impl Store {
    /// Applies every embedded migration not applied yet. Idempotent.
    /// PostgreSQL replicas starting together serialise on sqlx's advisory
    /// lock; SQLite is single-process.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator(self.backend)
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)
    }

    /// Ok when the database answers and every embedded migration is applied
    /// (with the checksum this binary embeds). Writes nothing.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::NotReady(format!("database unreachable: {e}")))?;
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::NotReady(format!("database unreachable: {e}")))?;

        // Fails when the bookkeeping table does not exist: never migrated.
        let applied = conn
            .list_applied_migrations(MIGRATIONS_TABLE)
            .await
            .map_err(|_| StoreError::NotReady("migrations have not been run".into()))?;
        if let Some(version) = conn
            .dirty_version(MIGRATIONS_TABLE)
            .await
            .map_err(|e| StoreError::NotReady(format!("cannot read migration state: {e}")))?
        {
            return Err(StoreError::NotReady(format!(
                "migration {version} failed part-way"
            )));
        }
        for migration in migrator(self.backend).iter() {
            if migration.migration_type.is_down_migration() {
                continue;
            }
            match applied.iter().find(|a| a.version == migration.version) {
                None => {
                    return Err(StoreError::NotReady(format!(
                        "migration {} ({}) is not applied",
                        migration.version, migration.description
                    )));
                }
                Some(a) if a.checksum != migration.checksum => {
                    return Err(StoreError::NotReady(format!(
                        "migration {} differs from the one applied",
                        migration.version
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
