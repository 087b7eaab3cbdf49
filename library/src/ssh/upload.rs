//! Streaming a local file into a remote command's stdin (e.g. `cat >> part`),
//! in large writes: libssh2 is 3-4x slower with small writes (see
//! docs/DEVELOPING.md, "SSH transport"). Appending through a command makes resuming a partial
//! copy the same code path as a fresh one.

use super::error::{SshError, SshErrorKind};
use super::exec::{exit_code, ExecOutput};
use super::session::{ssh2_kind, Ssh};
use std::io::{Read, Write};
use std::time::Duration;

/// Bytes sent so far, reported after every chunk.
pub type UploadProgress<'a> = &'a mut dyn FnMut(u64, &[u8]);

const CHUNK: usize = 4 * 1024 * 1024;

impl Ssh {
    /// Send everything from `src` to the stdin of remote `cmd`; `on_chunk` sees
    /// each chunk (for hashing while sending). Returns the command's output.
    pub fn exec_with_stdin(
        &self,
        cmd: &str,
        src: &mut dyn Read,
        on_chunk: UploadProgress<'_>,
        finish_timeout: Duration,
    ) -> Result<(ExecOutput, u64), SshError> {
        let mut ch = self.session.channel_session().map_err(|e| ssh2_kind(&self.target, "opening an SSH channel", &e))?;
        ch.exec(cmd).map_err(|e| ssh2_kind(&self.target, "starting the receiving command", &e))?;
        let mut buf = vec![0u8; CHUNK];
        let mut sent: u64 = 0;
        loop {
            let n = read_full(src, &mut buf)
                .map_err(|e| SshError::new(SshErrorKind::Other, &self.target, format!("reading the local file: {e}")))?;
            if n == 0 {
                break;
            }
            if let Err(e) = ch.write_all(&buf[..n]) {
                // The receiving command may have ended on purpose before taking
                // everything (it refuses the copy and says why): then its answer
                // is the result, not a dropped link. A real drop gives no answer.
                if let Some(out) = self.collect(&mut ch, ENDED_EARLY_WAIT) {
                    return Ok((out, sent));
                }
                return Err(SshError::new(SshErrorKind::Dropped, &self.target, format!("sending data failed after {sent} bytes: {e}")));
            }
            sent += n as u64;
            on_chunk(sent, &buf[..n]);
        }
        ch.send_eof().map_err(|e| ssh2_kind(&self.target, "closing the upload stream", &e))?;
        let (out, err, closed) = self.read_rest(&mut ch, finish_timeout);
        // Any failure here (a drop, the finish timeout) leaves no exit status
        // to trust: the callers treat `rc: None` as "look again".
        let rc = exit_code(&mut ch, closed);
        Ok((ExecOutput { rc, stdout: lossy(&out), stderr: lossy(&err) }, sent))
    }

    /// The output and exit status of a command that closed its channel while
    /// we were still sending; None when it said nothing or did not close.
    fn collect(&self, ch: &mut ssh2::Channel, wait: Duration) -> Option<ExecOutput> {
        let (out, err, closed) = self.read_rest(ch, wait);
        let rc = exit_code(ch, closed);
        (closed && !out.is_empty()).then(|| ExecOutput { rc, stdout: lossy(&out), stderr: lossy(&err) })
    }

    /// Read stdout and stderr to the end and wait for the close, within `wait`.
    fn read_rest(&self, ch: &mut ssh2::Channel, wait: Duration) -> (Vec<u8>, Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        self.session.set_timeout(millis(wait));
        let read_out = ch.read_to_end(&mut out).is_ok();
        let read_err = ch.stderr().read_to_end(&mut err).is_ok();
        let closed = read_out && read_err && ch.wait_close().is_ok();
        self.session.set_timeout(millis(self.io_timeout));
        (out, err, closed)
    }
}

/// How long a receiver that stopped taking data gets to deliver its answer.
const ENDED_EARLY_WAIT: Duration = Duration::from_secs(5);

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
