//! ServiceNow encoded queries (`sysparm_query`) evaluated as an instance
//! does, so the fake finds what a real instance would find for the same
//! query, including what an injected `^OR` or `^NQ` makes it find:
//! `^NQ` separates queries that are ORed, `^` ANDs terms, a term after
//! `^OR` is ORed with the one before it, `ORDERBY`/`ORDERBYDESC` sort.
//! `=` compares without regard to case (as on a MySQL-backed instance).
//! A term naming an unknown field or operator is an error here (the
//! instance would ignore it, which is never what a client wants).

use serde_json::Value;

/// A term's operator.
#[derive(Debug, Clone, PartialEq)]
enum Operator {
    Equals,
    NotEquals,
    Like,
    StartsWith,
    EndsWith,
    IsEmpty,
    IsNotEmpty,
    In,
}

/// One `field<op>value` term.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    field: String,
    operator: Operator,
    value: String,
}

/// A parsed encoded query.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedQuery {
    /// OR of queries (`^NQ`); each an AND of clauses; each clause an OR of terms.
    queries: Vec<Vec<Vec<Term>>>,
    /// `(field, descending)` in order.
    order_by: Vec<(String, bool)>,
}

/// Operators by their spelling, longest first where one is a prefix of another.
const OPERATORS: &[(&str, Operator)] = &[
    ("!=", Operator::NotEquals),
    ("=", Operator::Equals),
    ("ISNOTEMPTY", Operator::IsNotEmpty),
    ("ISEMPTY", Operator::IsEmpty),
    ("LIKE", Operator::Like),
    ("STARTSWITH", Operator::StartsWith),
    ("ENDSWITH", Operator::EndsWith),
    ("IN", Operator::In),
];

fn term(text: &str, fields: &[&str]) -> Result<Term, String> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let (field, rest) = text.split_at(end);
    if !fields.contains(&field) {
        return Err(format!("unknown field {field:?} in term {text:?}"));
    }
    for (spelling, operator) in OPERATORS {
        if let Some(value) = rest.strip_prefix(spelling) {
            return Ok(Term {
                field: field.to_string(),
                operator: operator.clone(),
                value: value.to_string(),
            });
        }
    }
    Err(format!("unknown operator in term {text:?}"))
}

/// Parses `text` against the table's `fields`.
pub fn parse(text: &str, fields: &[&str]) -> Result<EncodedQuery, String> {
    let mut parsed = EncodedQuery {
        queries: Vec::new(),
        order_by: Vec::new(),
    };
    for query in text.split("^NQ") {
        let mut clauses: Vec<Vec<Term>> = Vec::new();
        for (index, part) in query.split('^').enumerate() {
            if part.is_empty() || part == "EQ" {
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBYDESC") {
                parsed.order_by.push((field.to_string(), true));
            } else if let Some(field) = part.strip_prefix("ORDERBY") {
                parsed.order_by.push((field.to_string(), false));
            } else if let (true, Some(alternative)) = (index > 0, part.strip_prefix("OR")) {
                let alternative = term(alternative, fields)?;
                match clauses.last_mut() {
                    Some(clause) => clause.push(alternative),
                    None => clauses.push(vec![alternative]),
                }
            } else {
                clauses.push(vec![term(part, fields)?]);
            }
        }
        if !clauses.is_empty() {
            parsed.queries.push(clauses);
        }
    }
    Ok(parsed)
}

/// A record's field as the instance compares it.
fn text_of(record: &Value, field: &str) -> String {
    match record.get(field) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

impl Term {
    fn matches(&self, record: &Value) -> bool {
        let actual = text_of(record, &self.field).to_lowercase();
        let wanted = self.value.to_lowercase();
        match self.operator {
            Operator::Equals => actual == wanted,
            Operator::NotEquals => actual != wanted,
            Operator::Like => actual.contains(&wanted),
            Operator::StartsWith => actual.starts_with(&wanted),
            Operator::EndsWith => actual.ends_with(&wanted),
            Operator::IsEmpty => actual.is_empty(),
            Operator::IsNotEmpty => !actual.is_empty(),
            Operator::In => wanted.split(',').any(|item| item == actual),
        }
    }
}

impl EncodedQuery {
    /// Whether `record` matches (an empty query matches everything).
    pub fn matches(&self, record: &Value) -> bool {
        self.queries.is_empty()
            || self.queries.iter().any(|clauses| {
                clauses
                    .iter()
                    .all(|alternatives| alternatives.iter().any(|term| term.matches(record)))
            })
    }

    /// Whether every query restricts `field` with `=` in a clause of its own
    /// (no `^OR` beside it), i.e. the query cannot match a record whose
    /// `field` differs from the value asked for.
    pub fn pins(&self, field: &str) -> bool {
        !self.queries.is_empty()
            && self.queries.iter().all(|clauses| {
                clauses.iter().any(|alternatives| {
                    matches!(alternatives.as_slice(), [only] if only.field == field && only.operator == Operator::Equals)
                })
            })
    }

    /// Sorts `records` by the query's `ORDERBY` terms (stable).
    pub fn sort(&self, records: &mut [Value]) {
        for (field, descending) in self.order_by.iter().rev() {
            records.sort_by(|a, b| {
                let order = text_of(a, field).cmp(&text_of(b, field));
                if *descending { order.reverse() } else { order }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[&str] = &["correlation_id", "active", "name"];

    #[test]
    fn caret_is_and_caret_or_is_or_and_nq_is_a_second_query() -> Result<(), String> {
        let mine = json!({ "correlation_id": "a", "active": true });
        let other = json!({ "correlation_id": "b", "active": true });
        let plain = parse("correlation_id=a^active=true", FIELDS)?;
        assert!(plain.matches(&mine) && !plain.matches(&other));
        assert!(plain.pins("correlation_id"));
        let injected = parse("correlation_id=x^ORactive=true^active=true", FIELDS)?;
        assert!(injected.matches(&other), "^OR widens the lookup");
        assert!(!injected.pins("correlation_id"));
        let second = parse("correlation_id=x^NQactive=true", FIELDS)?;
        assert!(second.matches(&other), "^NQ adds a query");
        assert!(parse("nosuchfield=1", FIELDS).is_err());
        Ok(())
    }
}
