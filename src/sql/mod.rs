//! SQL over a local copy of the account (the analytics replica): statements
//! with bound parameters and what differs between engines (`statement`),
//! and the tables the model gives (`table`). Knows nothing of how a copy
//! is kept or asked; the replica stores with it, and aggregates answer
//! with it.

mod rollup;
mod statement;
mod table;

pub use rollup::{rollups, Level, Rollup, DAY_US, HOUR_US, QUARTER_US};
pub use statement::{Builder, Cell, Kind, SqlDialect, Statement};
pub use table::{cell, kind, tables, Table};

#[cfg(test)]
pub use statement::Plain;
