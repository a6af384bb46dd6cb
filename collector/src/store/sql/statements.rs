//! Statements built at run time, with their parameters bound as the text is
//! written, so no placeholder is ever counted by hand: [`Statement`] (text
//! and arguments, `(…), (…)` value lists, `IN (…)` lists), [`ListQuery`]
//! (the WHERE clause, keyset cursor and page of every list query), and the
//! change-history INSERT that several areas share.

use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, AnyConnection, Arguments, AssertSqlSafe, Encode, FromRow, Type};

use super::dialect::Dialect;
use crate::cmdb::diff;

/// SQL text and its bound arguments, built together.
pub(crate) struct Statement {
    dialect: Dialect,
    sql: String,
    arguments: AnyArguments,
    parameters: usize,
    error: Option<BoxDynError>,
}

impl Statement {
    /// A statement starting with `sql` (which has no placeholders).
    pub(crate) fn new(dialect: Dialect, sql: impl Into<String>) -> Self {
        Self {
            dialect,
            sql: sql.into(),
            arguments: AnyArguments::default(),
            parameters: 0,
            error: None,
        }
    }

    /// Appends SQL text (without placeholders).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub(crate) fn bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        self.parameters += 1;
        self.dialect
            .push_placeholder(&mut self.sql, self.parameters);
        self.add(value);
        self
    }

    /// Appends `(p, p, …)` binding each of `values`, for `IN`.
    pub(crate) fn bind_list<'t, T, I>(&mut self, values: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        self.sql.push('(');
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.sql.push_str(", ");
            }
            self.bind(value);
        }
        self.sql.push(')');
        self
    }

    /// Appends `(…), (…)`: one group of `per_row` placeholders per row, and
    /// binds each row's values through `bind_row`, in order. The text is
    /// written in one pass before the values (it is the hot path of a
    /// snapshot apply); a `bind_row` that binds a different number of
    /// values fails the statement.
    pub(crate) fn values<R>(
        &mut self,
        rows: &[R],
        per_row: usize,
        mut bind_row: impl FnMut(&mut Values<'_>, &R),
    ) -> &mut Self {
        self.sql.reserve(rows.len() * per_row * 5);
        let first = self.parameters;
        for row in 0..rows.len() {
            if row > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            for column in 0..per_row {
                if column > 0 {
                    self.sql.push_str(", ");
                }
                self.dialect
                    .push_placeholder(&mut self.sql, first + row * per_row + column + 1);
            }
            self.sql.push(')');
        }
        let mut values = Values {
            statement: self,
            bound: 0,
        };
        for row in rows {
            bind_row(&mut values, row);
        }
        let bound = values.bound;
        let expected = rows.len() * per_row;
        if bound != expected && self.error.is_none() {
            self.error = Some(format!("{bound} values bound for {expected} placeholders").into());
        }
        self.parameters = first + expected;
        self
    }

    fn add<'t, T>(&mut self, value: T)
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        if let Err(error) = self.arguments.add(value) {
            self.error.get_or_insert(error);
        }
    }

    /// The SQL text so far.
    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// Parameters bound so far.
    #[cfg(test)]
    pub(crate) fn parameters(&self) -> usize {
        self.parameters
    }

    /// The statement, ready to execute; `Err` if a value could not be bound.
    pub(crate) fn query(self) -> Result<Query<'static, Any, AnyArguments>, sqlx::Error> {
        match self.error {
            Some(error) => Err(sqlx::Error::Encode(error)),
            None => Ok(sqlx::query_with(AssertSqlSafe(self.sql), self.arguments)),
        }
    }

    /// The statement, ready to fetch rows as `T`; `Err` if a value could not be bound.
    pub(crate) fn query_as<T>(self) -> Result<QueryAs<'static, Any, T, AnyArguments>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
    {
        match self.error {
            Some(error) => Err(sqlx::Error::Encode(error)),
            None => Ok(sqlx::query_as_with(AssertSqlSafe(self.sql), self.arguments)),
        }
    }
}

/// Binds the values of one row of [`Statement::values`].
pub(crate) struct Values<'s> {
    statement: &'s mut Statement,
    bound: usize,
}

impl Values<'_> {
    /// Binds the next value.
    pub(crate) fn bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        self.bound += 1;
        self.statement.add(value);
        self
    }
}

/// A list query: a SELECT, the conditions its filter sets (each one only
/// when set), an optional keyset cursor, and a page. Every list query is
/// built with it.
pub(crate) struct ListQuery {
    statement: Statement,
    conditions: usize,
}

impl ListQuery {
    /// A list query over `select` (`SELECT … FROM …`, no WHERE).
    pub(crate) fn new(dialect: Dialect, select: &str) -> Self {
        Self {
            statement: Statement::new(dialect, select),
            conditions: 0,
        }
    }

    /// Starts one more condition (`WHERE` for the first, `AND` after) for
    /// the caller to write and bind.
    pub(crate) fn and(&mut self) -> &mut Statement {
        self.statement.push(if self.conditions == 0 {
            " WHERE "
        } else {
            " AND "
        });
        self.conditions += 1;
        &mut self.statement
    }

    /// `column <operator> value`, when the filter sets `value`.
    pub(crate) fn compare<'t, T>(
        &mut self,
        column: &str,
        operator: &str,
        value: Option<T>,
    ) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        if let Some(value) = value {
            self.and()
                .push(column)
                .push(" ")
                .push(operator)
                .push(" ")
                .bind(value);
        }
        self
    }

    /// `column = value`, when the filter sets `value`.
    pub(crate) fn equals<'t, T>(&mut self, column: &str, value: Option<T>) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        self.compare(column, "=", value)
    }

    /// Keyset paging: only rows whose `column` is past `cursor`, when a
    /// cursor is given (the page must be ordered by `column`).
    pub(crate) fn after<'t, T>(&mut self, column: &str, cursor: Option<T>) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any> + 't,
    {
        self.compare(column, ">", cursor)
    }

    /// Closes the query with `ORDER BY order_by LIMIT limit`.
    pub(crate) fn page(mut self, order_by: &str, limit: i64) -> Statement {
        self.statement
            .push(" ORDER BY ")
            .push(order_by)
            .push(" LIMIT ")
            .bind(limit);
        self.statement
    }
}

/// One change-history row: a record of a host, when and from whom.
pub(crate) struct ChangeRow<'r> {
    pub host_id: &'r str,
    pub record: &'r diff::ChangeRecord,
    pub at: i64,
    pub source: &'r str,
}

/// Records change history of one host (`records` at `at` from `source`).
pub(crate) async fn insert_changes(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
    records: &[diff::ChangeRecord],
    at: i64,
    source: &str,
) -> std::result::Result<(), sqlx::Error> {
    let rows: Vec<ChangeRow<'_>> = records
        .iter()
        .map(|record| ChangeRow {
            host_id,
            record,
            at,
            source,
        })
        .collect();
    insert_change_rows(connection, dialect, &rows).await
}

/// On PostgreSQL, locks the `agents` rows of `ids` in id order, in as few
/// statements as the backend allows; SQLite's write transaction already
/// excludes every other writer. The ingest writers and the liveness writer
/// both update batches of agents rows (and then their hosts rows), and an
/// `UPDATE … FROM (VALUES …)` locks rows in whatever order its plan reads
/// them: two such transactions deadlocked on each other (PostgreSQL waits
/// `deadlock_timeout`, 1 s, then fails one of them: 112 times in a 30 s
/// run of 5,000 deltas/s, which went in at 3,100/s with a p99 ack of
/// 11 s). Taken first and in one order, the locks make them wait for each
/// other but never in a circle.
pub(crate) async fn lock_agents(
    connection: &mut AnyConnection,
    dialect: Dialect,
    ids: &[&str],
) -> std::result::Result<(), sqlx::Error> {
    if dialect != Dialect::Postgres || ids.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&str> = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for chunk in dialect.statement_rows(&sorted, 1, |id| 8 + id.len()) {
        let mut statement = Statement::new(dialect, "SELECT id FROM agents WHERE id IN ");
        statement.bind_list(chunk.iter().copied());
        statement.push(" ORDER BY id FOR UPDATE");
        statement.query()?.fetch_all(&mut *connection).await?;
    }
    Ok(())
}

/// Records change history rows of any hosts, as few multi-row INSERTs as
/// [`Dialect::statement_rows`] allows.
pub(crate) async fn insert_change_rows(
    connection: &mut AnyConnection,
    dialect: Dialect,
    rows: &[ChangeRow<'_>],
) -> std::result::Result<(), sqlx::Error> {
    let size = |row: &ChangeRow<'_>| {
        160 + row.record.key.len()
            + row.record.old_value.as_ref().map_or(0, String::len)
            + row.record.new_value.as_ref().map_or(0, String::len)
    };
    for chunk in dialect.statement_rows(rows, 9, size) {
        let mut statement = Statement::new(
            dialect,
            format!(
                "{} changes (host_id, class, item_key, change, field, old_value, new_value, at, source) VALUES ",
                dialect.insert_rows()
            ),
        );
        statement.values(chunk, 9, |values, row| {
            values
                .bind(row.host_id)
                .bind(row.record.class.as_str())
                .bind(row.record.key.as_str())
                .bind(row.record.change)
                .bind(row.record.field.as_str())
                .bind(row.record.old_value.as_deref())
                .bind(row.record.new_value.as_deref())
                .bind(row.at)
                .bind(row.source);
        });
        statement.query()?.execute(&mut *connection).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Dialect, ListQuery, Statement};

    const SELECT: &str = "SELECT id FROM t";

    #[test]
    fn an_empty_filter_adds_no_where() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let mut list = ListQuery::new(dialect, SELECT);
            list.equals::<&str>("a", None).after::<i64>("id", None);
            let statement = list.page("id", 10);
            let limit = if dialect == Dialect::Sqlite {
                "?"
            } else {
                "$1"
            };
            assert_eq!(
                statement.sql(),
                format!("{SELECT} ORDER BY id LIMIT {limit}")
            );
            assert_eq!(statement.parameters(), 1);
        }
    }

    #[test]
    fn conditions_are_joined_and_numbered_in_order() {
        let build = |dialect| {
            let mut list = ListQuery::new(dialect, SELECT);
            list.after("id", Some(7_i64))
                .equals("host_id", Some("h"))
                .equals::<&str>("kind", None)
                .compare("at", ">=", Some(1_i64));
            list.and().push("state <> 'resolved'");
            list.and()
                .push("(name LIKE ")
                .bind("%a%")
                .push(" OR fqdn LIKE ")
                .bind("%a%")
                .push(")");
            list.page("id", 50)
        };
        let postgres = build(Dialect::Postgres);
        assert_eq!(
            postgres.sql(),
            "SELECT id FROM t WHERE id > $1 AND host_id = $2 AND at >= $3 AND state <> 'resolved' \
             AND (name LIKE $4 OR fqdn LIKE $5) ORDER BY id LIMIT $6"
        );
        assert_eq!(postgres.parameters(), 6);
        let sqlite = build(Dialect::Sqlite);
        assert_eq!(
            sqlite.sql(),
            "SELECT id FROM t WHERE id > ? AND host_id = ? AND at >= ? AND state <> 'resolved' \
             AND (name LIKE ? OR fqdn LIKE ?) ORDER BY id LIMIT ?"
        );
        assert_eq!(sqlite.parameters(), 6);
    }

    #[test]
    fn a_condition_without_parameters_still_starts_the_where() {
        let mut list = ListQuery::new(Dialect::Postgres, SELECT);
        list.and().push("state = 'resolved'");
        list.equals("ci_id", Some("c"));
        let statement = list.page("opened_at DESC, id", 5);
        assert_eq!(
            statement.sql(),
            "SELECT id FROM t WHERE state = 'resolved' AND ci_id = $1 ORDER BY opened_at DESC, id LIMIT $2"
        );
    }

    #[test]
    fn value_lists_and_in_lists_continue_the_numbering() {
        let mut statement = Statement::new(Dialect::Postgres, "UPDATE t SET x = ");
        statement
            .bind(1_i64)
            .push(" WHERE id IN ")
            .bind_list([2_i64, 3, 4]);
        assert_eq!(
            statement.sql(),
            "UPDATE t SET x = $1 WHERE id IN ($2, $3, $4)"
        );
        let mut insert = Statement::new(Dialect::Postgres, "INSERT INTO t (a, b) VALUES ");
        insert.values(&[(1_i64, "x"), (2, "y")], 2, |row, (a, b)| {
            row.bind(*a).bind(*b);
        });
        assert_eq!(
            insert.sql(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(insert.parameters(), 4);
        insert.push(" RETURNING ").bind(5_i64);
        assert!(insert.sql().ends_with("RETURNING $5"));
        let mut sqlite = Statement::new(Dialect::Sqlite, "INSERT INTO t (a) VALUES ");
        sqlite.values(&[1_i64, 2, 3], 1, |row, a| {
            row.bind(*a);
        });
        assert_eq!(sqlite.sql(), "INSERT INTO t (a) VALUES (?), (?), (?)");
    }

    #[test]
    fn binding_too_few_values_fails_the_statement() {
        let mut insert = Statement::new(Dialect::Sqlite, "INSERT INTO t (a, b) VALUES ");
        insert.values(&[1_i64], 2, |row, a| {
            row.bind(*a);
        });
        assert!(insert.error.is_some());
    }
}
