//! The CMDB as of any moment, proven on a real agent's history, and the
//! `rollcall` CLI against the live collector.
//!
//! A real agent on a fixture root (real collector and agent processes,
//! SQLite) has its inventory changed twice while the API's answers are
//! recorded at t1, t2 and t3: first a package upgraded, one removed, one
//! added and an interface gone, then the added package upgraded. Afterwards
//! `as_of=t1|t2|t3` must return the recorded documents, and `diff` exactly
//! the differences between them. Then the CLI (the real `rollcall` binary)
//! answers `diff`, `rollout`, `changes`, `hosts list --csv`, `software`,
//! `maintenance` and `services` from the same collector, with the URL and
//! token from flags, from a config file, and the environment beating the
//! file. Nothing is written into the store by the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rollcall_tests::{
    Agent, Collector, CollectorOptions, bin, copy_tree, normalise_api_inventory, wait_for,
};
use serde_json::Value;

const OLD_SSH: &str = "1:9.2p1-2+deb12u2";
const NEW_SSH: &str = "1:9.2p1-2+deb12u3";

fn fixture_root(dir: &Path) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/host-debian");
    let root = dir.join("root");
    copy_tree(&source, &root).context("copy the host-debian fixture")?;
    // A second interface, to be taken away.
    let net = root.join("sys/class/net");
    copy_tree(&net.join("enp3s0"), &net.join("enp4s0"))?;
    std::fs::write(net.join("enp4s0/address"), "52:54:00:aa:bb:cc\n")?;
    Ok(root)
}

/// Rewrites the fixture's dpkg status with `edit` applied to its stanzas,
/// by write and rename as dpkg does.
fn edit_dpkg(root: &Path, edit: impl FnOnce(&mut Vec<String>)) -> Result<()> {
    let path = root.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&path)?;
    let mut stanzas: Vec<String> = text
        .split("\n\n")
        .map(|stanza| stanza.trim().to_string())
        .filter(|stanza| !stanza.is_empty())
        .collect();
    edit(&mut stanzas);
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, stanzas.join("\n\n") + "\n")?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

fn nginx(version: &str) -> String {
    format!(
        "Package: nginx-light\nStatus: install ok installed\nArchitecture: amd64\n\
         Source: nginx\nVersion: {version}\nDescription: small web server"
    )
}

/// The host's inventory now, normalised (lists sorted).
async fn inventory(collector: &Collector, host: &str, as_of: Option<i64>) -> Result<Value> {
    let query = as_of.map(|at| format!("?as_of={at}")).unwrap_or_default();
    let detail = collector
        .get(&format!("/api/v1/hosts/{host}{query}"))
        .await?;
    Ok(normalise_api_inventory(&detail["inventory"]))
}

/// Per section: the item keys added, removed and changed from `a` to `b`,
/// computed from the two documents themselves (an item's key is its
/// `name`, else its `mount_point`, else the whole item; a singleton
/// section's one item has the empty key).
fn expected_diff(a: &Value, b: &Value) -> BTreeMap<String, [Vec<String>; 3]> {
    let keyed = |section: &Value| -> BTreeMap<String, Value> {
        let items = match section {
            Value::Array(list) => list.clone(),
            Value::Null => Vec::new(),
            // A singleton section is one item, keyed by nothing.
            other => return BTreeMap::from([(String::new(), other.clone())]),
        };
        items
            .into_iter()
            .map(|item| {
                let key = item["name"]
                    .as_str()
                    .or(item["mount_point"].as_str())
                    .map_or_else(|| item.to_string(), String::from);
                (key, item)
            })
            .collect()
    };
    let mut out = BTreeMap::new();
    let sections: std::collections::BTreeSet<&String> = a
        .as_object()
        .into_iter()
        .flatten()
        .chain(b.as_object().into_iter().flatten())
        .map(|(name, _)| name)
        .collect();
    for section in sections {
        let (before, after) = (keyed(&a[section]), keyed(&b[section]));
        let added: Vec<String> = after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .cloned()
            .collect();
        let removed: Vec<String> = before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .cloned()
            .collect();
        let changed: Vec<String> = after
            .iter()
            .filter(|(k, item)| before.get(*k).is_some_and(|old| old != *item))
            .map(|(k, _)| k.clone())
            .collect();
        if !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
            out.insert(section.clone(), [added, removed, changed]);
        }
    }
    out
}

/// The API's diff in the same form: per section, the names of the items
/// (from their attributes) added, removed and changed.
async fn api_diff(
    collector: &Collector,
    host: &str,
    from: i64,
    to: i64,
    at_from: &Value,
    at_to: &Value,
) -> Result<BTreeMap<String, [Vec<String>; 3]>> {
    let diff = collector
        .get(&format!("/api/v1/hosts/{host}/diff?from={from}&to={to}"))
        .await?;
    let mut out = BTreeMap::new();
    for (section, kinds) in diff["sections"].as_object().into_iter().flatten() {
        // Names of items by their stored key: from the attributes given
        // (added, removed) or, for changed ones, from the later document.
        let name_of = |item: &Value, doc: &Value| -> String {
            if !doc[section].is_array() {
                return String::new();
            }
            let attrs = &item["attrs"];
            if let Some(name) = attrs["name"].as_str().or(attrs["mount_point"].as_str()) {
                return name.to_string();
            }
            let key = item["key"].as_str().unwrap_or_default();
            let list = match &doc[section] {
                Value::Array(list) => list.clone(),
                other => vec![other.clone()],
            };
            list.iter()
                .find(|candidate| {
                    candidate["name"]
                        .as_str()
                        .is_some_and(|name| key.starts_with(name))
                        || candidate["mount_point"].as_str() == Some(key)
                })
                .and_then(|found| found["name"].as_str().or(found["mount_point"].as_str()))
                .map_or_else(|| doc[section].to_string(), String::from)
        };
        let names = |kind: &str, doc: &Value| -> Vec<String> {
            let mut names: Vec<String> = kinds[kind]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| name_of(item, doc))
                .collect();
            names.sort();
            names
        };
        out.insert(
            section.clone(),
            [
                names("added", at_to),
                names("removed", at_from),
                names("changed", at_to),
            ],
        );
    }
    Ok(out)
}

/// Runs the real `rollcall` binary with `args` and the environment `env`
/// (nothing else from this process's ROLLCALL_* variables).
fn rollcall(args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String, String)> {
    let mut command = Command::new(bin("rollcall"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("ROLLCALL_") {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", "/nonexistent")
        .env_remove("XDG_CONFIG_HOME");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output()?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_t1_t2_t3_returns_what_the_api_said_then_and_the_cli_answers_from_history()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = fixture_root(dir.path())?;
    let collector = Collector::start(
        dir.path(),
        &CollectorOptions {
            extra_toml: "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 2\ninventory_interval_s = 2\n"
                .into(),
            ..Default::default()
        },
    )?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(
        dir.path(),
        "agent",
        &[&collector.grpc_url],
        &format!("root = {root:?}\n"),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    if !ok {
        bail!("enroll failed: {output}");
    }
    let started = rollcall_proto::now_ms();
    let _process = agent.run()?;
    let host = wait_for(
        "the host's first snapshot",
        Duration::from_secs(60),
        || async {
            collector
                .hosts()
                .await
                .ok()?
                .into_iter()
                .find(|host| host["package_count"].as_i64() == Some(4))
                .and_then(|host| host["id"].as_str().map(String::from))
        },
    )
    .await?;
    let has = |doc: &Value, section: &str, name: &str| {
        doc[section]
            .as_array()
            .is_some_and(|list| list.iter().any(|item| item["name"] == name))
    };
    let version_of = |doc: &Value, name: &str| -> Option<String> {
        doc["software"]
            .as_array()?
            .iter()
            .find(|item| item["name"] == name)?["version"]
            .as_str()
            .map(String::from)
    };

    // t1: the first inventory.
    let doc1 = inventory(&collector, &host, None).await?;
    assert!(has(&doc1, "network_adapter", "enp4s0"), "{doc1}");
    assert!(has(&doc1, "software", "libc6"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t1 = rollcall_proto::now_ms();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        inventory(&collector, &host, None).await?,
        doc1,
        "nothing changed yet"
    );

    // Upgrade openssh-server, remove libc6, add nginx-light, take enp4s0 away.
    edit_dpkg(&root, |stanzas| {
        stanzas.retain(|stanza| !stanza.starts_with("Package: libc6\n"));
        for stanza in stanzas.iter_mut() {
            if stanza.starts_with("Package: openssh-server\n") {
                *stanza = stanza.replace(OLD_SSH, NEW_SSH);
            }
        }
        stanzas.push(nginx("1.22.1-9"));
    })?;
    std::fs::remove_dir_all(root.join("sys/class/net/enp4s0"))?;
    let doc2 = wait_for(
        "the first change stored",
        Duration::from_secs(60),
        || async {
            let doc = inventory(&collector, &host, None).await.ok()?;
            (has(&doc, "software", "nginx-light")
                && !has(&doc, "software", "libc6")
                && !has(&doc, "network_adapter", "enp4s0")
                && version_of(&doc, "openssh-server").as_deref() == Some(NEW_SSH))
            .then_some(doc)
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let doc2 = {
        // Settled: what the API says after another inventory interval.
        let now = inventory(&collector, &host, None).await?;
        assert_eq!(now, doc2, "the second state is stable");
        now
    };
    let t2 = rollcall_proto::now_ms();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Upgrade nginx-light.
    edit_dpkg(&root, |stanzas| {
        for stanza in stanzas.iter_mut() {
            if stanza.starts_with("Package: nginx-light\n") {
                *stanza = nginx("1.22.1-10");
            }
        }
    })?;
    let doc3 = wait_for(
        "the second change stored",
        Duration::from_secs(60),
        || async {
            let doc = inventory(&collector, &host, None).await.ok()?;
            (version_of(&doc, "nginx-light").as_deref() == Some("1.22.1-10")).then_some(doc)
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        inventory(&collector, &host, None).await?,
        doc3,
        "the third state is stable"
    );
    let t3 = rollcall_proto::now_ms();

    // As of each moment: the document the API gave then.
    for (label, at, doc) in [("t1", t1, &doc1), ("t2", t2, &doc2), ("t3", t3, &doc3)] {
        assert_eq!(
            &inventory(&collector, &host, Some(at)).await?,
            doc,
            "as_of {label}"
        );
    }
    // Diff: exactly the differences of the documents.
    let first = api_diff(&collector, &host, t1, t2, &doc1, &doc2).await?;
    assert_eq!(first, expected_diff(&doc1, &doc2), "diff t1..t2");
    assert_eq!(
        first.get("software"),
        Some(&[
            vec!["nginx-light".to_string()],
            vec!["libc6".to_string()],
            vec!["openssh-server".to_string()]
        ])
    );
    assert_eq!(
        first.get("network_adapter").map(|kinds| kinds[1].clone()),
        Some(vec!["enp4s0".to_string()])
    );
    let second = api_diff(&collector, &host, t2, t3, &doc2, &doc3).await?;
    assert_eq!(second, expected_diff(&doc2, &doc3), "diff t2..t3");
    assert_eq!(
        second.keys().collect::<Vec<_>>(),
        ["software"],
        "only nginx-light changed: {second:?}"
    );

    // The CLI, with URL and token as flags.
    let flags = [
        "--api-url",
        collector.api_url.as_str(),
        "--api-token",
        collector.admin_token.as_str(),
    ];
    let cli = |args: &[&str]| -> Result<String> {
        let all: Vec<&str> = args.iter().copied().chain(flags).collect();
        let (ok, stdout, stderr) = rollcall(&all, &[])?;
        if !ok {
            bail!("rollcall {args:?} failed: {stdout}{stderr}");
        }
        Ok(stdout)
    };
    let (t1s, t2s) = (t1.to_string(), t2.to_string());
    let diff_csv = cli(&["diff", &host, "--from", &t1s, "--to", &t2s, "--csv"])?;
    for line in [
        "section,change,key,detail",
        "software,added,nginx-light:amd64,1.22.1-9",
        "software,removed,libc6:amd64,",
        &format!("software,changed,openssh-server:amd64,version: {OLD_SSH} -> {NEW_SSH}"),
    ] {
        assert!(
            diff_csv.lines().any(|l| l.starts_with(line)),
            "{line:?} in {diff_csv}"
        );
    }
    let since = (started - 60_000).to_string();
    let rollout: Value = serde_json::from_str(&cli(&[
        "rollout",
        "openssh-server",
        "--version-ge",
        NEW_SSH,
        "--since",
        &since,
        "--step",
        "1m",
        "--json",
    ])?)?;
    assert_eq!(rollout["remediation"]["exposed"], 1, "{rollout}");
    assert_eq!(rollout["remediation"]["remediated"], 1, "{rollout}");
    assert_eq!(rollout["hosts"][0]["host_id"], host.as_str());
    let remediated_at = rollout["hosts"][0]["remediated_at"]
        .as_i64()
        .unwrap_or_default();
    assert!(t1 < remediated_at && remediated_at < t2, "{rollout}");
    let steps = rollout["steps"].as_array().cloned().unwrap_or_default();
    // Steps are a minute apart from `since`: at X from the remediation on.
    for step in &steps {
        let at = step["at"].as_i64().unwrap_or_default();
        assert_eq!(
            step["at_or_above"],
            i64::from(at >= remediated_at),
            "{rollout}"
        );
    }
    assert_eq!(
        steps.first().map(|s| s["below"].clone()),
        Some(0.into()),
        "not in the fleet yet"
    );
    let table = cli(&[
        "rollout",
        "openssh-server",
        "--version-ge",
        NEW_SSH,
        "--since",
        &since,
        "--step",
        "1m",
    ])?;
    assert!(table.contains("exposed 1, remediated 1"), "{table}");

    let versions: Value = serde_json::from_str(&cli(&[
        "changes",
        "--host",
        &host,
        "--field",
        "version",
        "--newest-first",
        "--json",
    ])?)?;
    let keys: Vec<&str> = versions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|change| change["item_key"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["nginx-light:amd64", "openssh-server:amd64"],
        "{versions}"
    );

    let hosts_csv = cli(&["hosts", "list", "--csv"])?;
    assert!(hosts_csv.starts_with("id,hostname,"), "{hosts_csv}");
    assert!(hosts_csv.contains(&host), "{hosts_csv}");
    let software = cli(&["software", "--name", "nginx-light"])?;
    assert!(software.contains("1.22.1-10"), "{software}");

    let starts = rollcall_proto::now_ms() + 3_600_000;
    let created: Value = serde_json::from_str(&cli(&[
        "maintenance",
        "create",
        "--scope",
        "host",
        "--target",
        &host,
        "--starts-at",
        &starts.to_string(),
        "--ends-at",
        &(starts + 3_600_000).to_string(),
        "--reason",
        "kernel, \"patch\"",
        "--json",
    ])?)?;
    let window = created["id"].as_str().context("window id")?.to_string();
    let listed = cli(&["maintenance", "list", "--csv"])?;
    assert!(
        listed.contains(&window) && listed.contains("\"kernel, \"\"patch\"\"\""),
        "{listed}"
    );
    cli(&["maintenance", "delete", &window])?;
    let after: Value = serde_json::from_str(&cli(&["maintenance", "list", "--json"])?)?;
    assert_eq!(after, Value::Array(Vec::new()));
    let refused = rollcall(
        &[
            "maintenance",
            "create",
            "--scope",
            "host",
            "--target",
            &host,
            "--starts-at",
            "5",
            "--ends-at",
            "1",
        ],
        &[
            ("ROLLCALL_API_URL", &collector.api_url),
            ("ROLLCALL_API_TOKEN", &collector.admin_token),
        ],
    )?;
    assert!(!refused.0 && refused.2.contains("400"), "{refused:?}");
    assert_eq!(cli(&["services", "--json"])?.trim(), "[]");

    // URL and token from a config file; the environment beats the file.
    let config = dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "api_url = {:?}\napi_token = {:?}\n",
            collector.api_url, collector.admin_token
        ),
    )?;
    let config_text = config.to_string_lossy().into_owned();
    let from_file = rollcall(
        &[
            "software",
            "--name",
            "nginx-light",
            "--cli-config",
            &config_text,
        ],
        &[],
    )?;
    assert!(
        from_file.0 && from_file.1.contains("1.22.1-10"),
        "{from_file:?}"
    );
    let env_wins = rollcall(
        &["software", "--cli-config", &config_text],
        &[(
            "ROLLCALL_API_TOKEN",
            "rcapi_0000000000000000000000000000000000000000000000",
        )],
    )?;
    assert!(!env_wins.0 && env_wins.2.contains("401"), "{env_wins:?}");
    std::fs::write(&config, "api_url = 'http://127.0.0.1:1'\ncolour = 'red'\n")?;
    let bad = rollcall(&["software", "--cli-config", &config_text], &[])?;
    assert!(
        !bad.0 && bad.2.contains("cli.toml") && bad.2.contains("colour"),
        "{bad:?}"
    );
    let missing = rollcall(&["software", "--cli-config", "/nonexistent/cli.toml"], &[])?;
    assert!(
        !missing.0 && missing.2.contains("cannot read the CLI config"),
        "{missing:?}"
    );
    Ok(())
}
