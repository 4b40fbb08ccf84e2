//! `trackflow status DIR`: what each store below DIR holds, as a table or as JSON.

use std::path::Path;

use trackflow::spool::StoreStatus;

/// Prints the stores' status; `Ok(true)` when every store is empty (no backlog, no dead
/// letters), for scripts that alert on the exit code.
pub(crate) fn print(dir: &Path, json: bool) -> trackflow::Result<bool> {
    let stores = trackflow::spool::stores_status(dir)?;
    if json {
        let doc = serde_json::to_string_pretty(&stores).map_err(|e| trackflow::Error::Io(e.into()))?;
        println!("{doc}");
    } else if stores.is_empty() {
        println!(
            "{}: no store here (a store has a queue/ or a dead/ directory)",
            dir.display()
        );
    } else {
        for s in &stores {
            print_one(s);
        }
    }
    Ok(stores
        .iter()
        .all(|s| s.backlog_events == Some(0) && s.dead.is_empty()))
}

fn print_one(s: &StoreStatus) {
    let holder = if s.held {
        "held by a running process"
    } else {
        "not held"
    };
    println!("{} ({holder})", s.dir.display());
    let events = s
        .backlog_events
        .map_or_else(|| "? (held)".to_owned(), |n| n.to_string());
    let age = s
        .oldest_age_ms
        .map_or_else(String::new, |ms| format!(", oldest {}", human(ms)));
    println!("  backlog: {events} events, {} bytes{age}", s.backlog_bytes);
    let dead: u64 = s.dead.iter().map(|d| d.events).sum();
    println!("  dead letters: {dead} events");
    for d in &s.dead {
        println!("    {:>8}  {} ({} files)", d.events, d.reason, d.files);
    }
}

/// `ms` as the largest whole unit that fits: 350 ms, 12 s, 5 min, 3 h, 2 d.
fn human(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{} s", ms / 1_000),
        60_000..=3_599_999 => format!("{} min", ms / 60_000),
        3_600_000..=86_399_999 => format!("{} h", ms / 3_600_000),
        _ => format!("{} d", ms / 86_400_000),
    }
}
