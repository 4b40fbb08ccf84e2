//! Delivery: a batch appended as JSON lines, acknowledged when it is written.

use super::client::FileBackend;
use crate::backend::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::Result;
use crate::event::Event;

impl Backend for FileBackend {
    fn name(&self) -> &'static str {
        "file"
    }

    fn max_batch(&self) -> usize {
        1000
    }

    fn max_in_flight(&self) -> Option<usize> {
        // One writer: lines stay in the order they were accepted, and a local disk gains
        // nothing from more.
        Some(1)
    }

    fn check(&self, _event: &Event) -> Result<()> {
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        if ctx.debug {
            log::info!(target: "trackflow::debug", "{}write {} events under {}",
                if ctx.dry_run { "(dry run) " } else { "" }, batch.len(), self.dir.display());
        }
        if ctx.dry_run {
            return d;
        }
        if let Err(e) = self.write_batch(batch) {
            // Lines are written whole or not at all per write; on error we cannot know how far
            // the OS got, so report the batch: a duplicate beats a silent loss.
            d.record(Err(e), 0, || (0..batch.len()).collect());
        }
        d
    }

    fn flush(&self) -> Result<()> {
        let st = self.state.lock();
        if let (Some(f), true) = (&st.file, self.sync_on_flush) {
            f.sync_data()?;
        }
        Ok(())
    }
}
