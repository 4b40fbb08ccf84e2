//! The backend itself: its settings as built, and the scratch space its requests reuse.

use parking_lot::Mutex;

use super::codec::GrowingIoCodec;
use crate::clock::SharedClock;
use crate::transport::HttpTransport;

/// The GrowingIO CDP backend (JSON codec).
///
/// `sdkVersion` and `platform` default to the official SDK's values (`1.0.5`, `python`) so
/// the CDP treats our data exactly as it treats that SDK's; both can be set.
///
/// # Examples
///
/// ```
/// use trackflow::{GrowingIo, Backend};
/// let gio = GrowingIo::builder("https://collect.example.com/", "bcc3b6e0b6d7a1b2", "a5f1c2d3e4b5a6c7")
///     .build()?;
/// assert_eq!(gio.collect_url(), "https://collect.example.com/v3/projects/bcc3b6e0b6d7a1b2/collect");
/// assert_eq!(gio.name(), "growingio");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct GrowingIo {
    pub(super) collect_url: String,
    pub(super) item_url: String,
    pub(super) project_key: String,
    pub(super) data_source_id: String,
    pub(super) platform: String,
    pub(super) sdk_version: String,
    pub(super) max_batch: usize,
    pub(super) codec: GrowingIoCodec,
    pub(super) transport: HttpTransport,
    pub(super) clock: SharedClock,
    pub(super) buffers: Mutex<Vec<Buffers>>,
    // The JSON every message of this backend starts and ends with, rendered once.
    pub(super) prefix_custom: Vec<u8>,
    pub(super) prefix_user: Vec<u8>,
    pub(super) suffix: Vec<u8>,
}

impl std::fmt::Debug for GrowingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mask = crate::transport::mask::mask_url;
        f.debug_struct("GrowingIo")
            .field("collect_url", &mask(&self.collect_url))
            .field("item_url", &mask(&self.item_url))
            .field("project_key", &self.project_key)
            .field("data_source_id", &self.data_source_id)
            .field("codec", &self.codec)
            .field("max_batch", &self.max_batch)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Encoding scratch space, reused across requests.
#[derive(Default)]
pub(super) struct Buffers {
    pub(super) json: Vec<u8>,
    pub(super) out: Vec<u8>,
    #[cfg(feature = "snappy")]
    pub(super) snappy: Option<snap::raw::Encoder>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers")
            .field("json", &self.json.capacity())
            .field("out", &self.out.capacity())
            .finish_non_exhaustive()
    }
}

impl GrowingIo {
    /// The URL for events and user attributes.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://c.example.com/", "p", "d").build()?;
    /// assert_eq!(gio.collect_url(), "https://c.example.com/v3/projects/p/collect");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn collect_url(&self) -> &str {
        &self.collect_url
    }

    /// The URL for items.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://c.example.com", "p", "d").build()?;
    /// assert_eq!(gio.item_url(), "https://c.example.com/projects/p/collect/item");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn item_url(&self) -> &str {
        &self.item_url
    }

    /// The codec in use.
    ///
    /// # Examples
    ///
    /// ```
    /// let gio = trackflow::GrowingIo::builder("https://c.example.com", "p", "d").build()?;
    /// assert_eq!(gio.codec(), trackflow::backend::growingio::GrowingIoCodec::Json);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codec(&self) -> GrowingIoCodec {
        self.codec
    }
}
