//! The backend itself: the directory, the file name pattern, and the file being written.

use std::fs::File;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::backend::Rotation;
use crate::clock::SharedClock;

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
    pub(super) dir: PathBuf,
    pub(super) prefix: String,
    pub(super) rotation: Rotation,
    pub(super) max_bytes: u64,
    pub(super) sync_on_flush: bool,
    pub(super) clock: SharedClock,
    pub(super) state: Mutex<State>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) file: Option<File>,
    pub(super) period: Option<String>,
    pub(super) index: u32,
    pub(super) size: u64,
    pub(super) buf: Vec<u8>,
}

impl FileBackend {
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
}
