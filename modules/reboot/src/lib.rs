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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::ssh::{sshd_answers, ConnectionArgs, Ssh, SshError, SshErrorKind};
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
const ISSUE_SH: &str = include_str!("remote/issue.sh");
const LATER_SH: &str = include_str!("remote/later.sh");
const OUTCOME_SH: &str = include_str!("remote/outcome.sh");
const CLEAN_SH: &str = include_str!("remote/clean.sh");

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

// ---------------------------------------------------------------- pure parts

/// Delays between the starts of two connection attempts while waiting: 0.1 s
/// growing by half each time to a 0.25 s cap, so the lag after sshd is back
/// stays small (a refused TCP probe costs next to nothing).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Duration::from_millis(100), cap: Duration::from_millis(250) }
    }
}

impl Iterator for Backoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 3 / 2).min(self.cap);
        Some(now)
    }
}

/// Time allowed for the TCP probe of one attempt. Short (1 s) so that an
/// attempt lost while the link was down does not delay noticing the
/// appliance; every 5th attempt after consecutive timeouts gets the full
/// `connect_timeout`, so a link slower than 1 s round trip still gets through.
pub fn probe_timeout(consecutive_timeouts: u32, connect_timeout: Duration) -> Duration {
    let short = Duration::from_secs(1).min(connect_timeout);
    if consecutive_timeouts > 0 && consecutive_timeouts % 5 == 0 {
        connect_timeout
    } else {
        short
    }
}

/// The command that starts the reboot detached (it survives the session that
/// issued it) one second later, recording the reboot command's exit code and
/// output in `$d/.um-reboot-<token>.{rc,log}` (`d` = /run, else /tmp). It
/// also reports whether sshd starts at boot.
///
/// The upgrade lock under `state_dir` is taken (exclusive `flock`, waiting at
/// most 3 s for a status probe's shared lock to go) and held by the detached
/// reboot until the appliance goes down, so no upgrade can start between the
/// check and the reboot. When it cannot be taken an upgrade run holds it:
/// nothing is started (`upgrade_running=1`).
pub fn issue_cmd(reboot_command: &str, token: &str, state_dir: &str) -> String {
    Script::new(&[upgrade_state::RUNNING_SH, ISSUE_SH])
        .env("UM_SD", state_dir)
        .env("UM_LOCK", upgrade_state::path_in(state_dir, upgrade_state::LOCK_FILE))
        .env("UM_TOKEN", token)
        .env("UM_REBOOT", reboot_command)
        .env("UM_LATER", LATER_SH)
        .command()
}

/// What the issuing command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issued {
    pub sshd_enabled: Option<bool>,
    pub dir: Option<String>,
    pub issued: bool,
    pub upgrade_running: bool,
}

pub fn parse_issued(out: &str) -> Issued {
    let r = Reply::parse(out);
    Issued {
        sshd_enabled: r.get("sshd_enabled").and_then(|v| usage_meter::service::enabled_at_boot(v.trim())),
        dir: r.get("dir").map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
        issued: r.flag("issued"),
        upgrade_running: r.flag("upgrade_running"),
    }
}

/// Reads the reboot command's recorded outcome, if it finished.
pub fn outcome_cmd(dir: &str, token: &str) -> String {
    Script::new(&[OUTCOME_SH]).env("UM_BASE", format!("{dir}/.um-reboot-{token}")).command()
}

/// `rc=N` then the output: `Some((rc, output))` once the reboot command has finished.
pub fn parse_outcome(out: &str) -> Option<(i32, String)> {
    let r = Reply::parse(out);
    let rc = r.num("rc")??;
    Some((rc, r.section("output").map(|s| s.text()).unwrap_or_default().trim().to_string()))
}

/// Seconds, rounded to 0.01.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

/// What was seen while waiting, for the timeout message.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// A connection attempt failed at least once (the appliance went away).
    pub went_down: bool,
    /// The old boot id answered after the reboot was issued, this many times.
    pub old_boot_answers: u32,
    /// The last connection error and when (seconds after the reboot was issued).
    pub last_error: Option<(SshError, f64)>,
    /// Outcome of the reboot command, if it was read back.
    pub reboot_rc: Option<i32>,
    pub sshd_enabled: Option<bool>,
}

/// The timeout failure: what was seen and what to do.
pub fn timeout_failure(timeout: u64, seen: &Seen) -> Failure {
    let last =
        seen.last_error.as_ref().map(|(e, at)| format!("; last connection error ({at:.1} s after the reboot was issued): {}", e.detail));
    let (state, hint) = if !seen.went_down && seen.old_boot_answers > 0 {
        (
            "it never went down: SSH kept answering with the boot id from before".to_string(),
            "the reboot command did not take effect: run it on the appliance console, or set reboot_command \
             to one that works there (check the reboot command's result with -vvv)"
                .to_string(),
        )
    } else {
        let refused = matches!(seen.last_error.as_ref().map(|(e, _)| e.kind), Some(SshErrorKind::Refused));
        let mut hint = String::new();
        if refused {
            hint.push_str(
                "the appliance answers but sshd is not listening: if sshd is not enabled at boot it does not come back after a reboot; \
                 open the appliance's console in vCenter and run `service sshd start` as root, then run the play again. ",
            );
        } else {
            hint.push_str(
                "open the appliance's console in vCenter to see whether it is still booting, stuck or powered off; \
                 raise reboot_timeout if it is only slow. ",
            );
        }
        hint.push_str("If it does not boot, revert it to the snapshot taken before the upgrade");
        ("it has not answered SSH with a new boot id".to_string(), hint)
    };
    let mut msg = format!("the appliance did not come back within {timeout} s: {state}");
    if let Some(l) = last {
        msg.push_str(&l);
    }
    if seen.sshd_enabled == Some(false) {
        msg.push_str("; sshd was not enabled at boot before the reboot");
    }
    let mut f = Failure::new("wait for reboot", msg).hint(hint).with("rebooted", false);
    if let Some((e, _)) = &seen.last_error {
        f = f.with("last_error", e.to_string());
    }
    f
}

// ---------------------------------------------------------------- remote parts

/// A connection attempt's result while waiting.
enum Attempt {
    /// Back, with this boot id (and the connection's warning, if any).
    Up(Ssh, String, Option<String>),
    /// Not reachable yet.
    NotYet(SshError),
}

/// One attempt: a short "does sshd answer" probe (an SSH banner within the
/// probe time, `usage_meter::ssh::banner`: a port forward that accepts and
/// resets, or a firewall that drops, counts as "not yet"), then the SSH login
/// and the boot id.
fn attempt(args: &ConnectionArgs, probe: Duration) -> Attempt {
    if let Err(e) = sshd_answers(&args.host, args.port, probe) {
        return Attempt::NotYet(e);
    }
    let full = Duration::from_secs(args.connect_timeout);
    match Ssh::connect_quiet(args, full) {
        Ok((ssh, warning)) => match ssh.boot_id() {
            Ok(id) if !id.is_empty() => Attempt::Up(ssh, id, warning),
            Ok(_) => Attempt::NotYet(SshError::new(SshErrorKind::Other, &args.label(), "empty boot id")),
            Err(e) => Attempt::NotYet(e),
        },
        Err(e) => Attempt::NotYet(e),
    }
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
                "While waiting, a refused, timed-out or unreachable connection, or one dropped during the SSH handshake, means \"not yet\"; a refused login or a changed host key after the reboot fail at once. Attempts start every 0.1 s and back off to every 0.25 s, each with a TCP probe of at most 1 s before the SSH login, so the appliance is noticed well within a second of sshd listening again.",
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
        run.issue(ctx, ssh)?;
        let (ssh, after) = run.wait_for_new_boot(ctx)?;
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

impl Run<'_> {
    /// Issue the reboot, detached, over the first connection (which then ends).
    fn issue(&mut self, ctx: &mut Context, ssh: Ssh) -> Result<(), Failure> {
        let p = self.p;
        match ssh.exec(&issue_cmd(&self.reboot_command, &self.tok, &p.state_dir), self.io) {
            Ok(out) => {
                let issued = parse_issued(&out.stdout);
                if issued.upgrade_running {
                    return Err(Failure::new(
                        "issue reboot",
                        format!("an upgrade run is in progress on the appliance (its lock in {} is held): rebooting now would interrupt it; nothing was done", p.state_dir),
                    )
                    .hint("wait for the upgrade to finish (run vcloud.usage_meter.upgrade again: it attaches to the running upgrade and reports its outcome), then reboot")
                    .with("rebooted", false)
                    .with("boot_id_before", self.before.clone()));
                }
                if !issued.issued {
                    return Err(Failure::new(
                        "issue reboot",
                        format!(
                            "the reboot could not be started (rc={}): {}",
                            out.rc.map_or("none".into(), |r| r.to_string()),
                            out.tail(5).join(" | ")
                        ),
                    )
                    .hint("run the reboot on the appliance console; check that sh and nohup exist there"));
                }
                if let Some(d) = issued.dir {
                    self.dir = d;
                }
                self.seen.sshd_enabled = issued.sshd_enabled;
                if issued.sshd_enabled == Some(false) {
                    ctx.warn(
                        "sshd is not enabled at boot: after the reboot it will not listen, and this task waits until reboot_timeout \
                         unless sshd is started on the console (enable it first with vcloud.usage_meter.sshd enabled=true)",
                    );
                }
            }
            // The connection can drop as the reboot starts: expected.
            Err(e) if e.is_transient() => {
                ctx.log(1, format!("the connection ended while issuing the reboot ({e}); waiting"));
            }
            Err(e) => return Err(e.into_failure("issue reboot")),
        }
        Ok(())
    }

    /// Wait until SSH answers with a new boot id; returns that session and the id.
    fn wait_for_new_boot(&mut self, ctx: &mut Context) -> Result<(Ssh, String), Failure> {
        let p = self.p;
        let mut backoff = Backoff::default();
        let mut timeouts_in_a_row = 0u32;
        loop {
            let started = Instant::now();
            match attempt(&p.connection, probe_timeout(timeouts_in_a_row, Duration::from_secs(p.connection.connect_timeout))) {
                Attempt::Up(s, id, warning) if id != self.before => {
                    usage_meter::ssh::warn_once(ctx, warning);
                    return Ok((s, id));
                }
                Attempt::Up(s, _, _) => {
                    self.seen.old_boot_answers += 1;
                    timeouts_in_a_row = 0;
                    self.check_reboot_outcome(ctx, &s)?;
                }
                Attempt::NotYet(e) if e.kind.is_fatal() && self.seen.went_down => {
                    let at = secs(self.issued_at.elapsed());
                    return Err(Failure::new(
                        "wait for reboot",
                        format!(
                            "the appliance is back ({at} s after the reboot was issued) but refuses the SSH session: {}: {}",
                            e.target, e.detail
                        ),
                    )
                    .hint(e.hint.clone())
                    .with("rebooted", true)
                    .with("boot_id_before", self.before.clone()));
                }
                Attempt::NotYet(e) if e.kind.is_fatal() => return Err(e.into_failure("wait for reboot")),
                Attempt::NotYet(e) => {
                    ctx.log(2, format!("not yet: {e}"));
                    self.seen.went_down = true;
                    timeouts_in_a_row = if e.kind == SshErrorKind::Timeout { timeouts_in_a_row + 1 } else { 0 };
                    self.seen.last_error = Some((e, secs(self.issued_at.elapsed())));
                }
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(timeout_failure(p.reboot_timeout, &self.seen)
                    .with("boot_id_before", self.before.clone())
                    .with("elapsed", secs(self.issued_at.elapsed())));
            }
            // Sleep only what is left of the backoff step: an attempt that timed out has waited already.
            let step = backoff.next().unwrap_or(Duration::from_millis(250));
            let wake = (started + step).min(self.deadline);
            if wake > now {
                std::thread::sleep(wake - now);
            }
        }
    }

    /// The old boot still answers: read the reboot command's outcome once it
    /// has finished, and fail when it failed.
    fn check_reboot_outcome(&mut self, ctx: &mut Context, s: &Ssh) -> Result<(), Failure> {
        if self.seen.reboot_rc.is_some() {
            return Ok(());
        }
        let Some((rc, output)) = s.exec(&outcome_cmd(&self.dir, &self.tok), self.io).ok().and_then(|o| parse_outcome(&o.stdout)) else {
            return Ok(());
        };
        self.seen.reboot_rc = Some(rc);
        ctx.log(1, format!("reboot command finished with rc={rc}: {output}"));
        if rc != 0 {
            return Err(Failure::new(
                "issue reboot",
                format!("the reboot command `{}` failed with rc={rc}: {output}", self.reboot_command),
            )
            .hint("run the reboot on the appliance console, or set reboot_command to one that works there")
            .with("rc", rc)
            .with("rebooted", false));
        }
        Ok(())
    }

    /// The test command, retried until the deadline (reconnecting when
    /// needed); returns the session it passed on.
    fn test_command(&self, ctx: &mut Context, ssh: Ssh, after: &str) -> Result<Option<Ssh>, Failure> {
        let p = self.p;
        let mut session = Some(ssh);
        let mut last_problem = String::new();
        let mut test_backoff = Backoff { next: Duration::from_millis(500), cap: Duration::from_secs(2) };
        loop {
            if session.is_none() {
                match Ssh::connect_quiet(&p.connection, Duration::from_secs(p.connection.connect_timeout)) {
                    Ok((s, warning)) => {
                        usage_meter::ssh::warn_once(ctx, warning);
                        session = Some(s);
                    }
                    Err(e) if e.kind.is_fatal() => return Err(e.into_failure("test command")),
                    Err(e) => last_problem = e.to_string(),
                }
            }
            if let Some(s) = &session {
                let left = self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(10));
                match s.exec(&p.test_command, left) {
                    Ok(o) if o.ok() => return Ok(session),
                    Ok(o) => {
                        last_problem = format!(
                            "`{}` exited with {}: {}",
                            p.test_command,
                            o.rc.map_or("no exit status".into(), |r| r.to_string()),
                            o.tail(5).join(" | ")
                        );
                    }
                    Err(e) if e.kind.is_fatal() => return Err(e.into_failure("test command")),
                    Err(e) => {
                        last_problem = e.to_string();
                        session = None;
                    }
                }
            }
            if Instant::now() >= self.deadline {
                return Err(Failure::new(
                    "test command",
                    format!("the appliance is back (boot id {after}) but the test command did not succeed within reboot_timeout: {last_problem}"),
                )
                .hint("check the appliance on its console; fix test_command if it cannot succeed there")
                .with("rebooted", true)
                .with("boot_id_before", self.before.clone())
                .with("boot_id_after", after.to_string()));
            }
            std::thread::sleep(test_backoff.next().unwrap_or(Duration::from_secs(1)));
        }
    }

    /// Remove the outcome files: /run is emptied by the reboot; /tmp may not be.
    fn clean_up(&self, session: Option<&Ssh>) {
        if self.dir == "/run" {
            return;
        }
        if let Some(s) = session {
            let base = format!("{}/.um-reboot-{}", self.dir, self.tok);
            let _ = s.exec(&Script::new(&[CLEAN_SH]).env("UM_BASE", base.as_str()).command(), self.io);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_small_and_caps_low() {
        let v: Vec<u128> = Backoff::default().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(v, vec![100, 150, 225, 250, 250, 250]);
    }

    #[test]
    fn probe_timeout_is_short_but_sometimes_full() {
        let ct = Duration::from_secs(10);
        assert_eq!(probe_timeout(0, ct), Duration::from_secs(1));
        assert_eq!(probe_timeout(4, ct), Duration::from_secs(1));
        assert_eq!(probe_timeout(5, ct), ct);
        assert_eq!(probe_timeout(10, ct), ct);
        // never longer than connect_timeout
        assert_eq!(probe_timeout(1, Duration::from_millis(500)), Duration::from_millis(500));
    }

    #[test]
    fn fatal_kinds() {
        assert!(SshErrorKind::Auth.is_fatal());
        assert!(SshErrorKind::HostKey.is_fatal());
        assert!(SshErrorKind::PasswordExpired.is_fatal());
        for k in [
            SshErrorKind::Refused,
            SshErrorKind::Timeout,
            SshErrorKind::Unreachable,
            SshErrorKind::Dropped,
            SshErrorKind::Resolve,
            SshErrorKind::Other,
        ] {
            assert!(!k.is_fatal(), "{k:?}");
        }
    }

    /// Run a command line with sh; its stdout.
    fn sh(cmd: &str) -> String {
        let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn issue_and_outcome_scripts_work_locally() {
        // A "reboot command" with quotes, run detached one second later; its
        // exit code and output are recorded where the outcome script finds them.
        let sd = std::env::temp_dir().join(format!("um-reboot-test-{}", std::process::id()));
        let sd_s = sd.to_str().unwrap();
        let tok = format!("test-{}", std::process::id());
        let out = sh(&issue_cmd(r"echo 'it'\''s down'; exit 3", &tok, sd_s));
        let i = parse_issued(&out);
        assert!(i.issued && !i.upgrade_running, "{out}");
        let d = i.dir.clone().unwrap();
        assert!(out.contains("locked=1") == std::process::Command::new("flock").arg("-V").output().is_ok(), "{out}");
        let mut outcome = None;
        for _ in 0..100 {
            outcome = parse_outcome(&sh(&outcome_cmd(&d, &tok)));
            if outcome.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(outcome, Some((3, "it's down".to_string())));
        for ext in ["rc", "log"] {
            let _ = std::fs::remove_file(format!("{d}/.um-reboot-{tok}.{ext}"));
        }
        // while an upgrade holds the lock, nothing is started
        if std::process::Command::new("flock").arg("-V").output().is_ok() {
            let lock = sd.join(upgrade_state::LOCK_FILE);
            let mut holder = std::process::Command::new("flock").arg(&lock).args(["sleep", "30"]).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let out = sh(&issue_cmd("echo never", &tok, sd_s));
            holder.kill().unwrap();
            holder.wait().unwrap();
            let i = parse_issued(&out);
            assert!(i.upgrade_running && !i.issued, "{out}");
        }
        std::fs::remove_dir_all(&sd).unwrap();
    }

    #[test]
    fn issued_output_parsing() {
        let i = parse_issued("sshd_enabled=disabled\ndir=/run\nissued=1\n");
        assert_eq!(i, Issued { sshd_enabled: Some(false), dir: Some("/run".into()), issued: true, upgrade_running: false });
        let i = parse_issued("sshd_enabled=unknown\ndir=/tmp\n");
        assert_eq!(i, Issued { sshd_enabled: None, dir: Some("/tmp".into()), issued: false, upgrade_running: false });
        assert!(parse_issued("sshd_enabled=enabled\nupgrade_running=1\n").upgrade_running);
        assert_eq!(parse_issued(""), Issued::default());
    }

    #[test]
    fn outcome_parsing() {
        assert_eq!(parse_outcome(""), None);
        assert_eq!(parse_outcome("rc=0\n@@output\n"), Some((0, String::new())));
        assert_eq!(
            parse_outcome("rc=1\n@@output\nFailed to talk to init daemon.\nrc=5\n"),
            Some((1, "Failed to talk to init daemon.\nrc=5".into()))
        );
        assert_eq!(parse_outcome("rc=\n@@output\n"), None);
        assert_eq!(parse_outcome("garbage"), None);
        assert!(outcome_cmd("/run", "t1").contains("UM_BASE=/run/.um-reboot-t1 "));
    }

    #[test]
    fn timeout_messages_say_what_was_seen() {
        let mut seen = Seen { old_boot_answers: 3, ..Seen::default() };
        let f = timeout_failure(60, &seen);
        assert!(f.msg.contains("never went down"), "{}", f.msg);
        assert!(f.hint.as_deref().unwrap_or("").contains("reboot_command"));

        seen.went_down = true;
        seen.last_error = Some((SshError::new(SshErrorKind::Refused, "um1", "connection refused (nothing listens on the SSH port)"), 42.0));
        seen.sshd_enabled = Some(false);
        let f = timeout_failure(60, &seen);
        assert!(f.msg.contains("within 60 s"), "{}", f.msg);
        assert!(f.msg.contains("connection refused"), "{}", f.msg);
        assert!(f.msg.contains("not enabled at boot"), "{}", f.msg);
        let hint = f.hint.clone().unwrap_or_default();
        assert!(hint.contains("service sshd start") && hint.contains("snapshot"), "{hint}");
        assert_eq!(f.data.get("last_error").and_then(|v| v.as_str()), Some("um1: connection refused (nothing listens on the SSH port)"));

        seen.last_error = Some((SshError::new(SshErrorKind::Timeout, "um1", "no answer within 1.0 s"), 50.0));
        let hint = timeout_failure(60, &seen).hint.unwrap_or_default();
        assert!(hint.contains("console") && hint.contains("snapshot") && hint.contains("reboot_timeout"), "{hint}");
    }

    #[test]
    fn secs_rounds() {
        assert_eq!(secs(Duration::from_millis(1234)), 1.23);
    }
}
