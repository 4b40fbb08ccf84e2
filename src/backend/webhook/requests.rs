//! The requests: one POST per batch (gzipped when asked), acknowledged when it ends.

use super::client::Webhook;
use crate::backend::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::Result;
use crate::event::Event;
use crate::transport::{classify_status, Request};

impl Backend for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, _event: &Event) -> Result<()> {
        // Every neutral event has a JSON form.
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let body = self.body(batch).and_then(|plain| {
            if self.gzip {
                let mut z = Vec::new();
                crate::codec::gzip::compress_into(&plain, &mut z)?;
                Ok(z)
            } else {
                Ok(plain)
            }
        });
        let (r, retries) = match body {
            Ok(body) => {
                let headers = self.headers(&body);
                let req = Request {
                    url: &self.url,
                    query: &[],
                    headers: &headers,
                    body: &body,
                };
                let (r, retries) = self.transport.post(&req, ctx, &|r| {
                    classify_status(r.status, r.retry_after.as_deref(), &r.body)
                });
                (r.map(drop), retries)
            }
            Err(e) => (Err(e), 0),
        };
        // One request for the whole batch: its outcome is the batch's.
        d.record(r, retries, || (0..batch.len()).collect());
        d
    }
}
