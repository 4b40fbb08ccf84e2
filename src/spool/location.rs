//! Where a consumer keeps its spool when nobody says: the default state directory.
//!
//! The last fallback, `<temp dir>/trackflow-state`, sits in a directory every user may write
//! to: one another user made there (or made writable to others) could read the events or
//! plant records. So under it every directory must belong to this user and be writable by no
//! one else, or it is refused with a message saying so.

use std::io;
use std::path::{Path, PathBuf};

use crate::disk::files::create_private_dir;
use crate::error::{Error, Result};

/// The environment variable that overrides the default state root (see the module docs).
pub const STATE_DIR_ENV: &str = "TRACKFLOW_STATE_DIR";

/// The default state directory of this process: `<root>/<process name>` (see the module
/// docs), or `None` when no root can be named.
///
/// # Examples
///
/// ```
/// let dir = trackflow::spool::default_state_dir().expect("a temp dir at least");
/// assert!(dir.ends_with(trackflow::spool::process_name()));
/// ```
pub fn default_state_dir() -> Option<PathBuf> {
    state_root(|k| std::env::var_os(k)).map(|root| root.join(process_name()))
}

fn state_root(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(p) = env(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = env("XDG_STATE_HOME").and_then(abs) {
        return Some(p.join("trackflow"));
    }
    if let Some(p) = env("HOME").and_then(abs) {
        return Some(p.join(".local/state/trackflow"));
    }
    Some(std::env::temp_dir().join("trackflow-state"))
}

/// The name this process goes by in the default state directory: its executable's file
/// name, without extension, made safe for a path.
///
/// # Examples
///
/// ```
/// let name = trackflow::spool::process_name();
/// assert!(!name.is_empty() && !name.contains('/'));
/// ```
pub fn process_name() -> String {
    let raw = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.trim_start_matches('.') {
        "" => "trackflow".to_owned(),
        s => s.to_owned(),
    }
}

/// The default state directory, made (private) where missing: under the shared temporary
/// directory only when it belongs to this user and no one else may write to it.
///
/// # Errors
///
/// [`Error::Config`] when no directory can be named, or the temporary fallback is another
/// user's (or writable by others); [`Error::Io`] when it cannot be made.
pub(crate) fn usable_state_dir() -> Result<PathBuf> {
    let dir = default_state_dir().ok_or_else(|| Error::Config("no state directory can be named".into()))?;
    let shared = std::env::temp_dir().join("trackflow-state");
    if dir.starts_with(&shared) {
        for d in [shared.as_path(), dir.as_path()] {
            create_private_dir(d)?;
            check_own(d)?;
        }
    }
    Ok(dir)
}

/// Refuses `dir` unless it is a directory (not a link) of this user that no one else may
/// write to.
fn check_own(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(dir)?;
        let why = if !m.file_type().is_dir() {
            Some("is not a directory (a link, or a file)".to_owned())
        } else if m.uid() != my_uid()? {
            Some(format!("belongs to another user (uid {})", m.uid()))
        } else if m.mode() & 0o022 != 0 {
            Some(format!("may be written by others (mode {:o})", m.mode() & 0o777))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::Config(format!(
                "the state directory {} {why}: refusing to keep events there; set {STATE_DIR_ENV} to a directory of your own",
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// This process's effective user id: the owner of `/proc/self` on Linux, else of a file it
/// makes for the purpose.
#[cfg(unix)]
fn my_uid() -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata("/proc/self") {
        return Ok(m.uid());
    }
    let probe = std::env::temp_dir().join(format!(".trackflow-uid-{}", std::process::id()));
    let f = crate::disk::files::create_new_private(&probe)?;
    let uid = f.metadata().map(|m| m.uid());
    let _ = std::fs::remove_file(&probe);
    uid
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn root(vars: &[(&str, &str)]) -> Option<PathBuf> {
        state_root(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v)))
    }

    #[test]
    fn the_state_root_follows_the_documented_order() {
        let all = [
            (STATE_DIR_ENV, "/srv/tf"),
            ("XDG_STATE_HOME", "/x/state"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(root(&all), Some(PathBuf::from("/srv/tf")));
        assert_eq!(root(&all[1..]), Some(PathBuf::from("/x/state/trackflow")));
        assert_eq!(
            root(&all[2..]),
            Some(PathBuf::from("/home/u/.local/state/trackflow"))
        );
        assert_eq!(root(&[]), Some(std::env::temp_dir().join("trackflow-state")));
        // Relative XDG paths are ignored, as the XDG spec says.
        assert_eq!(
            root(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")]),
            Some(PathBuf::from("/h/.local/state/trackflow"))
        );
    }
}
