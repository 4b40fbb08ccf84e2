//! The tokio surface: async flush and shutdown, and drops on a runtime thread that hand their
//! wait to the blocking pool instead of stalling the executor.

#![cfg(feature = "tokio")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trackflow::delivery::DeliveryCtx;
use trackflow::{
    delivery::Delivery, Backend, BackgroundConsumer, Error, Event, Identity, MemoryBackend, Properties,
    Tracker,
};

/// Holds every delivery until opened (or cancelled), and says whether one is inside.
#[derive(Debug, Clone, Default)]
struct Gated {
    memory: MemoryBackend,
    open: Arc<AtomicBool>,
    inside: Arc<AtomicBool>,
}

impl Backend for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }
    fn check(&self, _: &Event) -> trackflow::Result<()> {
        Ok(())
    }
    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        self.inside.store(true, Ordering::Release);
        while !self.open.load(Ordering::Acquire) {
            if ctx.cancel.sleep(Duration::from_millis(2)) {
                self.inside.store(false, Ordering::Release);
                let mut d = Delivery::default();
                d.record(Err(Error::Cancelled), 0, || (0..batch.len()).collect());
                return d;
            }
        }
        let d = self.memory.deliver(batch, ctx);
        self.inside.store(false, Ordering::Release);
        d
    }
}

fn tracker(backend: &Gated) -> Tracker {
    let consumer = BackgroundConsumer::builder(backend.clone())
        .spool(None)
        .flush_interval(Duration::from_millis(1))
        .build();
    Tracker::builder().consumer(consumer).build().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Drops `handle` on a runtime worker while a delivery is held, and checks the drop returned
/// with the delivery still held: a drop that waited would have reached the shutdown deadline,
/// which cancels the delivery.
fn drop_on_a_worker_returns_at_once<H: Send + 'static>(make: impl FnOnce(Tracker) -> H + Send + 'static) {
    let backend = Gated::default();
    let rt = runtime();
    let b = backend.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            let t = tracker(&b);
            t.track(&Identity::user("u1"), "open", Properties::new()).unwrap();
            let handle = make(t);
            until(&b.inside).await;
            drop(handle);
            assert!(
                b.inside.load(Ordering::Acquire),
                "the drop waited for the shutdown on an executor thread"
            );
        })
        .await
        .unwrap();
    });
    backend.open.store(true, Ordering::Release);
    // Dropping the runtime waits for the shutdown it was handed.
    drop(rt);
    assert_eq!(backend.memory.events().len(), 1, "the shutdown still delivered");
}

#[test]
fn the_last_tracker_dropped_on_a_worker_thread_does_not_block_it() {
    drop_on_a_worker_returns_at_once(|t| t);
}

#[test]
fn a_guard_dropped_on_a_worker_thread_does_not_block_it() {
    drop_on_a_worker_returns_at_once(|t| t.guard().timeout(Duration::from_secs(5)));
}

#[test]
fn the_last_tracker_dropped_on_a_current_thread_runtime_still_delivers() {
    let backend = Gated::default();
    backend.open.store(true, Ordering::Release);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = backend.clone();
    rt.block_on(async move {
        let t = tracker(&b);
        for i in 0..10 {
            t.track(&Identity::user(format!("u{i}")), "open", Properties::new())
                .unwrap();
        }
        drop(t);
    });
    drop(rt);
    assert_eq!(backend.memory.events().len(), 10);
}

#[test]
fn async_flush_and_shutdown_deliver_and_only_direct_blocking_calls_count() {
    let backend = Gated::default();
    backend.open.store(true, Ordering::Release);
    let before = trackflow::blocking_calls_on_runtime();
    runtime().block_on(async {
        let t = tracker(&backend);
        t.track(&Identity::user("u1"), "open", Properties::new()).unwrap();
        t.flush_async().await.unwrap();
        assert_eq!(backend.memory.events().len(), 1);
        t.track(&Identity::user("u2"), "open", Properties::new()).unwrap();
        t.flush_timeout_async(Duration::from_secs(5)).await.unwrap();
        assert_eq!(backend.memory.events().len(), 2);
        let report = t.shutdown_async(Duration::from_secs(5)).await.unwrap();
        assert_eq!(report.stats.delivered, 2);
        assert!(report.completed);
        assert!(matches!(t.flush_async().await, Err(Error::AlreadyShutdown)));
        assert_eq!(
            trackflow::blocking_calls_on_runtime(),
            before,
            "the async methods made no blocking call on a worker"
        );
        // A direct blocking call on a worker thread is counted.
        let other = tracker(&backend);
        other.flush().unwrap();
        assert_eq!(trackflow::blocking_calls_on_runtime(), before + 1);
        other.shutdown_async(Duration::from_secs(5)).await.unwrap();
    });
}
