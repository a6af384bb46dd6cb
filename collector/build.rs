//! Rebuilds the collector when a migration is added or changed: the
//! migrations are embedded by `sqlx::migrate!`, which cargo does not track.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
