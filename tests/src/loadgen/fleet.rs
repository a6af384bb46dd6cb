//! The simulated fleet: enrolls agents in bulk through the real `Enroll`
//! RPC (credentials cached on disk per collector CA, so reruns skip it), and
//! builds each agent's inventory from this machine's real one, varied per
//! agent (host name, machine-id, DMI ids, MACs, a share of package versions).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rollcall_proto::v1::rollcall_client::RollcallClient;
use rollcall_proto::v1::{EnrollRequest, Identity, Inventory};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// How many enrollments run at once (the collector limits the rate anyway).
const ENROLL_CONCURRENCY: usize = 8;

/// One enrolled simulated agent's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// Agent id the collector assigned.
    pub agent_id: String,
    /// PEM client certificate.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
}

/// Where the credentials of agent `index` are cached for the collector CA
/// with this fingerprint.
fn cache_path(cache_dir: &Path, fingerprint: &str, index: usize) -> PathBuf {
    let ca: String = fingerprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    cache_dir.join(ca).join(format!("agent-{index:06}.json"))
}

/// Loads cached credentials of agents `0..count`; `None` where missing or damaged.
pub fn load_cached(cache_dir: &Path, fingerprint: &str, count: usize) -> Vec<Option<Credentials>> {
    (0..count)
        .map(|index| {
            let text = std::fs::read_to_string(cache_path(cache_dir, fingerprint, index)).ok()?;
            serde_json::from_str(&text).ok()
        })
        .collect()
}

/// Creates a multi-use enrollment token through the API.
pub async fn create_token(api_url: &str, admin_token: &str, uses: usize) -> Result<String> {
    let response = reqwest::Client::new()
        .post(format!("{api_url}/api/v1/enrollment-tokens"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({
            "max_uses": uses,
            "ttl_s": 3600,
            "description": "rollcall-loadgen",
        }))
        .send()
        .await
        .context("create an enrollment token")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("creating an enrollment token answered {status}: {body}");
    }
    body["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the enrollment token answer has no token: {body}"))
}

/// Enrolls every agent whose slot in `cached` is empty, in parallel through
/// one TLS channel, writing each to the cache as it comes; returns all.
pub async fn enroll_missing(
    collector_url: &str,
    ca_pem: &str,
    token: &str,
    cache_dir: &Path,
    fingerprint: &str,
    cached: Vec<Option<Credentials>>,
) -> Result<Vec<Credentials>> {
    let channel = rollcall_agent::enroll::channel(collector_url, ca_pem, None)
        .await
        .map_err(|error| anyhow!("{error}"))?;
    let gate = Arc::new(Semaphore::new(ENROLL_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let mut out: Vec<Option<Credentials>> = Vec::with_capacity(cached.len());
    for (index, slot) in cached.into_iter().enumerate() {
        if slot.is_some() {
            out.push(slot);
            continue;
        }
        out.push(None);
        let client = RollcallClient::new(channel.clone());
        let gate = gate.clone();
        let token = token.to_string();
        let path = cache_path(cache_dir, fingerprint, index);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let credentials = enroll_one(client, &token, index).await?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, serde_json::to_string(&credentials)?)?;
            Ok::<_, anyhow::Error>((index, credentials))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, credentials) = joined??;
        if let Some(slot) = out.get_mut(index) {
            *slot = Some(credentials);
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(index, slot)| slot.ok_or_else(|| anyhow!("agent {index} was not enrolled")))
        .collect()
}

async fn enroll_one(
    mut client: RollcallClient<tonic::transport::Channel>,
    token: &str,
    index: usize,
) -> Result<Credentials> {
    let hostname = hostname(index);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hostname.as_str());
    params.distinguished_name = name;
    let csr_pem = params.serialize_request(&key)?.pem()?;
    let request = EnrollRequest {
        token: token.to_string(),
        csr_pem,
        hostname,
        agent_version: concat!("loadgen-", env!("CARGO_PKG_VERSION")).to_string(),
    };
    let mut attempt = 0u32;
    loop {
        match client.enroll(request.clone()).await {
            Ok(response) => {
                let response = response.into_inner();
                return Ok(Credentials {
                    agent_id: response.agent_id,
                    cert_pem: response.certificate_pem,
                    key_pem: key.serialize_pem(),
                });
            }
            // The collector rate-limits enrollment: wait and retry.
            Err(status) if status.code() == tonic::Code::ResourceExhausted && attempt < 600 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // The shared channel's connection was closed under the request:
            // the collector closes a connection without a client certificate
            // after `unauthenticated_connection_max_ms`, and enrolling a
            // fleet of 19,500 takes longer. tonic reports the cut as cancelled,
            // unavailable or an unknown "transport error". The channel
            // reconnects; try again.
            Err(status)
                if (matches!(
                    status.code(),
                    tonic::Code::Cancelled | tonic::Code::Unavailable
                ) || status.message() == "transport error")
                    && attempt < 600 =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => bail!("enrollment of agent {index} refused: {}", status.message()),
        }
    }
}

/// The host name of simulated agent `index`.
pub fn hostname(index: usize) -> String {
    format!("lg-{index:06}")
}

/// A cheap, stable mix of two numbers (splitmix64 finaliser).
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The identity of simulated agent `index`: its own host name, machine-id,
/// DMI ids, boot id and MAC, so the collector sees a distinct host.
pub fn identity(index: usize) -> Identity {
    let n = index as u64;
    Identity {
        machine_id: format!("{:032x}", 0x10ad_6e40_0000_0000_u64 + n),
        dmi_uuid: format!("10ad6e40-0000-4000-8000-{n:012x}"),
        dmi_serial: format!("LG-{index:06}"),
        hostname: hostname(index),
        fqdn: format!("{}.loadgen.invalid", hostname(index)),
        macs: vec![mac(index)],
        boot_id: format!("{:032x}", mix(n, 1)),
    }
}

fn mac(index: usize) -> String {
    let n = index as u64;
    format!(
        "02:1d:{:02x}:{:02x}:{:02x}:{:02x}",
        (n >> 24) & 0xff,
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// This machine's inventory varied for simulated agent `index`: identity
/// as [`identity`], interface MACs, and about `share` of the packages at a
/// different version (one of four patch levels, as a real fleet drifts);
/// `max_packages` caps the package list.
pub fn inventory(base: &Inventory, index: usize, share: f64, max_packages: usize) -> Inventory {
    let mut inventory = base.clone();
    inventory.identity = Some(identity(index));
    inventory.packages.truncate(max_packages);
    let threshold = (share.clamp(0.0, 1.0) * 1024.0) as u64;
    let level = (index % 4) as u64;
    for (position, package) in inventory.packages.iter_mut().enumerate() {
        if mix(position as u64, level) % 1024 < threshold {
            package.version = format!("{}+fleet{level}", package.version);
        }
    }
    for (position, interface) in inventory.interfaces.iter_mut().enumerate() {
        if !interface.mac.is_empty() && !interface.r#virtual {
            interface.mac = if position == 0 {
                mac(index)
            } else {
                format!("{}:{position:02x}", &mac(index)[..14])
            };
        }
    }
    if let Some(network) = inventory.network.as_mut() {
        network.default_gateway = "10.0.0.1".into();
    }
    inventory
}

/// The same inventory with one package moved to another version: the
/// other end of the change a simulated agent toggles to send deltas.
pub fn changed(inventory: &Inventory, index: usize) -> Inventory {
    let mut changed = inventory.clone();
    if !changed.packages.is_empty() {
        let position = index % changed.packages.len();
        let package = &mut changed.packages[position];
        package.version = format!("{}+upd1", package.version);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_proto::v1::Package;

    fn base() -> Inventory {
        Inventory {
            packages: (0..1000)
                .map(|i| Package {
                    name: format!("p{i}"),
                    version: "1.0".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn agents_differ_in_identity_and_a_share_of_versions() {
        let base = base();
        let a = inventory(&base, 1, 0.1, usize::MAX);
        let b = inventory(&base, 2, 0.1, usize::MAX);
        assert_ne!(a.identity, b.identity);
        let differing = a.packages.iter().filter(|p| p.version != "1.0").count();
        assert!((50..150).contains(&differing), "{differing}");
        assert_eq!(inventory(&base, 1, 0.1, 10).packages.len(), 10);
    }

    #[test]
    fn the_change_touches_one_package() {
        let a = inventory(&base(), 3, 0.0, usize::MAX);
        let b = changed(&a, 3);
        let delta = rollcall_agent::delta::diff(&a, &b).unwrap_or_default();
        assert_eq!(delta.upserts.unwrap_or_default().packages.len(), 1);
    }
}
