//! The one read loop for SSH channels: stdout and stderr read together,
//! non-blocking, waiting on the socket in between, so large output on either
//! stream cannot deadlock. `exec` (output kept in memory) and `exec_to_writer`
//! (stdout streamed to a file) differ only in where the bytes go and in what
//! bounds the wait.

use super::error::{SshError, SshErrorKind};
use super::session::Ssh;
use std::io::Read;
use std::time::{Duration, Instant};

/// What bounds a read loop.
#[derive(Debug, Clone, Copy)]
pub(super) enum Bound {
    /// The whole command must finish by then.
    Deadline(Instant),
    /// No more than this without receiving anything (a long transfer is fine).
    Stall(Duration),
}

/// Where the bytes of a channel go.
pub(super) trait Sinks {
    /// Bytes of stdout; `total` is what came before them.
    fn stdout(&mut self, data: &[u8], total: u64) -> Result<(), SshError>;
    fn stderr(&mut self, data: &[u8]);
}

impl Ssh {
    /// Read the channel until EOF into `sinks`; returns the stdout bytes read.
    /// The session must be non-blocking meanwhile (the caller sets it).
    pub(super) fn read_channel(&self, ch: &mut ssh2::Channel, sinks: &mut dyn Sinks, bound: Bound) -> Result<u64, SshError> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let mut last_data = Instant::now();
        loop {
            let mut progressed = false;
            for stream_id in [0, 1] {
                loop {
                    let r = if stream_id == 0 { ch.read(&mut buf) } else { ch.stderr().read(&mut buf) };
                    match r {
                        Ok(0) => break,
                        Ok(n) if stream_id == 0 => {
                            progressed = true;
                            sinks.stdout(&buf[..n], total)?;
                            total += n as u64;
                        }
                        Ok(n) => {
                            progressed = true;
                            sinks.stderr(&buf[..n]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            return Err(SshError::new(
                                SshErrorKind::Dropped,
                                &self.target,
                                format!("reading the output after {total} bytes: {e}"),
                            ))
                        }
                    }
                }
            }
            if ch.eof() && !progressed {
                return Ok(total);
            }
            if progressed {
                last_data = Instant::now();
                continue;
            }
            let left = self.time_left(bound, last_data, total)?;
            self.keepalive();
            self.wait_socket(left.min(self.io_timeout).min(Duration::from_millis(500)));
            if self.session_dead() {
                return Err(SshError::new(SshErrorKind::Dropped, &self.target, "the connection was closed"));
            }
        }
    }

    /// How long the loop may still wait for data, or the timeout error.
    fn time_left(&self, bound: Bound, last_data: Instant, total: u64) -> Result<Duration, SshError> {
        let now = Instant::now();
        match bound {
            Bound::Deadline(d) if now >= d => {
                Err(SshError::new(SshErrorKind::Timeout, &self.target, "the remote command did not finish in time"))
            }
            Bound::Deadline(d) => Ok(d - now),
            Bound::Stall(stall) => {
                let idle = now.duration_since(last_data);
                if idle >= stall {
                    return Err(SshError::new(
                        SshErrorKind::Timeout,
                        &self.target,
                        format!("no data for {} s after {total} bytes", stall.as_secs()),
                    ));
                }
                Ok(stall - idle)
            }
        }
    }
}

/// Both streams kept in memory (`exec`).
pub(super) struct Collect {
    pub out: Vec<u8>,
    pub err: Vec<u8>,
}

impl Sinks for Collect {
    fn stdout(&mut self, data: &[u8], _total: u64) -> Result<(), SshError> {
        self.out.extend_from_slice(data);
        Ok(())
    }
    fn stderr(&mut self, data: &[u8]) {
        self.err.extend_from_slice(data);
    }
}
