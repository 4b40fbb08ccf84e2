//! The backend itself: the API version, the parent it writes to, and what it was built with.

use std::fmt;

use crate::auth::google::Tokens;
use crate::transport::HttpTransport;

/// Which API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TalentVersion {
    /// v4 (the default): tenants, integer enums, `eventNotes`.
    #[default]
    V4,
    /// v3: `extraInfo` and `parentEventId`.
    V3,
}

/// The Google Cloud Talent client events backend.
///
/// # Examples
///
/// ```
/// use trackflow::backend::talent::{Talent, TalentVersion};
/// let t = Talent::builder("projects/p/tenants/t").build()?;
/// assert_eq!(t.version(), TalentVersion::V4);
/// assert!(Talent::builder("projects/p").build().is_err(), "v4 needs a tenant");
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Talent {
    pub(super) endpoint: String,
    pub(super) parent: String,
    pub(super) version: TalentVersion,
    pub(super) tokens: Option<Tokens>,
    pub(super) quota_project: Option<String>,
    pub(super) transport: HttpTransport,
}

impl fmt::Debug for Talent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Talent")
            .field("endpoint", &crate::transport::mask::mask_url(&self.endpoint))
            .field("parent", &self.parent)
            .field("version", &self.version)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Talent {
    /// The API version in use.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").build()?;
    /// assert_eq!(t.version(), trackflow::backend::talent::TalentVersion::V4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(&self) -> TalentVersion {
        self.version
    }
}
