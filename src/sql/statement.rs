//! SQL with bound parameters: values never enter the text. What differs
//! between the engines (SQLite, PostgreSQL) in the text of a statement is
//! the `SqlDialect`; the values are `Cell`s of a few stored kinds.

/// How a value is stored: timestamps as microseconds since 1970 and
/// booleans as 0/1, so that every engine compares and groups them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Real,
    Text,
}

/// One stored value, or one bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// One statement with its parameters (each with the kind it binds as).
#[derive(Debug, Clone, Default)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<(Cell, Kind)>,
}

impl Statement {
    /// A statement without parameters.
    pub fn plain(sql: String) -> Statement {
        Statement {
            sql,
            params: Vec::new(),
        }
    }
}

/// What differs in the SQL text of an engine.
pub trait SqlDialect: Send + Sync {
    /// The n-th parameter (1-based), of `kind`.
    fn param(&self, n: usize, kind: Kind) -> String;
    fn column_type(&self, kind: Kind) -> &'static str;
    /// `year * 12 + month - 1` of day number `day` (days since 1970-01-01).
    fn month_of_day(&self, day: &str) -> String;
    /// The larger of two integers.
    fn greatest(&self, a: &str, b: &str) -> String;
    /// Whether text `column` contains, starts or ends with parameter `p`.
    fn contains(&self, column: &str, p: &str) -> String;
    fn starts_with(&self, column: &str, p: &str) -> String;
    fn ends_with(&self, column: &str, p: &str) -> String;
}

/// Builds a statement, numbering its parameters.
#[derive(Default)]
pub struct Builder {
    statement: Statement,
}

impl Builder {
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.statement.sql.push_str(sql);
        self
    }

    /// Adds a parameter and returns how the SQL names it.
    pub fn bind(&mut self, dialect: &dyn SqlDialect, cell: Cell, kind: Kind) -> String {
        self.statement.params.push((cell, kind));
        dialect.param(self.statement.params.len(), kind)
    }

    pub fn finish(self) -> Statement {
        self.statement
    }
}

/// A dialect whose SQL text shows what was asked, for unit tests.
#[cfg(test)]
pub struct Plain;

#[cfg(test)]
impl SqlDialect for Plain {
    fn param(&self, n: usize, _kind: Kind) -> String {
        format!("?{n}")
    }
    fn column_type(&self, _kind: Kind) -> &'static str {
        "ANY"
    }
    fn month_of_day(&self, day: &str) -> String {
        format!("month({day})")
    }
    fn greatest(&self, a: &str, b: &str) -> String {
        format!("greatest({a}, {b})")
    }
    fn contains(&self, column: &str, p: &str) -> String {
        format!("contains({column}, {p})")
    }
    fn starts_with(&self, column: &str, p: &str) -> String {
        format!("starts({column}, {p})")
    }
    fn ends_with(&self, column: &str, p: &str) -> String {
        format!("ends({column}, {p})")
    }
}
