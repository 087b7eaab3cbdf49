//! The reboot command: issue it detached (under the upgrade lock), read its
//! recorded outcome back while the old boot still answers, and remove the
//! outcome files afterwards.

use crate::Run;
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::ssh::Ssh;
use usage_meter::upgrade_state;
use usage_meter::{Context, Failure};

const ISSUE_SH: &str = include_str!("remote/issue.sh");
const LATER_SH: &str = include_str!("remote/later.sh");
const OUTCOME_SH: &str = include_str!("remote/outcome.sh");
const CLEAN_SH: &str = include_str!("remote/clean.sh");

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

impl Run<'_> {
    /// Issue the reboot, detached, over the first connection; that session is
    /// handed back while it answers, to watch the old boot go down without
    /// logging in again.
    pub(crate) fn issue(&mut self, ctx: &mut Context, ssh: Ssh) -> Result<Option<Ssh>, Failure> {
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
                return Ok(None);
            }
            Err(e) => return Err(e.into_failure("issue reboot")),
        }
        Ok(Some(ssh))
    }

    /// The old boot still answers on `s` (the session that issued the
    /// reboot): read the reboot command's outcome once it has finished, and
    /// fail when it failed. `Ok(false)` when the session no longer answers.
    pub(crate) fn check_reboot_outcome(&mut self, ctx: &mut Context, s: &Ssh) -> Result<bool, Failure> {
        if self.seen.reboot_rc.is_some() {
            return Ok(s.exec("true", self.io).is_ok_and(|o| o.rc.is_some()));
        }
        let out = match s.exec(&outcome_cmd(&self.dir, &self.tok), self.io) {
            Ok(o) if o.rc.is_some() => o,
            _ => return Ok(false),
        };
        let Some((rc, output)) = parse_outcome(&out.stdout) else {
            return Ok(true);
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
        Ok(true)
    }

    /// Remove the outcome files: /run is emptied by the reboot; /tmp may not be.
    pub(crate) fn clean_up(&self, session: Option<&Ssh>) {
        if self.dir == "/run" {
            return;
        }
        if let Some(s) = session {
            let base = format!("{}/.um-reboot-{}", self.dir, self.tok);
            let _ = s.exec(&Script::new(&[CLEAN_SH]).env("UM_BASE", base.as_str()).command(), self.io);
        }
    }
}
