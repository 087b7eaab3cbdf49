//! vcloud.usage_meter.appliance_info: the appliance's upgrade-relevant state,
//! read-only, in one SSH round trip (one remote command printing `key=value`
//! lines, parsed by the pure functions below), and the version through the
//! appliance API when its options are given (also with SSH closed: `ssh: false`).

mod expiry;
mod probe;
mod staged;

pub use expiry::{civil_from_days, days_from_civil, parse_chage_date, password_expiry, Expiry};
pub use probe::{probe_port, PortState, SshPort};
pub use staged::Staged;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use usage_meter::api::{ApiArgs, ApiRead, RetryArgs, Version};
use usage_meter::shell::quote;
use usage_meter::ssh::{ConnectionArgs, Ssh, SshErrorKind};
use usage_meter::upgrade_state::{self, UpgradeRecord};
use usage_meter::{appliance, Context, Failure, Module, ModuleDoc, Outcome, Support};

fn default_install_dir() -> String {
    appliance::INSTALL_DIR.into()
}
fn default_old_install_dir() -> String {
    appliance::OLD_INSTALL_DIR.into()
}
fn default_state_dir() -> String {
    upgrade_state::DEFAULT_STATE_DIR.into()
}
fn default_service() -> String {
    "sshd".into()
}
fn default_true() -> bool {
    true
}

/// Options of vcloud.usage_meter.appliance_info.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// The appliance API, used only to read the Usage Meter version when
    /// O(api_password) is given (no on-disk version file is known for 4.1-4.3).
    #[serde(flatten)]
    pub api: ApiArgs,
    /// Whether to read the appliance over SSH. V(false) reads only the
    /// version through the appliance API (O(api_password) is then required),
    /// for an appliance whose SSH is closed; RV(appliance) is then null.
    #[serde(default = "default_true")]
    pub ssh: bool,
    /// Also probe the SSH port, without logging in (RV(ssh_port)): it answers at
    /// once when the port is refused or reset, and waits up to O(connect_timeout)
    /// only when nothing answers. With O(ssh=false) and no O(api_password), only that.
    #[serde(default)]
    pub ssh_probe: bool,
    #[serde(flatten)]
    pub retry: RetryArgs,
    /// The Usage Meter installation directory.
    #[serde(default = "default_install_dir")]
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub install_dir: String,
    /// Where the 4.3 upgrade keeps the previous installation after its reboot.
    #[serde(default = "default_old_install_dir")]
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub old_install_dir: String,
    /// Directory on the appliance where M(vcloud.usage_meter.upgrade) records its runs.
    #[serde(default = "default_state_dir")]
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub state_dir: String,
    /// Name of the SSH service unit. [guess] C(sshd) on Photon OS.
    #[serde(default = "default_service")]
    #[schemars(length(min = 1))]
    pub sshd_service: String,
}

/// What the appliance reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Appliance {
    /// The Usage Meter version from the appliance API (C(GET /agent_info)), as
    /// C(major.minor.patch.hotfix build N); only when O(api_password) is given
    /// and the API answered (otherwise a warning says why).
    #[schemars(extend("x-sample" = "4.2.0.0 build 18320944", "x-returned" = "when api_password is given and the API answered"))]
    pub version: Option<String>,
    /// The same version as numbers (C(major), C(minor), C(patch), C(hotfix), C(build)).
    #[schemars(extend("x-returned" = "when api_password is given and the API answered"))]
    pub version_info: Option<Version>,
    /// The kernel's boot id; it changes at every boot.
    #[schemars(extend("x-sample" = "2b1f0e4a-5c1e-4f55-9a59-1b1c2e1a9d10"))]
    pub boot_id: String,
    /// The appliance's host name.
    #[schemars(extend("x-sample" = "um01"))]
    pub hostname: String,
    /// Whether sshd is running.
    pub sshd_active: bool,
    /// Whether sshd starts at boot; null when it could not be read.
    #[schemars(extend("x-returned" = "always"))]
    pub sshd_enabled: Option<bool>,
    /// Free bytes on the filesystem that holds C(/opt/vmware); null when C(df) gave nothing readable.
    #[schemars(extend("x-sample" = 5738097664_u64, "x-returned" = "always"))]
    pub opt_free_bytes: Option<u64>,
    /// Whether O(install_dir) exists.
    pub install_present: bool,
    /// Whether O(install_dir) is a symbolic link (unknown whether 4.3 makes it one [guess]).
    pub install_is_symlink: bool,
    /// Whether O(old_install_dir) exists: the 4.3 upgrade has been completed by its reboot.
    pub old_install_present: bool,
    /// Upgrade logs (C(var/logs/inplaceupgradeum-*) under O(install_dir) and O(old_install_dir)), newest first.
    pub upgrade_logs: Vec<String>,
    /// When the root password expires, from C(chage -l root): C(never), a date
    /// (C(YYYY-MM-DD)), C(password must be changed), or chage's own wording;
    /// null when chage is not available.
    #[schemars(extend("x-sample" = "2027-02-23", "x-returned" = "always"))]
    pub root_password_expiry: Option<String>,
    /// Whether the root password has expired (an expired root password breaks
    /// non-interactive SSH); null when it cannot be computed.
    #[schemars(extend("x-returned" = "always"))]
    pub root_password_expired: Option<bool>,
    /// Days until the root password expires (negative: expired that many days
    /// ago); null when it never expires or cannot be computed.
    #[schemars(extend("x-returned" = "always"))]
    pub root_password_expires_in_days: Option<i64>,
    /// Whether a finished run of M(vcloud.usage_meter.upgrade) is recorded on the appliance.
    pub upgrade_recorded: bool,
    /// Exit code of the recorded upgrade run; null when none is recorded.
    #[schemars(extend("x-returned" = "always"))]
    pub upgrade_rc: Option<i32>,
    /// Whether a successful upgrade run finished in the current boot, so the reboot that completes it is still due.
    pub upgrade_awaits_reboot: bool,
    /// Whether an upgrade run is in progress now.
    pub upgrade_in_progress: bool,
    /// The bundles staged on the appliance: the records M(vcloud.usage_meter.shar_copy)
    /// left with O(vcloud.usage_meter.shar_copy#module:record=true) under O(state_dir),
    /// by dest. Read as recorded, not hashed: M(vcloud.usage_meter.shar_copy) with
    /// O(vcloud.usage_meter.shar_copy#module:staged=verify) checks a bundle is unchanged.
    pub staged: Vec<Staged>,
}

/// Result of vcloud.usage_meter.appliance_info.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The appliance's state, read over SSH; null when O(ssh) is false.
    /// (The version read through the appliance API is added here as well.)
    #[schemars(extend("x-returned" = "always (null when ssh is false)"))]
    pub appliance: Option<Appliance>,
    /// The version read through the appliance API (login, C(GET /agent_info),
    /// logout); null when O(api_password) is not given.
    #[schemars(extend("x-returned" = "always (null without api_password)"))]
    pub api: Option<ApiRead>,
    /// What the probe of the SSH port found; null unless O(ssh_probe) is true.
    #[schemars(extend("x-returned" = "always (null without ssh_probe)"))]
    pub ssh_port: Option<SshPort>,
}

/// The one remote command: every read, each answer on its own `key=value` line.
pub fn gather_cmd(p: &Params) -> String {
    let svc = quote(&p.sshd_service);
    let inst = quote(&p.install_dir);
    let old = quote(&p.old_install_dir);
    let rec = quote(&upgrade_state::path_in(&p.state_dir, upgrade_state::RECORD_FILE));
    let glob = "var/logs/inplaceupgradeum-*";
    let running = upgrade_state::in_progress_test(&p.state_dir);
    [
        "echo \"boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)\"".to_string(),
        "echo \"hostname=$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null)\"".to_string(),
        format!(
            "if command -v systemctl >/dev/null 2>&1; then a=$(systemctl is-active {svc} 2>/dev/null); e=$(systemctl is-enabled {svc} 2>/dev/null); \
             else if service {svc} status >/dev/null 2>&1; then a=active; else a=inactive; fi; \
             if ls /etc/rc*.d/S*{svc} >/dev/null 2>&1; then e=enabled; else e=disabled; fi; fi; \
             echo \"sshd_active=${{a:-unknown}}\"; echo \"sshd_enabled=${{e:-unknown}}\""
        ),
        "echo \"df=$(df -Pk /opt/vmware 2>/dev/null | tail -n +2 | tr -s '\\n\\t' '  ')\"".to_string(),
        format!("if [ -e {inst} ]; then echo install=1; else echo install=0; fi"),
        format!("if [ -L {inst} ]; then echo install_link=1; else echo install_link=0; fi"),
        format!("if [ -e {old} ]; then echo old=1; else echo old=0; fi"),
        format!("ls -1td -- {inst}/{glob} {old}/{glob} 2>/dev/null | while IFS= read -r f; do echo \"log=$f\"; done"),
        "echo \"now=$(date +%s)\"".to_string(),
        "if command -v chage >/dev/null 2>&1; then LC_ALL=C chage -l root 2>/dev/null | sed 's/^/chage=/'; fi".to_string(),
        format!("if [ -f {rec} ]; then sed 's/^/record./' {rec}; echo; fi"),
        format!("if {running}; then echo upgrade_running=1; else echo upgrade_running=0; fi"),
        staged::gather_part(&p.state_dir),
        "echo end=1".to_string(),
    ]
    .join("; ")
}

/// Parsed gather output; `None` unless the command ran to its end.
pub fn parse_gather(out: &str) -> Option<Appliance> {
    let mut a = Appliance::default();
    let mut chage: Vec<(String, String)> = Vec::new();
    let mut record = String::new();
    let mut now: Option<i64> = None;
    let mut complete = false;
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        if let Some(rk) = k.strip_prefix("record.") {
            record.push_str(rk);
            record.push('=');
            record.push_str(v);
            record.push('\n');
            continue;
        }
        match k {
            "boot_id" => a.boot_id = v.trim().to_string(),
            "hostname" => a.hostname = v.trim().to_string(),
            "sshd_active" => a.sshd_active = v.trim() == "active",
            "sshd_enabled" => a.sshd_enabled = usage_meter::service::enabled_at_boot(v.trim()),
            "df" => a.opt_free_bytes = usage_meter::ssh::df_data_free(v),
            "install" => a.install_present = v.trim() == "1",
            "install_link" => a.install_is_symlink = v.trim() == "1",
            "old" => a.old_install_present = v.trim() == "1",
            "log" if !v.trim().is_empty() => a.upgrade_logs.push(v.to_string()),
            "now" => now = v.trim().parse().ok(),
            "chage" => {
                if let Some((label, value)) = v.split_once(':') {
                    chage.push((label.trim().to_string(), value.trim().to_string()));
                }
            }
            "upgrade_running" => a.upgrade_in_progress = v.trim() == "1",
            "end" => complete = true,
            _ => {}
        }
    }
    if !complete {
        return None;
    }
    if let Some((_, expires)) = chage.iter().find(|(l, _)| l.eq_ignore_ascii_case("Password expires")) {
        let exp = password_expiry(expires, now.map(|n| n.div_euclid(86400)));
        a.root_password_expiry = Some(exp.shown);
        a.root_password_expired = exp.expired;
        a.root_password_expires_in_days = exp.days_left;
    }
    if let Some(rec) = UpgradeRecord::parse(&record) {
        a.upgrade_recorded = true;
        a.upgrade_rc = Some(rec.rc);
        a.upgrade_awaits_reboot = rec.awaits_reboot(&a.boot_id);
    }
    a.staged = staged::parse(out);
    Some(a)
}

#[derive(Debug)]
pub struct ApplianceInfo;

impl Module for ApplianceInfo {
    const NAME: &'static str = "appliance_info";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Read the upgrade-relevant state of a Usage Meter appliance",
            description: &[
                "Reads, over SSH and in one remote command, what the in-place upgrade to 4.3 depends on: the boot id, whether sshd runs and starts at boot, free space on the filesystem of C(/opt/vmware), whether the previous installation was kept (C(cloudusagemetering-old), present after the 4.3 reboot), the upgrade logs, the root password's expiry (C(chage -l root)), and what M(vcloud.usage_meter.upgrade) recorded (an upgrade run, whether it awaits the reboot), and the bundles staged by M(vcloud.usage_meter.shar_copy).",
                "With O(api_password), also reads the Usage Meter version through the appliance API (login, C(GET /agent_info), logout), of either generation: 4.x (port 8443, a session id) or 9.x (port 443, a bearer token), told from the login answer (O(api_generation)); RV(api.generation) and RV(api.port) say which. With O(ssh=false) only that, for an appliance whose SSH is closed. O(api_retries) waits out an API that does not listen yet after a boot. An API problem is a warning and RV(api.error), never a failure.",
                "Read-only: runs in check mode too and never reports a change.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "Unless O(ssh=false), sshd must be running: start it on the appliance console as root with C(service sshd start), or through VMware Tools as the upgrade role does when vCenter variables are set.",
            ],
            examples: r#"
- name: Read the appliance's state
  vcloud.usage_meter.appliance_info:
  register: um_info

- name: Stop unless there is room for the bundle
  ansible.builtin.assert:
    that: um_info.appliance.opt_free_bytes > 2 * 1024 * 1024 * 1024
    fail_msg: /opt/vmware needs at least 2 GiB free

- name: Read only the version, through the API (SSH may be closed)
  vcloud.usage_meter.appliance_info:
    ssh: false
    api_password: "{{ usage_meter_api_password }}"
    ca_path: files/um01-ca.pem
    api_retries: 10          # the API may not listen yet right after a boot
  register: um_api

- name: Show it
  ansible.builtin.debug:
    msg: "{{ um_api.api.version or um_api.api.error }}"
"#,
            check_mode: Support::Full,
            diff_mode: Support::None,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        if !p.ssh && !p.ssh_probe && p.api.api_password.is_none() {
            return Err(Failure::new("options", "ssh is false and api_password is not given: there is nothing to read")
                .hint("give api_password (the appliance's usagemeter account) to read the version through the API, set ssh_probe: true, or set ssh: true"));
        }
        let ssh_port = if p.ssh_probe { Some(probe_port(&p.connection)?) } else { None };
        let mut appliance = if p.ssh { Some(read_over_ssh(ctx, &p)?) } else { None };
        let api = p.api.api_password.is_some().then(|| usage_meter::api::read_version(&p.connection.host, &p.api, &p.retry, ctx));
        if let Some(read) = &api {
            // Read-only and the version is optional: an API problem is a warning.
            if let Some(e) = &read.error {
                ctx.warn(format!("the Usage Meter version could not be read from the appliance API: {e}"));
            }
            if let (Some(a), Some(v)) = (appliance.as_mut(), &read.version_info) {
                a.version = Some(v.to_string());
                a.version_info = Some(v.clone());
            }
        }
        if appliance.as_ref().is_some_and(|a| a.root_password_expired == Some(true)) {
            ctx.warn("the root password of the appliance has expired: set a new one on the console before SSH stops accepting it");
        }
        let msg = ssh_port.as_ref().map(|s| s.msg.clone());
        let outcome = Outcome::new(false, Output { appliance, api, ssh_port });
        Ok(match msg {
            Some(m) => outcome.msg(m),
            None => outcome,
        })
    }
}

/// The one SSH round trip: connect, run [`gather_cmd`], parse it.
fn read_over_ssh(ctx: &mut Context, p: &Params) -> Result<Appliance, Failure> {
    let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| match e.kind {
        SshErrorKind::Refused => e
            .hint(
                "sshd is not running on the appliance, and this module reads over SSH: start it on the appliance console as root \
                 with `service sshd start`, or through VMware Tools (the upgrade role does this when vCenter variables are set), \
                 then run again; or read only the version through the API with ssh: false and api_password",
            )
            .into_failure("connect"),
        _ => e.into_failure("connect"),
    })?;
    let timeout = Duration::from_secs(p.connection.connect_timeout.max(30));
    let out = ssh.exec(&gather_cmd(p), timeout).map_err(|e| e.into_failure("read state"))?;
    parse_gather(&out.stdout).ok_or_else(|| {
        Failure::new(
            "read state",
            format!(
                "the state command did not complete (rc={}): {}",
                out.rc.map_or("none".into(), |r| r.to_string()),
                out.tail(5).join(" | ")
            ),
        )
        .hint("run with -vvv; check that the login shell of the user is a POSIX shell")
    })
}

#[cfg(test)]
mod tests;
