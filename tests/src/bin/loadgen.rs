//! `rollcall-loadgen`: simulates many agents against a running collector and
//! reports what it measured as a table and, with `--json`, as JSON. The
//! work is in `rollcall_tests::loadgen`.

use anyhow::Result;
use clap::Parser;
use rollcall_tests::loadgen::{Options, run, table};

fn main() -> Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let json_path = options.json.clone();
    let report = runtime.block_on(run(options))?;
    print!("{}", table(&report));
    if let Some(path) = json_path {
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    Ok(())
}
