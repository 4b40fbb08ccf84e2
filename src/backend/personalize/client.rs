//! The backend itself: where it sends, how it signs, and what it was built with.

use std::fmt;

use crate::auth::aws::CachedCredentials;
use crate::clock::SharedClock;
use crate::transport::HttpTransport;

/// The AWS Personalize Events backend.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::Credentials;
/// use trackflow::backend::personalize::Personalize;
///
/// let p = Personalize::builder()
///     .region("us-east-1")
///     .credentials(Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None))
///     .tracking_id("tracking-0001")
///     .build()?;
/// assert_eq!(p.endpoint(), "https://personalize-events.us-east-1.amazonaws.com");
/// assert!(!format!("{p:?}").contains("wJalr"));
/// # Ok::<(), trackflow::Error>(())
/// ```
pub struct Personalize {
    pub(super) endpoint: String,
    pub(super) host: String,
    pub(super) region: String,
    pub(super) credentials: CachedCredentials,
    pub(super) tracking_id: Option<String>,
    pub(super) users_arn: Option<String>,
    pub(super) items_arn: Option<String>,
    pub(super) actions_arn: Option<String>,
    pub(super) action_item_type: String,
    pub(super) event_id_from_insert_id: bool,
    pub(super) clock: SharedClock,
    pub(super) transport: HttpTransport,
}

impl fmt::Debug for Personalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Personalize")
            .field("endpoint", &crate::transport::mask::mask_url(&self.endpoint))
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("tracking_id", &self.tracking_id)
            .finish_non_exhaustive()
    }
}

impl Personalize {
    /// The endpoint requests go to.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trackflow::backend::personalize::Personalize::builder().region("eu-west-1").credentials(trackflow::auth::aws::Credentials::new("AKID", "SECRET", None)).build()?;
    /// assert_eq!(p.endpoint(), "https://personalize-events.eu-west-1.amazonaws.com");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
