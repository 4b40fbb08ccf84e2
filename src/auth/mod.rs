//! Request signing and credentials.

#[cfg(feature = "personalize")]
#[cfg_attr(docsrs, doc(cfg(feature = "personalize")))]
pub mod aws;
#[cfg(feature = "google")]
#[cfg_attr(docsrs, doc(cfg(feature = "google")))]
pub mod google;
#[cfg(feature = "personalize")]
#[cfg_attr(docsrs, doc(cfg(feature = "personalize")))]
pub mod sigv4;

mod secret;

pub use secret::Secret;
