//! The statements' plumbing: the placeholder rewrite and the per-connection cache.

use postgres::types::ToSql;
use postgres::Statement;
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
