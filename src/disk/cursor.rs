//! The cursor file: where reading resumes after a restart.
//!
//! ```text
//!  cursor = seq: u64 LE │ off: u64 LE │ front: u64 LE │ crc32 of the 24 bytes: u32 LE
//! ```
//!
//! `front` names the front segment (see `front.rs`) the cursor has read: a cursor inside
//! segment 0 holds only for the front of that nonce, and a cursor past segment 0 says that
//! front was read whole. Cursors of 20 bytes (no `front`) written by older versions still read.

use std::fs::File;
use std::io;
use std::path::Path;

use super::files::private_options;

/// Where reading resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) seq: u64,
    pub(crate) off: u64,
    /// The nonce of the front segment this cursor has read into or past; 0 for none.
    pub(crate) front: u64,
}

/// The cursor in `dir`, when there is an intact one.
pub(crate) fn read(dir: &Path) -> Option<Cursor> {
    let b = std::fs::read(dir.join("cursor")).ok()?;
    let word = |i: usize| {
        b.get(i..i + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (body, crc_at) = match b.len() {
        20 => (16, 16),
        28 => (24, 24),
        _ => return None,
    };
    let crc = u32::from_le_bytes(b.get(crc_at..crc_at + 4)?.try_into().ok()?);
    (crc32fast::hash(&b[..body]) == crc).then_some(Cursor {
        seq: word(0)?,
        off: word(8)?,
        front: if body == 24 { word(16)? } else { 0 },
    })
}

/// Writes the cursor in place: one 28-byte write (a write of a few bytes within a page is
/// never half done by a crash of the process; a torn one after a power loss fails its
/// checksum, and reading starts over from the oldest segment).
pub(crate) fn write(file: &mut Option<File>, dir: &Path, c: Cursor) -> io::Result<()> {
    let mut b = [0u8; 28];
    b[..8].copy_from_slice(&c.seq.to_le_bytes());
    b[8..16].copy_from_slice(&c.off.to_le_bytes());
    b[16..24].copy_from_slice(&c.front.to_le_bytes());
    let crc = crc32fast::hash(&b[..24]);
    b[24..].copy_from_slice(&crc.to_le_bytes());
    let f = match file {
        Some(f) => f,
        None => file.insert(
            private_options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join("cursor"))?,
        ),
    };
    #[cfg(unix)]
    {
        // One pwrite rather than a seek and a write.
        std::os::unix::fs::FileExt::write_all_at(f, &b, 0)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom, Write};
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_an_old_one_still_reads() {
        let dir = std::env::temp_dir().join(format!("tf-cursor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = Cursor {
            seq: 7,
            off: 1234,
            front: 99,
        };
        write(&mut None, &dir, c).unwrap();
        assert_eq!(read(&dir), Some(c));
        // The 20-byte form of earlier versions.
        let mut old = Vec::new();
        old.extend_from_slice(&3u64.to_le_bytes());
        old.extend_from_slice(&40u64.to_le_bytes());
        old.extend_from_slice(&crc32fast::hash(&old).to_le_bytes());
        std::fs::write(dir.join("cursor"), &old).unwrap();
        assert_eq!(
            read(&dir),
            Some(Cursor {
                seq: 3,
                off: 40,
                front: 0
            })
        );
        std::fs::write(dir.join("cursor"), b"garbage").unwrap();
        assert_eq!(read(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
