//! The host list with every filter of `GET /api/v1/hosts` written as SQL
//! conditions with bound values (`HostStore::find_hosts`), ordered by an
//! allow-listed column and paged by a keyset cursor (sort value, id).

use super::SqlStore;
use super::catalogue::push_runs_package;
use super::dialect::Dialect;
use super::hosts::HOST_COLUMNS;
use super::statements::{ListQuery, Statement};
use crate::error::Result;
use crate::store::{Host, HostQuery, HostSort, MEMBER_OF, SortValue, TextMatch};

/// Appends `column` matching `text` (case-insensitive).
fn push_text(statement: &mut Statement, column: &str, text: &TextMatch) {
    match text {
        TextMatch::Exact(value) => {
            statement
                .push("LOWER(")
                .push(column)
                .push(") = ")
                .bind(value.to_lowercase());
        }
        TextMatch::Like(pattern) => {
            statement
                .push("LOWER(")
                .push(column)
                .push(") LIKE ")
                .bind(pattern.clone())
                .push(" ESCAPE '\\'");
        }
    }
}

/// `%` and `_` and `\` escaped for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Adds one condition per text filter that is set.
fn text_conditions(list: &mut ListQuery, query: &HostQuery) {
    let columns = [
        ("class", &query.class),
        ("os_name", &query.os),
        ("os_version", &query.os_version),
        ("kernel", &query.kernel),
        ("cpu_model", &query.cpu_model),
        ("vendor", &query.vendor),
        ("model", &query.model),
        ("dmi_serial", &query.serial),
        ("virtualization", &query.virtualization),
    ];
    for (column, text) in columns {
        if let Some(text) = text {
            push_text(list.and(), column, text);
        }
    }
}

/// The keyset condition and the ORDER BY of `query`'s sort.
fn order(list: &mut ListQuery, query: &HostQuery) -> String {
    let column = query.sort.name();
    if query.sort == HostSort::Id {
        let direction = if query.descending { "<" } else { ">" };
        if let Some(cursor) = &query.cursor {
            list.and()
                .push("id ")
                .push(direction)
                .push(" ")
                .bind(cursor.id.clone());
        }
        return if query.descending {
            "id DESC".into()
        } else {
            "id".into()
        };
    }
    if let Some(cursor) = &query.cursor {
        let past = if query.descending { " < " } else { " > " };
        let statement = list.and();
        statement.push("(").push(column).push(past);
        bind_value(statement, cursor.value.as_ref());
        statement.push(" OR (").push(column).push(" = ");
        bind_value(statement, cursor.value.as_ref());
        statement
            .push(" AND id > ")
            .bind(cursor.id.clone())
            .push("))");
    }
    if query.descending {
        format!("{column} DESC, id")
    } else {
        format!("{column}, id")
    }
}

fn bind_value(statement: &mut Statement, value: Option<&SortValue>) {
    match value {
        Some(SortValue::Number(number)) => statement.bind(*number),
        Some(SortValue::Text(text)) => statement.bind(text.clone()),
        // The parser gives every non-id cursor a value; NULL matches nothing.
        None => statement.push("NULL"),
    };
}

/// The conditions that need no lookup first.
fn plain_conditions(list: &mut ListQuery, dialect: Dialect, query: &HostQuery) {
    if let Some(name) = &query.name {
        let statement = list.and();
        statement.push("(");
        push_text(statement, "hostname", name);
        statement.push(" OR ");
        push_text(statement, "fqdn", name);
        statement.push(")");
    }
    text_conditions(list, query);
    list.equals("presence", query.presence.clone());
    list.equals("lifecycle", query.lifecycle.clone());
    for tag in &query.tags {
        list.and()
            .push("(',' || tags || ',') LIKE ")
            .bind(format!("%,{},%", like_escape(tag)))
            .push(" ESCAPE '\\'");
    }
    for (name, value) in &query.attributes {
        let statement = list.and();
        statement
            .push("id IN (SELECT a.host_id FROM host_attributes a WHERE a.name = ")
            .bind(name.clone())
            .push(" AND ");
        push_text(statement, "a.value", value);
        statement.push(")");
    }
    if let Some(service) = &query.service {
        list.and()
            .push("id IN (SELECT r.child_id FROM relationships r JOIN business_services b ON b.id = r.parent_id WHERE r.kind = ")
            .bind(MEMBER_OF)
            .push(" AND (b.id = ")
            .bind(service.clone())
            .push(" OR b.name = ")
            .bind(service.clone())
            .push("))");
    }
    list.compare("last_seen_at", "<", query.last_seen_before);
    list.compare("last_seen_at", ">=", query.last_seen_after);
    list.compare("memory_bytes", ">=", query.memory_min);
    list.compare("memory_bytes", "<=", query.memory_max);
    if let Some(port) = query.port {
        // Socket items are keyed `protocol/address:port`.
        list.and()
            .push("EXISTS (SELECT 1 FROM ci_items c WHERE c.host_id = hosts.id AND c.class = 'listening_port' AND c.item_key LIKE ")
            .bind(format!("%:{port}"))
            .push(")");
    }
    if let Some(unit) = &query.failed_unit {
        let statement = list.and();
        statement
            .push("EXISTS (SELECT 1 FROM ci_items c WHERE c.host_id = hosts.id AND c.class = 'service' AND ")
            .push(&dialect.json_text("c.attrs", "active_state"))
            .push(" = 'failed' AND ");
        push_text(statement, "c.item_key", unit);
        statement.push(")");
    }
}

impl SqlStore {
    /// See `HostStore::find_hosts`: a software condition's ranks and the
    /// hosts are read in one snapshot.
    pub(super) async fn find_host_page(&self, query: &HostQuery) -> Result<Vec<Host>> {
        let mut tx = self.dialect.begin_read(&self.pool).await?;
        let mut list = ListQuery::new(self.dialect, &format!("SELECT {HOST_COLUMNS} FROM hosts"));
        plain_conditions(&mut list, self.dialect, query);
        if let Some(software) = &query.software {
            // As the catalogue counts: installed software of retired hosts is not listed.
            list.and().push("lifecycle <> 'retired'");
            if !push_runs_package(&mut tx, list.and(), &software.name, &software.conditions).await?
            {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
        }
        let order_by = order(&mut list, query);
        let hosts = list
            .page(&order_by, query.limit)
            .query_as::<Host>()?
            .fetch_all(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_escape("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(like_escape("plain"), "plain");
    }
}
