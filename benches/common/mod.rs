//! The standard workload every bench measures (see issue 8): event `purchase`, ten properties
//! (3 strings, 2 integers, 2 floats, a bool, a list of 3 strings, a timestamp).

#![allow(dead_code, reason = "each bench uses a different part")]

pub mod sink;

/// The value after `--name` on the command line, else `default`.
pub fn opt(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// CPU seconds a process has used (user + system), from `/proc` (100 ticks a second).
pub fn cpu_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

use std::hint::black_box;
use std::time::Duration;

use trackflow::delivery::DeliveryCtx;
use trackflow::{delivery::Delivery, Backend, Event, Properties, Value};

/// Accepts and discards: isolates the caller's cost from any I/O.
#[derive(Debug)]
pub struct Discard;

impl Backend for Discard {
    fn name(&self) -> &'static str {
        "discard"
    }
    fn check(&self, _: &Event) -> trackflow::Result<()> {
        Ok(())
    }
    fn deliver(&self, batch: &[Event], _: &DeliveryCtx<'_>) -> Delivery {
        black_box(batch.len());
        Delivery::default()
    }
}

/// Holds its first batch until shutdown: the worker takes nothing more, so every later event
/// that finds the queue full spills.
#[derive(Debug)]
pub struct Held;

impl Backend for Held {
    fn name(&self) -> &'static str {
        "held"
    }
    fn check(&self, _: &Event) -> trackflow::Result<()> {
        Ok(())
    }
    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        ctx.cancel.sleep(Duration::from_secs(3600));
        let mut d = Delivery::default();
        d.record(Err(trackflow::Error::Cancelled), 0, || (0..batch.len()).collect());
        d
    }
}

/// The standard event's properties for the `i`-th event.
pub fn standard_properties(i: u64) -> Properties {
    Properties::with_capacity(10)
        .with("product", "book")
        .with("category", "programming")
        .with("currency", "USD")
        .with("qty", (i % 5) as i64)
        .with("order_id", i as i64)
        .with("price", 9.9)
        .with("discount", 0.15)
        .with("vip", i.is_multiple_of(2))
        .with("tags", vec!["red", "blue", "green"])
        .with("at", Value::Time(1_700_000_000_000))
}
