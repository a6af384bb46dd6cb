//! The store conformance suite: the same cases against SQLite and
//! PostgreSQL. PostgreSQL cases read `ROLLCALL_TEST_DATABASE_URL`; without it
//! they print a notice and skip, except with `CI=true`, where they fail.

mod cases;
mod catalogue;
mod conflicts;
mod dashboards;
mod health;
mod history;
mod identify;
mod lists;
mod monitor;
mod outbox;
mod ownership;
mod revocation;
mod upgrade;
mod writes;

use std::sync::Arc;

use rollcall_collector::store::Store;
use rollcall_collector::store::sql::SqlStore;

/// A store on a fresh SQLite file.
pub async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let (store, dir) = sqlite_sql_store().await;
    (Arc::new(store), dir)
}

/// The SQL store itself on a fresh SQLite file (cases that need its pool).
pub async fn sqlite_sql_store() -> (SqlStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("conformance.db").display()
    );
    let store = SqlStore::connect(&url).await.expect("sqlite store");
    (store, dir)
}

/// A store on a fresh PostgreSQL schema, or `None` (skip) without a URL outside CI.
pub async fn postgres_store() -> Option<Arc<dyn Store>> {
    let store = postgres_sql_store().await?;
    Some(Arc::new(store))
}

/// The SQL store itself on a fresh PostgreSQL schema, or `None` as [`postgres_store`].
pub async fn postgres_sql_store() -> Option<SqlStore> {
    let url = postgres_schema_url().await?;
    Some(SqlStore::connect(&url).await.expect("postgres store"))
}

/// The URL of a fresh, empty PostgreSQL schema, or `None` as [`postgres_store`].
pub async fn postgres_schema_url() -> Option<String> {
    let Ok(base) = std::env::var("ROLLCALL_TEST_DATABASE_URL") else {
        if std::env::var("CI").is_ok_and(|value| value == "true" || value == "1") {
            panic!(
                "ROLLCALL_TEST_DATABASE_URL must be set when CI=true: PostgreSQL conformance tests may not skip in CI"
            );
        }
        eprintln!(
            "notice: ROLLCALL_TEST_DATABASE_URL is not set; skipping PostgreSQL conformance test"
        );
        return None;
    };
    let schema = format!("rc_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to ROLLCALL_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Cases that take the `SqlStore` itself (to plant rows through its pool).
macro_rules! sql_conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_sql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = super::sqlite_sql_store().await;
                    super::$case(store).await;
                }
            )*
        }
        mod postgres_sql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = super::postgres_sql_store().await else { return };
                    super::$case(store).await;
                }
            )*
        }
    };
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = super::postgres_store().await else { return };
                    super::$case(store).await;
                }
            )*
        }
    };
}

use cases::*;
use catalogue::*;
use conflicts::*;
use health::*;
use history::*;
use identify::*;
use lists::*;
use monitor::*;
use outbox::*;
use ownership::*;
use revocation::*;
use writes::*;

conformance!(
    suppressed_incidents_are_unsuppressed_once,
    a_severity_change_updates_the_one_incident_with_an_update_event,
    degraded_time_follows_a_severity_change,
    fleet_counts_group_hosts_and_open_incidents,
    silent_host_outage_begins_at_the_last_heartbeat,
    down_inside_a_maintenance_window_is_planned_without_incident,
    a_hostile_stored_window_does_not_stop_the_monitor,
    flapping_host_keeps_one_incident_open_until_stable,
    degraded_time_runs_from_the_first_critical_incident_to_the_last_resolution,
    a_host_in_maintenance_is_down_when_the_window_ends,
    a_host_back_inside_its_maintenance_window_is_up_without_incident,
    a_retired_host_is_no_longer_watched_and_its_outage_ends,
    enrollment_tokens_count_uses_and_expire,
    api_tokens_are_found_by_hash_only,
    reinstalled_host_lands_on_its_old_ci,
    cloned_vms_do_not_merge,
    placeholder_serials_are_ignored,
    one_nic_changed_still_matches,
    hostname_rename_keeps_the_ci,
    ambiguous_match_is_flagged_not_merged,
    claim_on_a_recently_heard_owners_ci_gets_a_new_flagged_ci,
    claim_on_a_revoked_owners_ci_takes_it_over_and_is_recorded,
    claim_on_a_silent_owners_ci_takes_it_over_and_the_old_owner_cannot_return,
    snapshot_history_records_every_change,
    deltas_apply_and_are_recorded,
    applying_is_idempotent_by_sequence,
    history_queries_by_time_range_and_ci,
    lifecycle_goes_stale_then_retired_and_comes_back,
    health_samples_are_stored_once,
    revoked_agents_are_marked,
    large_snapshots_are_written_in_full,
    closing_refuses_later_writes_without_hanging,
    concurrent_writes_fail_alone,
    liveness_and_ingest_batches_of_the_same_agents_never_deadlock,
    batched_writes_match_writes_applied_one_by_one,
    unique_violations_are_conflicts,
    a_conflict_rolls_its_transaction_back,
    host_lists_filter_and_page,
    incident_lists_filter_by_state_ci_rule_and_parent,
    outage_lists_filter_by_host_kind_and_overlap,
    api_tokens_expire_list_and_revoke_with_an_audit_entry,
    revoked_enrollment_tokens_and_agents_are_audited,
    audit_entries_are_read_on_from_an_id_oldest_first,
    a_renewed_certificate_replaces_the_old_one,
    version_filters_agree_with_dpkg,
    version_filters_agree_with_rpmvercmp,
    concurrent_first_inventories_share_one_catalogue,
    history_rebuilds_an_earlier_state_exactly,
    health_rollups_keep_min_avg_max_and_raw_leaves_after_retention,
    five_minute_buckets_roll_into_hourly_ones_which_expire,
    retention_passes_are_idempotent_and_resume_after_being_cut_short,
    stale_health_samples_neither_open_nor_resolve_incidents,
    outbox_claims_delivers_retries_and_dead_letters,
    concurrent_claimers_never_claim_the_same_row,
);

sql_conformance!(
    legacy_json_samples_stay_readable_and_are_converted,
    locked_rows_are_skipped_and_late_commits_fanned_out,
);
