//! Every SQL query of the PostgreSQL Grafana dashboards
//! (`dashboards/grafana/*.json`, data source `grafana-postgresql-datasource`)
//! runs against a migrated PostgreSQL with a host, its packages, an open
//! outage and an incident in it, with Grafana's time macros and the
//! dashboard's variables replaced the way Grafana replaces them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{InventoryChange, NewOutage, Store};
use serde_json::Value;
use sqlx::Connection;

use super::cases::{agent, context, identity, package};

const POSTGRES: &str = "grafana-postgresql-datasource";

/// (dashboard file, panel title, SQL) of every PostgreSQL query, the
/// template variables' queries included.
fn dashboard_queries() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/grafana");
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for panel in dashboard["panels"].as_array().unwrap() {
            if panel["datasource"]["type"] != POSTGRES {
                continue;
            }
            for target in panel["targets"].as_array().unwrap() {
                let sql = target["rawSql"].as_str().expect("a rawSql query");
                queries.push((file.clone(), panel["title"].to_string(), sql.to_string()));
            }
        }
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            if variable["type"] == "query" && variable["datasource"]["type"] == POSTGRES {
                let sql = variable["query"].as_str().unwrap();
                queries.push((file.clone(), variable["name"].to_string(), sql.to_string()));
            }
        }
    }
    queries
}

/// `sql` as Grafana sends it: the time range as the last 24 hours, `$package` as `bash`.
fn interpolate(sql: &str) -> String {
    let sql = sql
        .replace(
            "$__unixEpochFrom()",
            "(extract(epoch FROM now()) - 86400)::bigint",
        )
        .replace("$__unixEpochTo()", "extract(epoch FROM now())::bigint")
        .replace("$package", "bash");
    assert!(!sql.contains('$'), "an unreplaced macro or variable: {sql}");
    sql
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_postgres_dashboard_query_runs_on_a_migrated_database() {
    let Some(url) = super::postgres_schema_url().await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let now = rollcall_proto::now_ms();
    agent(&store, "g1").await;
    let host = store
        .attach_host(
            "g1",
            &identity("mid-g1", "", "", &[], "g1"),
            "g1",
            now - 7_200_000,
        )
        .await
        .unwrap()
        .host_id;
    store
        .apply_inventory(
            &context("g1", &host, 1, now - 7_000_000),
            InventoryChange {
                full: true,
                items: vec![package("bash", "5.2.15-2"), package("curl", "7.88.1-10")],
                removed: vec![],
            },
        )
        .await
        .unwrap();
    store
        .open_outage(&NewOutage {
            id: "o1".into(),
            host_id: host.clone(),
            kind: "unplanned".into(),
            cause: "silent".into(),
            began_at: now - 3_600_000,
            detected_at: now - 3_597_000,
        })
        .await
        .unwrap();

    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let queries = dashboard_queries();
    assert!(queries.len() >= 10, "{queries:?}");
    let mut answered = Vec::new();
    for (file, title, sql) in &queries {
        let rows = sqlx::query(sqlx::AssertSqlSafe(interpolate(sql)))
            .fetch_all(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{file}: {title}: {error}\n{sql}"));
        answered.push((title.clone(), rows.len()));
    }
    // The seeded rows are found where they should be.
    for (title, at_least) in [
        ("\"Hosts down now, and since when\"", 1),
        ("\"Versions of $package, by hosts\"", 1),
        ("\"Most downtime in the time range (minutes)\"", 1),
        ("\"Hosts by operating system\"", 1),
        ("\"package\"", 2),
        ("\"Inventory changes per hour, by class\"", 1),
    ] {
        let rows = answered
            .iter()
            .find(|(name, _)| name == title)
            .map(|(_, rows)| *rows);
        assert!(
            rows >= Some(at_least),
            "{title}: {rows:?} rows; all: {answered:?}"
        );
    }
}
