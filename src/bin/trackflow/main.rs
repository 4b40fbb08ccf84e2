//! `trackflow`: deliver neutral JSON-lines events through a configured consumer and backend.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod collect;
mod relay;
mod send;
mod status;
use trackflow::{Config, Event};

#[derive(Parser, Debug)]
#[command(
    name = "trackflow",
    version,
    about = "Deliver tracked events to analytics backends"
)]
struct Cli {
    /// Say more: -v logs each retry and what the store does, -vv every request's fate.
    /// Warnings and errors are on by default; RUST_LOG (`trackflow=debug`, …) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Say less: errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// Logs to stderr: warnings and errors by default (a failing credential, a refused batch),
/// more with -v, fewer with -q; RUST_LOG, when set, decides instead.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Warn,
        (false, 1) => log::LevelFilter::Info,
        (false, _) => log::LevelFilter::Debug,
    };
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    // The HTTP client's own debug logs show URLs whole (tokens in a path included): never
    // from -v; RUST_LOG may still ask for them.
    for noisy in ["ureq", "ureq_proto", "rustls"] {
        b.filter_module(noisy, level.min(log::LevelFilter::Info));
    }
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    b.format_timestamp(None).format_target(false).init();
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read neutral JSON-lines events and deliver them through the configured backend.
    Send {
        /// The TOML configuration (consumer, backend, transport).
        #[arg(long, short, default_value = "trackflow.toml")]
        config: PathBuf,
        /// Events file, one JSON event per line; `-` or nothing for standard input.
        file: Option<PathBuf>,
        /// Seconds to wait for delivery at the end.
        #[arg(long, default_value_t = 30)]
        deadline: u64,
        /// Never draw a progress bar.
        #[arg(long)]
        no_progress: bool,
        /// The store: what is not delivered by the deadline stays here and goes first in the
        /// next run on it; events refused for good are dead letters here (`trackflow replay`).
        /// Defaults to the config's `[spool] dir`, else `./trackflow-spool`.
        #[arg(long)]
        spool: Option<PathBuf>,
        /// Keep no spool: undeliverable events are only counted and reported.
        #[arg(long, conflicts_with = "spool")]
        no_spool: bool,
        /// Skip the first N lines of the input (they were handled by an earlier run).
        #[arg(long, default_value_t = 0)]
        skip_lines: u64,
        /// Continue an interrupted run: skip the lines it had read (from the spool's
        /// `resume.json`); what it had not delivered goes first, from the spool's store.
        #[arg(long, conflicts_with_all = ["skip_lines", "no_spool"])]
        resume: bool,
    },
    /// A local collector: answers each backend's client, decodes and prints every request.
    Collect {
        /// Port on 127.0.0.1 (0 picks a free one; the address is printed on stderr).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Which protocol to answer; `auto` tells them apart by path.
        #[arg(long, value_enum, default_value = "auto")]
        backend: collect::Protocol,
        /// Print each request as one JSON line instead of readable text.
        #[arg(long)]
        json: bool,
        /// Exit after answering this many requests.
        #[arg(long)]
        max_requests: Option<u64>,
        /// The webhook's shared secret: a webhook request whose HMAC-SHA256 signature does
        /// not verify gets 401. Read from the environment variable, not the command line.
        #[arg(long, value_name = "ENV_VAR")]
        webhook_secret_env: Option<String>,
        /// Milliseconds a connection may stay silent before it is closed.
        #[arg(long, default_value_t = 10_000)]
        idle_timeout_ms: u64,
        /// Milliseconds a request may take to arrive whole (a slow client gets 408).
        #[arg(long, default_value_t = 30_000)]
        request_deadline_ms: u64,
    },
    /// Deliver again the batches a spool holds, through the configured backend.
    Replay {
        /// The TOML configuration (its backend is where the events go).
        #[arg(long, short, default_value = "trackflow.toml")]
        config: PathBuf,
        /// The spool directory.
        dir: PathBuf,
    },
    /// Read the Kafka backend's topic in a consumer group and deliver every event to the
    /// config's backends (`[source]`: brokers, topics, group_id), committing only what they
    /// acknowledged; run more relays in the group to scale. SIGTERM or Ctrl-C stops.
    Relay {
        /// The TOML configuration: `[source]` and the backends.
        #[arg(long, short, default_value = "relay.toml")]
        config: PathBuf,
        /// Seconds the sinks get to finish at the end.
        #[arg(long, default_value_t = 30)]
        deadline: u64,
    },
    /// What a store holds: per backend directory, the backlog (events, bytes, the oldest
    /// event's age), dead letters by reason, and whether a process holds it. Exits 1 when a
    /// store holds a backlog or dead letters.
    Status {
        /// A store, or a state directory with one store per backend.
        dir: PathBuf,
        /// One JSON document, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Google Cloud Retail admin calls, with the `retail` backend of the config.
    #[cfg(feature = "retail")]
    Retail {
        /// The TOML configuration; its backend must be `retail`.
        #[arg(long, short, global = true, default_value = "trackflow.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: RetailCommand,
    },
}

#[cfg(feature = "retail")]
#[derive(Subcommand, Debug)]
enum RetailCommand {
    /// Import neutral JSON-lines events (inline sources, in chunks), showing progress.
    Import {
        /// Events file; `-` for standard input.
        file: PathBuf,
        /// Where Retail writes the errors of failed events (`gs://…/`).
        #[arg(long)]
        errors_gcs_prefix: Option<String>,
    },
    /// Delete events matching a filter (a dry run that counts them unless --force).
    Purge {
        /// e.g. `visitorId = "v1" eventTime > "2023-01-01T00:00:00Z"`.
        #[arg(long)]
        filter: String,
        /// Really delete.
        #[arg(long)]
        force: bool,
    },
    /// Re-join events with the catalog.
    Rejoin {
        /// all, joined or unjoined.
        #[arg(long, default_value = "all")]
        scope: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Send {
            config,
            file,
            deadline,
            no_progress,
            spool,
            no_spool,
            skip_lines,
            resume,
        } => {
            let spool = if no_spool {
                Spool::Off
            } else {
                spool.map_or(Spool::Default, Spool::Dir)
            };
            send::run(send::Args {
                config,
                file,
                deadline: Duration::from_secs(deadline),
                no_progress,
                spool,
                skip_lines,
                resume,
            })
        }
        Command::Replay { config, dir } => replay(&config, &dir),
        Command::Status { dir, json } => status::print(&dir, json),
        Command::Relay { config, deadline } => relay::run(&config, deadline),
        Command::Collect {
            port,
            backend,
            json,
            max_requests,
            webhook_secret_env,
            idle_timeout_ms,
            request_deadline_ms,
        } => collect_with(
            port,
            collect::Options {
                protocol: backend,
                json_lines: json,
                max_requests,
                webhook_secret: None,
                idle_timeout: Duration::from_millis(idle_timeout_ms.max(1)),
                request_deadline: Duration::from_millis(request_deadline_ms.max(1)),
            },
            webhook_secret_env,
        ),
        #[cfg(feature = "retail")]
        Command::Retail { config, command } => retail(&config, command),
    };
    exit_code(result)
}

/// 0 when everything went through, 1 when some input was bad or failed, 2 on an error.
fn exit_code(result: trackflow::Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("trackflow: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `collect`, the webhook secret read from the environment variable named.
fn collect_with(
    port: u16,
    mut opts: collect::Options,
    secret_env: Option<String>,
) -> trackflow::Result<bool> {
    opts.webhook_secret = match secret_env {
        Some(var) => Some(std::env::var(&var).map_err(|_| {
            trackflow::Error::Config(format!(
                "--webhook-secret-env: the environment variable {var} is not set"
            ))
        })?),
        None => None,
    };
    collect::run(port, opts)
        .map(|()| true)
        .map_err(trackflow::Error::Io)
}

/// The spool the CLI uses: on unless asked otherwise.
enum Spool {
    Default,
    Dir(PathBuf),
    Off,
}

/// Runs a Retail admin command; `Ok(false)` when some input was bad.
#[cfg(feature = "retail")]
fn retail(config: &PathBuf, command: RetailCommand) -> trackflow::Result<bool> {
    use trackflow::backend::retail::RejoinScope;
    let retail = Config::from_toml_file(config)?.retail()?;
    match command {
        RetailCommand::Import {
            file,
            errors_gcs_prefix,
        } => retail_import(&retail, file, errors_gcs_prefix.as_deref()),
        RetailCommand::Purge { filter, force } => {
            let op = retail.purge(&filter, force)?;
            println!(
                "{}",
                serde_json::json!({"operation": op.name, "metadata": op.metadata, "response": op.response})
            );
            Ok(true)
        }
        RetailCommand::Rejoin { scope } => {
            let scope = match scope.as_str() {
                "all" => RejoinScope::Unspecified,
                "joined" => RejoinScope::JoinedEvents,
                "unjoined" => RejoinScope::UnjoinedEvents,
                other => {
                    return Err(trackflow::Error::Config(format!(
                        "--scope {other}: all, joined or unjoined"
                    )))
                }
            };
            let op = retail.rejoin(scope)?;
            println!(
                "{}",
                serde_json::json!({"operation": op.name, "metadata": op.metadata, "response": op.response})
            );
            Ok(true)
        }
    }
}

/// `retail import`: the events of `file` (JSON lines), in chunks; `Ok(false)` when a line
/// was bad or an event failed.
#[cfg(feature = "retail")]
fn retail_import(
    retail: &trackflow::Retail,
    file: PathBuf,
    errors_gcs_prefix: Option<&str>,
) -> trackflow::Result<bool> {
    let (reader, name) = open_input(Some(file))?;
    let mut bad = 0u64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let events = reader.lines().enumerate().filter_map(|(i, line)| {
        let line = match line {
            Ok(l) if l.trim().is_empty() => return None,
            Ok(l) => l,
            Err(e) => {
                bad += 1;
                eprintln!("{name}:{}: {e}", i + 1);
                return None;
            }
        };
        match trackflow::codec::exact::from_str::<Event>(&line) {
            Ok(mut e) => {
                // Import needs an event time: events without one happened now.
                if !e.time_given {
                    e.time = now;
                }
                Some(e)
            }
            Err(err) => {
                bad += 1;
                eprintln!("{name}:{}: not a trackflow event: {err}", i + 1);
                None
            }
        }
    });
    let p = retail.import(events, errors_gcs_prefix, |p| {
        eprintln!(
            "imported {} events in {} chunks: {} succeeded, {} failed",
            p.sent, p.chunks, p.succeeded, p.failed
        );
    })?;
    println!(
        "{} events imported: {} succeeded, {} failed, {bad} bad lines",
        p.sent, p.succeeded, p.failed
    );
    Ok(bad == 0 && p.failed == 0)
}

/// A buffered reader of `file` (or standard input for `-` or none), and its name for messages.
#[cfg(feature = "retail")]
fn open_input(file: Option<PathBuf>) -> trackflow::Result<(BufReader<Box<dyn Read>>, String)> {
    Ok(match file {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(&p).map_err(|e| trackflow::Error::Config(format!("{}: {e}", p.display())))?;
            (
                BufReader::with_capacity(1 << 16, Box::new(f)),
                p.display().to_string(),
            )
        }
        _ => (
            BufReader::with_capacity(1 << 16, Box::new(io::stdin().lock())),
            "<stdin>".to_owned(),
        ),
    })
}

fn replay(config: &Path, dir: &Path) -> trackflow::Result<bool> {
    let cfg = Config::from_toml_file(config)?;
    let entries = cfg.backend_entries();
    let several = entries.len() > 1;
    let mut clean = true;
    for (label, backend, _) in entries {
        // With several backends, `send` keeps each one's spool in a subdirectory by label.
        let dir = if several {
            dir.join(&label)
        } else {
            dir.to_path_buf()
        };
        if several && !dir.exists() {
            continue;
        }
        let spool = trackflow::spool::Spool::open(&dir)?;
        let mut last = std::time::Instant::now();
        let r = spool.replay_with(&*backend.build(&cfg.transport)?, |r| {
            if last.elapsed() >= std::time::Duration::from_secs(1) {
                last = std::time::Instant::now();
                eprintln!(
                    "{label}: {} delivered, {} still pending, {} dead letters so far",
                    r.delivered, r.still_pending, r.dead
                );
            }
        })?;
        println!(
            "{label}: {} spool files: {} events delivered, {} still pending, {} dead letters",
            r.files, r.delivered, r.still_pending, r.dead
        );
        clean &= r.still_pending == 0 && r.dead == 0;
    }
    Ok(clean)
}
