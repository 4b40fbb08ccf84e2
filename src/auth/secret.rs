//! A string that never shows itself in `Debug` or `Display`.

use std::fmt;

/// A secret (key, token) that prints as `***`.
///
/// # Examples
///
/// ```
/// let s = trackflow::auth::Secret::new("wJalrXUtnFEMI");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "wJalrXUtnFEMI");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trackflow::auth::Secret::new("k");
    /// assert_eq!(s.expose(), "k");
    /// assert_eq!(format!("{s:?}"), "Secret(***)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for signing. Keep it out of logs.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::auth::Secret::new("k").expose(), "k");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
