//! Running a credential helper (`gcloud auth print-access-token`, an AWS `credential_process`)
//! with a deadline.

use std::process::Command;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Runs `program`, killing it when `cancel` fires (its deadline included); its output is
/// read on helper threads so a chatty command cannot block on a full pipe.
pub(crate) fn run_command(
    what: &str,
    program: &str,
    args: &[String],
    cancel: &Cancel,
) -> Result<std::process::Output> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Config(format!("{what}: cannot run `{program}`: {e}")))?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                // At most 1 MiB: a token is a few hundred bytes.
                let _ = r.by_ref().take(1 << 20).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if cancel.is_aborted() {
            let _ = child.kill();
            let _ = child.wait();
            let waited = cancel
                .deadline()
                .map_or(String::new(), |_| " (its deadline)".into());
            return Err(Error::Transport(
                format!("{what}: `{program}` did not finish within its time{waited}; killed").into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
