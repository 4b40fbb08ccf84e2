//! HTTP settings as a config gives them (`[transport]`), and the transport they build.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::transport::{HttpTransport, RetryPolicy};

/// HTTP settings; unset ones take the defaults of [`HttpTransport`] and [`RetryPolicy`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Connect timeout.
    pub connect_timeout_ms: Option<u64>,
    /// Response timeout.
    pub read_timeout_ms: Option<u64>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// First backoff.
    pub initial_backoff_ms: Option<u64>,
    /// Longest backoff.
    pub max_backoff_ms: Option<u64>,
    /// A PEM bundle of the certificate authorities to trust instead of the built-in roots
    /// (a corporate CA); verification stays on.
    pub ca_file: Option<PathBuf>,
    /// Trust the platform's certificate store (cargo feature `native-roots`).
    pub native_roots: Option<bool>,
}

impl TransportConfig {
    /// Builds the transport these settings describe.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] for an unreadable `ca_file`, or `native_roots` without the
    /// `native-roots` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut settings = trackflow::config::TransportConfig::default();
    /// settings.max_retries = Some(5);
    /// let t = settings.build()?;
    /// assert_eq!(t.retry_policy().max_retries, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(&self) -> Result<HttpTransport> {
        let mut retry = RetryPolicy::default();
        if let Some(n) = self.max_retries {
            retry.max_retries = n;
        }
        if let Some(ms) = self.initial_backoff_ms {
            retry.initial_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = self.max_backoff_ms {
            retry.max_backoff = Duration::from_millis(ms);
        }
        let mut b = HttpTransport::builder().retry(retry);
        if let Some(ms) = self.connect_timeout_ms {
            b = b.connect_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = self.read_timeout_ms {
            b = b.read_timeout(Duration::from_millis(ms));
        }
        if let Some(path) = &self.ca_file {
            b = b.ca_file(path)?;
        }
        match self.native_roots {
            #[cfg(feature = "native-roots")]
            Some(on) => b = b.native_roots(on),
            #[cfg(not(feature = "native-roots"))]
            Some(true) => {
                return Err(crate::Error::Config(
                    "native_roots needs trackflow's `native-roots` cargo feature".into(),
                ))
            }
            _ => {}
        }
        Ok(b.build())
    }
}
