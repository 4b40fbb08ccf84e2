//! The requests: a batch grouped into calls (one per user and session for PutEvents, ten
//! records at most), signed, sent side by side, each acknowledged as it ends.

use std::collections::HashMap;

use super::client::Personalize;
use super::rules::Op;
use super::{MAX_PER_CALL, SIGNING_NAME};
use crate::auth::sigv4::{sign, SignInput};
use crate::backend::Backend;
use crate::clock::Clock;
use crate::codec::json;
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::{classify, Request, Response, Verdict};

impl Personalize {
    /// Sends one signed request; credentials that AWS calls expired before their stated time
    /// (rotated, revoked) are fetched anew and the request is sent once more.
    pub(super) fn send(&self, op: Op, body: &[u8], ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        let first = self.send_signed(op, body, ctx);
        match &first.0 {
            Err(Error::Api { code, .. }) if is_expired_token(code) => {
                log::debug!("trackflow: personalize: {code}; fetching credentials anew");
                self.credentials.invalidate();
                let (r, retries) = self.send_signed(op, body, ctx);
                (r, first.1 + retries + 1)
            }
            _ => first,
        }
    }

    pub(super) fn send_signed(&self, op: Op, body: &[u8], ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        let credentials = match self.credentials.get(ctx.cancel) {
            Ok(c) => c,
            Err(e) => return (Err(Error::credentials(e)), 0),
        };
        let signed = sign(
            &credentials,
            &SignInput {
                method: "POST",
                host: &self.host,
                path: op.path(),
                query: &[],
                headers: &[("Content-Type", json::CONTENT_TYPE)],
                body,
                time_ms: self.clock.now_ms(),
                region: &self.region,
                service: SIGNING_NAME,
            },
        );
        let mut headers = vec![
            ("Content-Type", json::CONTENT_TYPE.to_owned()),
            ("X-Amz-Date", signed.amz_date),
            ("Authorization", signed.authorization),
        ];
        if let Some(t) = signed.security_token {
            headers.push(("X-Amz-Security-Token", t));
        }
        let url = format!("{}{}", self.endpoint, op.path());
        let req = Request {
            url: &url,
            query: &[],
            headers: &headers,
            body,
        };
        let (r, retries) = self.transport.post(&req, ctx, &judge);
        (r.map(drop), retries)
    }
}

/// The codes AWS answers when the session token has expired.
pub(super) fn is_expired_token(code: &str) -> bool {
    matches!(code, "ExpiredTokenException" | "ExpiredToken")
}

/// 200 is success. Errors carry the code from `x-amzn-ErrorType` (before any `:`) or the body's
/// `__type`/`code`, and the body's `message`; throttling codes are retried at any status,
/// the rest as the shared classification ([`classify`]) says.
pub(super) fn judge(resp: &Response) -> Verdict {
    if (200..300).contains(&resp.status) {
        return Verdict::Success;
    }
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = resp
        .header("x-amzn-ErrorType")
        .map(|t| t.split(':').next().unwrap_or_default().to_owned())
        .or_else(|| {
            body.get("__type")
                .and_then(|t| t.as_str())
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        })
        .or_else(|| body.get("code").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| resp.status.to_string());
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(|m| m.as_str()))
        .unwrap_or_default()
        .to_owned();
    let throttled = resp.status == 429 || crate::transport::retry::is_throttling_code(&code);
    let error = || Error::Api {
        status: resp.status,
        code,
        message,
    };
    if throttled {
        return Verdict::retry(error(), resp.retry_after.as_deref());
    }
    classify(resp.status, resp.retry_after.as_deref(), error)
}

impl Backend for Personalize {
    fn name(&self) -> &'static str {
        "personalize"
    }

    fn max_batch(&self) -> usize {
        // A delivery is split into calls of ten, one user and session each.
        crate::backend::MAX_DELIVERY
    }

    fn check(&self, e: &Event) -> Result<()> {
        self.check_event(e)
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        // PutEvents carries one (userId, sessionId) per call; the others carry ids per record.
        let mut groups: Vec<(Op, Vec<usize>)> = Vec::new();
        let mut index: HashMap<(Op, Option<&str>, Option<&str>), usize> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            let op = match self.op(e) {
                Ok(op) => op,
                Err(err) => {
                    d.record(Err(err), 0, || vec![i]);
                    continue;
                }
            };
            let key = match op {
                Op::Events => (op, e.identity.user_id.as_deref(), Self::session_id(e)),
                _ => (op, None, None),
            };
            let g = *index.entry(key).or_insert_with(|| {
                groups.push((op, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        let calls: Vec<(Op, &[usize])> = groups
            .iter()
            .flat_map(|(op, idx)| idx.chunks(MAX_PER_CALL).map(move |c| (*op, c)))
            .collect();
        // Calls are independent (each record carries its own time): side by side within
        // the flow.
        d.merge(ctx.deliver_each(calls.len(), |c, one| {
            let (op, chunk) = calls[c];
            let events: Vec<&Event> = chunk.iter().map(|&i| &batch[i]).collect();
            let (r, retries) = match self.body(op, &events) {
                Ok(body) => self.send(op, &body, ctx),
                Err(e) => (Err(e), 0),
            };
            // Acknowledged as it ends: the store lets it go without waiting for the batch.
            ctx.record(one, r, retries, chunk);
        }));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Whatever the collector answers, judging it never panics.
        #[test]
        fn replies_never_panic(resp in crate::transport::any_reply()) {
            let _ = judge(&resp);
        }
    }
}
