//! The groups from the rows the engine returns: the keys normalised as the
//! scan's (`KeyPart::from_cell`), buckets named by their start, medians
//! from each group's values.

use super::buckets::bucket_start;
use super::plan::Grouped;
use crate::aggregate::group::{median, Group, KeyPart};
use crate::sql::Cell;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

type GroupKey = (Vec<KeyPart>, Option<DateTime<Utc>>);

impl Grouped<'_> {
    fn key(&self, cells: &mut std::vec::IntoIter<Cell>) -> GroupKey {
        let spec = self.spec;
        let key = spec
            .group_by
            .iter()
            .map(|f| KeyPart::from_cell(f, cells.next().unwrap_or(Cell::Null)))
            .collect();
        let bucket = spec.bucket.as_ref().and_then(|(_, b)| match cells.next() {
            Some(Cell::Int(code)) => bucket_start(b, code),
            _ => None,
        });
        (key, bucket)
    }

    /// The groups from the rows of `groups` and of each median statement.
    pub fn read(&self, rows: Vec<Vec<Cell>>, medians: Vec<Vec<Vec<Cell>>>) -> Vec<Group> {
        let spec = self.spec;
        let mut groups: Vec<Group> = Vec::with_capacity(rows.len());
        let mut index: HashMap<GroupKey, usize> = HashMap::new();
        for row in rows {
            let mut cells = row.into_iter();
            let (key, bucket) = self.key(&mut cells);
            let int = |c: Option<Cell>| match c {
                Some(Cell::Int(i)) => u64::try_from(i).unwrap_or(0),
                _ => 0,
            };
            let count = int(cells.next());
            let distinct = spec.distinct.iter().map(|_| int(cells.next())).collect();
            let numbers = spec
                .numbers
                .iter()
                .map(|_| match cells.next() {
                    Some(Cell::Real(f)) => Some(f),
                    Some(Cell::Int(i)) => Some(i as f64),
                    _ => None,
                })
                .collect();
            index.insert((key.clone(), bucket), groups.len());
            groups.push(Group {
                key,
                bucket,
                count,
                distinct,
                numbers,
            });
        }
        for ((number, _, _), rows) in self.medians.iter().zip(medians) {
            let mut values: HashMap<GroupKey, Vec<f64>> = HashMap::new();
            for row in rows {
                let mut cells = row.into_iter();
                let key = self.key(&mut cells);
                if let Some(Cell::Real(v)) = cells.next() {
                    values.entry(key).or_default().push(v);
                }
            }
            for (key, mut values) in values {
                if let Some(g) = index.get(&key).and_then(|i| groups.get_mut(*i)) {
                    if let Some(slot) = g.numbers.get_mut(*number) {
                        *slot = median(&mut values);
                    }
                }
            }
        }
        groups
    }
}
