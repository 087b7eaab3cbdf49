//! vcloud.usage_meter.sshd: the appliance's SSH service, started/stopped and
//! enabled/disabled at boot, over the very connection that sshd serves.

mod original;

pub use original::Original;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::ssh::{banner, sshd_answers, ConnectionArgs, Ssh, SshError, SshErrorKind};
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// sshd is running.
    Started,
    /// sshd is not running (the listener is gone).
    Stopped,
}

fn default_service() -> String {
    "sshd".into()
}
fn default_stop_wait() -> u64 {
    30
}

/// Options of vcloud.usage_meter.sshd.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Whether sshd should be running. Omit to leave it as it is.
    pub state: Option<State>,
    /// Whether sshd should start at boot. Omit to leave it as it is.
    ///
    /// The 4.3 procedure never enables sshd; enable it only for the reboot
    /// window of an upgrade and disable it again afterwards.
    pub enabled: Option<bool>,
    /// Name of the service unit. [guess] C(sshd) on Photon OS.
    #[serde(default = "default_service")]
    #[schemars(length(min = 1))]
    pub service: String,
    /// Seconds to wait, after a stop, for sshd to stop answering (no SSH banner
    /// on the port: refused, reset, closed, or silent).
    #[serde(default = "default_stop_wait")]
    #[schemars(range(min = 1, max = 600))]
    pub stop_wait: u64,
    /// File on the appliance that keeps sshd's state from before the first
    /// change, so that a play run again after an interrupted one (a killed
    /// controller) still knows how sshd was before any play touched it.
    ///
    /// When the file exists, its record is returned as RV(original) and is
    /// never overwritten. When it does not, and this task changes sshd, the
    /// state before the change (or O(original_active)/O(original_enabled)) is
    /// written to it first. With O(forget_original=true), it is removed instead.
    ///
    /// The upgrade role uses C(/var/lib/vcloud-usage-meter/sshd.original).
    #[schemars(length(min = 1))]
    pub original_file: Option<String>,
    /// What to record as sshd's original running state instead of the state
    /// found, for when sshd was started by other means first (VMware Tools,
    /// the console). Needs O(original_file).
    pub original_active: Option<bool>,
    /// What to record as sshd's original start-at-boot setting instead of the
    /// setting found. Needs O(original_file).
    pub original_enabled: Option<bool>,
    /// This task ends the record: O(original_file) is never written, and is
    /// removed once sshd is in the wanted state (before a stop, which ends the
    /// session). Needs O(original_file).
    #[serde(default)]
    pub forget_original: bool,
}

/// Result of vcloud.usage_meter.sshd.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Whether sshd runs after the task.
    #[schemars(extend("x-sample" = false))]
    pub active: bool,
    /// Whether sshd starts at boot after the task; null when it could not be
    /// read because sshd was already stopped and unreachable.
    #[schemars(extend("x-returned" = "always"))]
    pub enabled: Option<bool>,
    /// Service manager used on the appliance, C(systemctl) or C(service).
    #[schemars(extend("x-returned" = "when sshd was reachable"))]
    pub manager: Option<String>,
    /// sshd's state before the first change: the record found in
    /// O(original_file), else what this task recorded (or found).
    #[schemars(extend("x-returned" = "when original_file is set and sshd was reachable"))]
    pub original: Option<Original>,
    /// Where RV(original) comes from: C(record) (left by an earlier run that
    /// did not finish, or by an earlier task of this play), C(recorded) (written
    /// by this task; in check mode: would be), or C(found) (nothing changed, so
    /// nothing was recorded).
    #[schemars(extend("x-returned" = "when original_file is set and sshd was reachable"))]
    pub original_source: Option<String>,
}

/// What the appliance reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub active: bool,
    pub enabled: Option<bool>,
    pub systemctl: bool,
}

/// The changes to make, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub enable: Option<bool>,
    pub start: bool,
    pub stop: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.enable.is_none() && !self.start && !self.stop
    }
}

/// Compare wanted and observed state.
pub fn plan(obs: &Observed, state: Option<State>, enabled: Option<bool>) -> Plan {
    Plan {
        enable: enabled.filter(|want| obs.enabled != Some(*want)),
        start: state == Some(State::Started) && !obs.active,
        stop: state == Some(State::Stopped) && obs.active,
    }
}

/// The service's state in the gather command's reply (`remote/gather.sh`).
pub fn parse_observed(stdout: &str) -> Option<Observed> {
    let r = Reply::parse(stdout);
    let mgr = r.get("mgr")?.trim();
    Some(Observed {
        systemctl: mgr == "systemctl",
        active: r.get("active").map(str::trim) == Some("active"),
        enabled: r.get("enabled").and_then(|e| usage_meter::service::enabled_at_boot(e.trim())),
    })
}

/// The gather command: the service's state, and the record in `record` if any.
pub fn gather_cmd(svc: &str, record: Option<&str>) -> String {
    Script::new(&[GATHER_SH]).env("UM_SVC", svc).env("UM_RECORD", record.unwrap_or_default()).command()
}

/// The stop, detached so that it completes even though it ends the session that
/// issued it.
pub fn stop_cmd(systemctl: bool, svc: &str) -> String {
    Script::new(&[STOP_SH]).env("UM_SVC", svc).env("UM_SYSTEMCTL", if systemctl { "1" } else { "0" }).command()
}

fn describe(active: bool, enabled: Option<bool>) -> String {
    let en = enabled.map_or("unknown", |e| if e { "yes" } else { "no" });
    format!("active: {}\nenabled: {en}\n", if active { "yes" } else { "no" })
}

/// How long one "does sshd answer" probe waits for the SSH banner.
const GATHER_SH: &str = include_str!("remote/gather.sh");
const STOP_SH: &str = include_str!("remote/stop.sh");
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `None` when sshd no longer answers on the SSH port (refused, reset or
/// closed before the banner, no banner in time: see
/// `usage_meter::ssh::banner`); else what was seen (the banner, or why it
/// cannot tell).
fn still_answering(conn: &ConnectionArgs) -> Option<String> {
    match sshd_answers(&conn.host, conn.port, PROBE_TIMEOUT) {
        Ok(b) => Some(format!("it still answers with the SSH banner {b:?}")),
        Err(e) if banner::is_not_answering(e.kind) => None,
        Err(e) => Some(format!("cannot tell: {}", e.detail)),
    }
}

/// A first connection's error that proves the appliance is up and sshd is not
/// there: refused, or dropped before or during the handshake (a port forward or
/// NAT accepts and resets), confirmed by a banner probe. A timeout or an
/// unreachable host proves nothing: the whole appliance may be down.
fn up_without_sshd(conn: &ConnectionArgs, e: &SshError) -> bool {
    matches!(e.kind, SshErrorKind::Refused | SshErrorKind::Dropped) && still_answering(conn).is_none()
}

#[derive(Debug)]
pub struct Sshd;

impl Module for Sshd {
    const NAME: &'static str = "sshd";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Start, stop, enable or disable sshd on a Usage Meter appliance",
            description: &[
                "Manages the SSH service of a vCloud Usage Meter appliance, the first and last step of the in-place upgrade.",
                "Uses C(systemctl) and falls back to C(service).",
                "Stopping sshd over the connection it serves is supported: the stop is issued detached, the session ends, and the module confirms that sshd no longer answers.",
                "\"sshd answers\" means a TCP connection gives an SSH identification line (C(SSH-2.0-...)) within 2 s; refused, reset, closed before the banner, or no banner in time all mean it does not. So the module works the same through a port forward, a DNAT rule or a user-mode NAT (which accept every connection) and behind a firewall that drops packets.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "When sshd cannot be reached at all, O(state=started) fails: start sshd on the appliance console (C(service sshd start)) or through VMware Tools first.",
                "When sshd is already stopped (the appliance refuses or resets SSH connections and gives no banner), O(state=stopped) succeeds unchanged and O(enabled) cannot be read; a warning says so. An appliance that does not answer at all (a timeout) is a failure: it may be down.",
            ],
            examples: r#"
- name: Open SSH for the upgrade window and keep it across the reboot
  vcloud.usage_meter.sshd:
    state: started
    enabled: true

- name: Close SSH again, as the appliance ships
  vcloud.usage_meter.sshd:
    state: stopped
    enabled: false
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let svc = p.service.as_str();
        if p.original_file.is_none() && (p.original_active.is_some() || p.original_enabled.is_some() || p.forget_original) {
            return Err(Failure::new("check options", "original_active, original_enabled and forget_original need original_file")
                .hint("set original_file to the record's path on the appliance, or drop those options"));
        }
        let ssh = match Ssh::connect(&p.connection, ctx) {
            Ok(s) => s,
            Err(e) if p.state == Some(State::Stopped) && up_without_sshd(&p.connection, &e) => {
                if p.enabled.is_some() {
                    ctx.warn("sshd is stopped and unreachable, so whether it starts at boot could not be read or changed");
                }
                if let (Some(f), true) = (&p.original_file, p.forget_original) {
                    ctx.warn(format!("sshd is stopped and unreachable, so its record {f} stays; the next run uses it as the state to put back"));
                }
                return Ok(Outcome::new(false, Output { active: false, enabled: None, manager: None, original: None, original_source: None })
                    .msg(format!("sshd is already stopped (it does not answer on the SSH port: {})", e.detail)));
            }
            Err(e) if matches!(e.kind, SshErrorKind::Timeout | SshErrorKind::Unreachable) => {
                return Err(e
                    .hint("the appliance does not answer at all (down, still booting, or a firewall drops the SSH port), so sshd's state cannot be read: check the VM in vCenter and its console, then run again")
                    .into_failure("connect"))
            }
            Err(e) if e.kind == SshErrorKind::Refused || banner::is_not_answering(e.kind) => {
                return Err(e
                    .hint("sshd does not answer (refused, reset or no SSH banner in time): it must first be started on the appliance console as root (`service sshd start`) or through VMware Tools (the upgrade role does this when vCenter variables are set)")
                    .into_failure("connect"))
            }
            Err(e) => return Err(e.into_failure("connect")),
        };
        let timeout = Duration::from_secs(p.connection.connect_timeout.max(10));
        let gather = gather_cmd(svc, p.original_file.as_deref());
        let gathered = ssh.exec(&gather, timeout).map_err(|e| e.into_failure("read sshd state"))?;
        let obs = parse_observed(&gathered.stdout).ok_or_else(|| {
            Failure::new("read sshd state", format!("unexpected output: {}", gathered.tail(3).join(" | ")))
                .hint("check that the appliance has systemctl or service; run with -vvv")
        })?;
        let manager = Some(if obs.systemctl { "systemctl" } else { "service" }.to_string());
        let todo = plan(&obs, p.state, p.enabled);
        let after_active = if todo.start {
            true
        } else if todo.stop {
            false
        } else {
            obs.active
        };
        let after_enabled = todo.enable.or(obs.enabled);
        let found = original::parse_read(&gathered.stdout);
        let fallback =
            Original { active: p.original_active.unwrap_or(obs.active), enabled: p.original_enabled.or(obs.enabled), recorded: None };
        let resolved = p.original_file.as_ref().map(|_| original::resolve(found, fallback, !todo.is_empty(), p.forget_original));
        let out = Output {
            active: after_active,
            enabled: after_enabled,
            manager,
            original: resolved.as_ref().map(|(o, _)| o.clone()),
            original_source: resolved.as_ref().map(|(_, s)| (*s).to_string()),
        };
        // the record is bookkeeping, not a change of the appliance's services
        let forget = p.original_file.as_deref().filter(|_| matches!(resolved, Some((_, "record"))) && p.forget_original && !ctx.check_mode);
        if todo.is_empty() {
            if let Some(f) = forget {
                ssh.exec_ok(&original::remove_cmd(f), timeout).map_err(|e| e.into_failure("remove the sshd record"))?;
            }
            return Ok(Outcome::new(false, out));
        }
        let diff = Diff::new(describe(obs.active, obs.enabled), describe(after_active, after_enabled));
        if ctx.check_mode {
            return Ok(Outcome::new(true, out).diff(diff));
        }

        if let (Some(f), Some((o, "recorded"))) = (&p.original_file, &resolved) {
            ssh.exec_ok(&original::write_cmd(f, o), timeout)
                .map_err(|e| e.into_failure("record sshd's state").hint("check that the appliance's disk is writable and not full"))?;
        }
        let q = usage_meter::shell::quote(svc);
        if let Some(en) = todo.enable {
            let verb = if en { "enable" } else { "disable" };
            let cmd =
                if obs.systemctl { format!("systemctl {verb} {q}") } else { format!("chkconfig {q} {}", if en { "on" } else { "off" }) };
            ssh.exec_ok(&cmd, timeout).map_err(|e| e.into_failure(&format!("{verb} sshd")))?;
        }
        if todo.start {
            let cmd = if obs.systemctl { format!("systemctl start {q}") } else { format!("service {q} start") };
            ssh.exec_ok(&cmd, timeout).map_err(|e| e.into_failure("start sshd"))?;
        }
        if let Some(f) = forget {
            ssh.exec_ok(&original::remove_cmd(f), timeout).map_err(|e| e.into_failure("remove the sshd record"))?;
        }
        if todo.stop {
            ssh.exec_ok(&stop_cmd(obs.systemctl, svc), timeout).map_err(|e| e.into_failure("stop sshd"))?;
            drop(ssh);
            let deadline = Instant::now() + Duration::from_secs(p.stop_wait);
            while let Some(seen) = still_answering(&p.connection) {
                if Instant::now() >= deadline {
                    return Err(Failure::new(
                        "stop sshd",
                        format!("sshd still answers on the SSH port {} s after the stop ({seen})", p.stop_wait),
                    )
                    .hint("check `service sshd status` on the appliance console; raise stop_wait if the appliance is slow"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Ok(Outcome::new(true, out).diff(diff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(active: bool, enabled: Option<bool>) -> Observed {
        Observed { active, enabled, systemctl: true }
    }

    #[test]
    fn plan_is_empty_when_state_matches() {
        assert!(plan(&obs(true, Some(true)), Some(State::Started), Some(true)).is_empty());
        assert!(plan(&obs(false, Some(false)), Some(State::Stopped), Some(false)).is_empty());
        assert!(plan(&obs(true, Some(false)), None, None).is_empty());
    }

    #[test]
    fn plan_changes_only_what_differs() {
        let p = plan(&obs(false, Some(false)), Some(State::Started), Some(true));
        assert_eq!(p, Plan { enable: Some(true), start: true, stop: false });
        let p = plan(&obs(true, Some(true)), Some(State::Stopped), None);
        assert_eq!(p, Plan { enable: None, start: false, stop: true });
        // unknown enablement is changed when asked for
        let p = plan(&obs(true, None), None, Some(false));
        assert_eq!(p.enable, Some(false));
    }

    #[test]
    fn stop_is_detached_and_quoted_as_a_whole() {
        // run locally with a fake systemctl and service that log their arguments
        let dir = std::env::temp_dir().join(format!("um-sshd-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        for tool in ["systemctl", "service"] {
            let f = dir.join(tool);
            std::fs::write(&f, format!("#!/bin/sh\necho {tool} \"$@\" >> '{}'\n", log.display())).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
        for (systemctl, svc) in [(true, "my ssh"), (false, "sshd")] {
            let t = std::time::Instant::now();
            let st = std::process::Command::new("sh").arg("-c").arg(stop_cmd(systemctl, svc)).env("PATH", &path).status().unwrap();
            assert!(st.success() && t.elapsed() < Duration::from_millis(900), "returns at once, the stop comes later");
        }
        let mut seen = String::new();
        for _ in 0..50 {
            seen = std::fs::read_to_string(&log).unwrap_or_default();
            if seen.lines().count() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut lines: Vec<&str> = seen.lines().collect();
        lines.sort();
        assert_eq!(lines, ["service sshd stop", "systemctl stop my ssh"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_gather_output() {
        let o = parse_observed("noise\nmgr=systemctl\nactive=active\nenabled=disabled\n@@end\n");
        assert_eq!(o, Some(Observed { active: true, enabled: Some(false), systemctl: true }));
        let o = parse_observed("mgr=service\nactive=inactive\nenabled=unknown");
        assert_eq!(o, Some(Observed { active: false, enabled: None, systemctl: false }));
        assert_eq!(parse_observed("garbage"), None);
    }
}
