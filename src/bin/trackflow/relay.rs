//! `trackflow relay --config relay.toml`: read the Kafka topic in a consumer group and deliver
//! to the config's backends until SIGTERM or SIGINT.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trackflow::relay::Relay;
use trackflow::Config;

/// How often a line of progress goes to stderr.
const REPORT_EVERY: Duration = Duration::from_secs(10);

pub(crate) fn run(config: &Path, deadline: u64) -> trackflow::Result<bool> {
    let cfg = Config::from_toml_file(config)?;
    let relay = Arc::new(Relay::from_config(&cfg)?);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    eprintln!("relaying; SIGTERM or Ctrl-C stops (commits what was delivered, hands the rest to the group)");
    let progress = {
        let (relay, stop) = (relay.clone(), stop.clone());
        std::thread::spawn(move || report_progress(&relay, &stop))
    };
    let report = relay.run(&stop, Duration::from_secs(deadline));
    stop.store(true, Ordering::Release);
    let _ = progress.join();
    let report = report?;
    let s = relay.stats();
    eprintln!(
        "stopped: {} read, {} not events; sinks: {}",
        s.read,
        s.invalid,
        sinks_line(&s)
    );
    Ok(report.stats.failed == 0 && s.invalid == 0)
}

fn report_progress(relay: &Relay, stop: &AtomicBool) {
    let mut last = Instant::now();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < REPORT_EVERY {
            continue;
        }
        last = Instant::now();
        let s = relay.stats();
        let paused = if s.paused {
            " (paused: the sinks are behind)"
        } else {
            ""
        };
        eprintln!(
            "{} read, {} waiting, lag {}{paused}; sinks: {}",
            s.read,
            s.waiting,
            s.lag(),
            sinks_line(&s)
        );
    }
}

fn sinks_line(s: &trackflow::relay::RelayStats) -> String {
    s.sinks
        .iter()
        .map(|b| {
            format!(
                "{} {} delivered, {} failed",
                b.name, b.stats.delivered, b.stats.failed
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
