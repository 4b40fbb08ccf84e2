//! Private files and directories: what trackflow writes holds user data, so only the owner
//! may read it (directories 0700, files 0600 on Unix).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

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
