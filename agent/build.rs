//! Stamps the git commit and build date into `rollcall-agent --version`.

#[path = "build_info.rs"]
mod build_info;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build_info.rs");
    build_info::emit();
}
