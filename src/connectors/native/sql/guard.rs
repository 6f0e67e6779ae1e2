//! The query guard: a query runs only if a real SQL parser reads it as
//! exactly one `SELECT` (or `WITH … SELECT`, `VALUES`, set operations of
//! those) that calls none of the functions below.
//!
//! Why a parser and not the read-only transaction alone: a read-only
//! transaction stops writes to tables, not `COPY … TO PROGRAM`, server
//! files (`pg_read_file`, `LOAD_FILE`, `INTO OUTFILE`) or session locks
//! (`pg_advisory_lock`, `GET_LOCK`) that outlive the query. Those are
//! refused here, before anything is sent. The transaction, the session
//! reset after each query and the database user's grants still stand
//! behind this check: a function the list does not name (your own, an
//! extension's) runs with whatever the user may do.
//!
//! The check runs on the text the database will run: at `okrd check`,
//! startup and API bind time on the query with example template values,
//! and again at every fetch on the rendered query.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Query, Select, Statement, TableFactor};
use sqlparser::ast::{Visit, Visitor};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::Backend;

/// The longest query parsed: the parse, and the tree it builds, grow with
/// the text, which an API caller may write.
const MAX_QUERY_BYTES: usize = 64 * 1024;
/// How much of a parser message, or of a name taken from the query, a
/// refusal quotes: the query may come from an API caller.
const QUOTE_CHARS: usize = 120;

/// Why a function is refused; said in the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Lock,
    ServerFiles,
    LargeObjects,
    OtherSql,
    ServerControl,
    SessionSettings,
    LoadsCode,
}

impl Why {
    fn says(self) -> &'static str {
        match self {
            Why::Lock => "takes or releases a lock that would outlive the query",
            Why::ServerFiles => "reads or writes files on the database server",
            Why::LargeObjects => "works on large objects, which can read and write server files",
            Why::OtherSql => "runs SQL or programs that this check cannot see",
            Why::ServerControl => "acts on the server or on other sessions",
            Why::SessionSettings => "changes the session's settings",
            Why::LoadsCode => "loads code into the database",
        }
    }
}

/// A refused function name: `exact`, or every name starting with `prefix`.
enum Name {
    Exact(&'static str),
    Prefix(&'static str),
}

use Name::{Exact, Prefix};

/// PostgreSQL's functions that reach past the query (names are lowercase;
/// a schema-qualified call such as `pg_catalog.pg_read_file` is matched by
/// its last part).
const POSTGRES: &[(Name, Why)] = &[
    (Prefix("pg_advisory_"), Why::Lock),
    (Prefix("pg_try_advisory_"), Why::Lock),
    (Prefix("pg_read_"), Why::ServerFiles),
    (Prefix("pg_ls_"), Why::ServerFiles),
    (Prefix("pg_file_"), Why::ServerFiles),
    (Exact("pg_stat_file"), Why::ServerFiles),
    (Exact("pg_logdir_ls"), Why::ServerFiles),
    (Exact("lo_import"), Why::ServerFiles),
    (Exact("lo_export"), Why::ServerFiles),
    (Prefix("lo_"), Why::LargeObjects),
    (Exact("loread"), Why::LargeObjects),
    (Exact("lowrite"), Why::LargeObjects),
    (Prefix("dblink"), Why::OtherSql),
    (Prefix("pg_background"), Why::OtherSql),
    (Prefix("query_to_xml"), Why::OtherSql),
    (Prefix("cursor_to_xml"), Why::OtherSql),
    (Exact("set_config"), Why::SessionSettings),
    (Exact("pg_terminate_backend"), Why::ServerControl),
    (Exact("pg_cancel_backend"), Why::ServerControl),
    (Exact("pg_reload_conf"), Why::ServerControl),
    (Exact("pg_rotate_logfile"), Why::ServerControl),
    (Exact("pg_promote"), Why::ServerControl),
    (Exact("pg_switch_wal"), Why::ServerControl),
    (Exact("pg_notify"), Why::ServerControl),
    (Exact("pg_log_backend_memory_contexts"), Why::ServerControl),
    (Exact("pg_import_system_collations"), Why::ServerControl),
    (Exact("pg_start_backup"), Why::ServerControl),
    (Exact("pg_stop_backup"), Why::ServerControl),
    (Prefix("pg_backup_"), Why::ServerControl),
    (Prefix("pg_create_"), Why::ServerControl),
    (Prefix("pg_drop_"), Why::ServerControl),
    (Prefix("pg_copy_"), Why::ServerControl),
    (Prefix("pg_replication_"), Why::ServerControl),
    (Prefix("pg_logical_"), Why::ServerControl),
    (Prefix("pg_wal_replay_"), Why::ServerControl),
    (Prefix("pg_stat_reset"), Why::ServerControl),
    (Prefix("pg_stat_statements_reset"), Why::ServerControl),
];

/// MySQL's and MariaDB's. `SLEEP` and `BENCHMARK` stay allowed: the
/// statement timeout bounds them like any slow query.
const MYSQL: &[(Name, Why)] = &[
    (Exact("get_lock"), Why::Lock),
    (Exact("release_lock"), Why::Lock),
    (Exact("release_all_locks"), Why::Lock),
    (Exact("load_file"), Why::ServerFiles),
    (Exact("sys_exec"), Why::OtherSql),
    (Exact("sys_eval"), Why::OtherSql),
];

/// SQLite's (the file functions come with the `sqlite3` shell's extension,
/// should a build ever link it).
const SQLITE: &[(Name, Why)] = &[
    (Exact("load_extension"), Why::LoadsCode),
    (Exact("fts3_tokenizer"), Why::LoadsCode),
    (Exact("readfile"), Why::ServerFiles),
    (Exact("writefile"), Why::ServerFiles),
    (Exact("edit"), Why::ServerFiles),
    (Exact("fsdir"), Why::ServerFiles),
    (Exact("zipfile"), Why::ServerFiles),
];

/// Ok if `query` is one read-only query for `backend`; else why not, as a
/// message that names the thing refused.
pub fn check_query(backend: Backend, query: &str) -> Result<(), String> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(format!(
            "param `query` is longer than {} KiB; a metric query needs far less",
            MAX_QUERY_BYTES / 1024
        ));
    }
    refuse_unparsed_syntax(backend, query)?;
    let dialect: &dyn Dialect = match backend {
        Backend::Postgres => &PostgreSqlDialect {},
        Backend::MySql => &MySqlDialect {},
        Backend::Sqlite => &SQLiteDialect {},
    };
    let statements = Parser::parse_sql(dialect, query).map_err(|e| {
        format!(
            "param `query` cannot be read as {} SQL ({}); okrd parses every query to make sure \
             it only reads, so write it as one plain SELECT",
            backend.name(),
            quote(&e.to_string())
        )
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => return Err("param `query` holds no statement".into()),
        many => {
            return Err(format!(
                "param `query` holds {} statements; okrd runs exactly one SELECT",
                many.len()
            ));
        }
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(format!(
            "param `query` is `{} …`, not a query; okrd runs only SELECT, WITH … SELECT or \
             VALUES",
            keyword(statement)
        ));
    }
    let mut inspector = Inspector {
        refused: match backend {
            Backend::Postgres => POSTGRES,
            Backend::MySql => MYSQL,
            Backend::Sqlite => SQLITE,
        },
    };
    match statement.visit(&mut inspector) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(why) => Err(format!("param `query` {why}; okrd refuses it")),
    }
}

/// `check_query` for a source whose backend is not known here (its `url`
/// is a secret that is not set where `okrd check` runs): Ok if the query
/// passes for any backend. Every fetch checks it again for the real one.
pub fn check_query_any_backend(query: &str) -> Result<(), String> {
    let mut first_refusal = None;
    for backend in [Backend::Postgres, Backend::MySql, Backend::Sqlite] {
        match check_query(backend, query) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    Err(first_refusal.unwrap_or_default())
}

/// Syntax the database runs but the parser reads differently, refused on
/// sight (also inside a string, where it is harmless but rare):
/// - MariaDB runs `/*M! … */` comments; the parser skips them.
/// - PostgreSQL reads `U&"\0070g_read_file"` as the identifier
///   `pg_read_file`; the parser sees `U & "…"`.
fn refuse_unparsed_syntax(backend: Backend, query: &str) -> Result<(), String> {
    let lower = query.to_ascii_lowercase();
    match backend {
        Backend::MySql if lower.contains("/*m!") => Err(
            "param `query` holds a MariaDB executable comment (/*M! … */), which okrd cannot \
             check; write the query without it"
                .into(),
        ),
        Backend::Postgres if lower.contains("u&\"") => Err(
            "param `query` holds a Unicode-escaped identifier (U&\"…\"), which okrd cannot \
             check; write the name plainly"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// Walks the whole query: subqueries, CTEs, expressions, FROM items.
struct Inspector {
    refused: &'static [(Name, Why)],
}

impl Visitor for Inspector {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<String> {
        match statement {
            Statement::Query(_) => ControlFlow::Continue(()),
            // A data-modifying CTE: `WITH d AS (DELETE … RETURNING …) SELECT …`.
            other => ControlFlow::Break(format!(
                "holds `{} …` inside the query (a data-modifying WITH)",
                keyword(other)
            )),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if query.locks.is_empty() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break("has a FOR UPDATE or FOR SHARE clause, which locks rows".into())
        }
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        if select.into.is_some() {
            ControlFlow::Break(
                "has SELECT … INTO, which writes (a table, a file or variables)".into(),
            )
        } else {
            ControlFlow::Continue(())
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(f) => self.function(&f.name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            // `FROM pg_ls_dir('.')`: a table with arguments is a function call.
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.function(name),
            _ => ControlFlow::Continue(()),
        }
    }
}

impl Inspector {
    fn function(&self, name: &ObjectName) -> ControlFlow<String> {
        let Some(last) = name.0.last() else {
            return ControlFlow::Continue(());
        };
        let ident = match last {
            ObjectNamePart::Identifier(ident) => &ident.value,
            ObjectNamePart::Function(f) => &f.name.value,
        };
        // Function names are case-insensitive (PostgreSQL folds unquoted
        // ones; a quoted upper-case name is another function, refused anyway).
        let lower = ident.to_lowercase();
        let found = self.refused.iter().find(|(n, _)| match n {
            Exact(exact) => lower == *exact,
            Prefix(prefix) => lower.starts_with(prefix),
        });
        match found {
            Some((_, why)) => {
                ControlFlow::Break(format!("calls `{}`, which {}", quote(&lower), why.says()))
            }
            None => ControlFlow::Continue(()),
        }
    }
}

/// The statement's first keyword (`COPY`, `SET`, `INSERT`), for messages.
fn keyword(statement: &Statement) -> String {
    let text = statement.to_string();
    let word: String = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .take(20)
        .collect();
    if word.is_empty() {
        "non-query".into()
    } else {
        word.to_ascii_uppercase()
    }
}

/// `text` on one line, printable, at most `QUOTE_CHARS` characters.
fn quote(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTE_CHARS)
        .collect();
    if text.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Backend; 3] = [Backend::Postgres, Backend::MySql, Backend::Sqlite];

    fn passes(backend: Backend, query: &str) {
        if let Err(e) = check_query(backend, query) {
            panic!("{backend:?}: {query}: refused: {e}");
        }
    }

    /// The refusal of `query`, which must name `words`.
    fn refused(backend: Backend, query: &str, words: &str) -> String {
        match check_query(backend, query) {
            Ok(()) => panic!("{backend:?}: {query}: passed"),
            Err(e) => {
                assert!(e.contains(words), "{backend:?}: {query}: {e}");
                assert!(e.starts_with("param `query` "), "{e}");
                e
            }
        }
    }

    #[test]
    fn plain_queries_pass() {
        for b in ALL {
            for q in [
                "SELECT 1",
                "SELECT 1;",
                "select count(*) from metrics where created_at >= '2026-10-01'",
                "WITH t AS (SELECT x FROM metrics) SELECT sum(x) FROM t",
                "SELECT x FROM a UNION SELECT x FROM b",
                "SELECT (SELECT max(x) FROM m) - 1",
                "SELECT count(*) FROM m JOIN o ON o.id = m.id WHERE o.y IN (SELECT y FROM p)",
                "SELECT avg(x) FROM m GROUP BY y HAVING count(*) > 1 ORDER BY 1 LIMIT 1",
                "VALUES (1)",
                // A refused name in a string or a comment is only text.
                "SELECT count(*) FROM m WHERE label = 'pg_read_file(''x'') get_lock load_extension'",
                "SELECT 1 -- pg_advisory_lock(1)\n",
            ] {
                passes(b, q);
            }
        }
        for q in [
            "SELECT 7::int2",
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
            "SELECT pg_sleep(60) AS okrd_slow_1",
            "SELECT nextval('s')",
            "SELECT count(*) FROM generate_series(1, 10)",
            "SELECT length($$a 'quoted' pg_read_file() text$$)",
            "SELECT 1 /* nested /* pg_read_file() */ still a comment */",
            "SELECT current_setting('statement_timeout')",
        ] {
            passes(Backend::Postgres, q);
        }
        for q in [
            "SELECT SLEEP(60) AS okrd_slow_1",
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
            "SELECT `x` FROM `metrics` LIMIT 1",
            "SELECT IS_FREE_LOCK('a')",
            // Backslash escapes on (the session makes sure): one string.
            r"SELECT 'a\' , LOAD_FILE(''/etc/passwd'') , '",
            "SELECT 1 # GET_LOCK('a', 0)\n",
        ] {
            passes(Backend::MySql, q);
        }
        for q in [
            "SELECT count(*) FROM pragma_table_info('metrics')",
            "WITH RECURSIVE c(n) AS (SELECT x FROM metrics UNION ALL SELECT n + 1 FROM c) \
             SELECT count(*) AS t FROM c",
            "SELECT count(*) FROM sqlite_master",
        ] {
            passes(Backend::Sqlite, q);
        }
    }

    #[test]
    fn exactly_one_query_statement() {
        for b in ALL {
            refused(b, "SELECT 1; SELECT 2", "holds 2 statements");
            refused(b, "SELECT 1; DROP TABLE m", "holds 2 statements");
            refused(b, "INSERT INTO m VALUES (1)", "is `INSERT …`");
            refused(b, "DELETE FROM m", "is `DELETE …`");
            refused(b, "UPDATE m SET x = 1", "is `UPDATE …`");
            refused(b, "CREATE TABLE e (a INT)", "is `CREATE …`");
            refused(b, "DROP TABLE m", "is `DROP …`");
            refused(b, "-- nothing\n", "holds no statement");
            refused(b, "SELEC 1", "cannot be read as");
        }
        let pg = Backend::Postgres;
        refused(pg, "COPY (SELECT 1) TO PROGRAM 'id'", "is `COPY …`");
        refused(pg, "COPY metrics TO '/tmp/okrd'", "is `COPY …`");
        refused(pg, "CALL p()", "is `CALL …`");
        refused(pg, "SET statement_timeout = 0", "is `SET …`");
        refused(pg, "SET TRANSACTION READ WRITE", "is `SET …`");
        refused(pg, "COMMIT", "is `COMMIT …`");
        refused(pg, "LOCK TABLE metrics", "is `LOCK …`");
        refused(pg, "LISTEN x", "is `LISTEN …`");
        refused(pg, "EXPLAIN ANALYZE DELETE FROM metrics", "is `EXPLAIN …`");
        refused(pg, "TRUNCATE metrics", "is `TRUNCATE …`");
        refused(pg, "DO $$ BEGIN PERFORM 1; END $$", "param `query`");
        let my = Backend::MySql;
        refused(my, "SELECT 1 INTO OUTFILE '/tmp/okrd'", "param `query`");
        refused(my, "SELECT 1 INTO DUMPFILE '/tmp/okrd'", "param `query`");
        refused(my, "SELECT x INTO @v FROM m", "param `query`");
        refused(
            my,
            "LOAD DATA INFILE '/etc/passwd' INTO TABLE m",
            "param `query`",
        );
        refused(my, "DO GET_LOCK('a', 1)", "param `query`");
        refused(my, "SET @a = 1", "param `query`");
        refused(my, "LOCK TABLES m READ", "param `query`");
        refused(my, "START TRANSACTION READ WRITE", "param `query`");
        let lite = Backend::Sqlite;
        refused(lite, "ATTACH DATABASE '/tmp/okrd' AS evil", "is `ATTACH …`");
        refused(lite, "PRAGMA query_only = OFF", "param `query`");
        refused(lite, "PRAGMA user_version = 5", "is `PRAGMA …`");
        refused(lite, "VACUUM INTO '/tmp/okrd'", "param `query`");
    }

    #[test]
    fn writes_and_locks_inside_a_query() {
        let pg = Backend::Postgres;
        refused(
            pg,
            "WITH d AS (DELETE FROM m RETURNING 1) SELECT count(*) FROM d",
            "holds `DELETE …`",
        );
        refused(
            pg,
            "WITH i AS (INSERT INTO m VALUES (1) RETURNING 1) SELECT 1",
            "holds `INSERT …`",
        );
        refused(
            pg,
            "WITH u AS (UPDATE m SET x = 0 RETURNING 1) SELECT count(*) FROM u",
            "holds `UPDATE …`",
        );
        refused(pg, "SELECT x INTO evil FROM m", "SELECT … INTO");
        refused(
            pg,
            "SELECT x FROM (SELECT x INTO evil FROM m) s",
            "param `query`",
        );
        for b in [Backend::Postgres, Backend::MySql] {
            refused(b, "SELECT x FROM m FOR UPDATE", "FOR UPDATE or FOR SHARE");
            refused(
                b,
                "SELECT x FROM (SELECT x FROM m FOR UPDATE) s",
                "param `query`",
            );
        }
        refused(pg, "SELECT x FROM m FOR SHARE", "FOR UPDATE or FOR SHARE");
        refused(
            Backend::MySql,
            "SELECT x FROM m LOCK IN SHARE MODE",
            "param `query`",
        );
    }

    #[test]
    fn refused_functions_anywhere_in_any_case() {
        let pg = Backend::Postgres;
        for (q, name) in [
            ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
            ("SELECT length(PG_READ_FILE('/etc/passwd'))", "pg_read_file"),
            (
                "SELECT pg_catalog.pg_read_file('/etc/passwd')",
                "pg_read_file",
            ),
            ("SELECT \"pg_read_file\"('/etc/passwd')", "pg_read_file"),
            ("SELECT pg_read_binary_file('x')", "pg_read_binary_file"),
            ("SELECT count(*) FROM pg_ls_dir('.')", "pg_ls_dir"),
            (
                "SELECT count(*) FROM m, LATERAL pg_ls_dir('.') d",
                "pg_ls_dir",
            ),
            ("SELECT (pg_stat_file('x')).size", "pg_stat_file"),
            ("SELECT lo_import('/etc/passwd')", "lo_import"),
            ("SELECT lo_export(1, '/tmp/okrd')", "lo_export"),
            ("SELECT lo_get(1)", "lo_get"),
            (
                "SELECT count(*) FROM dblink('host=x', 'DELETE FROM m') AS t(a int)",
                "dblink",
            ),
            ("SELECT dblink_exec('DELETE FROM m')", "dblink_exec"),
            ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
            (
                "SELECT pg_advisory_lock_shared(1)",
                "pg_advisory_lock_shared",
            ),
            ("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
            ("SELECT pg_advisory_xact_lock(1)", "pg_advisory_xact_lock"),
            ("SELECT pg_advisory_unlock_all()", "pg_advisory_unlock_all"),
            (
                "SELECT count(*) FROM m WHERE x IN (SELECT pg_advisory_lock(1))",
                "pg_advisory_lock",
            ),
            (
                "WITH l AS (SELECT pg_try_advisory_lock(1) AS x) SELECT count(*) FROM l",
                "pg_try_advisory_lock",
            ),
            (
                "SELECT count(*) FROM m ORDER BY pg_advisory_lock(x)",
                "pg_advisory_lock",
            ),
            (
                "SELECT CASE WHEN true THEN pg_read_file('x') END",
                "pg_read_file",
            ),
            (
                "SELECT set_config('statement_timeout', '0', false)",
                "set_config",
            ),
            ("SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
            ("SELECT pg_cancel_backend(1)", "pg_cancel_backend"),
            ("SELECT pg_reload_conf()", "pg_reload_conf"),
            (
                "SELECT query_to_xml('SELECT pg_advisory_lock(1)', true, true, '')",
                "query_to_xml",
            ),
            (
                "SELECT pg_drop_replication_slot('s')",
                "pg_drop_replication_slot",
            ),
            ("SELECT pg_notify('c', 'x')", "pg_notify"),
        ] {
            refused(pg, q, &format!("calls `{name}`"));
        }
        let my = Backend::MySql;
        for (q, name) in [
            ("SELECT LOAD_FILE('/etc/passwd')", "load_file"),
            ("SELECT length(load_file('/etc/passwd'))", "load_file"),
            ("SELECT GET_LOCK('a', 0)", "get_lock"),
            (
                "SELECT count(*) FROM m WHERE GET_LOCK('a', 0) = 1",
                "get_lock",
            ),
            ("SELECT RELEASE_LOCK('a')", "release_lock"),
            ("SELECT RELEASE_ALL_LOCKS()", "release_all_locks"),
            ("SELECT sys_exec('id')", "sys_exec"),
            // MySQL runs the inside of /*! … */: so does the parser.
            ("SELECT 1 /*! + GET_LOCK('a', 0) */", "get_lock"),
            ("SELECT 1 /*!50000 + GET_LOCK('a', 0) */", "get_lock"),
            ("SELECT 1 #\n + GET_LOCK('a', 0)", "get_lock"),
        ] {
            refused(my, q, &format!("calls `{name}`"));
        }
        let lite = Backend::Sqlite;
        for (q, name) in [
            ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
            (
                "SELECT LOAD_EXTENSION('/tmp/evil.so', 'init')",
                "load_extension",
            ),
            ("SELECT readfile('/etc/passwd')", "readfile"),
            ("SELECT writefile('/tmp/okrd', 'x')", "writefile"),
            ("SELECT count(*) FROM fsdir('/')", "fsdir"),
            ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
        ] {
            refused(lite, q, &format!("calls `{name}`"));
        }
        let e = refused(pg, "SELECT pg_read_file('x')", "reads or writes files");
        assert!(e.ends_with("okrd refuses it"), "{e}");
        refused(pg, "SELECT pg_advisory_lock(1)", "outlive the query");
    }

    #[test]
    fn text_the_parser_would_read_otherwise_is_refused() {
        // PostgreSQL reads U&"\0070g_read_file" as pg_read_file.
        refused(
            Backend::Postgres,
            r#"SELECT U&"\0070g_read_file"('/etc/passwd')"#,
            "Unicode-escaped identifier",
        );
        refused(
            Backend::Postgres,
            r#"SELECT u&"\0070g_ls_dir"('.')"#,
            "Unicode-escaped identifier",
        );
        // MariaDB runs /*M! … */ comments.
        refused(
            Backend::MySql,
            "SELECT 1 /*M! + GET_LOCK('a', 0) */",
            "MariaDB executable comment",
        );
        refused(
            Backend::MySql,
            "SELECT 1 /*m!100000 + GET_LOCK('a', 0) */",
            "MariaDB executable comment",
        );
        // Standard strings on PostgreSQL (the session makes sure): the
        // backslash ends nothing, and the call is seen.
        refused(
            Backend::Postgres,
            r"SELECT 'a\' , pg_read_file('/etc/passwd') , ''",
            "calls `pg_read_file`",
        );
    }

    #[test]
    fn an_unknown_backend_passes_a_query_any_backend_passes() {
        check_query_any_backend("SELECT `x` FROM `metrics`").unwrap();
        check_query_any_backend("SELECT 1::int").unwrap();
        check_query_any_backend("SELECT count(*) FROM m").unwrap();
        let e = check_query_any_backend("COPY m TO PROGRAM 'id'").unwrap_err();
        assert!(e.contains("COPY"), "{e}");
        assert!(check_query_any_backend("SELECT 1; SELECT 2").is_err());
    }

    #[test]
    fn hostile_text_is_refused_within_bounds() {
        for b in ALL {
            for deep in [
                format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
                format!("SELECT {}1", "- ".repeat(10_000)),
                format!("SELECT {}1", "NOT ".repeat(10_000)),
                format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000)),
                format!("SELECT 1{}", " + 1".repeat(10_000)),
            ] {
                // Refused or passed, but no stack overflow and no hang.
                let _ = check_query(b, &deep);
            }
            let e = refused(
                b,
                &format!("SELECT '{}", "x".repeat(60_000)),
                "cannot be read",
            );
            assert!(e.len() < 600, "{} chars", e.len());
            refused(
                b,
                &format!("SELECT '{}'", "x".repeat(70_000)),
                "longer than 64 KiB",
            );
        }
        let long = format!("SELECT pg_advisory_{}(1)", "x".repeat(10_000));
        let e = refused(Backend::Postgres, &long, "calls `pg_advisory_x");
        assert!(e.len() < 600, "{} chars", e.len());
        let e = refused(
            Backend::Postgres,
            "SELECT \"pg_ls_\n\rx\"()",
            "calls `pg_ls_",
        );
        assert!(!e.contains('\n') && !e.contains('\r'), "{e:?}");
    }
}
