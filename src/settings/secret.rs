//! Settings that hold secrets: they show as `***` in `Debug` and when written back out.

use serde::{Deserialize, Serialize};

/// A secret setting (a webhook's shared secret, a header's token): `Debug` and serialization
/// show `***`.
///
/// # Examples
///
/// ```
/// let s = trackflow::config::SecretString("s3cret".into());
/// assert_eq!(serde_json::to_string(&s)?, r#""***""#);
/// assert!(!format!("{s:?}").contains("s3cret"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A URL that carries a secret in its query; `Debug` and serialization mask it (a config
/// written back out names the key but not its value).
///
/// # Examples
///
/// ```
/// let u = trackflow::config::SecretUrl("https://h/c/?access_token=T0KEN".into());
/// assert_eq!(serde_json::to_string(&u)?, r#""https://h/c/?access_token=***""#);
/// assert!(!format!("{u:?}").contains("T0KEN"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(pub String);

impl Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&crate::transport::mask::mask_url(&self.0))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::transport::mask::mask_url(&self.0))
    }
}
