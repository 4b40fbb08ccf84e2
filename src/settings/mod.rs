//! Setting types that the config and the backends share: secrets that never show, where
//! Google tokens come from, and HTTP settings. They sit below both, so a backend reads its
//! settings without importing the config, and the config builds backends without a circle.
//! Users reach them through [`config`](crate::config).

mod google;
mod secret;
mod transport;

pub use google::GoogleAuth;
pub use secret::{SecretString, SecretUrl};
pub use transport::TransportConfig;
