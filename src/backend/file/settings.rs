//! The settings a config gives the File backend (`kind = "file"`).

use std::path::PathBuf;

use super::client::FileBackend;
use crate::backend::{Backend, Rotation};
use crate::error::Result;

/// The File backend's config settings (`kind = "file"`).
///
/// # Examples
///
/// ```
/// let cfg = trackflow::config::BackendConfig::file("./events");
/// assert_eq!(cfg.build(&Default::default())?.name(), "file");
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileSettings {
    /// Directory to write under.
    pub dir: PathBuf,
    /// File name prefix. Defaults to `events`.
    pub prefix: Option<String>,
    /// Time-based rotation. Defaults to daily.
    pub rotation: Option<Rotation>,
    /// Size-based rotation. Defaults to 128 MiB.
    pub max_bytes: Option<u64>,
}

impl crate::backend::kind::BackendSettings for FileSettings {
    const KIND: &'static str = "file";

    fn build(self, _: &crate::backend::kind::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
        let mut b = FileBackend::builder(self.dir);
        if let Some(p) = self.prefix {
            b = b.prefix(p);
        }
        if let Some(r) = self.rotation {
            b = b.rotation(r);
        }
        if let Some(n) = self.max_bytes {
            b = b.max_bytes(n);
        }
        Ok(Box::new(b.build()?))
    }
}
