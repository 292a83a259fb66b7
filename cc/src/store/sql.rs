//! The one SQL interface the store's semantics ([`super::logic`]) are written against, so
//! SQLite and PostgreSQL run the same statements and cannot drift apart.
//!
//! Statements use SQLite's numbered placeholders (`?1`, `?2`…); the PostgreSQL side turns
//! them into `$1`, `$2`… and types every parameter from its [`Value`], so no statement
//! needs a cast. Integers are 64-bit on both sides (PostgreSQL columns are BIGINT).

use super::{StoreError, StoreResult};

/// A parameter or a column value. A NULL parameter keeps its type (PostgreSQL binds typed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(Some(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(Some(i64::from(v)))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Some(v.to_string()))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(Some(v.clone()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Some(v))
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Value {
        Value::Text(v.map(str::to_string))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Value {
        Value::Text(v)
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Value {
        Value::Text(v.clone())
    }
}

/// Statement parameters: `args![a, b]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::sql::Value::from($value)),*]
    };
}
pub(crate) use args;

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> StoreResult<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Database(format!("result column {i} is missing")))
    }

    pub(crate) fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            Value::Text(None) => Ok(None),
            Value::Text(Some(t)) => Err(StoreError::Database(format!(
                "result column {i} holds text `{t}` where a number was expected"
            ))),
        }
    }

    pub(crate) fn int(&self, i: usize) -> StoreResult<i64> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Database(format!("result column {i} is NULL")))
    }

    pub(crate) fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) => Ok(None),
            other => Err(StoreError::Database(format!(
                "result column {i} holds {other:?} where text was expected"
            ))),
        }
    }

    pub(crate) fn text(&self, i: usize) -> StoreResult<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Database(format!("result column {i} is NULL")))
    }
}

/// One open transaction of either store.
pub(crate) trait Tx {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, args: &[Value]) -> StoreResult<u64>;
    /// Runs a query; all its rows.
    fn rows(&mut self, sql: &str, args: &[Value]) -> StoreResult<Vec<Row>>;
    /// `FOR UPDATE` where rows can be locked (PostgreSQL); SQLite holds the one write lock
    /// for the whole transaction already.
    fn for_update(&self) -> &'static str;
    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL: a row another node is deciding about is left
    /// to it instead of waited for.
    fn skip_locked(&self) -> &'static str;

    /// The first row, if any.
    fn row(&mut self, sql: &str, args: &[Value]) -> StoreResult<Option<Row>> {
        Ok(self.rows(sql, args)?.into_iter().next())
    }
    /// The only row (an aggregate, or a row known to exist).
    fn one(&mut self, sql: &str, args: &[Value]) -> StoreResult<Row> {
        self.row(sql, args)?
            .ok_or_else(|| StoreError::Database(format!("no row for `{sql}`")))
    }
    /// The first column of every row, as text.
    fn texts(&mut self, sql: &str, args: &[Value]) -> StoreResult<Vec<String>> {
        self.rows(sql, args)?.iter().map(|r| r.text(0)).collect()
    }
    /// The first column of every row, as integers.
    fn ints(&mut self, sql: &str, args: &[Value]) -> StoreResult<Vec<i64>> {
        self.rows(sql, args)?.iter().map(|r| r.int(0)).collect()
    }
}

/// `?N` placeholders as PostgreSQL's `$N` (statements hold no `?` in literals).
pub(crate) fn numbered_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            numbered_dollars("a = ?1 AND (b > ?12 OR c IS NULL) -- ?"),
            "a = $1 AND (b > $12 OR c IS NULL) -- ?"
        );
    }

    #[test]
    fn rows_read_typed_and_name_the_column() {
        let row = Row(vec![
            Value::Int(Some(3)),
            Value::Text(None),
            Value::Text(Some("x".into())),
        ]);
        assert_eq!(row.int(0).unwrap(), 3);
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert_eq!(row.opt_int(1).unwrap(), None);
        assert_eq!(row.text(2).unwrap(), "x");
        assert_eq!(
            row.int(1).unwrap_err().to_string(),
            "contact-centre store: result column 1 is NULL"
        );
        assert!(row.int(2).is_err());
        assert!(row.int(7).is_err());
    }
}
