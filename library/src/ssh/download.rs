//! Streaming a remote file (or a byte range of it) to a local writer, chunk by
//! chunk, through the read loop of `pump.rs`, so a large log never sits in memory.

use super::error::{SshError, SshErrorKind};
use super::exec::exit_code;
use super::pump::{Bound, Sinks};
use super::session::{ssh2_kind, Ssh};
use crate::shell::quote;
use std::io::Write;
use std::time::Duration;

/// What a download gave back.
#[derive(Debug, Clone, Default)]
pub struct Download {
    /// Exit status of the remote command; `None` when the channel closed without one.
    pub rc: Option<i32>,
    /// Bytes written to the local writer.
    pub bytes: u64,
    /// The remote command's stderr (its last 4 KiB).
    pub stderr: String,
}

impl Download {
    pub fn ok(&self) -> bool {
        self.rc == Some(0)
    }
}

const STDERR_KEEP: usize = 4096;

/// The remote command that prints `len` bytes of `path` from byte `offset`.
pub fn range_cmd(path: &str, offset: u64, len: u64) -> String {
    let q = quote(path);
    if offset == 0 {
        format!("head -c {len} {q}")
    } else {
        format!("tail -c +{} {q} | head -c {len}", offset.saturating_add(1))
    }
}

impl Ssh {
    /// Copy `len` bytes of remote file `path`, starting at byte `offset`, into
    /// `sink`. `stall` bounds how long the transfer may go without receiving
    /// anything (not the whole transfer). Fewer bytes than `len` (the file
    /// shrank) is not an error: `bytes` says how many came.
    pub fn download(&self, path: &str, offset: u64, len: u64, sink: &mut dyn Write, stall: Duration) -> Result<Download, SshError> {
        self.exec_to_writer(&range_cmd(path, offset, len), sink, stall)
    }

    /// Run `cmd` and stream its stdout into `sink` (64 KiB reads, nothing
    /// buffered beyond one chunk); stderr is kept (its tail) for messages.
    pub fn exec_to_writer(&self, cmd: &str, sink: &mut dyn Write, stall: Duration) -> Result<Download, SshError> {
        let mut ch = self.session.channel_session().map_err(|e| ssh2_kind(&self.target, "opening an SSH channel", &e))?;
        ch.exec(cmd).map_err(|e| ssh2_kind(&self.target, "starting a remote command", &e))?;
        let mut sinks = ToWriter { sink, err: Vec::new(), target: &self.target };
        self.session.set_blocking(false);
        let result = self.read_channel(&mut ch, &mut sinks, Bound::Stall(stall));
        self.session.set_blocking(true);
        let bytes = result?;
        let err = sinks.err;
        let closed = ch.wait_close().is_ok();
        Ok(Download { rc: exit_code(&mut ch, closed), bytes, stderr: String::from_utf8_lossy(&err).into_owned() })
    }
}

/// Stdout into the local writer, the tail of stderr kept (`exec_to_writer`).
struct ToWriter<'a> {
    sink: &'a mut dyn Write,
    err: Vec<u8>,
    target: &'a str,
}

impl Sinks for ToWriter<'_> {
    fn stdout(&mut self, data: &[u8], total: u64) -> Result<(), SshError> {
        self.sink.write_all(data).map_err(|e| {
            SshError::new(SshErrorKind::Other, self.target, format!("writing the local file after {total} bytes: {e}"))
                .hint("check the free space and permissions of the destination on the controller")
        })
    }
    fn stderr(&mut self, data: &[u8]) {
        self.err.extend_from_slice(data);
        if self.err.len() > 2 * STDERR_KEEP {
            self.err.drain(..self.err.len() - STDERR_KEEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_commands_work_locally() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("it's a log");
        std::fs::write(&f, b"0123456789").unwrap();
        let run = |cmd: String| std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap().stdout;
        let p = f.to_str().unwrap();
        assert_eq!(run(range_cmd(p, 0, 10)), b"0123456789");
        assert_eq!(run(range_cmd(p, 0, 4)), b"0123");
        assert_eq!(run(range_cmd(p, 6, 4)), b"6789");
        assert_eq!(run(range_cmd(p, 6, 100)), b"6789");
    }
}
