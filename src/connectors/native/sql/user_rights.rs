//! What the database user of a `sql` source may do, for `okrd check`.
//!
//! The query guard, the read-only transaction and the session reset keep
//! okrd's own queries to reading, but the user's grants decide what a
//! function okrd does not know can do, and what anyone else holding the
//! URL can do. `okrd check` connects once per source and warns when the
//! user can write or is a superuser; a database it cannot reach is a
//! warning too, so the check still passes where the database is not
//! reachable (CI).

use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use super::pool::Options;
use super::{Backend, db_message, url_redactor};
use crate::connectors::params::UNSET_SECRET_PLACEHOLDER;
use crate::connectors::{Params, Redactor};

/// How many table, schema or scope names a warning lists before "…".
const NAMES_LISTED: usize = 3;
/// How long a name from the database may be in a warning.
const NAME_CHARS: usize = 64;

/// Warnings about the database user of a source with `params` (already
/// checked by `check_params`), each a sentence to follow "source `name`: ".
/// Empty when the user may only read, or when the URL is not known here (a
/// secret not set: that is warned about already).
pub async fn database_user_warnings(params: &Params, timeout: Duration) -> Vec<String> {
    let Some(url) = params.str("url").filter(|u| *u != UNSET_SECRET_PLACEHOLDER) else {
        return Vec::new();
    };
    let Ok(backend) = Backend::from_url(url) else {
        return Vec::new();
    };
    let Ok(options) = Options::parse(backend, url) else {
        return Vec::new();
    };
    let redactor = url_redactor(&Redactor::default(), url);
    let target = crate::store::redact_url(url);
    let found = match options {
        Options::Sqlite(o) => return sqlite_file_warnings(o.get_filename()),
        Options::Postgres(o) => tokio::time::timeout(timeout, postgres_rights(&o)).await,
        Options::MySql(o) => tokio::time::timeout(timeout, mysql_rights(&o)).await,
    };
    let cannot_check = |why: String| {
        vec![format!(
            "cannot check what its database user may do: {}; `okrd serve` needs the database",
            redactor.redact(&why)
        )]
    };
    match found {
        Ok(Ok(None)) => Vec::new(),
        Ok(Ok(Some(rights))) => vec![format!(
            "its database user {}; okrd's queries stay read-only, but give the source a user \
             that may only SELECT what the KRs need",
            redactor.redact(&rights)
        )],
        Ok(Err(e)) => cannot_check(format!("{target}: {}", db_message(&e))),
        Err(_) => cannot_check(format!("no answer from {target} within {timeout:?}")),
    }
}

/// PostgreSQL: a superuser, membership of the roles that reach server
/// files and programs, and any right to create or write. `None`: may only
/// read.
async fn postgres_rights(options: &PgConnectOptions) -> Result<Option<String>, sqlx::Error> {
    let mut c = options.connect().await?;
    let row = sqlx::query(
        "SELECT current_user::text, r.rolsuper, r.rolcreaterole, r.rolcreatedb, \
                has_database_privilege(current_database(), 'CREATE'), \
                ARRAY(SELECT b.rolname::text FROM pg_roles b \
                      WHERE b.rolname IN ('pg_read_server_files', 'pg_write_server_files', \
                                          'pg_execute_server_program', 'pg_write_all_data', \
                                          'pg_signal_backend') \
                        AND pg_has_role(current_user, b.oid, 'MEMBER') ORDER BY 1), \
                ARRAY(SELECT quote_ident(n.nspname) FROM pg_namespace n \
                      WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
                        AND has_schema_privilege(n.oid, 'CREATE') ORDER BY 1), \
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
                   AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')), \
                ARRAY(SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                      JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                        AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
                        AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') \
                      ORDER BY 1 LIMIT 3) \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&mut c)
    .await;
    let _ = c.close().await;
    let row = row?;
    let user: String = row.try_get(0)?;
    let user = format!("`{}`", bounded(&user));
    if row.try_get::<bool, _>(1)? {
        return Ok(Some(format!(
            "{user} is a superuser: it may do anything, run programs on the database host \
             (COPY … TO PROGRAM) included"
        )));
    }
    let mut can = Vec::new();
    let roles: Vec<String> = row.try_get(5)?;
    if !roles.is_empty() {
        can.push(format!(
            "is a member of {} (server files, programs or other sessions)",
            roles.join(", ")
        ));
    }
    if row.try_get::<bool, _>(2)? {
        can.push("may create roles".into());
    }
    if row.try_get::<bool, _>(3)? {
        can.push("may create databases".into());
    }
    if row.try_get::<bool, _>(4)? {
        can.push("may create schemas in the database".into());
    }
    let schemas: Vec<String> = row.try_get(6)?;
    if !schemas.is_empty() {
        can.push(format!(
            "may create tables in schema {}",
            listed(&schemas, schemas.len())
        ));
    }
    let tables: i64 = row.try_get(7)?;
    if tables > 0 {
        let some: Vec<String> = row.try_get(8)?;
        can.push(format!(
            "may INSERT, UPDATE, DELETE or TRUNCATE {tables} table(s): {}",
            listed(&some, tables as usize)
        ));
    }
    Ok(described(&user, can))
}

/// Privileges that change data or the schema.
const MYSQL_WRITES: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "DELETE HISTORY",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "CREATE VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "TRIGGER",
    "EVENT",
];

/// MySQL/MariaDB: SUPER, FILE and the write privileges granted to the user
/// itself, globally, on a database or on a table (not through a role).
async fn mysql_rights(options: &MySqlConnectOptions) -> Result<Option<String>, sqlx::Error> {
    let mut c = options.connect().await?;
    let rows = async {
        let user: String = sqlx::query_scalar("SELECT CURRENT_USER()")
            .fetch_one(&mut c)
            .await?;
        // CURRENT_USER() is user@host; the grant tables name 'user'@'host'.
        let (name, host) = user.rsplit_once('@').unwrap_or((&user, ""));
        let grantee = format!("'{name}'@'{host}'");
        let rows = sqlx::query(
            "SELECT PRIVILEGE_TYPE, '*.*' FROM information_schema.USER_PRIVILEGES \
             WHERE GRANTEE = ? \
             UNION ALL SELECT PRIVILEGE_TYPE, CONCAT(TABLE_SCHEMA, '.*') \
             FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? \
             UNION ALL SELECT PRIVILEGE_TYPE, CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) \
             FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?",
        )
        .bind(&grantee)
        .bind(&grantee)
        .bind(&grantee)
        .fetch_all(&mut c)
        .await?;
        Ok::<_, sqlx::Error>((user, rows))
    }
    .await;
    let _ = c.close().await;
    let (user, rows) = rows?;
    let mut grants: Vec<(String, String)> = Vec::new();
    for row in rows {
        grants.push((row.try_get(0)?, row.try_get(1)?));
    }
    let user = format!("`{}`", bounded(&user));
    let has = |privilege: &str| grants.iter().any(|(p, _)| p == privilege);
    if has("SUPER") {
        return Ok(Some(format!("{user} has SUPER: it may do anything")));
    }
    let mut can = Vec::new();
    if has("FILE") {
        can.push(
            "has FILE: it may read and write files on the server (LOAD_FILE, INTO OUTFILE)".into(),
        );
    }
    let writes: Vec<&(String, String)> = grants
        .iter()
        .filter(|(p, _)| MYSQL_WRITES.contains(&p.as_str()))
        .collect();
    if !writes.is_empty() {
        let mut privileges: Vec<String> = Vec::new();
        let mut scopes: Vec<String> = Vec::new();
        for (p, scope) in writes {
            if !privileges.contains(p) {
                privileges.push(p.clone());
            }
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        can.push(format!(
            "may {} on {}",
            privileges.join(", "),
            listed(&scopes, scopes.len())
        ));
    }
    Ok(described(&user, can))
}

/// SQLite: the file is read-only to okrd (it opens it so), but whoever
/// runs the daemon may still write it.
fn sqlite_file_warnings(path: &std::path::Path) -> Vec<String> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Vec::new();
    };
    // SAFETY: `c_path` is a valid NUL-terminated string; access() only reads it.
    let exists = unsafe { libc::access(c_path.as_ptr(), libc::F_OK) } == 0;
    // SAFETY: as above.
    let writable = unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } == 0;
    if !exists {
        vec![format!(
            "cannot check its SQLite file {}: it does not exist here; `okrd serve` needs it",
            path.display()
        )]
    } else if writable {
        vec![format!(
            "its SQLite file {} is writable by the user running this check; okrd opens it \
             read-only, but make it read-only to the daemon's user too",
            path.display()
        )]
    } else {
        Vec::new()
    }
}

/// "`user` is …; may …", or `None` when the user may only read.
fn described(user: &str, can: Vec<String>) -> Option<String> {
    if can.is_empty() {
        None
    } else {
        Some(format!("{user} {}", can.join("; ")))
    }
}

/// The first few of `names` (of `total`), each bounded.
fn listed(names: &[String], total: usize) -> String {
    let mut out: Vec<String> = names
        .iter()
        .take(NAMES_LISTED)
        .map(|n| bounded(n))
        .collect();
    if total > out.len() {
        out.push("…".into());
    }
    out.join(", ")
}

/// A name from the database, printable and at most `NAME_CHARS` long.
fn bounded(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(NAME_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_listed_briefly() {
        assert_eq!(bounded("a\nb"), "a?b");
        assert_eq!(bounded(&"x".repeat(100)).len(), NAME_CHARS);
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(listed(&names, 3), "a, b, c");
        assert_eq!(listed(&names, 7), "a, b, c, …");
        assert_eq!(described("`u`", vec![]), None);
        assert_eq!(
            described("`u`", vec!["may x".into(), "may y".into()]).as_deref(),
            Some("`u` may x; may y")
        );
    }

    #[tokio::test]
    async fn unknown_urls_are_not_checked() {
        let p = |url: &str| {
            Params::new(serde_json::Map::from_iter([(
                "url".to_string(),
                serde_json::Value::String(url.into()),
            )]))
        };
        let t = Duration::from_secs(1);
        assert!(
            database_user_warnings(&p(UNSET_SECRET_PLACEHOLDER), t)
                .await
                .is_empty()
        );
        assert!(database_user_warnings(&p("oracle://x"), t).await.is_empty());
        let missing = database_user_warnings(&p("sqlite:///nonexistent/okrd.db"), t).await;
        assert!(missing[0].contains("does not exist"), "{missing:?}");
    }
}
