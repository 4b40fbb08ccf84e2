//! `trackflow`: deliver neutral JSON-lines events through a configured consumer and backend.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use trackflow::{Config, Event, Tracker};

#[derive(Parser, Debug)]
#[command(
    name = "trackflow",
    version,
    about = "Deliver tracked events to analytics backends"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Send {
            config,
            file,
            deadline,
            no_progress,
        } => match send(&config, file, Duration::from_secs(deadline), no_progress) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("trackflow: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn send(
    config: &PathBuf,
    file: Option<PathBuf>,
    deadline: Duration,
    no_progress: bool,
) -> trackflow::Result<bool> {
    let cfg = Config::from_toml_file(config)?;
    let tracker = Tracker::from_config(&cfg)?;
    let read = Arc::new(AtomicU64::new(0));
    let (input, total, name): (Box<dyn Read>, Option<u64>, String) = match file {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(&p).map_err(|e| trackflow::Error::Config(format!("{}: {e}", p.display())))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len, p.display().to_string())
        }
        _ => (Box::new(io::stdin().lock()), None, "<stdin>".to_owned()),
    };
    let reader = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: input,
            read: read.clone(),
        },
    );
    let mut progress = (!no_progress && io::stderr().is_terminal()).then(|| Progress::new(total));

    let (mut lines, mut invalid) = (0u64, 0u64);
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let result = serde_json::from_str::<Event>(&line)
            .map_err(|e| format!("not a trackflow event: {e}"))
            .and_then(|e| tracker.record(e).map_err(|e| e.to_string()));
        if let Err(msg) = result {
            invalid += 1;
            if let Some(p) = &mut progress {
                p.clear();
            }
            eprintln!("{name}:{}: {msg}", i + 1);
        }
        if let Some(p) = &mut progress {
            p.tick(read.load(Ordering::Relaxed), lines, &tracker);
        }
    }
    if let Some(p) = &mut progress {
        p.clear();
    }
    let report = tracker.shutdown(deadline)?;
    let s = report.stats;
    println!(
        "{lines} events read: {} delivered, {} failed, {} invalid, {} dropped, {} left at the deadline",
        s.delivered, s.failed, invalid, s.dropped, report.left
    );
    Ok(s.failed == 0 && invalid == 0 && s.dropped == 0 && report.left == 0 && s.pending() == 0)
}

/// A one-line progress bar on stderr, redrawn at most ten times a second.
struct Progress {
    total: Option<u64>,
    last: Instant,
}

impl Progress {
    fn new(total: Option<u64>) -> Self {
        Progress {
            total,
            last: Instant::now(),
        }
    }

    fn tick(&mut self, bytes: u64, lines: u64, tracker: &Tracker) {
        if self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let delivered = tracker.stats().delivered;
        let bar = match self.total {
            Some(t) if t > 0 => {
                let filled = ((bytes.min(t) * 30) / t) as usize;
                format!(
                    "[{}{}] {:>3}% ",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    bytes.min(t) * 100 / t
                )
            }
            _ => String::new(),
        };
        eprint!("\r{bar}{lines} read, {delivered} delivered");
        let _ = io::stderr().flush();
    }

    fn clear(&mut self) {
        eprint!("\r\x1b[2K");
    }
}
