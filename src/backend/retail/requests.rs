//! The requests: one `write` per event, side by side within the flow, each acknowledged as
//! it ends.

use super::client::Retail;
use super::rules::check_user_event;
use super::wire::user_event;
use crate::backend::google::{self, ALT_QUERY};
use crate::backend::Backend;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::Result;
use crate::event::Event;

impl Backend for Retail {
    fn name(&self) -> &'static str {
        "retail"
    }

    fn max_batch(&self) -> usize {
        // One request per event, side by side within the flow.
        crate::backend::MAX_DELIVERY
    }

    fn check(&self, event: &Event) -> Result<()> {
        check_user_event(event)
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let url = self.url("write");
        let mut query = Vec::with_capacity(2);
        if self.write_async {
            query.push(("writeAsync", "true".to_owned()));
        }
        query.push((ALT_QUERY.0, ALT_QUERY.1.to_owned()));
        let headers = || {
            google::headers(
                self.tokens.as_ref(),
                self.quota_project.as_deref(),
                Some(&self.parent),
                true,
                ctx.cancel,
            )
        };
        // One request per event: independent, so side by side within the flow.
        ctx.deliver_each(batch.len(), |i, d| {
            let body = serde_json::to_vec_pretty(&user_event(&batch[i])).unwrap_or_default();
            let call = google::Call {
                get: false,
                url: &url,
                query: &query,
                body: &body,
            };
            let (r, retries) = call.send(&self.transport, ctx, self.tokens.as_ref(), headers);
            // Acknowledged as it ends: the store lets it go without waiting for the batch.
            ctx.record(d, r.map(drop), retries, &[i]);
        })
    }
}
