//! GrowingIO CDP: custom events and login-user attributes to `/v3/projects/{P}/collect`,
//! items to `/projects/{P}/collect/item`, as growingio-tracker 1.0.5 sends them.
//!
//! ```text
//! track      ─► {"eventType":"CUSTOM", …, "eventName", "attributes", …}   ─► /v3/projects/P/collect?stm=
//! user_set   ─► {"eventType":"LOGIN_USER_ATTRIBUTES", …}                   ─► /v3/projects/P/collect?stm=
//! item_set   ─► {"key","id","attributes","dataSourceId","projectKey"}      ─► /projects/P/collect/item?stm=
//! ```
//!
//! Bodies are encoded by the codec chosen with [`GrowingIoBuilder::codec`]:
//!
//! | [`GrowingIoCodec`] | feature | headers | body |
//! |---|---|---|---|
//! | `Json` (default) | — | `content-type: application/json` | compact JSON array, non-ASCII as `\uXXXX` |
//! | `Snappy` | `snappy` | + `X-Compress-Codec: 2` | raw snappy block of that JSON |
//! | `SnappyCrypt` | `snappy` | + `X-Crypt-Codec: 1` | every byte of it XOR `stm & 0xff` |
//! | `Protobuf` | `protobuf` | `content-type: application/protobuf`, no `stm` query | `EventV3List` / `ItemDtoList` |
//!
//! Where the official SDK is wrong we do what it meant: a trailing `/` on the host is
//! stripped, transient failures are retried (the SDK's retry adapter never takes effect), and
//! protobuf attribute values are their JSON text (`true`), not Python's (`True`).

#[cfg(feature = "growingio")]
mod builder;
#[cfg(feature = "growingio")]
mod client;
mod codec;
#[cfg(feature = "protobuf")]
#[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
pub mod proto;
#[cfg(feature = "growingio")]
mod requests;
#[cfg(feature = "growingio")]
mod rules;
#[cfg(feature = "growingio")]
mod settings;
#[cfg(feature = "growingio")]
mod wire;

#[cfg(feature = "growingio")]
pub use builder::GrowingIoBuilder;
#[cfg(feature = "growingio")]
pub use client::GrowingIo;
pub use codec::GrowingIoCodec;
#[cfg(feature = "growingio")]
pub use settings::GrowingIoSettings;

/// The `sdkVersion` the official server SDK sends, and our default.
pub const DEFAULT_SDK_VERSION: &str = "1.0.5";
/// The `platform` the official server SDK sends, and our default.
pub const DEFAULT_PLATFORM: &str = "python";
/// The largest batch the SDK's buffered consumer allows, and our clamp.
pub const MAX_BATCH: usize = 2000;
