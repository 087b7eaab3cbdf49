//! The probe of the SSH port (`ssh_probe`): does sshd answer with its banner,
//! without logging in. A refusal or a reset is an answer and comes at once;
//! only silence waits for `connect_timeout`.

use schemars::JsonSchema;
use serde::Serialize;
use std::time::Duration;
use usage_meter::ssh::{sshd_answers, ConnectionArgs, SshError, SshErrorKind};
use usage_meter::Failure;

/// What the SSH port did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// sshd's identification line (C(SSH-2.0-...)) came.
    Open,
    /// Refused, reset or closed before any banner, unreachable, or not SSH: an answer, at once.
    Closed,
    /// Nothing within O(connect_timeout) (a firewall dropping packets, a port that accepts and says nothing).
    Silent,
}

/// The probe's result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SshPort {
    /// C(open), C(closed) or C(silent). Only C(open) means sshd answers: a port
    /// forward or NAT that accepts the connection and then resets it is C(closed).
    #[schemars(extend("x-sample" = "open"))]
    pub state: PortState,
    /// sshd's identification line when C(open).
    #[schemars(extend("x-sample" = "SSH-2.0-OpenSSH_8.8", "x-returned" = "always (null unless open)"))]
    pub banner: Option<String>,
    /// What was seen, in words.
    #[schemars(extend("x-sample" = "sshd answers on um01.example.com (SSH-2.0-OpenSSH_8.8)"))]
    pub msg: String,
}

/// Sort a probe's result into the three states.
pub fn port_state(target: &str, r: Result<String, SshError>) -> SshPort {
    match r {
        Ok(b) => SshPort { state: PortState::Open, msg: format!("sshd answers on {target} ({b})"), banner: Some(b) },
        Err(e) => {
            let state = if e.kind == SshErrorKind::Timeout { PortState::Silent } else { PortState::Closed };
            SshPort { state, banner: None, msg: format!("{target}: {}", e.detail) }
        }
    }
}

/// Probe the SSH port of the connection's host; fails only when the name does not resolve.
pub fn probe_port(c: &ConnectionArgs) -> Result<SshPort, Failure> {
    let target = c.label();
    match sshd_answers(&c.host, c.port, Duration::from_secs(c.connect_timeout)) {
        Err(e) if e.kind == SshErrorKind::Resolve => {
            Err(e.hint("check the appliance's host name (ansible_host or host) and the controller's DNS").into_failure("probe SSH port"))
        }
        r => Ok(port_state(&target, r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: SshErrorKind) -> Result<String, SshError> {
        Err(SshError::new(kind, "um1", "seen"))
    }

    #[test]
    fn answers_sort_into_three_states() {
        let open = port_state("um1", Ok("SSH-2.0-x".into()));
        assert_eq!((open.state, open.banner.as_deref()), (PortState::Open, Some("SSH-2.0-x")));
        for k in [SshErrorKind::Refused, SshErrorKind::Dropped, SshErrorKind::Unreachable, SshErrorKind::Other] {
            assert_eq!(port_state("um1", err(k)).state, PortState::Closed, "{k:?}");
        }
        let silent = port_state("um1", err(SshErrorKind::Timeout));
        assert_eq!((silent.state, silent.banner), (PortState::Silent, None));
        assert!(silent.msg.contains("seen"), "{}", silent.msg);
    }
}
