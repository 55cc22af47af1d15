//! The statements' plumbing: the placeholder rewrite and the per-connection cache.

use super::PgTx;
use crate::StoreError;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use std::collections::HashMap;

/// Most statements one connection keeps prepared; past it the cache starts over (lists
/// filtered by many values each make a statement of their own).
const MAX_STATEMENTS: usize = 512;

/// A connection's prepared statements, by their `?N` SQL text.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, Statement>);

impl Statements {
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(super) fn get(&self, sql: &str) -> Option<&Statement> {
        self.0.get(sql)
    }

    /// Keeps a statement; past [`MAX_STATEMENTS`] the cache starts over.
    pub(super) fn insert(&mut self, sql: &str, statement: Statement) {
        if self.0.len() >= MAX_STATEMENTS {
            self.0.clear();
        }
        self.0.insert(sql.to_string(), statement);
    }
}

/// A bound parameter.
pub(super) type Param<'a> = &'a (dyn ToSql + Sync);

/// `?N` placeholders (SQLite's numbered form, which the shared SQL is written in) as `$N`.
pub(super) fn dollar(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let numbered = c == '?' && chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if numbered { '$' } else { c });
    }
    out
}

/// The statement helpers every area's module runs its SQL through.
impl<'t, 'c> PgTx<'t, 'c> {
    pub(crate) fn new(txn: &'t mut Transaction<'c>, statements: &'t mut Statements) -> Self {
        Self { txn, statements, last_change: 0 }
    }

    pub(super) fn prepared(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.txn.prepare(&dollar(sql))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Every row `sql` selects.
    pub(super) fn all(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(self.txn.query(&statement, params)?)
    }

    /// The row `sql` selects, if any.
    pub(super) fn one(&mut self, sql: &str, params: &[Param]) -> Result<Option<Row>, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(self.txn.query_opt(&statement, params)?)
    }

    /// Runs a statement; the number of rows it touched.
    pub(super) fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(self.txn.execute(&statement, params)?)
    }

    /// Runs a statement whose unique violation the caller may handle and go on: inside its
    /// own savepoint, since an error otherwise aborts the whole PostgreSQL transaction.
    pub(super) fn exec_guarded(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let statement = self.prepared(sql)?;
        let mut savepoint = self.txn.savepoint("guarded")?;
        let touched = savepoint.execute(&statement, params)?;
        savepoint.commit()?;
        Ok(touched)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_placeholders_become_dollars_and_nothing_else_changes() {
        assert_eq!(
            super::dollar("SELECT a FROM t WHERE x = ?1 AND y IN (?2, ?10) AND z = '?' AND ?3::text IS NULL"),
            "SELECT a FROM t WHERE x = $1 AND y IN ($2, $10) AND z = '?' AND $3::text IS NULL"
        );
    }
}
