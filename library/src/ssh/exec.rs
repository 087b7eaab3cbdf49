//! Running a command and collecting its output (read by `pump.rs`).

use super::error::{SshError, SshErrorKind};
use super::pump::{Bound, Collect};
use super::session::{ssh2_kind, Ssh};
use crate::shell::quote;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// What a remote command gave back.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit status; `None` when the channel closed without one (e.g. killed by a reboot).
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.rc == Some(0)
    }
    /// Last `n` lines of stdout then stderr, for failure reports.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let lines: Vec<&str> = self.stdout.lines().chain(self.stderr.lines()).collect();
        lines[lines.len().saturating_sub(n)..].iter().map(|s| (*s).to_string()).collect()
    }
}

/// sshd with an expired password (UsePAM no) authenticates, then prints this
/// and runs nothing; with PAM the wording is similar.
const EXPIRED_MARKERS: &[&str] =
    &["Password change required but no TTY available", "You are required to change your password immediately", "Your password has expired"];

/// The command's exit status, or `None` when there is none to trust.
/// libssh2 reports 0 when no exit-status message came (the connection went
/// away, or the command was killed by a signal), so a 0 only counts when the
/// channel closed cleanly and no signal was reported.
pub(super) fn exit_code(ch: &mut ssh2::Channel, closed_cleanly: bool) -> Option<i32> {
    let killed = ch.exit_signal().ok().and_then(|s| s.exit_signal).is_some();
    if !closed_cleanly || killed {
        return None;
    }
    ch.exit_status().ok()
}

impl Ssh {
    /// Run `cmd` (through the login shell) and collect its output; `timeout`
    /// bounds the whole command.
    pub fn exec(&self, cmd: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        let mut ch = self.session.channel_session().map_err(|e| ssh2_kind(&self.target, "opening an SSH channel", &e))?;
        ch.exec(cmd).map_err(|e| ssh2_kind(&self.target, "starting a remote command", &e))?;
        let mut sinks = Collect { out: Vec::new(), err: Vec::new() };
        self.session.set_blocking(false);
        let result = self.read_channel(&mut ch, &mut sinks, Bound::Deadline(Instant::now() + timeout));
        self.session.set_blocking(true);
        result?;
        let Collect { out, err } = sinks;
        let closed = ch.wait_close().is_ok();
        let output = ExecOutput {
            rc: exit_code(&mut ch, closed),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        };
        if output.rc != Some(0) && EXPIRED_MARKERS.iter().any(|m| output.stderr.contains(m) || output.stdout.contains(m)) {
            return Err(SshError::new(
                SshErrorKind::PasswordExpired,
                &self.target,
                "the root password has expired: sshd accepted the login but refuses to run commands until it is changed",
            ));
        }
        Ok(output)
    }

    /// Run `cmd` and fail unless it exits 0.
    pub fn exec_ok(&self, cmd: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        let out = self.exec(cmd, timeout)?;
        if out.ok() {
            return Ok(out);
        }
        let tail = out.tail(5).join(" | ");
        Err(SshError::new(
            SshErrorKind::Other,
            &self.target,
            format!("remote command failed (rc={}): {cmd}: {tail}", out.rc.map_or("none".into(), |r| r.to_string())),
        ))
    }

    /// Block until the socket is readable (or writable when libssh2 wants to write).
    pub(super) fn wait_socket(&self, timeout: Duration) {
        let dirs = self.session.block_directions();
        let mut events = 0;
        if matches!(dirs, ssh2::BlockDirections::Inbound | ssh2::BlockDirections::Both | ssh2::BlockDirections::None) {
            events |= libc::POLLIN;
        }
        if matches!(dirs, ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both) {
            events |= libc::POLLOUT;
        }
        let mut fds = libc::pollfd { fd: self.stream.as_raw_fd(), events, revents: 0 };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd on a socket we own, for the duration of the call.
        #[allow(unsafe_code)]
        unsafe {
            libc::poll(&mut fds, 1, ms);
        }
    }

    pub(super) fn session_dead(&self) -> bool {
        let mut fds = libc::pollfd { fd: self.stream.as_raw_fd(), events: 0, revents: 0 };
        // SAFETY: as above; a zero timeout only reports hang-up/error state.
        #[allow(unsafe_code)]
        let n = unsafe { libc::poll(&mut fds, 1, 0) };
        n > 0 && (fds.revents & (libc::POLLHUP | libc::POLLERR)) != 0
    }

    /// Free bytes on the filesystem holding `dir` (`df -P`, 1024-byte blocks).
    pub fn free_bytes(&self, dir: &str) -> Result<u64, SshError> {
        let out = self.exec_ok(&format!("df -Pk {}", quote(dir)), self.io_timeout)?;
        parse_df_free(&out.stdout)
            .ok_or_else(|| SshError::new(SshErrorKind::Other, &self.target, format!("unexpected df output: {}", out.stdout.trim())))
    }

    /// The kernel's boot id (changes on every boot).
    pub fn boot_id(&self) -> Result<String, SshError> {
        let out = self.exec_ok("cat /proc/sys/kernel/random/boot_id", self.io_timeout)?;
        Ok(out.stdout.trim().to_string())
    }
}

/// The "Available" column (KiB) of `df -Pk` → bytes.
pub fn parse_df_free(out: &str) -> Option<u64> {
    df_data_free(&out.lines().skip(1).collect::<Vec<_>>().join(" "))
}

/// The same from `df -Pk`'s data line(s) without the header (a long device
/// name wraps the line), joined.
pub fn df_data_free(data: &str) -> Option<u64> {
    let fields: Vec<&str> = data.split_whitespace().collect();
    // Filesystem 1024-blocks Used Available Capacity Mounted-on
    fields.get(3).and_then(|s| s.parse::<u64>().ok()).map(|k| k.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_parsing() {
        let out =
            "Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/sda4        9510192 3402860   5603612      38% /opt\n";
        assert_eq!(parse_df_free(out), Some(5603612 * 1024));
        // long device names wrap onto a second line in some df versions
        let wrapped = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/mapper/very-long-name\n 100 50 40 50% /opt\n";
        assert_eq!(parse_df_free(wrapped), Some(40 * 1024));
        assert_eq!(parse_df_free("garbage"), None);
    }

    #[test]
    fn tail_takes_last_lines() {
        let o = ExecOutput { rc: Some(1), stdout: "a\nb\nc\n".into(), stderr: "e\n".into() };
        assert_eq!(o.tail(2), vec!["c", "e"]);
    }
}
