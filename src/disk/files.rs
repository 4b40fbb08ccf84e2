//! Private files and directories: what trackflow writes holds user data, so only the owner
//! may read it (directories 0700, files 0600 on Unix). Every file trackflow writes events to
//! is made here or in the queue beside this module.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents; the directories created are private.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Options that create files readable by the owner only.
pub(crate) fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

/// Creates a new private file, failing if one exists (a temporary file that exists is not
/// ours to write into).
pub(crate) fn create_new_private(path: &Path) -> io::Result<File> {
    private_options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// Writes `name` under `dir` whole or not at all: a temporary file, renamed into place, and
/// with `sync`, written through to the disk with the rename.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8], sync: bool) -> io::Result<PathBuf> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    // A temporary file left by a crash is ours to replace, but never one a link points
    // elsewhere: remove it, then create anew.
    let _ = fs::remove_file(&tmp);
    let mut f = create_new_private(&tmp)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(&tmp, &path)?;
    if sync {
        // The rename itself is durable only once the directory is.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn dirs_and_files_are_private() {
        let base = std::env::temp_dir().join(format!("tf-private-{}", std::process::id()));
        let dir = base.join("a/b");
        create_private_dir(&dir).unwrap();
        for d in [base.join("a"), dir.clone()] {
            assert_eq!(fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let f = dir.join("x");
        create_new_private(&f).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(
            create_new_private(&f).is_err(),
            "create-new refuses an existing file"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
