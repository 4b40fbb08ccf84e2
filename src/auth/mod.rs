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

#[cfg(any(feature = "google", feature = "personalize"))]
mod cache;
#[cfg(any(feature = "google", feature = "personalize"))]
mod command;
mod secret;

pub use secret::Secret;

/// What RFC 3986 escapes: everything but its unreserved characters (`A-Z a-z 0-9 - . _ ~`).
#[cfg(any(feature = "personalize", feature = "google"))]
pub(crate) const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// [`UNRESERVED`], keeping `/` as well (paths).
#[cfg(feature = "personalize")]
pub(crate) const UNRESERVED_PATH: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/');
