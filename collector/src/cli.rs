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
    Context, agents, api_tokens, audit, availability, changes, diff, hosts, incidents,
    integrations, maintenance, outages, outbox, rollout, software, tokens,
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
    /// Collector API base URL (default: the config file's `api_url`, else
    /// http://127.0.0.1:8080).
    #[arg(long, env = "ROLLCALL_API_URL", global = true)]
    pub api_url: Option<String>,
    /// A TOML file with `api_url`, `api_token`, `ca_file`, `ca_fingerprint`
    /// for what flags and the environment do not set (default
    /// `$XDG_CONFIG_HOME/rollcall/cli.toml` or `~/.config/rollcall/cli.toml`,
    /// read if it exists).
    #[arg(long, env = "ROLLCALL_CLI_CONFIG", global = true)]
    pub cli_config: Option<PathBuf>,
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
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// CSV output (the same as `--output csv`).
    #[arg(long, global = true)]
    pub csv: bool,
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
        /// Only this item key (with --class: one CI).
        #[arg(long)]
        key: Option<String>,
        /// Only records of this attribute (for example `version`).
        #[arg(long)]
        field: Option<String>,
        /// Only this kind of record: discovered, added, removed, changed.
        #[arg(long)]
        change: Option<String>,
        /// From (ms since the epoch).
        #[arg(long)]
        since: Option<i64>,
        /// Until (ms since the epoch).
        #[arg(long)]
        until: Option<i64>,
        /// Newest first.
        #[arg(long)]
        newest_first: bool,
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
    /// A package's rollout to a version over time: hosts at it or newer,
    /// older, or without it per step, and the time to remediate.
    Rollout {
        /// The package name.
        name: String,
        /// The target version.
        #[arg(long)]
        version_ge: String,
        /// The package manager whose order compares (when two report it).
        #[arg(long)]
        manager: Option<String>,
        /// Window start (ms or RFC 3339; default 30 days before --until).
        #[arg(long)]
        since: Option<String>,
        /// Window end (ms or RFC 3339; default now).
        #[arg(long)]
        until: Option<String>,
        /// Step: seconds or 30m, 6h, 1d (default 1d).
        #[arg(long)]
        step: Option<String>,
        /// "Remediated within N days" (default 7).
        #[arg(long)]
        within_days: Option<i64>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// What changed in a host's inventory between two moments, by section.
    Diff {
        /// The host id.
        host: String,
        /// From (ms or RFC 3339).
        #[arg(long)]
        from: String,
        /// To (ms or RFC 3339; default now).
        #[arg(long)]
        to: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Maintenance windows: list, create, delete.
    Maintenance {
        /// Maintenance command.
        #[command(subcommand)]
        command: MaintenanceCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Business services.
    Services {
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

/// `rollcall maintenance …`.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// List the windows.
    List,
    /// Create a window (operator).
    Create {
        /// `host`, `tag` or `service`.
        #[arg(long)]
        scope: String,
        /// The host id, tag or service id.
        #[arg(long)]
        target: String,
        /// Start (ms since the epoch).
        #[arg(long)]
        starts_at: i64,
        /// End (ms since the epoch).
        #[arg(long)]
        ends_at: i64,
        /// Empty (once), `daily` or `weekly`.
        #[arg(long, default_value = "")]
        recurrence: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Delete a window (operator).
    Delete {
        /// The window id.
        id: String,
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
        Command::Changes {
            host,
            class,
            key,
            field,
            change,
            since,
            until,
            newest_first,
            api,
        } => {
            let filter = changes::Filter {
                host: host.as_deref(),
                class: class.as_deref(),
                key: key.as_deref(),
                field: field.as_deref(),
                change: change.as_deref(),
                since,
                until,
                newest_first,
            };
            changes::list(&api.context()?, &filter).await
        }
        Command::Rollout {
            name,
            version_ge,
            manager,
            since,
            until,
            step,
            within_days,
            api,
        } => {
            let query = rollout::Query {
                name: &name,
                version_ge: &version_ge,
                manager: manager.as_deref(),
                since: since.as_deref(),
                until: until.as_deref(),
                step: step.as_deref(),
                within_days,
            };
            rollout::show(&api.context()?, &query).await
        }
        Command::Diff {
            host,
            from,
            to,
            api,
        } => diff::show(&api.context()?, &host, &from, to.as_deref()).await,
        Command::Maintenance { command, api } => {
            let context = api.context()?;
            match command {
                MaintenanceCommand::List => maintenance::list(&context).await,
                MaintenanceCommand::Create {
                    scope,
                    target,
                    starts_at,
                    ends_at,
                    recurrence,
                    reason,
                } => {
                    let window = maintenance::NewWindow {
                        scope: &scope,
                        target: &target,
                        starts_at,
                        ends_at,
                        recurrence: &recurrence,
                        reason: &reason,
                    };
                    maintenance::create(&context, &window).await
                }
                MaintenanceCommand::Delete { id } => maintenance::delete(&context, &id).await,
            }
        }
        Command::Services { api } => maintenance::services(&api.context()?).await,
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

/// The CLI's config file: what flags and the environment leave unset.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliConfig {
    /// Collector API base URL.
    pub api_url: Option<String>,
    /// API token.
    pub api_token: Option<String>,
    /// CA certificate file (PEM).
    pub ca_file: Option<PathBuf>,
    /// CA certificate SHA-256 fingerprint.
    pub ca_fingerprint: Option<String>,
}

impl CliConfig {
    /// The file `explicit` names (which must exist), or the default path's
    /// if it exists, or nothing.
    pub fn load(explicit: Option<&std::path::Path>) -> Result<Self> {
        let default = || {
            std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config"))
                })
                .map(|dir| dir.join("rollcall").join("cli.toml"))
        };
        let (path, required) = match explicit {
            Some(path) => (path.to_path_buf(), true),
            None => match default() {
                Some(path) => (path, false),
                None => return Ok(Self::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => {
                return Err(CliError::Usage(format!(
                    "cannot read the CLI config {}: {error}",
                    path.display()
                )));
            }
        };
        toml::from_str(&text)
            .map_err(|error| CliError::Usage(format!("CLI config {}: {error}", path.display())))
    }
}

impl ApiOptions {
    /// These options with what they leave unset taken from `config`.
    fn with_config(&self, config: CliConfig) -> Self {
        let mut options = self.clone();
        options.api_url = options.api_url.or(config.api_url);
        options.api_token = options.api_token.or(config.api_token);
        if options.ca_file.is_none() && options.ca_fingerprint.is_none() {
            options.ca_file = config.ca_file;
            options.ca_fingerprint = config.ca_fingerprint;
        }
        options
    }

    /// What the collector's certificate is verified by.
    fn trust(&self) -> Trust {
        match (&self.ca_file, &self.ca_fingerprint) {
            (Some(path), _) => Trust::CaFile(path.clone()),
            (None, Some(fingerprint)) => Trust::CaFingerprint(fingerprint.clone()),
            (None, None) => Trust::Unset,
        }
    }

    /// The client and format these options ask for (flags, then the
    /// environment, then the config file); fails without a token or with a
    /// URL that is not http(s).
    fn context(&self) -> Result<Context> {
        let options = self.with_config(CliConfig::load(self.cli_config.as_deref())?);
        let url = options
            .api_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8080");
        Ok(Context {
            client: Client::with_trust(url, options.api_token.as_deref(), &options.trust())?,
            format: if self.json {
                Format::Json
            } else if self.csv {
                Format::Csv
            } else {
                self.output
            },
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
                assert_eq!(api.api_url.as_deref(), Some("http://collector:8080"));
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
