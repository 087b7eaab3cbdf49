//! Classified SSH errors: the reboot wait needs to know "not up yet" from
//! "wrong password", and every message must say what to do.

use crate::error::Failure;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshErrorKind {
    /// Name did not resolve.
    Resolve,
    /// TCP connect refused: nothing listening (sshd stopped, or still booting).
    Refused,
    /// No answer in time (down, rebooting, filtered).
    Timeout,
    /// Network or host unreachable.
    Unreachable,
    /// The connection dropped (EOF, reset) during handshake or use.
    Dropped,
    /// Host key not known (strict) or changed.
    HostKey,
    /// Credentials refused.
    Auth,
    /// The root password has expired: sshd accepts it but runs no command.
    PasswordExpired,
    /// Anything else from libssh2 or the controller.
    Other,
}

impl SshErrorKind {
    /// The kind of a socket error (connect, banner, session I/O).
    pub fn of_io(e: &std::io::Error) -> SshErrorKind {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::ConnectionRefused => SshErrorKind::Refused,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => SshErrorKind::Timeout,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe => {
                SshErrorKind::Dropped
            }
            _ if e.raw_os_error() == Some(libc::EHOSTUNREACH) || e.raw_os_error() == Some(libc::ENETUNREACH) => SshErrorKind::Unreachable,
            _ => SshErrorKind::Other,
        }
    }

    /// The appliance is there but will not let us in: waiting longer does not help.
    pub fn is_fatal(self) -> bool {
        matches!(self, SshErrorKind::Auth | SshErrorKind::HostKey | SshErrorKind::PasswordExpired)
    }
}

#[derive(Debug, Clone)]
pub struct SshError {
    pub kind: SshErrorKind,
    /// `host:port` of the appliance.
    pub target: String,
    pub detail: String,
    pub hint: String,
}

impl SshError {
    pub fn new(kind: SshErrorKind, target: &str, detail: impl Into<String>) -> Self {
        let hint = default_hint(kind, target);
        SshError { kind, target: target.to_string(), detail: detail.into(), hint }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// True for the errors a rebooting appliance gives before it is back.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, SshErrorKind::Refused | SshErrorKind::Timeout | SshErrorKind::Unreachable | SshErrorKind::Dropped)
    }

    /// As a module failure of `step`.
    pub fn into_failure(self, step: &str) -> Failure {
        Failure::new(step, format!("{}: {}", self.target, self.detail)).hint(self.hint)
    }
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.detail)
    }
}

impl std::error::Error for SshError {}

fn default_hint(kind: SshErrorKind, target: &str) -> String {
    match kind {
        SshErrorKind::Resolve => "check the appliance address (host) in the inventory".into(),
        SshErrorKind::Refused => format!(
            "sshd is not listening on {target}: start it on the appliance console as root with \
             `service sshd start`, or let the role start it through VMware Tools (vCenter variables)"
        ),
        SshErrorKind::Timeout | SshErrorKind::Unreachable => format!(
            "check that {target} is the appliance's address, that it is powered on, and that no firewall \
             blocks the port; raise connect_timeout on slow links"
        ),
        SshErrorKind::Dropped => "the appliance closed the connection; run the task again (it resumes where it can)".into(),
        SshErrorKind::HostKey => "see the message: the known_hosts file and line are named there".into(),
        SshErrorKind::Auth => "check the root password (password) or the private key (private_key) for this appliance".into(),
        SshErrorKind::PasswordExpired => "log in on the appliance console as root and set a new password \
             (Photon OS expires root passwords); then run the play again with the new password"
            .into(),
        SshErrorKind::Other => "run again with -vvv for details".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::SshErrorKind;
    use std::io::{Error, ErrorKind};

    #[test]
    fn io_errors_are_classified() {
        assert_eq!(SshErrorKind::of_io(&Error::from(ErrorKind::ConnectionRefused)), SshErrorKind::Refused);
        assert_eq!(SshErrorKind::of_io(&Error::from(ErrorKind::WouldBlock)), SshErrorKind::Timeout);
        assert_eq!(SshErrorKind::of_io(&Error::from(ErrorKind::BrokenPipe)), SshErrorKind::Dropped);
        assert_eq!(SshErrorKind::of_io(&Error::from_raw_os_error(libc::EHOSTUNREACH)), SshErrorKind::Unreachable);
        assert_eq!(SshErrorKind::of_io(&Error::other("x")), SshErrorKind::Other);
        assert!(SshErrorKind::Auth.is_fatal() && !SshErrorKind::Refused.is_fatal());
    }
}
