//! The requests: one `clientEvents` create per event, side by side within the flow, each
//! acknowledged as it ends.

use super::client::{Talent, TalentVersion};
use super::wire::CreateRequest;
use crate::backend::google::{self, ALT_QUERY};
use crate::backend::Backend;
use crate::codec::json;
use crate::delivery::{Delivery, DeliveryCtx};
use crate::error::{Error, Result};
use crate::event::Event;

impl Talent {
    /// The URL, query and routing parameter of the version's create call.
    fn endpoint_of_version(&self) -> (String, Vec<(&'static str, String)>, Option<&str>) {
        match self.version {
            TalentVersion::V4 => (
                format!("{}/v4/{}/clientEvents", self.endpoint, self.parent),
                vec![(ALT_QUERY.0, ALT_QUERY.1.to_owned())],
                Some(self.parent.as_str()),
            ),
            TalentVersion::V3 => (
                format!("{}/v3/{}/clientEvents", self.endpoint, self.parent),
                vec![("alt", "json".to_owned())],
                None,
            ),
        }
    }

    /// The request body of `e`, as the version's official client writes it.
    fn body(&self, e: &Event) -> Result<Vec<u8>> {
        match self.version {
            TalentVersion::V4 => {
                serde_json::to_vec_pretty(&self.client_event(e)).map_err(|e| Error::Io(e.into()))
            }
            TalentVersion::V3 => {
                // The discovery client's body: Python's json.dumps of the request.
                let mut buf = Vec::new();
                let request = CreateRequest {
                    client_event: self.client_event(e),
                };
                json::encode_into(&request, json::Style::PythonAscii, &mut buf).map(|()| buf)
            }
        }
    }
}

impl Backend for Talent {
    fn name(&self) -> &'static str {
        "talent"
    }

    fn max_batch(&self) -> usize {
        // One request per event, side by side within the flow.
        crate::backend::MAX_DELIVERY
    }

    fn needs_identity(&self) -> bool {
        // A client event is about a job and a request, not a user.
        false
    }

    fn check(&self, e: &Event) -> Result<()> {
        super::rules::check(self, e)
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let (url, query, routing) = self.endpoint_of_version();
        let headers = || {
            let mut h = google::headers(
                self.tokens.as_ref(),
                self.quota_project.as_deref(),
                routing,
                true,
                ctx.cancel,
            )?;
            if self.version == TalentVersion::V3 {
                h.push(("accept", "application/json".to_owned()));
            }
            Ok(h)
        };
        // One request per event: independent, so side by side within the flow.
        ctx.deliver_each(batch.len(), |i, d| {
            let (r, retries) = match self.body(&batch[i]) {
                Ok(body) => {
                    let call = google::Call {
                        get: false,
                        url: &url,
                        query: &query,
                        body: &body,
                    };
                    call.send(&self.transport, ctx, self.tokens.as_ref(), headers)
                }
                Err(err) => (Err(err), 0),
            };
            // Acknowledged as it ends: the store lets it go without waiting for the batch.
            ctx.record(d, r.map(drop), retries, &[i]);
        })
    }
}
