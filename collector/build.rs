//! Rebuilds the collector when a migration is added or changed: the
//! migrations are embedded by `sqlx::migrate!`, which cargo does not track.
//! Stamps the git commit and build date into `--version` of both binaries
//! (the stamp is the agent's build script's, shared by path).

#[path = "../agent/build_info.rs"]
mod build_info;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../agent/build_info.rs");
    build_info::emit();
}
