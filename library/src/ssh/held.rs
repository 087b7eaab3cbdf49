//! A command kept running on a channel of its own while the session goes on
//! (a lock holder on the appliance): its stdout is read line by line until the
//! caller has what it waits for, and dropping the [`Held`] closes the channel,
//! which the remote side sees as the end of its stdin.

use super::error::{SshError, SshErrorKind};
use super::session::Ssh;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

/// The channel of a command started by [`Ssh::exec_held`], open until dropped.
pub struct Held {
    channel: ssh2::Channel,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

impl Held {
    /// The last `n` lines the command wrote to stderr (reads to its end: for a
    /// command that has ended).
    pub fn stderr_tail(&mut self, n: usize) -> Vec<String> {
        let mut err = String::new();
        let _ = self.channel.stderr().read_to_string(&mut err);
        let lines: Vec<&str> = err.lines().collect();
        lines[lines.len().saturating_sub(n)..].iter().map(|s| (*s).to_string()).collect()
    }
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

impl Ssh {
    /// Start `cmd` on a channel of its own and give each line of its stdout to
    /// `on_line` until that returns `false` or the output ends; then hand back
    /// the channel, still open. `quiet` is the longest silence allowed: a
    /// longer one is a dead link (kind `Timeout`); a broken channel is `Dropped`.
    pub fn exec_held(&self, cmd: &str, quiet: Duration, mut on_line: impl FnMut(&str) -> bool) -> Result<Held, SshError> {
        let dropped = |what: String| SshError::new(SshErrorKind::Dropped, &self.target, what);
        let mut channel = self.session.channel_session().map_err(|e| dropped(format!("opening an SSH channel: {e}")))?;
        channel.exec(cmd).map_err(|e| dropped(format!("starting a command: {e}")))?;
        self.session.set_timeout(millis(quiet));
        let read = {
            let mut reader = BufReader::new(&mut channel);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => break Ok(()),
                    Ok(_) if on_line(&line) => {}
                    Ok(_) => break Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        break Err(SshError::new(
                            SshErrorKind::Timeout,
                            &self.target,
                            format!("no word from the remote command for {} s ({e})", quiet.as_secs()),
                        ))
                    }
                    Err(e) => break Err(dropped(format!("reading from the remote command: {e}"))),
                }
            }
        };
        self.session.set_timeout(millis(self.io_timeout));
        read.map(|()| Held { channel })
    }
}
