//! Parsing, validation and routing of integration targets, and the
//! documented examples.

use super::*;
use crate::incidents::event::{CiRef, Transition};

fn event(severity: Severity, tags: &[&str], services: &[&str]) -> IncidentEvent {
    IncidentEvent {
        event_id: 1,
        incident_id: "i1".into(),
        dedup_key: "h1:host_down".into(),
        transition: Transition::Trigger,
        rule: "host_down".into(),
        severity,
        summary: "s".into(),
        description: "d".into(),
        ci: CiRef {
            id: "h1".into(),
            name: "web1".into(),
            fqdn: "web1.example".into(),
            class: "linux_server".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        },
        business_services: services.iter().map(|t| t.to_string()).collect(),
        opened_at_ms: 0,
        resolved_at_ms: None,
        occurred_at_ms: 0,
        details: serde_json::json!({}),
        previous_severity: None,
    }
}

#[test]
fn routing_by_severity_tag_and_service() {
    let mut target = TargetConfig::new(
        "t",
        VendorConfig::Alertmanager(AlertmanagerConfig::default()),
        "http://x",
    );
    target.min_severity = Severity::Major;
    assert!(target.routes(&event(Severity::Critical, &[], &[])));
    assert!(!target.routes(&event(Severity::Minor, &[], &[])));
    target.tags = vec!["prod".into()];
    assert!(!target.routes(&event(Severity::Critical, &["dev"], &[])));
    assert!(target.routes(&event(Severity::Critical, &["dev", "prod"], &[])));
    target.business_services = vec!["shop".into()];
    assert!(!target.routes(&event(Severity::Critical, &["prod"], &["mail"])));
    assert!(target.routes(&event(Severity::Critical, &["prod"], &["shop"])));
}

#[test]
fn parses_and_validates_targets() {
    let text = r#"
        [[targets]]
        name = "pd"
        kind = "pagerduty"
        url = "https://events.pagerduty.com"
        routing_key = "R0123456789"
        min_severity = "major"
    "#;
    let config: IntegrationsConfig = toml::from_str(text).unwrap();
    config.validate().unwrap();
    assert_eq!(config.targets[0].min_severity, Severity::Major);

    let missing = r#"
        [[targets]]
        name = "pd"
        kind = "pagerduty"
        url = "https://events.pagerduty.com"
    "#;
    let config: IntegrationsConfig = toml::from_str(missing).unwrap();
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("routing_key"), "{error}");

    let unknown = "[[targets]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"http://x\"\nbogus = 1\n";
    assert!(toml::from_str::<IntegrationsConfig>(unknown).is_err());
}

/// Per kind: the lines of a valid target, and settings of other kinds
/// (with a value of the right type) that it must refuse.
const KINDS: [(&str, &str, &[&str]); 7] = [
    (
        "servicenow",
        "username = \"u\"\npassword = \"p\"\n",
        &[
            "routing_key = \"R1\"",
            "source = \"Rollcall\"",
            "bearer_token = \"t\"",
        ],
    ),
    (
        "servicenow_em",
        "username = \"u\"\npassword = \"p\"\n",
        &[
            "oauth_client_id = \"c\"",
            "assignment_group = \"g\"",
            "secret = \"s\"",
        ],
    ),
    (
        "pagerduty",
        "routing_key = \"R1\"\n",
        &[
            "username = \"u\"",
            "bearer_token = \"t\"",
            "console_url = \"http://c\"",
        ],
    ),
    (
        "jira",
        "username = \"u\"\npassword = \"p\"\nservice_desk_id = \"1\"\nrequest_type_id = \"10\"\n",
        &[
            "routing_key = \"R1\"",
            "ticket_tags = [\"ops\"]",
            "close_code = \"x\"",
        ],
    ),
    (
        "zendesk",
        "username = \"u/token\"\npassword = \"p\"\n",
        &[
            "service_desk_id = \"1\"",
            "secret = \"s\"",
            "cmdb_ci_lookup = false",
        ],
    ),
    (
        "alertmanager",
        "",
        &[
            "username = \"u\"",
            "secret = \"s\"",
            "source = \"Rollcall\"",
        ],
    ),
    (
        "webhook",
        "secret = \"s\"\n",
        &[
            "resend_interval_s = 5",
            "password = \"p\"",
            "request_type_id = \"10\"",
        ],
    ),
];

fn target(kind: &str, lines: &str) -> String {
    format!(
        "[[targets]]\nname = \"my-{kind}\"\nkind = \"{kind}\"\nurl = \"https://x.example\"\n{lines}"
    )
}

#[test]
fn each_kind_parses_its_own_settings() {
    for (kind, valid, _) in KINDS {
        let config: IntegrationsConfig =
            toml::from_str(&target(kind, valid)).unwrap_or_else(|error| panic!("{kind}: {error}"));
        config
            .validate()
            .unwrap_or_else(|error| panic!("{kind}: {error}"));
        assert_eq!(config.targets[0].kind(), kind);
    }
}

#[test]
fn a_setting_of_another_kind_is_refused_naming_the_field_and_the_target() {
    for (kind, valid, foreign) in KINDS {
        for line in foreign {
            let field = line.split(' ').next().unwrap_or_default();
            let text = target(kind, &format!("{valid}{line}\n"));
            let error = toml::from_str::<IntegrationsConfig>(&text)
                .map(|_| ())
                .expect_err(&format!("{kind} accepted {field}"))
                .to_string();
            assert!(
                error.contains(&format!("unknown field `{field}`")),
                "{error}"
            );
            assert!(
                error.contains(&format!("integrations target \"my-{kind}\" ({kind})")),
                "{error}"
            );
        }
    }
}

#[test]
fn the_error_points_at_the_target_that_has_the_field() {
    let text = format!(
        "{}\n{}",
        target("pagerduty", "routing_key = \"R1\"\n"),
        target("jira", "routing_key = \"R1\"\n")
    );
    let error = toml::from_str::<IntegrationsConfig>(&text)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 7"), "{error}");
    assert!(
        error.contains("\"my-jira\" (jira): unknown field `routing_key`"),
        "{error}"
    );
}

#[test]
fn a_missing_or_unknown_kind_is_a_clear_error() {
    let error = toml::from_str::<IntegrationsConfig>(
        "[[targets]]\nname = \"x\"\nkind = \"nagios\"\nurl = \"http://x\"\n",
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("\"x\" (nagios): unknown variant `nagios`"),
        "{error}"
    );
    let error =
        toml::from_str::<IntegrationsConfig>("[[targets]]\nname = \"x\"\nurl = \"http://x\"\n")
            .map(|_| ())
            .unwrap_err()
            .to_string();
    assert!(error.contains("\"x\": missing field `kind`"), "{error}");
}

#[test]
fn a_common_field_of_the_wrong_type_is_still_refused() {
    let error =
        toml::from_str::<IntegrationsConfig>(&target("webhook", "secret = \"s\"\nburst = \"x\"\n"))
            .map(|_| ())
            .unwrap_err()
            .to_string();
    assert!(error.contains("\"my-webhook\" (webhook)"), "{error}");
    assert!(error.contains("burst"), "{error}");
}

#[test]
fn the_kind_name_is_the_serde_tag() {
    let vendors = [
        VendorConfig::Servicenow(ServiceNowConfig::default()),
        VendorConfig::ServicenowEm(EventManagementConfig::default()),
        VendorConfig::Pagerduty(PagerDutyConfig::default()),
        VendorConfig::Jira(JiraConfig::default()),
        VendorConfig::Zendesk(ZendeskConfig::default()),
        VendorConfig::Alertmanager(AlertmanagerConfig::default()),
        VendorConfig::Webhook(WebhookConfig::default()),
    ];
    assert_eq!(vendors.len(), KINDS.len());
    for vendor in vendors {
        let kind = vendor.kind();
        let table = toml::Table::try_from(TargetConfig::new("t", vendor, "http://x")).unwrap();
        assert_eq!(table["kind"].as_str(), Some(kind));
    }
}

#[test]
fn a_printed_config_parses_again() {
    let text = target(
        "servicenow",
        "username = \"u\"\npassword = \"p\"\nassignment_group = \"Ops\"\ntags = [\"prod\"]\n",
    );
    let config: IntegrationsConfig = toml::from_str(&text).unwrap();
    let printed = toml::to_string_pretty(&config).unwrap();
    assert!(
        !printed.contains("\"p\""),
        "secrets are not printed: {printed}"
    );
    let again: IntegrationsConfig = toml::from_str(&printed).unwrap();
    let VendorConfig::Servicenow(servicenow) = &again.targets[0].vendor else {
        panic!("{printed}");
    };
    assert_eq!(servicenow.assignment_group.as_deref(), Some("Ops"));
    assert_eq!(servicenow.close_code, "Resolved by caller");
    assert_eq!(again.targets[0].tags, ["prod"]);
}

/// The target blocks of the example collector config, uncommented
/// (`# # oauth_…` lines too).
fn example_targets() -> String {
    let example = include_str!("../../../../packaging/config/collector.example.toml");
    let start = example
        .find("# [[integrations.targets]]")
        .expect("the example has target blocks");
    example[start..]
        .lines()
        .map_while(|line| line.strip_prefix('#'))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .map(|line| line.strip_prefix("# ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_config_targets_parse_and_validate() {
    let text = format!("[integrations]\n{}\n", example_targets());
    let config =
        crate::config::Config::from_toml(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    let integrations = &config.integrations;
    integrations.validate().unwrap();
    let kinds: Vec<&str> = integrations
        .targets
        .iter()
        .map(TargetConfig::kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "servicenow",
            "servicenow_em",
            "pagerduty",
            "jira",
            "zendesk",
            "alertmanager",
            "webhook"
        ]
    );
    let VendorConfig::Servicenow(servicenow) = &integrations.targets[0].vendor else {
        panic!("{text}");
    };
    assert_eq!(
        servicenow.assignment_group.as_deref(),
        Some("Linux Operations")
    );
    assert!(servicenow.oauth_client_id.is_some() && servicenow.cmdb_ci_lookup);
    assert_eq!(integrations.targets[0].min_severity, Severity::Major);
    assert_eq!(integrations.targets[2].tags, ["prod"]);
    let VendorConfig::Alertmanager(alertmanager) = &integrations.targets[5].vendor else {
        panic!("{text}");
    };
    assert_eq!(
        alertmanager.console_url.as_deref(),
        Some("https://rollcall.internal")
    );
    assert_eq!(integrations.targets[6].business_services, ["shop"]);
}

#[test]
fn the_toml_examples_in_the_integrations_guide_parse_and_validate() {
    let guide = include_str!("../../../../docs/integrations.md");
    let blocks: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(
        blocks.len() >= 2,
        "the guide has a common and a per-kind example"
    );
    let mut kinds = HashSet::new();
    for block in blocks {
        let config = crate::config::Config::from_toml(block)
            .unwrap_or_else(|error| panic!("{error}\n{block}"));
        config
            .integrations
            .validate()
            .unwrap_or_else(|error| panic!("{error}\n{block}"));
        kinds.extend(config.integrations.targets.iter().map(TargetConfig::kind));
    }
    assert_eq!(
        kinds.len(),
        KINDS.len(),
        "every kind has an example: {kinds:?}"
    );
}

#[test]
fn ticket_pages_are_linked_where_the_vendor_has_one() {
    let text: String = KINDS
        .iter()
        .map(|(kind, valid, _)| format!("{}\n", target(kind, valid)))
        .collect();
    let config: IntegrationsConfig = toml::from_str(&text).unwrap();
    let integrations = crate::integrations::Integrations::new(&config).unwrap();
    let url =
        |kind: &str, reference: &str| integrations.ticket_url(&format!("my-{kind}"), reference);
    assert_eq!(
        url("jira", "OPS-12").as_deref(),
        Some("https://x.example/browse/OPS-12")
    );
    assert_eq!(
        url("zendesk", "4711").as_deref(),
        Some("https://x.example/agent/tickets/4711")
    );
    assert_eq!(
        url("servicenow", "a1b2").as_deref(),
        Some("https://x.example/nav_to.do?uri=incident.do%3Fsys_id%3Da1b2")
    );
    // A reference is one path segment, whatever the vendor sent.
    assert_eq!(
        url("jira", "../x?y=\"<z>").as_deref(),
        Some("https://x.example/browse/..%2Fx%3Fy%3D%22%3Cz%3E")
    );
    assert_eq!(url("pagerduty", "k"), None);
    assert_eq!(url("webhook", "k"), None);
    assert_eq!(integrations.ticket_url("no-such-target", "k"), None);
}
