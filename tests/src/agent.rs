//! A test agent: its state directory and configuration, enrolled and run
//! as the real `rollcall-agent` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::{Process, bin};

/// An agent's state directory and configuration.
#[derive(Debug)]
pub struct Agent {
    /// State directory.
    pub state_dir: PathBuf,
    /// Configuration file.
    pub config_path: PathBuf,
}

impl Agent {
    /// Prepares an agent under `dir/name` talking to `collectors`.
    pub fn new(dir: &Path, name: &str, collectors: &[&str], extra_toml: &str) -> Result<Agent> {
        let state_dir = dir.join(name);
        std::fs::create_dir_all(&state_dir)?;
        let config_path = dir.join(format!("{name}.toml"));
        let list: Vec<String> = collectors.iter().map(|url| format!("{url:?}")).collect();
        std::fs::write(
            &config_path,
            format!(
                "collectors = [{}]\nstate_dir = {:?}\nmax_backoff_s = 2\n{extra_toml}",
                list.join(", "),
                state_dir.display().to_string()
            ),
        )?;
        Ok(Agent {
            state_dir,
            config_path,
        })
    }

    /// Runs `rollcall-agent enroll`; returns (success, stdout + stderr).
    pub fn enroll(
        &self,
        collector: &str,
        token: &str,
        fingerprint: &str,
    ) -> Result<(bool, String)> {
        let output = Command::new(bin("rollcall-agent"))
            .arg("--config")
            .arg(&self.config_path)
            .args([
                "enroll",
                "--collector",
                collector,
                "--token",
                token,
                "--ca-fingerprint",
                fingerprint,
            ])
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// Starts `rollcall-agent run`.
    pub fn run(&self) -> Result<Process> {
        self.run_with_env(&[])
    }

    /// Starts `rollcall-agent run` with extra environment.
    pub fn run_with_env(&self, env: &[(&str, &str)]) -> Result<Process> {
        let mut command = Command::new(bin("rollcall-agent"));
        command
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env("ROLLCALL_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        let (process, _stdout) = Process::spawn(command)?;
        Ok(process)
    }

    /// The agent id written at enrollment.
    pub fn agent_id(&self) -> Result<String> {
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(self.state_dir.join("agent.json"))?)?;
        Ok(meta["agent_id"].as_str().unwrap_or_default().to_string())
    }
}

impl Agent {
    /// Runs `rollcall-agent inventory --format json` with this agent's
    /// configuration (so against its `root`) and parses the output.
    pub fn local_inventory(&self) -> Result<Value> {
        let output = Command::new(bin("rollcall-agent"))
            .arg("--config")
            .arg(&self.config_path)
            .args(["inventory", "--format", "json"])
            .output()?;
        if !output.status.success() {
            bail!(
                "rollcall-agent inventory failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}
