//! The wire shape: neutral events as a JSON array or JSON lines.

use super::client::{Webhook, WebhookFormat};
use crate::error::Result;
use crate::event::Event;

impl Webhook {
    /// The body for `batch`, before gzip.
    pub(super) fn body(&self, batch: &[Event]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(batch.len() * 256);
        let array = self.format == WebhookFormat::JsonArray;
        if array {
            out.push(b'[');
        }
        for (i, e) in batch.iter().enumerate() {
            if array && i > 0 {
                out.push(b',');
            }
            crate::codec::json::write_event(&mut out, e)?;
            if !array {
                out.push(b'\n');
            }
        }
        if array {
            out.push(b']');
        }
        Ok(out)
    }
}
