//! The requests: a batch split into event and item bodies, each encoded with the codec and
//! sent, and acknowledged per request.

use super::client::{Buffers, GrowingIo};
use super::codec::GrowingIoCodec;
use super::wire::Body;
use crate::backend::Backend;
use crate::codec::json;
use crate::delivery::{Delivery, DeliveryCtx};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::transport::{classify_status, Request};

impl GrowingIo {
    /// Appends to `out` the body that would carry the events and user messages of `batch`
    /// (items go to another endpoint and are left out) if sent at `stm`, with the configured
    /// codec. For inspecting what goes on the wire, and for benchmarks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the body cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::{Event, GrowingIo, Identity};
    /// let gio = GrowingIo::builder("http://127.0.0.1:9", "p", "d").build()?;
    /// let batch = [Event::track("open").with_time(5).with_identity(Identity::anonymous("d1"))];
    /// let mut out = Vec::new();
    /// gio.encode_events(&batch, 5, &mut out)?;
    /// assert!(out.starts_with(br#"[{"eventType":"CUSTOM""#));
    /// # Ok::<(), trackflow::Error>(())
    /// ```
    pub fn encode_events(&self, batch: &[Event], stm: i64, out: &mut Vec<u8>) -> Result<()> {
        let idx: Vec<usize> = (0..batch.len())
            .filter(|&i| !matches!(batch[i].kind, EventKind::Item { .. }))
            .collect();
        let body = Body {
            gio: self,
            batch,
            idx: &idx,
            items: false,
        };
        let mut bufs = self.buffers.lock().pop().unwrap_or_default();
        let r = self
            .encode(&body, stm, &mut bufs)
            .map(|(payload, _, _)| out.extend_from_slice(payload));
        self.buffers.lock().push(bufs);
        r
    }

    fn send(&self, url: &str, body: &Body<'_>, ctx: &DeliveryCtx<'_>) -> (Result<()>, u32) {
        // A small pool instead of one set of buffers: Immediate and Buffered consumers deliver
        // from many caller threads at once, and none of them may wait on another's request.
        let mut bufs = self.buffers.lock().pop().unwrap_or_default();
        let stm = self.clock.now_ms();
        let r = match self.encode(body, stm, &mut bufs) {
            Ok((payload, query, headers)) => {
                let req = Request {
                    url,
                    query: &query,
                    headers: &headers,
                    body: payload,
                };
                let (r, retries) = self.transport.post(&req, ctx, &|resp| {
                    classify_status(resp.status, resp.retry_after.as_deref(), &resp.body)
                });
                (r.map(drop), retries)
            }
            Err(e) => (Err(e), 0),
        };
        self.buffers.lock().push(bufs);
        r
    }

    /// Encodes `body` with the configured codec; returns the payload, query and headers.
    #[allow(
        clippy::type_complexity,
        reason = "a private return tuple read once by the caller"
    )]
    fn encode<'b>(
        &self,
        body: &Body<'_>,
        stm: i64,
        bufs: &'b mut Buffers,
    ) -> Result<(&'b [u8], Vec<(&'static str, String)>, Vec<(&'static str, String)>)> {
        let json_headers = || vec![("content-type", json::CONTENT_TYPE.to_owned())];
        let stm_query = || vec![("stm", stm.to_string())];
        bufs.json.clear();
        match self.codec {
            GrowingIoCodec::Json => {
                body.write_json(&mut bufs.json);
                Ok((&bufs.json, stm_query(), json_headers()))
            }
            #[cfg(feature = "snappy")]
            GrowingIoCodec::Snappy | GrowingIoCodec::SnappyCrypt => {
                use crate::codec::snappy;
                body.write_json(&mut bufs.json);
                let enc = bufs.snappy.get_or_insert_with(snap::raw::Encoder::new);
                snappy::compress_into(enc, &bufs.json, &mut bufs.out)?;
                let mut headers = json_headers();
                headers.push(("X-Compress-Codec", "2".to_owned()));
                if self.codec == GrowingIoCodec::SnappyCrypt {
                    snappy::xor_in_place(&mut bufs.out, (stm & 0xff) as u8);
                    headers.push(("X-Crypt-Codec", "1".to_owned()));
                }
                Ok((&bufs.out, stm_query(), headers))
            }
            #[cfg(feature = "protobuf")]
            GrowingIoCodec::Protobuf => {
                use crate::codec::protobuf;
                bufs.out.clear();
                if body.items {
                    super::proto::write_items(body, &mut bufs.out);
                } else {
                    super::proto::write_events(body, &mut bufs.out);
                }
                // The SDK's ProtobufParser sends no query string at all.
                Ok((
                    &bufs.out,
                    Vec::new(),
                    vec![("content-type", protobuf::CONTENT_TYPE.to_owned())],
                ))
            }
            #[allow(unreachable_patterns, reason = "reachable only with a codec feature off")]
            other => Err(Error::Config(format!(
                "growingio codec {other:?} is not compiled in"
            ))),
        }
    }
}

impl Backend for GrowingIo {
    fn name(&self) -> &'static str {
        "growingio"
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, event: &Event) -> Result<()> {
        super::rules::check(event)
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        let (mut events, mut items) = (Vec::new(), Vec::new());
        for (i, e) in batch.iter().enumerate() {
            match e.kind {
                EventKind::Item { .. } => items.push(i),
                _ => events.push(i),
            }
        }
        for (idx, url, items) in [
            (&events, &self.collect_url, false),
            (&items, &self.item_url, true),
        ] {
            for chunk in idx.chunks(self.max_batch) {
                let body = Body {
                    gio: self,
                    batch,
                    idx: chunk,
                    items,
                };
                let (r, retries) = self.send(url, &body, ctx);
                ctx.record(&mut d, r, retries, chunk);
            }
        }
        d
    }
}
