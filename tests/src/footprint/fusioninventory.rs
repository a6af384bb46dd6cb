//! FusionInventory agent as Debian packages it: a full local inventory
//! (`fusioninventory-agent --local DIR`, one XML file), timed from process
//! start to exit like `rollcall-agent inventory`, and the size of the XML.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The Debian package.
pub const DEBIAN_PACKAGE: &str = "fusioninventory-agent";
/// Where the package installs the program.
pub const DEFAULT_BINARY: &str = "/usr/bin/fusioninventory-agent";

/// What full inventories took and weighed.
#[derive(Debug, Clone)]
pub struct InventoryRuns {
    /// Wall time of each run.
    pub wall: Vec<Duration>,
    /// Size of the XML the last run wrote.
    pub xml_bytes: usize,
    /// The same gzip-compressed.
    pub xml_gzip_bytes: usize,
}

impl InventoryRuns {
    /// Median wall time, milliseconds.
    pub fn median_ms(&self) -> f64 {
        super::rollcall::median_ms(self.wall.clone())
    }

    /// The numbers as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "runs": self.wall.len(),
            "wall_ms_median": self.median_ms(),
            "wall_ms": self.wall.iter().map(|wall| wall.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
            "xml_bytes": self.xml_bytes,
            "xml_gzip_bytes": self.xml_gzip_bytes,
        })
    }
}

/// Runs `binary --local` `runs` times, each into a fresh directory under `dir`.
pub fn run(binary: &Path, dir: &Path, runs: usize) -> Result<InventoryRuns> {
    let mut wall = Vec::new();
    let mut xml = Vec::new();
    for run in 0..runs.max(1) {
        let out = dir.join(format!("fusioninventory-{run}"));
        std::fs::create_dir_all(&out)?;
        let started = Instant::now();
        let output = Command::new(binary)
            .arg("--local")
            .arg(&out)
            .output()
            .with_context(|| format!("run {}", binary.display()))?;
        wall.push(started.elapsed());
        if !output.status.success() {
            bail!(
                "{} --local failed ({}): {}",
                binary.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut files: Vec<_> = std::fs::read_dir(&out)?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect();
        let (Some(file), None) = (files.pop(), files.pop()) else {
            bail!(
                "{} --local wrote no single inventory file into {}",
                binary.display(),
                out.display()
            );
        };
        xml = std::fs::read(&file)?;
        if !String::from_utf8_lossy(&xml).contains("<SOFTWARES>") {
            bail!(
                "{} has no <SOFTWARES>: not a full inventory",
                file.display()
            );
        }
    }
    Ok(InventoryRuns {
        wall,
        xml_bytes: xml.len(),
        xml_gzip_bytes: super::gzip_len(&xml)?,
    })
}
