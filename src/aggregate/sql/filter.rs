//! An aggregate's filter as a SQL `WHERE` with bound parameters: values
//! never enter the text. SQL's three-valued logic is the contract's: a
//! comparison with null is unknown and only a true filter keeps a row.
//! `None` wherever the copy cannot give exactly what the scan would: a
//! column it does not keep, a value of another type than its column.

use crate::model::{Field, FieldType};
use crate::odata::{CompareOp, Filter, Literal, StringFn};
use crate::sql::{Builder, Cell, Kind, SqlDialect, Table};

/// A literal bound as its column is stored; `None` where the scan would
/// find the two incomparable.
fn literal(field: &Field, value: &Literal) -> Option<(Cell, Kind)> {
    Some(match (field.ty, value) {
        (FieldType::Int | FieldType::Enum(_), Literal::Int(i)) => (Cell::Int(*i), Kind::Int),
        (FieldType::Int | FieldType::Enum(_) | FieldType::Float, Literal::Float(f)) => {
            (Cell::Real(*f), Kind::Real)
        }
        (FieldType::Float, Literal::Int(i)) => (Cell::Real(*i as f64), Kind::Real),
        (FieldType::Boolean, Literal::Bool(v)) => (Cell::Int(i64::from(*v)), Kind::Int),
        (FieldType::DateTime, Literal::DateTime(t)) => (Cell::Int(t.timestamp_micros()), Kind::Int),
        (FieldType::String, Literal::String(s)) => (Cell::Text(s.clone()), Kind::Text),
        _ => return None,
    })
}

/// SQL's three-valued logic is the contract's: a comparison with null is
/// unknown and only a true filter keeps a row.
pub(super) fn where_sql(
    d: &dyn SqlDialect,
    table: &Table,
    f: &Filter,
    b: &mut Builder,
) -> Option<String> {
    let column = |p: &str| table.column(p);
    Some(match f {
        Filter::True => "1 = 1".into(),
        Filter::False => "1 = 0".into(),
        Filter::And(parts) | Filter::Or(parts) => {
            let joiner = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Option<Vec<String>> =
                parts.iter().map(|p| where_sql(d, table, p, b)).collect();
            let parts = parts?;
            if parts.is_empty() {
                return Some(
                    if matches!(f, Filter::And(_)) {
                        "1 = 1"
                    } else {
                        "1 = 0"
                    }
                    .into(),
                );
            }
            format!("({})", parts.join(joiner))
        }
        Filter::Not(inner) => format!("(NOT {})", where_sql(d, table, inner, b)?),
        Filter::IsNull { property, null } => {
            let c = column(property)?;
            format!("{} IS {}NULL", c.odata, if *null { "" } else { "NOT " })
        }
        Filter::Compare {
            property,
            op,
            value,
        } => {
            let c = column(property)?;
            let (cell, kind) = literal(c, value)?;
            let p = b.bind(d, cell, kind);
            let op = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
            };
            format!("{} {op} {p}", c.odata)
        }
        Filter::In { property, values } => {
            let c = column(property)?;
            if values.is_empty() {
                return Some("1 = 0".into());
            }
            let mut params = Vec::new();
            for v in values {
                let (cell, kind) = literal(c, v)?;
                params.push(b.bind(d, cell, kind));
            }
            format!("{} IN ({})", c.odata, params.join(", "))
        }
        Filter::Call {
            func,
            property,
            value,
        } => {
            let c = column(property)?;
            (c.ty == FieldType::String).then_some(())?;
            let p = b.bind(d, Cell::Text(value.clone()), Kind::Text);
            match func {
                StringFn::Contains => d.contains(c.odata, &p),
                StringFn::StartsWith => d.starts_with(c.odata, &p),
                StringFn::EndsWith => d.ends_with(c.odata, &p),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Plain;

    fn events() -> Table {
        crate::sql::tables(crate::model::ApiVersion::V1_1)
            .into_iter()
            .find(|t| t.entity.name == "ReportingEvent")
            .expect("events")
    }

    #[test]
    fn values_are_bound_never_written_into_the_sql() {
        let t = events();
        let hostile = "x'); DROP TABLE la_message; --";
        let filter = Filter::Or(vec![
            Filter::Compare {
                property: "name",
                op: CompareOp::Eq,
                value: Literal::String(hostile.into()),
            },
            Filter::Call {
                func: StringFn::Contains,
                property: "name",
                value: hostile.into(),
            },
            Filter::In {
                property: "user_id",
                values: vec![Literal::Int(1), Literal::Int(2)],
            },
        ]);
        let mut b = Builder::default();
        let sql = where_sql(&Plain, &t, &filter, &mut b).expect("kept columns");
        let statement = b.finish();
        assert_eq!(
            sql,
            "(name = ?1 OR contains(name, ?2) OR user_id IN (?3, ?4))"
        );
        assert!(!sql.contains("DROP"));
        assert_eq!(statement.params.len(), 4);
        assert_eq!(statement.params[0].0, Cell::Text(hostile.into()));
    }

    #[test]
    fn what_the_replica_lacks_or_cannot_compare_is_not_planned() {
        let t = events();
        let mut b = Builder::default();
        // A column it does not keep, and a value of another type.
        for filter in [
            Filter::IsNull {
                property: "nope",
                null: true,
            },
            Filter::Compare {
                property: "user_id",
                op: CompareOp::Eq,
                value: Literal::String("1".into()),
            },
        ] {
            assert_eq!(where_sql(&Plain, &t, &filter, &mut b), None, "{filter:?}");
        }
    }
}
