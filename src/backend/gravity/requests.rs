//! The requests: one per envelope, gzipped, judged by Gravity's own `code`, each acknowledged
//! as it ends.

use std::collections::HashMap;

use super::client::Gravity;
use super::wire::Envelope;
use super::{DEFAULT_CONSUMER_BATCH, LIB, LIB_VERSION};
use crate::backend::Backend;
use crate::codec::{gzip, json};
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::transport::{classify_status, Request, Response, Verdict};

impl Gravity {
    /// The requests of a delivery, as jobs that go side by side, each sending its envelopes
    /// in order: one envelope per client and preset values (the SDK merged them all under the
    /// first, crediting every event to one user), of at most `per_request` events. A client's
    /// profile operations are one job, so they land in the order they were accepted; track
    /// events carry their own time, so each of their envelopes is a job of its own.
    fn jobs<'b>(&self, batch: &'b [Event], per_request: usize) -> Vec<Vec<Vec<usize>>> {
        // Each group: the profile job it belongs to (none for track events), and its events.
        let mut groups: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
        let mut index: HashMap<(String, bool), usize> = HashMap::new();
        let mut profiles: Vec<Vec<usize>> = Vec::new();
        let mut client_index: HashMap<&'b str, usize> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            let profile = matches!(e.kind, EventKind::Profile(_));
            let g = *index.entry((self.envelope_key(e), profile)).or_insert_with(|| {
                let job = profile.then(|| {
                    *client_index.entry(self.client_id(e)).or_insert_with(|| {
                        profiles.push(Vec::new());
                        profiles.len() - 1
                    })
                });
                if let Some(c) = job {
                    profiles[c].push(groups.len());
                }
                groups.push((job, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        let chunks = |g: usize| groups[g].1.chunks(per_request).map(<[usize]>::to_vec);
        // In order of first appearance.
        let mut jobs: Vec<Vec<Vec<usize>>> = Vec::new();
        let mut placed = vec![false; profiles.len()];
        for (g, (job, _)) in groups.iter().enumerate() {
            match *job {
                Some(c) if !placed[c] => {
                    placed[c] = true;
                    jobs.push(profiles[c].iter().flat_map(|&g| chunks(g)).collect());
                }
                Some(_) => {}
                None => jobs.extend(chunks(g).map(|c| vec![c])),
            }
        }
        jobs
    }

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

    fn default_batch(&self) -> usize {
        // A batch holding a client's profile operations waits for the batch before it that
        // holds the same client's, so with many clients batches go one at a time: the width
        // comes from the clients within one batch.
        DEFAULT_CONSUMER_BATCH
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
        let per_request = if self.debug_mode { 1 } else { self.max_batch };
        let jobs = self.jobs(batch, per_request);
        ctx.deliver_each(jobs.len(), |j, d| {
            for chunk in &jobs[j] {
                let events: Vec<&Event> = chunk.iter().map(|&i| &batch[i]).collect();
                let (r, retries) = self.send(&events, ctx);
                ctx.record(d, r, retries, chunk);
            }
        })
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
