//! The backend itself: the collect URL, how an identity becomes a `client_id`, and the
//! scratch space its requests reuse.

use std::fmt;

use parking_lot::Mutex;

use crate::transport::mask::mask_url;
use crate::transport::HttpTransport;

/// Which id of an identity becomes Gravity's `client_id` when both are set.
///
/// # Examples
///
/// ```
/// use trackflow::backend::gravity::{ClientId, Gravity};
/// let ge = Gravity::builder("https://h/c/?access_token=t").client_id(ClientId::UserFirst).build()?;
/// let e = trackflow::Event::track("buy").with_identity(trackflow::Identity::anonymous("d1").with_user("u1"));
/// let mut out = Vec::new();
/// ge.encode_envelope(&[&e], &mut out)?;
/// # let _ = out;
/// assert_eq!(trackflow::Backend::order_key(&ge, &trackflow::Event::profile(trackflow::ProfileOp::Set).with_identity(trackflow::Identity::anonymous("d1").with_user("u1"))), Some("u1"));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientId {
    /// The anonymous (device) id, else the user id: one device is one Gravity user, before and
    /// after login (the default).
    #[default]
    AnonymousFirst,
    /// The user id, else the anonymous id: one account is one Gravity user across devices.
    UserFirst,
}

/// The Gravity Engine backend.
///
/// The identity maps to `client_id`: by default the anonymous id, or the user id when there
/// is none ([`ClientId`] chooses the other order).
///
/// # Examples
///
/// ```
/// use trackflow::backend::gravity::Gravity;
/// let ge = Gravity::builder("https://backend.gravity-engine.com/event_center/api/v1/event/collect/?access_token=SECRET")
///     .build()?;
/// assert!(!format!("{ge:?}").contains("SECRET"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Gravity {
    pub(super) url: String,
    pub(super) compress: bool,
    pub(super) max_batch: usize,
    pub(super) utc_offset_minutes: i32,
    pub(super) uuid_from_insert_id: bool,
    pub(super) client_id: ClientId,
    pub(super) debug_mode: bool,
    pub(super) transport: HttpTransport,
    pub(super) buffers: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl fmt::Debug for Gravity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gravity")
            .field("url", &mask_url(&self.url))
            .field("compress", &self.compress)
            .field("max_batch", &self.max_batch)
            .field("utc_offset_minutes", &self.utc_offset_minutes)
            .field("uuid_from_insert_id", &self.uuid_from_insert_id)
            .field("client_id", &self.client_id)
            .field("debug_mode", &self.debug_mode)
            .finish_non_exhaustive()
    }
}
