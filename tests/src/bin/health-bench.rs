//! `rollcall-health-bench`: health storage per host after simulated days
//! of samples with the retention job run (docs/performance.md, "Health
//! storage"); prints a table and, with `--json`, writes the report. The
//! work is in `rollcall_tests::healthbench`.

use anyhow::Result;
use clap::Parser;
use rollcall_tests::healthbench::{Options, run, table};

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
