//! The backend itself: the catalog it writes to, and what it was built with.

use std::fmt;
use std::time::Duration;

use crate::auth::google::Tokens;
use crate::delivery::Cancel;
use crate::transport::HttpTransport;

/// The Google Cloud Retail user events backend.
///
/// # Examples
///
/// ```
/// use trackflow::auth::google::{StaticToken, Tokens};
/// use trackflow::backend::retail::Retail;
/// let retail = Retail::builder("projects/123/locations/global/catalogs/default_catalog")
///     .tokens(Tokens::new(StaticToken::new("ya29.x")))
///     .build()?;
/// assert!(!format!("{retail:?}").contains("ya29"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Retail {
    pub(super) endpoint: String,
    pub(super) parent: String,
    pub(super) tokens: Option<Tokens>,
    pub(super) quota_project: Option<String>,
    pub(super) write_async: bool,
    pub(super) import_chunk: usize,
    pub(super) operation_deadline: Duration,
    pub(super) poll_interval: Duration,
    pub(super) transport: HttpTransport,
    // Admin calls (import, purge, rejoin) stop when it fires, and at the operation deadline.
    pub(super) cancel: Cancel,
}

impl fmt::Debug for Retail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retail")
            .field("endpoint", &crate::transport::mask::mask_url(&self.endpoint))
            .field("parent", &self.parent)
            .field("tokens", &self.tokens)
            .field("write_async", &self.write_async)
            .finish_non_exhaustive()
    }
}

impl Retail {
    pub(super) fn url(&self, method: &str) -> String {
        format!("{}/v2/{}/userEvents:{method}", self.endpoint, self.parent)
    }
}
