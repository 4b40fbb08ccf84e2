//! Building a [`FileBackend`]: its builder and defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::client::{FileBackend, State};
use super::{DEFAULT_MAX_BYTES, DEFAULT_PREFIX};
use crate::backend::Rotation;
use crate::clock::{Clock, SharedClock};
use crate::error::{Error, Result};

/// Builder of [`FileBackend`].
///
/// | setting | default |
/// |---|---|
/// | `prefix` | `events` |
/// | `rotation` | [`Rotation::Daily`] |
/// | `max_bytes` | 128 MiB |
/// | `sync_on_flush` | `true`: `flush` fsyncs the current file |
/// | `clock` | the system clock |
#[derive(Debug)]
pub struct FileBackendBuilder {
    pub(super) dir: PathBuf,
    pub(super) prefix: String,
    pub(super) rotation: Rotation,
    pub(super) max_bytes: u64,
    pub(super) sync_on_flush: bool,
    pub(super) clock: SharedClock,
}

impl FileBackendBuilder {
    /// File name prefix. Defaults to `events`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::FileBackend::builder("events").prefix("app");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prefix(mut self, p: impl Into<String>) -> Self {
        self.prefix = p.into();
        self
    }
    /// Time-based rotation. Defaults to [`Rotation::Daily`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::FileBackend::builder("events").rotation(trackflow::backend::Rotation::Hourly);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotation(mut self, r: Rotation) -> Self {
        self.rotation = r;
        self
    }
    /// Size at which a new file starts. Defaults to 128 MiB. A single line larger than this
    /// still gets written, alone in its file.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::FileBackend::builder("events").max_bytes(64 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n.max(1);
        self
    }
    /// Whether `flush` fsyncs the current file. Defaults to `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::FileBackend::builder("events").sync_on_flush(false);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync_on_flush(mut self, v: bool) -> Self {
        self.sync_on_flush = v;
        self
    }
    /// The clock that decides the rotation period. Defaults to the system clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::FileBackend::builder("events").clock(trackflow::clock::FixedClock(1_700_000_000_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, c: impl Clock + 'static) -> Self {
        self.clock = Arc::new(c);
        self
    }
    /// Creates the directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-{}", std::process::id()));
    /// let files = trackflow::FileBackend::builder(&dir).build()?;
    /// assert_eq!(files.dir(), dir.as_path());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<FileBackend> {
        if self.prefix.is_empty() || self.prefix.contains(['/', '\\']) {
            return Err(Error::Config(format!(
                "file backend prefix `{}`: must be a non-empty file name",
                self.prefix
            )));
        }
        // The events are user data: only the owner may list or read them.
        crate::disk::files::create_private_dir(&self.dir)?;
        Ok(FileBackend {
            dir: self.dir,
            prefix: self.prefix,
            rotation: self.rotation,
            max_bytes: self.max_bytes,
            sync_on_flush: self.sync_on_flush,
            clock: self.clock,
            state: Mutex::new(State::default()),
        })
    }
}

impl FileBackend {
    /// A builder writing under `dir`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::FileBackend::builder("/var/log/trackflow").rotation(trackflow::backend::Rotation::Daily);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(dir: impl AsRef<Path>) -> FileBackendBuilder {
        FileBackendBuilder {
            dir: dir.as_ref().to_path_buf(),
            prefix: DEFAULT_PREFIX.to_owned(),
            rotation: Rotation::default(),
            max_bytes: DEFAULT_MAX_BYTES,
            sync_on_flush: true,
            clock: crate::clock::system(),
        }
    }
}
