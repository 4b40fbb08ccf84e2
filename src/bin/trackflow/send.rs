//! `trackflow send`: read neutral JSON lines, deliver them, and account for every line, also
//! when a signal stops the run or the deadline passes.
//!
//! ```text
//!  input ─lines─► parse ─► Tracker (consumer + backend from the config, its store in the spool)
//!    │  SIGINT / SIGTERM: stop reading ─► shutdown(deadline) ─► what is not delivered stays
//!    │  a second one: shutdown cut short ─► the same, at once      in the store, delivered
//!    └─ position reached ─► <spool>/resume.json ─► `send --resume`  first by the next run
//!                                                 continues from there
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use trackflow::{Config, Event, ShutdownReport, Tracker};

use super::Spool;

/// The CLI spool when neither the config nor `--spool` names one.
const DEFAULT_SPOOL: &str = "trackflow-spool";

pub(crate) struct Args {
    pub(crate) config: PathBuf,
    pub(crate) file: Option<PathBuf>,
    pub(crate) deadline: Duration,
    pub(crate) no_progress: bool,
    pub(crate) spool: Spool,
    pub(crate) skip_lines: u64,
    pub(crate) resume: bool,
}

/// Where an interrupted run stopped, kept in the spool for `--resume`.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    input: String,
    lines: u64,
    bytes: u64,
}

/// What reading the input came to.
#[derive(Debug, Default)]
struct Reading {
    lines: u64,
    blank: u64,
    invalid: u64,
    bytes: u64,
    interrupted: bool,
}

pub(crate) fn run(args: Args) -> trackflow::Result<bool> {
    let stop = Arc::new(AtomicBool::new(false));
    let signals = Signals::register()?;
    let mut cfg = Config::from_toml_file(&args.config)?;
    match args.spool {
        Spool::Off => cfg.spool.enabled = Some(false),
        Spool::Dir(d) => cfg.spool.dir = Some(d),
        Spool::Default => {
            cfg.spool.dir.get_or_insert_with(|| PathBuf::from(DEFAULT_SPOOL));
        }
    }
    let spool_dir = cfg.spool.dir.clone().filter(|_| cfg.spool.enabled != Some(false));
    let tracker = Tracker::from_config(&cfg)?;
    signals.watch(stop.clone(), tracker.clone());
    let (input, total, name) = open(args.file.as_deref())?;
    let mut skip = args.skip_lines;
    if args.resume {
        skip = resume(spool_dir.as_deref(), &name)?;
    }
    let mut progress = (!args.no_progress && io::stderr().is_terminal()).then(|| Progress::new(total));
    let read = read_lines(input, &name, skip, &tracker, &stop, &mut progress)?;
    if let Some(p) = &mut progress {
        p.clear();
    }
    if read.interrupted {
        eprintln!(
            "trackflow: interrupted: stopped reading after line {} (byte {}); delivering what was read within {:?} (Ctrl-C again to stop now, keeping the rest)",
            skip + read.lines_seen(),
            read.bytes,
            args.deadline
        );
    }
    let report = tracker.shutdown(args.deadline)?;
    let position = Position {
        input: name.clone(),
        lines: skip + read.lines_seen(),
        bytes: read.bytes,
    };
    summarize(&read, &report, spool_dir.as_deref(), &position)?;
    let s = report.stats;
    Ok(!read.interrupted && s.failed == 0 && read.invalid == 0 && s.dropped == 0 && report.left == 0)
}

/// Prints what the run came to, and keeps where reading stopped for `--resume`.
fn summarize(
    read: &Reading,
    report: &ShutdownReport,
    spool: Option<&Path>,
    position: &Position,
) -> trackflow::Result<()> {
    let s = report.stats;
    println!(
        "{} events read: {} delivered, {} failed, {} invalid, {} dropped, {} left{}",
        read.lines,
        s.delivered,
        s.failed,
        read.invalid,
        s.dropped,
        report.left,
        if s.recovered > 0 {
            format!(" ({} recovered from an earlier run)", s.recovered)
        } else {
            String::new()
        }
    );
    if let Some(dir) = spool {
        record_position(dir, position)?;
        if report.left > 0 {
            println!(
                "{} events kept in {}: the next `trackflow send` or `trackflow replay` with this spool delivers them first",
                report.left,
                dir.display()
            );
        }
        if s.spooled > 0 {
            println!(
                "{} events refused for good are dead letters in {} (fix the cause, then `trackflow replay`)",
                s.spooled,
                dir.display()
            );
        }
    }
    if read.interrupted {
        println!(
            "stopped at line {} of {}: continue with `trackflow send --resume`",
            position.lines, position.input
        );
    }
    Ok(())
}

/// SIGINT and SIGTERM: the first stops reading, a second cuts the shutdown short.
struct Signals {
    raised: Arc<AtomicBool>,
}

impl Signals {
    fn register() -> trackflow::Result<Signals> {
        let raised = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, raised.clone())?;
        }
        Ok(Signals { raised })
    }

    /// Watches for signals on a thread of its own: the first sets `stop` (reading ends and
    /// the tracker shuts down within the deadline), a second interrupts the tracker (its
    /// shutdown keeps what is not delivered in the store and returns at once).
    fn watch(self, stop: Arc<AtomicBool>, tracker: Tracker) {
        std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                std::thread::sleep(Duration::from_millis(20));
                if !self.raised.swap(false, Ordering::AcqRel) {
                    continue;
                }
                seen += 1;
                if seen == 1 {
                    stop.store(true, Ordering::Release);
                } else {
                    eprintln!("trackflow: interrupted again: keeping what is not delivered for the next run");
                    tracker.interrupt();
                    return;
                }
            }
        });
    }
}

impl Reading {
    /// Lines consumed from the input, blank ones included (what `--skip-lines` counts).
    fn lines_seen(&self) -> u64 {
        self.lines + self.blank
    }
}

type Input = (Box<dyn Read + Send>, Option<u64>, String);

fn open(file: Option<&Path>) -> trackflow::Result<Input> {
    Ok(match file {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p).map_err(|e| trackflow::Error::Config(format!("{}: {e}", p.display())))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len, p.display().to_string())
        }
        _ => (Box::new(io::stdin()), None, "<stdin>".to_owned()),
    })
}

/// The number of lines the last run on this spool had read from `name`. What it had not
/// delivered is in the spool's store, which the tracker delivers first by itself.
fn resume(spool: Option<&Path>, name: &str) -> trackflow::Result<u64> {
    let dir = spool.ok_or_else(|| trackflow::Error::Config("--resume needs a spool".into()))?;
    let path = dir.join("resume.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| trackflow::Error::Config(format!("--resume: {}: {e}", path.display())))?;
    let pos: Position = serde_json::from_str(&text)
        .map_err(|e| trackflow::Error::Config(format!("--resume: {}: {e}", path.display())))?;
    if pos.input != name {
        return Err(trackflow::Error::Config(format!(
            "--resume: the interrupted run read {}, not {name}",
            pos.input
        )));
    }
    eprintln!(
        "trackflow: resuming after line {}; what the last run left in {} goes first",
        pos.lines,
        dir.display()
    );
    Ok(pos.lines)
}

/// Writes `path` whole or not at all, readable by the owner only: a new temporary file
/// (create-new, so nothing left there is written into), then a rename.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Keeps where reading stopped in `resume.json`, for `--resume`.
fn record_position(dir: &Path, position: &Position) -> trackflow::Result<()> {
    let text = serde_json::to_string(position).map_err(|e| trackflow::Error::Io(e.into()))?;
    std::fs::create_dir_all(dir)?;
    write_private(&dir.join("resume.json"), text.as_bytes())?;
    Ok(())
}

/// Reads lines on a thread of their own, so that a signal is noticed even while the input
/// (a quiet pipe) blocks: `read(2)` is restarted after a signal, and would not return.
fn spawn_reader(input: Box<dyn Read + Send>) -> crossbeam_channel::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = crossbeam_channel::bounded(4096);
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 16, input);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

fn read_lines(
    input: Box<dyn Read + Send>,
    name: &str,
    skip: u64,
    tracker: &Tracker,
    stop: &AtomicBool,
    progress: &mut Option<Progress>,
) -> trackflow::Result<Reading> {
    let lines = spawn_reader(input);
    let mut read = Reading::default();
    let mut number = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            read.interrupted = true;
            return Ok(read);
        }
        let line = match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => line?,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(read),
        };
        number += 1;
        read.bytes += line.len() as u64;
        if number <= skip {
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            read.blank += 1;
            continue;
        }
        read.lines += 1;
        if let Err(msg) = handle(&line, tracker) {
            read.invalid += 1;
            if let Some(p) = progress.as_mut() {
                p.clear();
            }
            eprintln!("{name}:{number}: {msg}");
        }
        if let Some(p) = progress.as_mut() {
            p.tick(read.bytes, read.lines, tracker);
        }
    }
}

/// Parses and records one line; the message says what is wrong with it.
fn handle(line: &[u8], tracker: &Tracker) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let event = trackflow::codec::exact::from_str::<Event>(text)
        .map_err(|e| format!("not a trackflow event: {e}"))?;
    tracker.record(event).map_err(|e| e.to_string())
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
