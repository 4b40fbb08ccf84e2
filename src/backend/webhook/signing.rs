//! Signing: the HMAC-SHA256 of the timestamp and body in the headers, and [`verify`] for
//! receivers.

use std::time::{SystemTime, UNIX_EPOCH};

use ring::hmac;

use super::client::{Webhook, WebhookFormat};
use super::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

impl Webhook {
    pub(super) fn headers(&self, body: &[u8]) -> Vec<(&str, String)> {
        let mut h: Vec<(&str, String)> = vec![(
            "content-type",
            match self.format {
                WebhookFormat::JsonArray => "application/json",
                WebhookFormat::JsonLines => "application/x-ndjson",
            }
            .to_owned(),
        )];
        if self.gzip {
            h.push(("content-encoding", "gzip".to_owned()));
        }
        if let Some(key) = &self.key {
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                .to_string();
            h.push((SIGNATURE_HEADER, format!("sha256={}", sign(key, &ts, body))));
            h.push((TIMESTAMP_HEADER, ts));
        }
        h.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.clone())));
        h
    }
}

pub(super) fn sign(key: &hmac::Key, timestamp: &str, body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    crate::codec::hex(ctx.sign().as_ref())
}

/// Checks a webhook request as a receiver: `signature` is the `X-Trackflow-Signature`
/// header, `timestamp` the `X-Trackflow-Timestamp` header, `body` the bytes received.
/// Compares in constant time. The timestamp's age is left to the caller.
///
/// # Examples
///
/// ```
/// use trackflow::backend::webhook::verify;
/// // HMAC-SHA256("secret", "1700000000000.[]"), as any HMAC library computes it.
/// let sig = "sha256=851360622bbceafdf158fa3a464e245b922be337f0d5bd5dfbe6b77804214661";
/// assert!(verify("secret", "1700000000000", b"[]", sig));
/// assert!(!verify("secret", "1700000000001", b"[]", sig));
/// assert!(!verify("secret", "1700000000000", b"[]", "not a signature"));
/// ```
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = crate::codec::unhex(hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = Vec::with_capacity(timestamp.len() + 1 + body.len());
    msg.extend_from_slice(timestamp.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    hmac::verify(&key, &msg, &tag).is_ok()
}
