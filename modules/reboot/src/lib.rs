//! vcloud.usage_meter.reboot: reboot the appliance (which completes the 4.3
//! upgrade) and wait until it is back with a new boot id.
//!
//! Modelled on ansible-core's `reboot` action (record the boot id, issue the
//! reboot so that the dropped connection is expected, poll until the boot id
//! differs, run a test command), with a much lower backoff cap so that the
//! module notices the appliance within about half a second of sshd listening
//! again, and a classification of connection errors: refused, timed out,
//! unreachable and dropped handshakes mean "not yet"; a refused login or a
//! changed host key after the reboot are real errors.

mod issue;
mod wait;

pub use issue::{issue_cmd, outcome_cmd, parse_issued, parse_outcome, Issued};
pub use wait::{probe_timeout, timeout_failure, Backoff, Seen};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use usage_meter::ssh::{ConnectionArgs, Ssh};
use usage_meter::upgrade_state;
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

fn default_reboot_timeout() -> u64 {
    1200
}
fn default_test_command() -> String {
    "whoami".into()
}
fn default_state_dir() -> String {
    upgrade_state::DEFAULT_STATE_DIR.into()
}

/// The reboot command when none is given: systemd first, then the classic binary.
pub const DEFAULT_REBOOT_COMMAND: &str = "systemctl reboot || reboot";

/// Options of vcloud.usage_meter.reboot.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Seconds to wait, from issuing the reboot, for the appliance to answer
    /// SSH with a new boot id and pass O(test_command).
    #[serde(default = "default_reboot_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub reboot_timeout: u64,
    /// Seconds to wait after the new boot is seen and before O(test_command) runs.
    #[serde(default)]
    #[schemars(range(max = 3600))]
    pub post_reboot_delay: u64,
    /// A command that must succeed (exit 0) on the appliance once it is back;
    /// retried until O(reboot_timeout).
    #[serde(default = "default_test_command")]
    #[schemars(length(min = 1))]
    pub test_command: String,
    /// The command that reboots the appliance, run detached by the login shell.
    ///
    /// Defaults to C(systemctl reboot), falling back to C(reboot).
    #[schemars(length(min = 1), extend("x-doc-default" = "systemctl reboot || reboot"))]
    pub reboot_command: Option<String>,
    /// Directory on the appliance where M(vcloud.usage_meter.upgrade) records its
    /// runs; the reboot is refused while an upgrade run there holds its lock.
    #[serde(default = "default_state_dir")]
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub state_dir: String,
}

/// Result of vcloud.usage_meter.reboot.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Whether the appliance was rebooted (false in check mode).
    #[schemars(extend("x-sample" = true))]
    pub rebooted: bool,
    /// Seconds from issuing the reboot until the appliance was back and O(test_command) passed.
    #[schemars(extend("x-sample" = 48.3))]
    pub elapsed: f64,
    /// Boot id (C(/proc/sys/kernel/random/boot_id)) before the reboot.
    #[schemars(extend("x-sample" = "2b1f0e4a-5c1e-4f55-9a59-1b1c2e1a9d10"))]
    pub boot_id_before: String,
    /// Boot id after the reboot; null in check mode.
    #[schemars(extend("x-sample" = "8f0c2c57-3f57-4a5a-8f2e-7b0b8a0f4c21", "x-returned" = "always"))]
    pub boot_id_after: Option<String>,
}

/// Seconds, rounded to 0.01.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

#[derive(Debug)]
pub struct Reboot;

impl Module for Reboot {
    const NAME: &'static str = "reboot";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Reboot a Usage Meter appliance and wait until it is back",
            description: &[
                "Reboots the appliance, which completes the 4.3 in-place upgrade, and waits until it answers SSH again with a new boot id (C(/proc/sys/kernel/random/boot_id)) and O(test_command) succeeds.",
                "The reboot is issued detached, one second later, so the connection that issued it ends cleanly; the dropped connections that follow are expected.",
                "While waiting, a refused, timed-out or unreachable connection, or one dropped during the SSH handshake, means \"not yet\"; a refused login or a changed host key after the reboot fail at once. Attempts start every 0.1 s and back off to every 0.25 s, so the appliance is noticed well within a second of sshd listening again.",
                "Two SSH logins in all: one before (the boot id, the reboot issued), whose session is then watched until the old boot is gone, and one after, on the same connection as the attempt that first sees sshd's banner again (an attempt waits at most 1 s for it; a refused port costs nothing); the new boot id, O(test_command) and the clean-up all run over that session.",
                "sshd must be enabled at boot (M(vcloud.usage_meter.sshd) with O(vcloud.usage_meter.sshd#module:enabled=true)), or started on the console after the reboot, for the appliance to be reachable again; a warning says so when it is not enabled.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "In check mode the module connects and reads the boot id, but does not reboot; it reports C(changed=true) and C(rebooted=false).",
                "On timeout the failure names the last connection error seen. If the appliance does not boot after the upgrade, revert it to the snapshot taken before the upgrade.",
            ],
            examples: r#"
- name: Reboot to complete the 4.3 upgrade
  vcloud.usage_meter.reboot:
    reboot_timeout: 1800
  register: um_reboot

- name: Reboot, then wait until the status script can run
  vcloud.usage_meter.reboot:
    test_command: test -x /opt/vmware/cloudusagemetering/scripts/status.sh
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let io = Duration::from_secs(p.connection.connect_timeout.max(10));
        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        let before = ssh.boot_id().map_err(|e| e.into_failure("read boot id"))?;
        if before.is_empty() {
            return Err(Failure::new("read boot id", "/proc/sys/kernel/random/boot_id is empty")
                .hint("the module needs the kernel's boot id to tell the new boot from the old one"));
        }
        if ctx.check_mode {
            let diff = Diff::new(format!("boot_id: {before}\n"), "boot_id: (a new boot)\n");
            return Ok(Outcome::new(true, Output { rebooted: false, elapsed: 0.0, boot_id_before: before, boot_id_after: None })
                .diff(diff)
                .msg("check mode: the appliance would be rebooted; nothing was done"));
        }
        let issued_at = Instant::now();
        let mut run = Run {
            p: &p,
            io,
            reboot_command: p.reboot_command.clone().unwrap_or_else(|| DEFAULT_REBOOT_COMMAND.to_string()),
            tok: usage_meter::appliance::run_token(),
            before,
            issued_at,
            deadline: issued_at + Duration::from_secs(p.reboot_timeout),
            dir: "/run".to_string(),
            seen: Seen::default(),
        };
        let held = run.issue(ctx, ssh)?;
        let (ssh, after) = run.wait_for_new_boot(ctx, held)?;
        ctx.log(1, format!("back after {:.2} s with boot id {after}", run.issued_at.elapsed().as_secs_f64()));
        if p.post_reboot_delay > 0 {
            std::thread::sleep(Duration::from_secs(p.post_reboot_delay));
        }
        let session = run.test_command(ctx, ssh, &after)?;
        let elapsed = secs(run.issued_at.elapsed());
        run.clean_up(session.as_ref());
        let diff = Diff::new(format!("boot_id: {}\n", run.before), format!("boot_id: {after}\n"));
        Ok(Outcome::new(true, Output { rebooted: true, elapsed, boot_id_before: run.before, boot_id_after: Some(after) }).diff(diff))
    }
}

/// One reboot under way: what the steps after the check share.
struct Run<'a> {
    p: &'a Params,
    /// Time allowed for a remote command.
    io: Duration,
    reboot_command: String,
    /// Names this run's files on the appliance.
    tok: String,
    /// The boot id before the reboot.
    before: String,
    issued_at: Instant,
    /// `issued_at` + `reboot_timeout`.
    deadline: Instant,
    /// Where the detached reboot records its outcome (`/run`, else `/tmp`).
    dir: String,
    seen: Seen,
}

#[cfg(test)]
mod tests;
