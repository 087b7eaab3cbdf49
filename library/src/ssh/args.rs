//! The connection options every module shares: one definition, one generated
//! doc fragment (`vcloud.usage_meter.connection`).

use crate::secret::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How to treat the appliance's SSH host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostKeyChecking {
    /// Connect only when the key is already in O(known_hosts).
    Strict,
    /// Record an unknown key in O(known_hosts); refuse a changed one.
    #[default]
    AcceptNew,
    /// Do not check the key (a warning is returned). Only for labs.
    Off,
}

fn default_port() -> u16 {
    22
}
fn default_username() -> String {
    "root".into()
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_keepalive_interval() -> u64 {
    30
}

/// Options to reach the appliance over SSH.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ConnectionArgs {
    /// Address or DNS name of the Usage Meter appliance.
    #[schemars(length(min = 1), extend("x-inventory-default" = "C(ansible_host), else its inventory name"))]
    pub host: String,

    /// SSH port of the appliance.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1), extend("x-inventory-default" = "C(ansible_port) when it has one"))]
    pub port: u16,

    /// Account to log in as. The upgrade must run as C(root).
    #[serde(default = "default_username")]
    #[schemars(length(min = 1), extend("x-inventory-default" = "C(ansible_user) (or C(-u)) when it has one"))]
    pub username: String,

    /// Password of O(username). Never shown in output or logs.
    ///
    /// Either O(password) or O(private_key) is needed; with neither, the keys of
    /// a running ssh-agent (E(SSH_AUTH_SOCK)) are tried, as AWX provides them.
    #[schemars(extend("x-inventory-default" = "C(ansible_password) or C(ansible_ssh_pass) (or C(--ask-pass), a Machine credential's password)"))]
    pub password: Option<Secret>,

    /// Path on the controller of a private key authorised for O(username).
    ///
    /// Tried before O(password) when both are given.
    #[schemars(length(min = 1), extend("x-ansible-type" = "path", "x-inventory-default" = "C(ansible_ssh_private_key_file) (or C(--private-key), a Machine credential's key)"))]
    pub private_key: Option<PathBuf>,

    /// Passphrase of O(private_key), if it has one.
    pub private_key_passphrase: Option<Secret>,

    /// known_hosts file on the controller used to check the appliance's host key.
    ///
    /// Defaults to C(~/.ssh/known_hosts) of the user running Ansible.
    #[schemars(length(min = 1), extend("x-ansible-type" = "path", "x-doc-default" = "~/.ssh/known_hosts"))]
    pub known_hosts: Option<PathBuf>,

    /// Host key policy. V(accept_new) records a key seen for the first time and
    /// refuses a changed one; V(strict) needs the key recorded beforehand; V(off)
    /// skips the check and returns a warning.
    ///
    /// Not set in the task: Ansible's own setting decides when it is set
    /// (C(host_key_checking) in C(ansible.cfg), E(ANSIBLE_HOST_KEY_CHECKING),
    /// or the host's C(ansible_host_key_checking)): false is V(off), true is
    /// V(strict); left at Ansible's default, V(accept_new).
    #[serde(default)]
    pub host_key_checking: HostKeyChecking,

    /// Seconds to wait for the TCP connection and each SSH round trip before giving up.
    #[serde(default = "default_connect_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub connect_timeout: u64,

    /// Seconds between SSH keepalive messages while the module waits on a
    /// silent connection (an upgrade that prints nothing, the pause between
    /// two status checks).
    ///
    /// A NAT, firewall or port forward drops a flow that stays idle too long,
    /// often after 300 s or less; the default of 30 s keeps the flow alive
    /// well within that.
    #[serde(default = "default_keepalive_interval")]
    #[schemars(range(min = 1, max = 3600))]
    pub keepalive_interval: u64,
}

impl ConnectionArgs {
    /// The known_hosts path to use.
    pub fn known_hosts_path(&self) -> PathBuf {
        if let Some(p) = &self.known_hosts {
            return expand_tilde(p);
        }
        expand_tilde(&PathBuf::from("~/.ssh/known_hosts"))
    }

    /// `host:port` for messages.
    pub fn label(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `~/x` → `$HOME/x` (static musl binaries must not rely on NSS lookups).
pub fn expand_tilde(p: &std::path::Path) -> PathBuf {
    let Ok(rest) = p.strip_prefix("~") else { return p.to_path_buf() };
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(rest),
        None => p.to_path_buf(),
    }
}
