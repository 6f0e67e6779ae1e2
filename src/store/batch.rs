//! Multi-row statements: many rows per `INSERT` (or ids per `IN`), so that
//! writing a large model costs a few dozen statements instead of one per row.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::Backend;

/// Bound parameters per statement: SQLite's limit (PostgreSQL allows 65,535).
const MAX_PARAMS: usize = 32_766;

/// A statement being built, its parameters bound as rows are added.
pub(super) type AnyQuery = Query<'static, sqlx::Any, AnyArguments>;

/// How many rows of `columns` parameters each fit in one statement that
/// also binds `shared` parameters.
pub(super) fn rows_per_statement(columns: usize, shared: usize) -> usize {
    (MAX_PARAMS.saturating_sub(shared) / columns.max(1)).max(1)
}

/// The SQL of one statement with placeholders numbered in bind order: `?`
/// on SQLite (it looks each `$N` up among the earlier ones, which grows
/// with the square of their count), `$N` on PostgreSQL.
pub(super) struct Sql {
    backend: Backend,
    text: String,
    bound: usize,
}

impl Sql {
    pub(super) fn new(backend: Backend) -> Sql {
        Sql {
            backend,
            text: String::new(),
            bound: 0,
        }
    }

    /// Appends text.
    pub(super) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends the next placeholder.
    pub(super) fn param(&mut self) -> &mut Sql {
        self.bound += 1;
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.bound.to_string());
            }
        }
        self
    }

    /// Appends ` (p, p), (p, p)`: `rows` groups of `columns` placeholders.
    pub(super) fn rows(&mut self, columns: usize, rows: usize) -> &mut Sql {
        for row in 0..rows {
            self.push(if row == 0 { " (" } else { ", (" });
            for column in 0..columns {
                if column > 0 {
                    self.push(", ");
                }
                self.param();
            }
            self.push(")");
        }
        self
    }

    /// The statement, built from placeholders and constants only (never from input).
    pub(super) fn statement(&mut self) -> AnyQuery {
        sqlx::query(sqlx::AssertSqlSafe(std::mem::take(&mut self.text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(backend: Backend) -> String {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE t SET a = ")
            .param()
            .push(" WHERE id IN")
            .rows(2, 1);
        sql.push(" OR (a, b) IN").rows(2, 2);
        sql.text
    }

    #[test]
    fn placeholders_follow_the_bind_order() {
        assert_eq!(
            text(Backend::Postgres),
            "UPDATE t SET a = $1 WHERE id IN ($2, $3) OR (a, b) IN ($4, $5), ($6, $7)"
        );
        assert_eq!(
            text(Backend::Sqlite),
            "UPDATE t SET a = ? WHERE id IN (?, ?) OR (a, b) IN (?, ?), (?, ?)"
        );
    }

    #[test]
    fn rows_fit_the_parameter_limit() {
        assert_eq!(rows_per_statement(23, 0), 1424);
        assert!(rows_per_statement(23, 0) * 23 <= MAX_PARAMS);
        assert_eq!(rows_per_statement(1, 2), MAX_PARAMS - 2);
        assert_eq!(rows_per_statement(MAX_PARAMS + 1, 0), 1);
    }
}
