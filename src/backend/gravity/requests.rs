//! The requests: one per envelope, gzipped, judged by Gravity's own `code`, each acknowledged
//! as it ends.

use std::collections::HashMap;

use super::client::Gravity;
use super::wire::Envelope;
use super::{LIB, LIB_VERSION};
use crate::backend::Backend;
use crate::codec::{gzip, json};
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::transport::{classify_status, Request, Response, Verdict};

impl Gravity {
    pub(super) fn send(&self, group: &[&Event], ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        let (mut text, mut zipped) = self.buffers.lock().pop().unwrap_or_default();
        text.clear();
        let envelope = Envelope {
            ge: self,
            events: group,
        };
        let r = json::encode_into(&envelope, json::Style::PythonAscii, &mut text).and_then(|()| {
            // Debug mode's requests are what GEDebugConsumer sends: one plain envelope and the
            // debug header only.
            let mut headers = vec![("Content-Type", json::CONTENT_TYPE.to_owned())];
            if self.debug_mode {
                headers.push(("Turbo-Debug-Mode", "1".to_owned()));
                return Ok((false, headers));
            }
            headers.splice(
                0..0,
                [
                    ("GE-Integration-Type", LIB.to_owned()),
                    ("GE-Integration-Version", LIB_VERSION.to_owned()),
                    ("GE-Integration-Count", group.len().to_string()),
                ],
            );
            if self.compress {
                gzip::compress_into(&text, &mut zipped)?;
                headers.push(("Gravity-Content-Compress", "gzip".to_owned()));
            }
            Ok((self.compress, headers))
        });
        let out = match r {
            Ok((zip, headers)) => {
                let body = if zip { &zipped } else { &text };
                let req = Request {
                    url: &self.url,
                    query: &[],
                    headers: &headers,
                    body,
                };
                let (r, retries) = self.transport.post(&req, ctx, &judge);
                (r.map(drop), retries)
            }
            Err(e) => (Err(e), 0),
        };
        self.buffers.lock().push((text, zipped));
        out
    }
}

/// Success is HTTP 200 with `{"code": 0}`. Another code is a permanent refusal; a reply that
/// is not JSON is retried (a proxy's error page, a half-started server).
pub(super) fn judge(resp: &Response) -> Verdict {
    if resp.status != 200 {
        return match classify_status(resp.status, resp.retry_after.as_deref(), &resp.body) {
            Verdict::Success => Verdict::Permanent(Error::Status {
                code: resp.status,
                body: "Gravity answers 200 on success".into(),
            }),
            v => v,
        };
    }
    let reply: serde_json::Value = match serde_json::from_slice(&resp.body) {
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(100)]).into_owned();
            return Verdict::Retry {
                error: Error::Transport(format!("non-JSON reply: {text}").into()),
                after: None,
            };
        }
    };
    match reply.get("code").and_then(|c| c.as_i64()) {
        Some(0) => Verdict::Success,
        Some(code) => Verdict::Permanent(Error::Rejected {
            code,
            message: reply
                .get("msg")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned(),
        }),
        None => Verdict::Retry {
            error: Error::Transport(format!("reply without a code: {reply}").into()),
            after: None,
        },
    }
}

impl Backend for Gravity {
    fn name(&self) -> &'static str {
        "gravity"
    }

    fn max_batch(&self) -> usize {
        // A delivery is split into envelopes of `max_batch` events, one client each.
        crate::backend::MAX_DELIVERY
    }

    fn check(&self, event: &Event) -> Result<()> {
        super::rules::check(event)
    }

    fn order_key<'e>(&self, event: &'e Event) -> Option<&'e str> {
        // A profile is the sum of its operations in order (a set then an unset is not an
        // unset then a set); track events carry their own time.
        matches!(event.kind, EventKind::Profile(_)).then(|| self.client_id(event))
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        // One envelope per client and preset values, in order of first appearance: the SDK
        // merged them all under the first, crediting every event to one user.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        // A client's envelopes go one after another (its profile operations stay in
        // order); different clients' side by side.
        let mut clients: Vec<Vec<usize>> = Vec::new();
        let mut client_index: HashMap<&str, usize> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            let g = *index.entry(self.envelope_key(e)).or_insert_with(|| {
                groups.push(Vec::new());
                let c = *client_index.entry(self.client_id(e)).or_insert_with(|| {
                    clients.push(Vec::new());
                    clients.len() - 1
                });
                clients[c].push(groups.len() - 1);
                groups.len() - 1
            });
            groups[g].push(i);
        }
        let per_request = if self.debug_mode { 1 } else { self.max_batch };
        let outcomes = ctx.fan_out(clients.len(), |c| {
            let mut d = Delivery::default();
            for chunk in clients[c].iter().flat_map(|&g| groups[g].chunks(per_request)) {
                let events: Vec<&Event> = chunk.iter().map(|&i| &batch[i]).collect();
                let (r, retries) = self.send(&events, ctx);
                ctx.record(&mut d, r, retries, chunk);
            }
            d
        });
        for o in outcomes {
            d.merge(o);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::HttpTransport;

    proptest::proptest! {
        // Whatever the collector answers, judging it never panics.
        #[test]
        fn replies_never_panic(resp in crate::transport::any_reply()) {
            let _ = judge(&resp);
        }
    }

    #[test]
    fn unreachable_url_errors_do_not_carry_the_token() {
        let ge = Gravity::builder("http://127.0.0.1:1/collect/?access_token=TOPSECRET")
            .transport(
                HttpTransport::builder()
                    .retry(crate::transport::RetryPolicy::none())
                    .build(),
            )
            .build()
            .unwrap();
        let e = Event::track("a").with_identity(crate::Identity::anonymous("c"));
        let cancel = crate::delivery::Cancel::default();
        let d = ge.deliver(&[e], &DeliveryCtx::new(&cancel));
        let msg = d.failures[0].error.to_string();
        assert!(!msg.contains("TOPSECRET"), "{msg}");
        assert!(!format!("{ge:?}").contains("TOPSECRET"));
    }
}
