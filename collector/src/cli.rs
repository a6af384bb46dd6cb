//! The `rollcall` command line: its clap definitions and the dispatch to
//! the code that runs each command. `quickstart` (a collector on SQLite plus
//! an agent for this machine, in one process) lives in [`quickstart`]; the
//! API client commands live in [`commands`], one file per API resource,
//! and talk to the collector through [`client`] and print through
//! [`output`]. Errors are [`CliError`].

pub mod client;
pub mod commands;
pub mod error;
pub mod host_args;
pub mod output;
pub mod quickstart;
pub mod trust;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use self::client::Client;
use self::commands::{
    Context, agents, api_tokens, audit, availability, changes, hosts, incidents, integrations,
    outages, outbox, software, tokens,
};
pub use self::error::{CliError, Result};
pub use self::output::Format;
use self::trust::Trust;

/// Command line of `rollcall`.
#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version = env!("ROLLCALL_LONG_VERSION"),
    about = "Rollcall: fleet inventory, availability and incidents"
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// API connection options.
#[derive(Debug, Args, Clone)]
pub struct ApiOptions {
    /// Collector API base URL.
    #[arg(
        long,
        env = "ROLLCALL_API_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api_url: String,
    /// API token (bearer).
    #[arg(
        long,
        env = "ROLLCALL_API_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// CA certificate (PEM) that signed the collector's API certificate,
    /// for an https URL.
    #[arg(long, env = "ROLLCALL_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint of the collector's CA (as the collector prints
    /// it), pinned for an https URL.
    #[arg(
        long,
        env = "ROLLCALL_CA_FINGERPRINT",
        global = true,
        conflicts_with = "ca_file"
    )]
    pub ca_fingerprint: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub output: Format,
    /// JSON output (the same as `--output json`).
    #[arg(long, global = true)]
    pub json: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a collector on SQLite under ./rollcall-data and an agent for this machine.
    Quickstart {
        /// Data directory.
        #[arg(long, default_value = "./rollcall-data")]
        data_dir: PathBuf,
        /// Agent (gRPC) listen address.
        #[arg(long, default_value = "127.0.0.1:4443")]
        grpc_listen: std::net::SocketAddr,
        /// API listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: std::net::SocketAddr,
    },
    /// Enrollment tokens.
    Token {
        /// Token command.
        #[command(subcommand)]
        command: TokenCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Agents: list them (or the outdated ones), show one, or revoke it (its session ends at once).
    Agents {
        /// Agents command.
        #[command(subcommand)]
        command: AgentsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// API tokens: create (with a role and an optional expiry), list, revoke.
    ApiToken {
        /// API token command.
        #[command(subcommand)]
        command: ApiTokenCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The audit log: who revoked what, and when.
    Audit {
        /// How many entries, newest first.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Integration targets (ServiceNow, PagerDuty, …).
    Integrations {
        /// Integrations command.
        #[command(subcommand)]
        command: IntegrationsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The integrations outbox.
    Outbox {
        /// Outbox command.
        #[command(subcommand)]
        command: OutboxCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Incidents: list, show, acknowledge, comment.
    Incidents {
        /// Incidents command.
        #[command(subcommand)]
        command: IncidentsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Outage records.
    Outages {
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Availability per host and business service, over a window (30d by
    /// default) or a calendar period in a time zone.
    Availability {
        /// Window up to now, e.g. 30d, 12h (default 30d).
        #[arg(long, conflicts_with = "period")]
        window: Option<String>,
        /// Calendar period: a month (2026-11), a quarter (2026-Q4) or a year
        /// (2026); a running one is reported up to now.
        #[arg(long)]
        period: Option<String>,
        /// IANA time zone of the period, e.g. Europe/Berlin (default UTC).
        #[arg(long, requires = "period")]
        tz: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Change history, fleet-wide or of one host.
    Changes {
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        /// Only this class (software, disk, host, …).
        #[arg(long)]
        class: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Software catalogue; with --name, versions of one package and where.
    Software {
        /// Package name.
        #[arg(long)]
        name: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Hosts in the CMDB.
    Hosts {
        /// Hosts command.
        #[command(subcommand)]
        command: HostsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
}

/// `rollcall token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an enrollment token.
    Create {
        /// How many agents may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_s: i64,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List enrollment tokens.
    List,
    /// Revoke an enrollment token.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// `rollcall agents …`
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List agents with their versions; `--outdated`: only those older than
    /// the collector (or with a version that is not semver), to upgrade.
    List {
        /// Only unrevoked agents older than the collector.
        #[arg(long)]
        outdated: bool,
        /// The API's JSON (the same as `--output json`).
        #[arg(long)]
        json: bool,
    },
    /// Show one agent.
    Show {
        /// Agent id.
        id: String,
    },
    /// Revoke an agent: its session ends, it cannot reconnect or renew.
    Revoke {
        /// Agent id.
        id: String,
    },
}

/// `rollcall api-token …`
#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create an API token; the secret is printed once.
    Create {
        /// Name (shown as the author of acknowledgements and comments).
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
        /// Seconds until it expires; never when not given.
        #[arg(long)]
        expires_in_s: Option<i64>,
    },
    /// List API tokens (never their secrets).
    List,
    /// Revoke an API token.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// `rollcall incidents …`
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents.
    List {
        /// open, acknowledged, resolved or all.
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// Show one incident with its comments and children.
    Show {
        /// Incident id.
        id: String,
    },
    /// Acknowledge an incident.
    Ack {
        /// Incident id.
        id: String,
    },
    /// Comment on an incident.
    Comment {
        /// Incident id.
        id: String,
        /// Text.
        body: String,
    },
}

/// `rollcall hosts …`
#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// List hosts (every filter of `GET /api/v1/hosts`).
    List(Box<host_args::ListArgs>),
    /// Show one host with its inventory.
    Show {
        /// Host id.
        id: String,
    },
    /// A host's custom attributes (owner, cost centre, location, …).
    Attributes {
        /// Attributes command.
        #[command(subcommand)]
        command: host_args::AttributesCommand,
    },
    /// A host's health: min/avg/max per step over the last hours.
    Health {
        /// Host id.
        id: String,
        /// Window: this many hours up to now.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Seconds per point (60 to 2678400).
        #[arg(long, default_value_t = 300)]
        step: u32,
    },
}

/// `rollcall integrations …`
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// List configured targets with their circuit state and delivery counts.
    List,
    /// Send a test event (and its resolve) to a target and print the answers.
    Test {
        /// Target name.
        name: String,
    },
}

/// `rollcall outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List dead letters with their last error.
    Dead,
    /// Queue a dead letter for delivery again.
    Retry {
        /// Outbox entry id.
        id: i64,
    },
}

/// Runs one `rollcall` command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Quickstart {
            data_dir,
            grpc_listen,
            api_listen,
        } => quickstart::run(data_dir, grpc_listen, api_listen).await,
        Command::Token { command, api } => {
            let context = api.context()?;
            match command {
                TokenCommand::Create {
                    uses,
                    ttl_s,
                    description,
                } => tokens::create(&context, uses, ttl_s, &description).await,
                TokenCommand::List => tokens::list(&context).await,
                TokenCommand::Revoke { id } => tokens::revoke(&context, &id).await,
            }
        }
        Command::Agents { command, api } => {
            let context = api.context()?;
            match command {
                AgentsCommand::List { outdated, json } => {
                    agents::list(&context, outdated, json).await
                }
                AgentsCommand::Show { id } => agents::show(&context, &id).await,
                AgentsCommand::Revoke { id } => agents::revoke(&context, &id).await,
            }
        }
        Command::ApiToken { command, api } => {
            let context = api.context()?;
            match command {
                ApiTokenCommand::Create {
                    name,
                    role,
                    expires_in_s,
                } => api_tokens::create(&context, &name, &role, expires_in_s).await,
                ApiTokenCommand::List => api_tokens::list(&context).await,
                ApiTokenCommand::Revoke { id } => api_tokens::revoke(&context, &id).await,
            }
        }
        Command::Audit { limit, api } => audit::list(&api.context()?, limit).await,
        Command::Integrations { command, api } => {
            let context = api.context()?;
            match command {
                IntegrationsCommand::List => integrations::list(&context).await,
                IntegrationsCommand::Test { name } => integrations::test(&context, &name).await,
            }
        }
        Command::Outbox { command, api } => {
            let context = api.context()?;
            match command {
                OutboxCommand::Dead => outbox::dead(&context).await,
                OutboxCommand::Retry { id } => outbox::retry(&context, id).await,
            }
        }
        Command::Incidents { command, api } => {
            let context = api.context()?;
            match command {
                IncidentsCommand::List { state } => incidents::list(&context, &state).await,
                IncidentsCommand::Show { id } => incidents::show(&context, &id).await,
                IncidentsCommand::Ack { id } => incidents::acknowledge(&context, &id).await,
                IncidentsCommand::Comment { id, body } => {
                    incidents::comment(&context, &id, &body).await
                }
            }
        }
        Command::Outages { host, api } => outages::list(&api.context()?, host.as_deref()).await,
        Command::Availability {
            window,
            period,
            tz,
            api,
        } => {
            let span = availability::Span {
                window: window.as_deref(),
                period: period.as_deref(),
                tz: tz.as_deref(),
            };
            availability::report(&api.context()?, &span).await
        }
        Command::Changes { host, class, api } => {
            changes::list(&api.context()?, host.as_deref(), class.as_deref()).await
        }
        Command::Software { name, api } => software::list(&api.context()?, name.as_deref()).await,
        Command::Hosts { command, api } => {
            let context = api.context()?;
            match command {
                HostsCommand::List(args) => hosts::list(&context, &args.params()?).await,
                HostsCommand::Attributes { command } => match command {
                    host_args::AttributesCommand::Show { id } => {
                        hosts::attributes(&context, &id, None).await
                    }
                    host_args::AttributesCommand::Set { id, pairs, replace } => {
                        let body = host_args::set_body(&pairs)?;
                        hosts::attributes(&context, &id, Some((body, replace))).await
                    }
                    host_args::AttributesCommand::Unset { id, names } => {
                        let body = host_args::unset_body(&names);
                        hosts::attributes(&context, &id, Some((body, false))).await
                    }
                },
                HostsCommand::Show { id } => hosts::show(&context, &id).await,
                HostsCommand::Health { id, hours, step } => {
                    hosts::health(&context, &id, hours, step).await
                }
            }
        }
    }
}

impl ApiOptions {
    /// What the collector's certificate is verified by.
    fn trust(&self) -> Trust {
        match (&self.ca_file, &self.ca_fingerprint) {
            (Some(path), _) => Trust::CaFile(path.clone()),
            (None, Some(fingerprint)) => Trust::CaFingerprint(fingerprint.clone()),
            (None, None) => Trust::Unset,
        }
    }

    /// The client and format these options ask for; fails without a token
    /// or with a URL that is not http(s).
    fn context(&self) -> Result<Context> {
        Ok(Context {
            client: Client::with_trust(&self.api_url, self.api_token.as_deref(), &self.trust())?,
            format: if self.json { Format::Json } else { self.output },
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_api_options_parse_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "rollcall",
            "outages",
            "--host",
            "h1",
            "--output",
            "csv",
            "--api-url",
            "http://collector:8080",
            "--api-token",
            "rcapi_x",
        ]);
        match cli.map(|cli| cli.command) {
            Ok(Command::Outages { host, api }) => {
                assert_eq!(host.as_deref(), Some("h1"));
                assert_eq!(api.output, Format::Csv);
                assert_eq!(api.api_url, "http://collector:8080");
                assert_eq!(api.api_token.as_deref(), Some("rcapi_x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn availability_takes_a_period_with_a_zone_or_a_window() {
        let parsed = Cli::try_parse_from([
            "rollcall",
            "availability",
            "--period",
            "2026-Q4",
            "--tz",
            "Europe/Berlin",
        ]);
        match parsed.map(|cli| cli.command) {
            Ok(Command::Availability {
                window, period, tz, ..
            }) => {
                assert_eq!(window, None);
                assert_eq!(period.as_deref(), Some("2026-Q4"));
                assert_eq!(tz.as_deref(), Some("Europe/Berlin"));
            }
            other => panic!("{other:?}"),
        }
        let both = [
            "rollcall",
            "availability",
            "--window",
            "30d",
            "--period",
            "2026-11",
        ];
        assert!(Cli::try_parse_from(both).is_err(), "a window or a period");
        let zone_alone = ["rollcall", "availability", "--tz", "Europe/Berlin"];
        assert!(
            Cli::try_parse_from(zone_alone).is_err(),
            "tz needs a period"
        );
    }

    #[test]
    fn agents_list_takes_outdated_and_json() {
        let parsed = Cli::try_parse_from(["rollcall", "agents", "list", "--outdated", "--json"]);
        assert!(
            matches!(
                parsed.map(|cli| cli.command),
                Ok(Command::Agents {
                    command: AgentsCommand::List {
                        outdated: true,
                        json: true
                    },
                    ..
                })
            ),
            "agents list --outdated --json"
        );
        let plain = Cli::try_parse_from(["rollcall", "agents", "list"]);
        assert!(matches!(
            plain.map(|cli| cli.command),
            Ok(Command::Agents {
                command: AgentsCommand::List {
                    outdated: false,
                    json: false
                },
                ..
            })
        ));
    }

    #[test]
    fn hosts_list_takes_every_filter_and_attributes_set_takes_pairs() {
        let parsed = Cli::try_parse_from([
            "rollcall",
            "hosts",
            "list",
            "--name",
            "web-*",
            "--tag",
            "prod",
            "--tag",
            "eu",
            "--attr",
            "owner=team-a",
            "--software",
            "openssl",
            "--version",
            "3.0.13",
            "--op",
            "<",
            "--port",
            "443",
            "--sort",
            "-last_seen_at",
            "--json",
        ]);
        match parsed.map(|cli| cli.command) {
            Ok(Command::Hosts {
                command: HostsCommand::List(args),
                api,
            }) => {
                assert!(api.json);
                assert_eq!(args.tags, ["prod", "eu"]);
                assert_eq!(args.sort.as_deref(), Some("-last_seen_at"));
                assert_eq!(args.port, Some(443));
            }
            other => panic!("{other:?}"),
        }
        let set = Cli::try_parse_from([
            "rollcall",
            "hosts",
            "attributes",
            "set",
            "h1",
            "owner=team-a",
            "location=ber-1",
            "--replace",
        ]);
        match set.map(|cli| cli.command) {
            Ok(Command::Hosts {
                command:
                    HostsCommand::Attributes {
                        command: host_args::AttributesCommand::Set { id, pairs, replace },
                    },
                ..
            }) => {
                assert_eq!(id, "h1");
                assert_eq!(pairs, ["owner=team-a", "location=ber-1"]);
                assert!(replace);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Cli::try_parse_from(["rollcall", "hosts", "list", "--op", "<"]).is_err(),
            "op needs version"
        );
    }

    #[test]
    fn version_lt_requires_software() {
        assert!(
            Cli::try_parse_from(["rollcall", "hosts", "list", "--version-lt", "3.0.13"]).is_err()
        );
    }
}
