//! `GET /api/v1/hosts` filters, sorting, fields and keyset paging over a
//! store seeded through its traits with a few hundred hosts, on SQLite and
//! PostgreSQL: each filter and combinations checked against the seed's own
//! model, paging stable under inserts between pages, 400s for bad input
//! with the store unchanged, and `version < X` checked against
//! `dpkg --compare-versions` on real Debian versions.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use rollcall_collector::store::{BusinessService, MEMBER_OF, Relationship};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{App, item, package};

/// Real Debian/Ubuntu versions of openssl (Debian 11/12, Ubuntu 22.04/24.04,
/// upstream pre-releases), in no particular order.
const OPENSSL_VERSIONS: [&str; 12] = [
    "3.0.11-1~deb12u2",
    "3.0.13-1~deb12u1",
    "3.0.15-1~deb12u1",
    "1.1.1n-0+deb11u5",
    "1.1.1w-0+deb11u1",
    "3.0.2-0ubuntu1.15",
    "3.0.13-0ubuntu3.4",
    "3.0.9-1",
    "3.1.0~beta1-1",
    "3.0.14-1~deb12u2",
    "1:3.0.0~alpha1-1",
    "3.0.13-1",
];

const GIB: i64 = 1 << 30;

/// What one seeded host is: the model the expected answers are computed from.
#[derive(Debug, Clone)]
struct Spec {
    hostname: String,
    serial: String,
    os: &'static str,
    os_version: &'static str,
    kernel: String,
    cpu: &'static str,
    memory: i64,
    vendor: &'static str,
    model: &'static str,
    hypervisor: &'static str,
    nginx_failed: bool,
    ports: Vec<u16>,
    openssl: &'static str,
    at: i64,
}

fn spec(index: usize, base: i64) -> Spec {
    let role = ["web", "db", "cache"][index % 3];
    let debian = index.is_multiple_of(2);
    let mut ports = vec![22];
    if index.is_multiple_of(3) {
        ports.push(443);
    }
    if index.is_multiple_of(10) {
        ports.push(5432);
    }
    Spec {
        hostname: format!("{role}-{index:03}"),
        serial: format!("SN{index:05}"),
        os: if debian {
            "Debian GNU/Linux"
        } else {
            "Rocky Linux"
        },
        os_version: if debian { "12" } else { "9.3" },
        kernel: format!("6.1.0-{}-amd64", index % 4),
        cpu: if index.is_multiple_of(5) {
            "AMD EPYC 7763 64-Core Processor"
        } else {
            "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
        },
        memory: (4 + (index as i64 % 4) * 4) * GIB,
        vendor: if debian { "QEMU" } else { "Dell Inc." },
        model: if debian {
            "Standard PC (Q35 + ICH9, 2009)"
        } else {
            "PowerEdge R650"
        },
        hypervisor: if debian { "kvm" } else { "none" },
        nginx_failed: index.is_multiple_of(7),
        ports,
        openssl: OPENSSL_VERSIONS[index % OPENSSL_VERSIONS.len()],
        at: base + index as i64 * 60_000,
    }
}

async fn seed(app: &App, spec: &Spec) -> String {
    let mut items = vec![
        item(
            "os",
            "",
            json!({ "name": spec.os, "version": spec.os_version, "kernel": spec.kernel, "arch": "x86_64" }),
        ),
        item("cpu", "", json!({ "model": spec.cpu, "threads": 8 })),
        item("memory", "", json!({ "total_bytes": spec.memory })),
        item(
            "system",
            "",
            json!({ "vendor": spec.vendor, "model": spec.model, "hypervisor": spec.hypervisor }),
        ),
        item(
            "service",
            "nginx.service",
            json!({ "name": "nginx.service", "active_state": if spec.nginx_failed { "failed" } else { "active" } }),
        ),
        item(
            "service",
            "ssh.service",
            json!({ "name": "ssh.service", "active_state": "active" }),
        ),
        package("openssl", spec.openssl),
        package("bash", "5.2.15-2+b2"),
    ];
    for port in &spec.ports {
        let address = if *port == 5432 {
            "127.0.0.1"
        } else {
            "0.0.0.0"
        };
        items.push(item(
            "listening_port",
            &format!("tcp/{address}:{port}"),
            json!({ "protocol": "tcp", "address": address, "port": port }),
        ));
    }
    app.host_with(&spec.hostname, &spec.serial, items, spec.at)
        .await
}

/// Seeds `count` hosts; returns their specs and ids.
async fn seed_fleet(app: &App, count: usize) -> Vec<(Spec, String)> {
    let base = rollcall_proto::now_ms() - 86_400_000;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let spec = spec(index, base);
        let id = seed(app, &spec).await;
        out.push((spec, id));
    }
    out
}

/// Every hostname the list answers for `query`, following cursors.
async fn all_hostnames(app: &App, query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut uri = format!("/api/v1/hosts?limit=1000&{}", query.replace(' ', "%20"));
        if let Some(cursor) = &cursor {
            uri.push_str(&format!("&cursor={cursor}"));
        }
        let reply = app.get(&uri, &app.viewer).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {reply:?}");
        for host in reply.body["items"].as_array().expect("items") {
            let name = host["hostname"].as_str().expect("hostname").to_string();
            assert!(names.insert(name), "{uri}: a host twice");
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return names,
        }
    }
    panic!("{query}: more than 100 pages");
}

fn expected(fleet: &[(Spec, String)], keep: impl Fn(&Spec) -> bool) -> BTreeSet<String> {
    fleet
        .iter()
        .filter(|(spec, _)| keep(spec))
        .map(|(spec, _)| spec.hostname.clone())
        .collect()
}

/// `a` older than `b` by dpkg itself.
fn dpkg_lt(a: &str, b: &str) -> bool {
    std::process::Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .expect("dpkg is installed on this machine")
        .success()
}

async fn each_filter_and_combinations_select_what_the_seed_says(app: App) {
    let fleet = seed_fleet(&app, 300).await;
    let (first, _) = &fleet[0];
    let middle = fleet[150].0.at;
    let web_id = &fleet[3].1;
    // Tags, a business service and custom attributes, through the store.
    for (spec, id) in fleet
        .iter()
        .filter(|(spec, _)| spec.hostname.starts_with("db-"))
    {
        let tags = if spec.memory >= 12 * GIB {
            "prod,eu"
        } else {
            "prod"
        };
        assert!(
            app.state
                .store
                .set_host_tags(id, tags, first.at, "test")
                .await
                .expect("tags")
        );
    }
    app.state
        .store
        .create_service(&BusinessService {
            id: "svc-shop".into(),
            name: "shop".into(),
            min_up: 1,
            sla_target: 99.9,
            created_at: first.at,
        })
        .await
        .expect("service");
    for (_, id) in fleet.iter().take(20) {
        app.state
            .store
            .add_relationship(&Relationship {
                parent_id: "svc-shop".into(),
                child_id: id.clone(),
                kind: MEMBER_OF.into(),
                created_at: first.at,
            })
            .await
            .expect("member");
    }
    app.state
        .store
        .set_presence(
            web_id,
            "away",
            first.at,
            Some(first.at + 3_600_000),
            Some("reboot"),
        )
        .await
        .expect("presence");

    let is_db = |spec: &Spec| spec.hostname.starts_with("db-");
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (
            "name=web-*".into(),
            expected(&fleet, |s| s.hostname.starts_with("web-")),
        ),
        (
            "name=WEB-00?".into(),
            expected(&fleet, |s| s.hostname.starts_with("web-00")),
        ),
        (
            "name=-01".into(),
            expected(&fleet, |s| s.hostname.contains("-01")),
        ),
        ("class=linux_server".into(), expected(&fleet, |_| true)),
        (
            "os=Rocky*".into(),
            expected(&fleet, |s| s.os == "Rocky Linux"),
        ),
        (
            "os=debian gnu/linux&os_version=12".into(),
            expected(&fleet, |s| s.os_version == "12"),
        ),
        (
            "kernel=6.1.0-3-amd64".into(),
            expected(&fleet, |s| s.kernel == "6.1.0-3-amd64"),
        ),
        (
            "presence=away".into(),
            expected(&fleet, |s| s.hostname == fleet[3].0.hostname),
        ),
        ("lifecycle=active".into(), expected(&fleet, |_| true)),
        ("lifecycle=retired".into(), BTreeSet::new()),
        ("tag=prod".into(), expected(&fleet, is_db)),
        (
            "tag=prod&tag=eu".into(),
            expected(&fleet, |s| is_db(s) && s.memory >= 12 * GIB),
        ),
        ("tag=pro".into(), BTreeSet::new()),
        (
            "service=shop".into(),
            fleet
                .iter()
                .take(20)
                .map(|(s, _)| s.hostname.clone())
                .collect(),
        ),
        (
            "service=svc-shop&name=db-*".into(),
            fleet
                .iter()
                .take(20)
                .filter(|(s, _)| is_db(s))
                .map(|(s, _)| s.hostname.clone())
                .collect(),
        ),
        (
            format!("last_seen_before={middle}"),
            expected(&fleet, |s| s.at < middle),
        ),
        (
            format!("last_seen_after={middle}"),
            expected(&fleet, |s| s.at >= middle),
        ),
        (
            "cpu_model=*EPYC*".into(),
            expected(&fleet, |s| s.cpu.contains("EPYC")),
        ),
        (
            format!("memory_min={}", 8 * GIB),
            expected(&fleet, |s| s.memory >= 8 * GIB),
        ),
        (
            format!("memory_min={}&memory_max={}", 8 * GIB, 12 * GIB),
            expected(&fleet, |s| (8 * GIB..=12 * GIB).contains(&s.memory)),
        ),
        (
            "vendor=dell*".into(),
            expected(&fleet, |s| s.vendor == "Dell Inc."),
        ),
        (
            "model=PowerEdge R650".into(),
            expected(&fleet, |s| s.model == "PowerEdge R650"),
        ),
        (
            "serial=SN00042".into(),
            expected(&fleet, |s| s.serial == "SN00042"),
        ),
        (
            "virtualization=kvm".into(),
            expected(&fleet, |s| s.hypervisor == "kvm"),
        ),
        (
            "virtualisation=none".into(),
            expected(&fleet, |s| s.hypervisor == "none"),
        ),
        (
            "port=443".into(),
            expected(&fleet, |s| s.ports.contains(&443)),
        ),
        (
            "port=5432".into(),
            expected(&fleet, |s| s.ports.contains(&5432)),
        ),
        ("port=43".into(), BTreeSet::new()),
        (
            "failed_unit=nginx.service".into(),
            expected(&fleet, |s| s.nginx_failed),
        ),
        ("failed_unit=*".into(), expected(&fleet, |s| s.nginx_failed)),
        ("failed_unit=ssh.service".into(), BTreeSet::new()),
        ("software=openssl".into(), expected(&fleet, |_| true)),
        ("software=zsh".into(), BTreeSet::new()),
        (
            "software=openssl&version=3.0.13-1~deb12u1&op=%3C".into(),
            expected(&fleet, |s| dpkg_lt(s.openssl, "3.0.13-1~deb12u1")),
        ),
        (
            "software=openssl&version=3.0.13-1~deb12u1".into(),
            expected(&fleet, |s| s.openssl == "3.0.13-1~deb12u1"),
        ),
        (
            "software=openssl&version=3.0.13-1~deb12u1&op=%3E%3D".into(),
            expected(&fleet, |s| !dpkg_lt(s.openssl, "3.0.13-1~deb12u1")),
        ),
        (
            "software=openssl&version_ge=3.0.0&version_lt=3.1".into(),
            expected(&fleet, |s| {
                !dpkg_lt(s.openssl, "3.0.0") && dpkg_lt(s.openssl, "3.1")
            }),
        ),
        // Combinations.
        (
            "name=db-*&os=Rocky*&port=443&software=openssl&version=3.0.13&op=lt".into(),
            expected(&fleet, |s| {
                is_db(s)
                    && s.os == "Rocky Linux"
                    && s.ports.contains(&443)
                    && dpkg_lt(s.openssl, "3.0.13")
            }),
        ),
        (
            format!(
                "virtualization=kvm&failed_unit=nginx*&memory_max={}&last_seen_after={middle}",
                8 * GIB
            ),
            expected(&fleet, |s| {
                s.hypervisor == "kvm" && s.nginx_failed && s.memory <= 8 * GIB && s.at >= middle
            }),
        ),
        // Hostile text is data, never SQL.
        ("name=%27%20OR%201%3D1%20--".into(), BTreeSet::new()),
        ("name=%25".into(), BTreeSet::new()),
        ("name=_".into(), BTreeSet::new()),
        ("serial=SN0004_".into(), BTreeSet::new()),
    ];
    for (query, want) in &cases {
        assert_eq!(&all_hostnames(&app, query).await, want, "{query}");
    }
    // Non-trivial expectations, so a filter that selects everything fails.
    assert!(
        cases
            .iter()
            .filter(|(_, want)| !want.is_empty() && want.len() < fleet.len())
            .count()
            > 20
    );

    // Field selection, in JSON and CSV.
    let reply = app
        .get(
            "/api/v1/hosts?fields=hostname,memory_bytes&name=db-001&limit=5",
            &app.viewer,
        )
        .await;
    assert_eq!(
        reply.body["items"],
        json!([{ "hostname": "db-001", "memory_bytes": 8 * GIB }])
    );
    let csv = app
        .get(
            "/api/v1/hosts?fields=hostname,vendor&name=db-001&format=csv",
            &app.viewer,
        )
        .await;
    assert_eq!(csv.text(), "hostname,vendor\ndb-001,Dell Inc.\n");

    // Sorting: descending memory, ties by id; every page in order.
    let mut previous: Option<(i64, String)> = None;
    let mut cursor = String::new();
    let mut seen = 0;
    loop {
        let reply = app
            .get(
                &format!(
                    "/api/v1/hosts?sort=-memory_bytes&limit=40&fields=id,memory_bytes{cursor}"
                ),
                &app.viewer,
            )
            .await;
        for host in reply.body["items"].as_array().expect("items") {
            let key = (
                host["memory_bytes"].as_i64().expect("memory"),
                host["id"].as_str().expect("id").to_string(),
            );
            if let Some((memory, id)) = &previous {
                assert!(
                    key.0 < *memory || (key.0 == *memory && key.1 > *id),
                    "{previous:?} then {key:?}"
                );
            }
            previous = Some(key);
            seen += 1;
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, fleet.len());
}

async fn pages_stay_stable_while_hosts_are_added(app: App) {
    let fleet = seed_fleet(&app, 200).await;
    let originals: BTreeSet<String> = fleet
        .iter()
        .map(|(spec, _)| spec.hostname.clone())
        .collect();
    for sort in ["hostname", "-last_seen_at", "id"] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor = String::new();
        let mut page = 0;
        loop {
            let reply = app
                .get(
                    &format!("/api/v1/hosts?sort={sort}&limit=25&fields=hostname{cursor}"),
                    &app.viewer,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            seen.extend(
                reply.body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|host| host["hostname"].as_str().expect("hostname").to_string()),
            );
            // Between pages: hosts that sort before, among and after those seen.
            for name in [
                format!("aaa-{sort}-{page}"),
                format!("db-050x-{sort}-{page}"),
                format!("zzz-{sort}-{page}"),
            ] {
                app.host_with(&name, "", Vec::new(), rollcall_proto::now_ms())
                    .await;
            }
            page += 1;
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
            assert!(page < 100, "paging does not end");
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "sort={sort}: a host on two pages");
        let missing: Vec<&String> = originals
            .iter()
            .filter(|name| !unique.contains(name))
            .collect();
        assert!(
            missing.is_empty(),
            "sort={sort}: hosts skipped: {missing:?}"
        );
    }
}

async fn bad_filters_are_400s_naming_the_problem_and_change_nothing(app: App) {
    let fleet = seed_fleet(&app, 5).await;
    let before = app.get("/api/v1/hosts?limit=1000", &app.admin).await;
    let changes_before = app.get("/api/v1/changes?limit=1000", &app.admin).await;
    let cursor = app
        .get("/api/v1/hosts?limit=2&sort=hostname", &app.viewer)
        .await
        .body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    // Longer than a filter value may be, shorter than a query string may be.
    let huge = "x".repeat(4 * 1024);
    let cases: Vec<(String, &str)> = vec![
        ("bogus=1".into(), "unknown parameter `bogus`"),
        ("attr.Owner=x".into(), "attribute name"),
        (
            "software=openssl&version=3.0%3B%20DROP%20TABLE%20hosts".into(),
            "is not a package version",
        ),
        (
            "software=openssl&version=".into(),
            "is not a package version",
        ),
        (
            "software=openssl&version=x:1.0".into(),
            "is not a package version",
        ),
        (
            "software=openssl&version=1&op=%3C%3E".into(),
            "op must be one of",
        ),
        ("version=1.0".into(), "need software=NAME"),
        ("version_lt=1.0".into(), "need software=NAME"),
        ("op=lt".into(), "op needs version="),
        ("last_seen_before=last%20tuesday".into(), "RFC 3339"),
        ("last_seen_after=2026-13-45T00:00:00Z".into(), "RFC 3339"),
        ("last_seen_after=99999999999999999999".into(), "RFC 3339"),
        (
            "last_seen_after=1".into(),
            "between 2000-01-01 and 2200-01-01",
        ),
        (
            "last_seen_after=2026-02-01T00:00:00Z&last_seen_before=2026-01-01T00:00:00Z".into(),
            "earlier than",
        ),
        ("sort=password".into(), "sort must be one of"),
        ("sort=hostname;DROP".into(), "sort must be one of"),
        (
            "fields=hostname,token_hash".into(),
            "unknown field \"token_hash\"",
        ),
        ("presence=gone".into(), "presence must be one of"),
        ("lifecycle=dead".into(), "lifecycle must be one of"),
        ("port=0".into(), "port must be 1 to 65535"),
        ("port=http".into(), "port must be 1 to 65535"),
        ("memory_min=-5".into(), "memory_min must be"),
        ("memory_max=1e9".into(), "memory_max must be"),
        (
            "memory_min=10&memory_max=1".into(),
            "larger than memory_max",
        ),
        ("name=a&name=b".into(), "given twice"),
        ("tag=a,b".into(), "without commas"),
        ("limit=0".into(), "limit must be between 1 and 1000"),
        (
            "limit=99999999999999999999".into(),
            "limit must be between 1 and 1000",
        ),
        ("format=xml".into(), "format must be json or csv"),
        (
            "cursor=not-hex".into(),
            "cursor is not one this API returned",
        ),
        (
            format!(
                "sort=hostname&cursor={}",
                hex::encode("[\"hostname\",5,\"x\"]")
            ),
            "cursor is not one this API returned",
        ),
        (
            format!("sort=-hostname&cursor={cursor}"),
            "made for sort=hostname",
        ),
        (format!("name={huge}"), "at most 256 bytes"),
        (
            format!("name={}", "x".repeat(60 * 1024)),
            "the query string is 61445 bytes: at most 8192",
        ),
        ("name=a%00b".into(), "control characters"),
        (
            std::iter::repeat_n("tag=a", 65)
                .collect::<Vec<_>>()
                .join("&"),
            "at most 64 query parameters",
        ),
        (
            std::iter::repeat_n("tag=a", 9)
                .collect::<Vec<_>>()
                .join("&"),
            "at most 8 tag parameters",
        ),
    ];
    for (query, needle) in &cases {
        let reply = app
            .get(&format!("/api/v1/hosts?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }
    // Bytes that are not UTF-8 are replaced, never a 500.
    let reply = app.get("/api/v1/hosts?name=%FF%FE", &app.viewer).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["items"], json!([]));
    assert_eq!(
        app.get("/api/v1/hosts?limit=1000", &app.admin).await.body,
        before.body
    );
    assert_eq!(
        app.get("/api/v1/changes?limit=1000", &app.admin).await.body,
        changes_before.body
    );
    assert_eq!(fleet.len(), 5);
}

async fn version_filters_agree_with_dpkg_on_real_debian_versions(app: App) {
    let mut versions: Vec<String> = OPENSSL_VERSIONS.iter().map(|v| v.to_string()).collect();
    // Versions of the packages installed on this machine are real Debian versions too.
    if let Ok(output) = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}\n"])
        .output()
    {
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut installed: Vec<String> = text
            .lines()
            .map(str::to_string)
            .filter(|v| !v.is_empty())
            .collect();
        installed.sort();
        installed.dedup();
        let step = (installed.len() / 28).max(1);
        versions.extend(installed.into_iter().step_by(step).take(28));
    }
    versions.sort();
    versions.dedup();
    let mut hosts = Vec::new();
    let base = rollcall_proto::now_ms() - 3_600_000;
    for (index, version) in versions.iter().enumerate() {
        let name = format!("pkg-{index:03}");
        app.host_with(
            &name,
            "",
            vec![package("libfoo", version)],
            base + index as i64,
        )
        .await;
        hosts.push((name, version.clone()));
    }
    assert!(hosts.len() >= 12);
    for bound in versions.iter().step_by(3) {
        let escaped: String = bound.bytes().map(|b| format!("%{b:02X}")).collect();
        for (op, dpkg_op) in [
            ("%3C", "lt"),
            ("%3C%3D", "le"),
            ("%3D", "eq"),
            ("%3E%3D", "ge"),
            ("%3E", "gt"),
        ] {
            let got =
                all_hostnames(&app, &format!("software=libfoo&version={escaped}&op={op}")).await;
            let want: BTreeSet<String> = hosts
                .iter()
                .filter(|(_, version)| {
                    std::process::Command::new("dpkg")
                        .args(["--compare-versions", version, dpkg_op, bound])
                        .status()
                        .expect("dpkg")
                        .success()
                })
                .map(|(name, _)| name.clone())
                .collect();
            assert_eq!(got, want, "version {dpkg_op} {bound}");
            // The catalogue's version lines under the same condition.
            let lines = app
                .get(
                    &format!("/api/v1/software?software=libfoo&version={escaped}&op={op}"),
                    &app.viewer,
                )
                .await;
            assert_eq!(lines.status, StatusCode::OK, "{lines:?}");
            let listed: BTreeSet<String> = lines.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|line| line["version"].as_str().expect("version").to_string())
                .collect();
            let want_versions: BTreeSet<String> = hosts
                .iter()
                .filter(|(name, _)| want.contains(name))
                .map(|(_, version)| version.clone())
                .collect();
            assert_eq!(
                listed, want_versions,
                "catalogue: version {dpkg_op} {bound}"
            );
        }
    }
}

on_both_backends!(
    each_filter_and_combinations_select_what_the_seed_says,
    pages_stay_stable_while_hosts_are_added,
    bad_filters_are_400s_naming_the_problem_and_change_nothing,
    version_filters_agree_with_dpkg_on_real_debian_versions,
);
