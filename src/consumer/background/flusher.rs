//! The thread that writes the journal through to the disk (`Durability::Fsync`).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

/// Writes the journal through to the disk every interval, on a thread of its own.
pub(super) struct Flusher {
    // Dropped to stop the thread: it wakes at once, writes through a last time, and ends.
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub(super) fn start(disk: Arc<crate::disk::DiskQueue>, interval: Duration) -> Flusher {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("trackflow-fsync".into())
            .spawn(move || loop {
                let last = matches!(
                    stopped.recv_timeout(interval),
                    Err(RecvTimeoutError::Disconnected)
                );
                if let Err(e) = disk.sync() {
                    log::error!("trackflow: cannot write the journal through: {e}");
                }
                if last {
                    return;
                }
            })
            .ok();
        Flusher {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(thread),
        }
    }

    /// Stops the thread after one last write-through.
    pub(super) fn finish(&self) {
        self.stop.lock().take();
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}
