//! JSON-lines files of neutral events, rotated by size and by day or hour: the embedded
//! default, which needs no server.
//!
//! Files are only ever appended to, a whole line at a time, and never renamed or truncated,
//! so a log shipper tailing `events-*.jsonl` sees every line exactly once. Rotation starts a
//! new file:
//!
//! ```text
//! events-2023-11-14.jsonl        first file of the day
//! events-2023-11-14.1.jsonl      after it reached max_bytes
//! events-2023-11-15.jsonl        next day (Rotation::Daily)
//! events-2023-11-14T22.jsonl     Rotation::Hourly
//! events.jsonl, events.1.jsonl   Rotation::Never (size only)
//! ```

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Backend, Rotation};
use crate::clock::{civil_utc, Clock, SharedClock};
use crate::delivery::Delivery;
use crate::delivery::DeliveryCtx;
use crate::error::{Error, Result};
use crate::event::Event;

/// Default for [`FileBackendBuilder::max_bytes`]: 128 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 128 << 20;
/// Default for [`FileBackendBuilder::prefix`].
pub const DEFAULT_PREFIX: &str = "events";

impl Rotation {
    fn period(self, ms: i64) -> Option<String> {
        let (y, m, d, h) = civil_utc(ms);
        match self {
            Rotation::Never => None,
            Rotation::Daily => Some(format!("{y:04}-{m:02}-{d:02}")),
            Rotation::Hourly => Some(format!("{y:04}-{m:02}-{d:02}T{h:02}")),
        }
    }
}

/// Writes neutral events as JSON lines under a directory.
///
/// # Examples
///
/// ```
/// use trackflow::{FileBackend, Identity, ImmediateConsumer, Properties, Tracker};
///
/// let dir = std::env::temp_dir().join(format!("trackflow-doc-{}", std::process::id()));
/// let files = FileBackend::builder(&dir).build()?;
/// let tracker = Tracker::builder().consumer(ImmediateConsumer::new(files)).build()?;
/// tracker.track(&Identity::user("u1"), "signup", Properties::new())?;
/// let written = std::fs::read_dir(&dir)?.count();
/// assert_eq!(written, 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Debug)]
pub struct FileBackend {
    dir: PathBuf,
    prefix: String,
    rotation: Rotation,
    max_bytes: u64,
    sync_on_flush: bool,
    clock: SharedClock,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    file: Option<File>,
    period: Option<String>,
    index: u32,
    size: u64,
    buf: Vec<u8>,
}

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
    dir: PathBuf,
    prefix: String,
    rotation: Rotation,
    max_bytes: u64,
    sync_on_flush: bool,
    clock: SharedClock,
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
    /// let b = trackflow::FileBackend::builder("events").rotation(trackflow::Rotation::Hourly);
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
    /// let b = trackflow::FileBackend::builder("events").clock(trackflow::FixedClock(1_700_000_000_000));
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
    /// let b = trackflow::FileBackend::builder("/var/log/trackflow").rotation(trackflow::Rotation::Daily);
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

    /// The directory written to.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tf-doc-dir-{}", std::process::id()));
    /// let files = trackflow::FileBackend::builder(&dir).build()?;
    /// assert!(files.dir().is_dir());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, period: Option<&str>, index: u32) -> PathBuf {
        let mut name = self.prefix.clone();
        if let Some(p) = period {
            name.push('-');
            name.push_str(p);
        }
        if index > 0 {
            name.push_str(&format!(".{index}"));
        }
        name.push_str(".jsonl");
        self.dir.join(name)
    }

    /// Opens the file for `period`, continuing the newest existing one of that period.
    fn open(&self, st: &mut State, period: Option<String>) -> Result<()> {
        let mut index = 0;
        while self.path(period.as_deref(), index + 1).exists() {
            index += 1;
        }
        let path = self.path(period.as_deref(), index);
        let file = crate::disk::files::private_options()
            .create(true)
            .append(true)
            .open(&path)?;
        st.size = file.metadata()?.len();
        st.file = Some(file);
        st.period = period;
        st.index = index;
        if st.size >= self.max_bytes {
            self.roll(st)?;
        }
        Ok(())
    }

    fn roll(&self, st: &mut State) -> Result<()> {
        st.index += 1;
        let path = self.path(st.period.as_deref(), st.index);
        st.file = Some(
            crate::disk::files::private_options()
                .create(true)
                .append(true)
                .open(path)?,
        );
        st.size = 0;
        Ok(())
    }

    fn write_pending(st: &mut State) -> Result<()> {
        if st.buf.is_empty() {
            return Ok(());
        }
        let file = st
            .file
            .as_mut()
            .ok_or_else(|| Error::Io(std::io::ErrorKind::NotFound.into()))?;
        // One write of whole lines: a tailing reader never sees half a line for long, and a
        // crash loses at most the end of this write.
        file.write_all(&st.buf)?;
        st.size += st.buf.len() as u64;
        st.buf.clear();
        Ok(())
    }

    fn write_batch(&self, batch: &[Event]) -> Result<usize> {
        let mut st = self.state.lock();
        let period = self.rotation.period(self.clock.now_ms());
        if st.file.is_none() || st.period != period {
            Self::write_pending(&mut st)?;
            self.open(&mut st, period)?;
        }
        st.buf.clear();
        let mut written = 0;
        for e in batch {
            let start = st.buf.len();
            crate::codec::json::write_event(&mut st.buf, e)?;
            st.buf.push(b'\n');
            let line = (st.buf.len() - start) as u64;
            if st.size + start as u64 + line > self.max_bytes && st.size + start as u64 > 0 {
                // Move the line that does not fit to the next file.
                let tail = st.buf.split_off(start);
                Self::write_pending(&mut st)?;
                self.roll(&mut st)?;
                st.buf = tail;
            }
            written += 1;
        }
        Self::write_pending(&mut st)?;
        Ok(written)
    }
}

impl Backend for FileBackend {
    fn name(&self) -> &'static str {
        "file"
    }

    fn max_batch(&self) -> usize {
        1000
    }

    fn max_in_flight(&self) -> Option<usize> {
        // One writer: lines stay in the order they were accepted, and a local disk gains
        // nothing from more.
        Some(1)
    }

    fn check(&self, _event: &Event) -> Result<()> {
        Ok(())
    }

    fn deliver(&self, batch: &[Event], ctx: &DeliveryCtx<'_>) -> Delivery {
        let mut d = Delivery::default();
        if ctx.debug {
            log::info!(target: "trackflow::debug", "{}write {} events under {}",
                if ctx.dry_run { "(dry run) " } else { "" }, batch.len(), self.dir.display());
        }
        if ctx.dry_run {
            return d;
        }
        if let Err(e) = self.write_batch(batch) {
            // Lines are written whole or not at all per write; on error we cannot know how far
            // the OS got, so report the batch: a duplicate beats a silent loss.
            d.record(Err(e), 0, || (0..batch.len()).collect());
        }
        d
    }

    fn flush(&self) -> Result<()> {
        let st = self.state.lock();
        if let (Some(f), true) = (&st.file, self.sync_on_flush) {
            f.sync_data()?;
        }
        Ok(())
    }
}

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

impl super::BackendSettings for FileSettings {
    const KIND: &'static str = "file";

    fn build(self, _: &super::BuildCtx<'_>) -> Result<Box<dyn Backend>> {
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
