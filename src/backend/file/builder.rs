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
    /// use trackflow::{Consumer, Event, FileBackend, Identity, ImmediateConsumer};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-prefix-{}", std::process::id()));
    /// let files = FileBackend::builder(&dir).prefix("app").clock(trackflow::clock::FixedClock(1_700_000_000_000)).build()?;
    /// let c = ImmediateConsumer::new(files);
    /// for i in 0..1 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))).with_time(1_700_000_000_000))?;
    /// }
    /// let mut names: Vec<String> = std::fs::read_dir(&dir)?.map(|f| Ok(f?.file_name().to_string_lossy().into_owned())).collect::<std::io::Result<_>>()?;
    /// names.sort();
    /// assert_eq!(names, ["app-2023-11-14.jsonl"]);
    /// # std::fs::remove_dir_all(&dir)?;
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
    /// use trackflow::{Consumer, Event, FileBackend, Identity, ImmediateConsumer};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-rot-{}", std::process::id()));
    /// let files = FileBackend::builder(&dir).rotation(trackflow::backend::Rotation::Hourly).clock(trackflow::clock::FixedClock(1_700_000_000_000)).build()?;
    /// let c = ImmediateConsumer::new(files);
    /// for i in 0..1 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))).with_time(1_700_000_000_000))?;
    /// }
    /// let mut names: Vec<String> = std::fs::read_dir(&dir)?.map(|f| Ok(f?.file_name().to_string_lossy().into_owned())).collect::<std::io::Result<_>>()?;
    /// names.sort();
    /// assert_eq!(names, ["events-2023-11-14T22.jsonl"]);
    /// # std::fs::remove_dir_all(&dir)?;
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
    /// use trackflow::{Consumer, Event, FileBackend, Identity, ImmediateConsumer};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-max-{}", std::process::id()));
    /// let files = FileBackend::builder(&dir).max_bytes(200).build()?;
    /// let c = ImmediateConsumer::new(files);
    /// for i in 0..3 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))).with_time(1_700_000_000_000))?;
    /// }
    /// let mut names: Vec<String> = std::fs::read_dir(&dir)?.map(|f| Ok(f?.file_name().to_string_lossy().into_owned())).collect::<std::io::Result<_>>()?;
    /// names.sort();
    /// // A file is rolled once it is past 200 bytes: the next events go to `events-….1.jsonl`.
    /// assert!(names.len() >= 2, "{names:?}");
    /// # std::fs::remove_dir_all(&dir)?;
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
    /// use trackflow::{Consumer, Event, FileBackend, Identity, ImmediateConsumer};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-sync-{}", std::process::id()));
    /// let files = FileBackend::builder(&dir).sync_on_flush(true).build()?;
    /// let c = ImmediateConsumer::new(files);
    /// for i in 0..1 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))).with_time(1_700_000_000_000))?;
    /// }
    /// let mut names: Vec<String> = std::fs::read_dir(&dir)?.map(|f| Ok(f?.file_name().to_string_lossy().into_owned())).collect::<std::io::Result<_>>()?;
    /// names.sort();
    /// c.flush(std::time::Duration::from_secs(1))?; // written through to the disk
    /// assert_eq!(names.len(), 1);
    /// # std::fs::remove_dir_all(&dir)?;
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
    /// use trackflow::{Consumer, Event, FileBackend, Identity, ImmediateConsumer};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-clock-{}", std::process::id()));
    /// let files = FileBackend::builder(&dir).clock(trackflow::clock::FixedClock(1_700_000_000_000)).build()?;
    /// let c = ImmediateConsumer::new(files);
    /// for i in 0..1 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))).with_time(1_700_000_000_000))?;
    /// }
    /// let mut names: Vec<String> = std::fs::read_dir(&dir)?.map(|f| Ok(f?.file_name().to_string_lossy().into_owned())).collect::<std::io::Result<_>>()?;
    /// names.sort();
    /// // The clock names the period a file belongs to.
    /// assert_eq!(names, ["events-2023-11-14.jsonl"]);
    /// # std::fs::remove_dir_all(&dir)?;
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
    /// use trackflow::{Consumer, Event, FileBackend, Identity, ImmediateConsumer};
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-new-{}", std::process::id()));
    /// let files = FileBackend::builder(&dir).rotation(trackflow::backend::Rotation::Daily).build()?;
    /// let c = ImmediateConsumer::new(files);
    /// for i in 0..2 {
    ///     c.consume(Event::track("open").with_identity(Identity::user(format!("u{i}"))).with_time(1_700_000_000_000))?;
    /// }
    /// let mut names: Vec<String> = std::fs::read_dir(&dir)?.map(|f| Ok(f?.file_name().to_string_lossy().into_owned())).collect::<std::io::Result<_>>()?;
    /// names.sort();
    /// assert_eq!(names.len(), 1);
    /// let text = std::fs::read_to_string(dir.join(&names[0]))?;
    /// assert_eq!(text.lines().count(), 2);
    /// # std::fs::remove_dir_all(&dir)?;
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
