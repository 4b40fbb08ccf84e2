//! A segment file written through a shared memory map: a record copied here is in the page
//! cache the moment the copy ends, so it survives the death of the process (kill -9, OOM)
//! without a system call per record. This module is the crate's only `unsafe`.

#![allow(unsafe_code, reason = "mapping a file needs it; the safety argument is below")]

use std::fs::File;
use std::io::{self, Write};

use memmap2::MmapMut;

/// A preallocated segment file, mapped read-write and shared.
pub(crate) struct Mapped {
    map: MmapMut,
}

impl Mapped {
    /// Grows `file` (new and empty) to `size` bytes, maps it, and makes every page writable
    /// with its disk blocks reserved.
    pub(crate) fn new(file: &File, size: u64) -> io::Result<Mapped> {
        file.set_len(size)?;
        // SAFETY: `memmap2` marks mapping unsafe because another party could change or shrink
        // the file while it is mapped (a shrink makes accesses past the new end fault). Here:
        // - the file was just created with create-new in a directory whose lock file this
        //   process holds for as long as the queue lives, so no other tracker opens it;
        // - this crate never shrinks a mapped file: `DiskQueue` drops the `Mapped` before it
        //   truncates a segment to its used length;
        // - every access goes through the bounds-checked slice of `write`.
        // What remains is a process outside trackflow truncating our private (0600) file under
        // us, which no Rust API can defend against.
        let map = unsafe { memmap2::MmapOptions::new().map_mut(file)? };
        prefault(file, &map, size)?;
        Ok(Mapped { map })
    }

    /// The mapped length.
    #[cfg(test)]
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
}

/// Makes every page of a fresh mapping writable now rather than at its first write, for two
/// reasons. A first write to a page of a sparse shared mapping faults into the file system
/// (block reservation, a few microseconds on a VM, once per 4 KiB of records): done here,
/// that cost is paid in one call on whoever makes the segment (the worker, ahead of need).
/// And a page whose block cannot be reserved (a full disk) would kill the process with
/// SIGBUS at that first write; reserved here, a full disk is an error instead.
fn prefault(file: &File, map: &MmapMut, size: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if map.advise(memmap2::Advice::PopulateWrite).is_ok() {
        return Ok(());
    }
    // MADV_POPULATE_WRITE needs Linux 5.14; elsewhere, writing the zeros reserves the blocks.
    let _ = map;
    write_zeros(file, size)
}

/// Writes `size` zero bytes from the start of `file`.
fn write_zeros(file: &File, size: u64) -> io::Result<()> {
    let zeros = vec![0u8; 64 << 10];
    let mut file = file;
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
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
        let mut m = Mapped::new(&file, 8192).unwrap();
        assert_eq!(m.len(), 8192);
        assert!(m.write(10, b"hello"));
        assert!(
            !m.write(8190, b"too long"),
            "past the end is refused, not a fault"
        );
        assert!(!m.write(usize::MAX, b"x"));
        drop(m);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 8192);
        assert_eq!(&bytes[10..15], b"hello");
        assert!(bytes[15..].iter().all(|&b| b == 0));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn zeros_written_by_hand_reserve_the_file_too() {
        let path = std::env::temp_dir().join(format!("tf-zeros-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(100_000).unwrap();
        // The fallback path, called directly: it must leave a file of zeros of the same size.
        write_zeros(&file, 100_000).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(bytes.iter().all(|&b| b == 0));
        std::fs::remove_file(&path).unwrap();
    }
}
