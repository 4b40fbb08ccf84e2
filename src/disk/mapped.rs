//! A segment file written through a shared memory map: a record copied here is in the page
//! cache the moment the copy ends, so it survives the death of the process (kill -9, OOM)
//! without a system call per record. This module is the crate's only `unsafe`.

#![allow(unsafe_code, reason = "mapping a file needs it; the safety argument is below")]

use std::fs::File;
use std::io;

use memmap2::MmapMut;

/// A preallocated segment file, mapped read-write and shared.
pub(crate) struct Mapped {
    map: MmapMut,
}

impl Mapped {
    /// Grows `file` to `size` bytes (sparse, zero-filled) and maps it.
    pub(crate) fn new(file: &File, size: u64) -> io::Result<Mapped> {
        file.set_len(size)?;
        // SAFETY: `memmap2` marks mapping unsafe because another party could change or shrink
        // the file while it is mapped (a shrink makes accesses past the new end fault). Here:
        // - the file was just created with create-new in a directory whose lock file this
        //   process holds for as long as the queue lives, so no other tracker opens it;
        // - this crate never shrinks a mapped file: `DiskQueue` drops the `Mapped` before it
        //   truncates a segment to its used length;
        // - every access goes through the bounds-checked slices of `write` and `flush_range`.
        // What remains is a process outside trackflow truncating our private (0600) file under
        // us, which no Rust API can defend against.
        // Populated up front: a first write to each page would otherwise fault, and a fault
        // costs microseconds on a virtual machine, once per 4 KiB of records.
        let map = unsafe { memmap2::MmapOptions::new().populate().map_mut(file)? };
        Ok(Mapped { map })
    }

    /// The mapped length.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Copies `bytes` to offset `at`; false when they do not fit.
    pub(crate) fn write(&mut self, at: usize, bytes: &[u8]) -> bool {
        match self.map.get_mut(at..at.saturating_add(bytes.len())) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Writes `[from, to)` through to the disk (msync), for power-loss durability.
    pub(crate) fn flush_range(&self, from: usize, to: usize) -> io::Result<()> {
        let to = to.min(self.map.len());
        if from >= to {
            return Ok(());
        }
        self.map.flush_range(from, to - from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_in_the_file_and_bounds_hold() {
        let path = std::env::temp_dir().join(format!("tf-mapped-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut m = Mapped::new(&file, 64).unwrap();
        assert_eq!(m.len(), 64);
        assert!(m.write(10, b"hello"));
        assert!(!m.write(62, b"too long"), "past the end is refused, not a fault");
        assert!(!m.write(usize::MAX, b"x"));
        m.flush_range(0, 64).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[10..15], b"hello");
        drop(m);
        std::fs::remove_file(&path).unwrap();
    }
}
