//! The files: named by period and index, opened, rolled past a size or into a new day or
//! hour, and written a batch at a time.

use std::io::Write;
use std::path::PathBuf;

use super::client::{FileBackend, State};
use crate::backend::Rotation;
use crate::clock::{civil_utc, Clock};
use crate::error::{Error, Result};
use crate::event::Event;

impl Rotation {
    pub(super) fn period(self, ms: i64) -> Option<String> {
        let (y, m, d, h) = civil_utc(ms);
        match self {
            Rotation::Never => None,
            Rotation::Daily => Some(format!("{y:04}-{m:02}-{d:02}")),
            Rotation::Hourly => Some(format!("{y:04}-{m:02}-{d:02}T{h:02}")),
        }
    }
}

impl FileBackend {
    pub(super) fn path(&self, period: Option<&str>, index: u32) -> PathBuf {
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
    pub(super) fn open(&self, st: &mut State, period: Option<String>) -> Result<()> {
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

    pub(super) fn roll(&self, st: &mut State) -> Result<()> {
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

    pub(super) fn write_pending(st: &mut State) -> Result<()> {
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

    pub(super) fn write_batch(&self, batch: &[Event]) -> Result<usize> {
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
