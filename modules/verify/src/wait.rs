//! The wait for the services: the status command, run every `interval`
//! (reconnecting when needed) until the settle window is complete or the
//! timeout has passed; a command that cannot run at all fails at once.

use crate::evidence::{judge, parse_units, unit_name, units_cmd, UnitState};
use crate::settle::{healthy, Settle};
use crate::status::{parse_status, Patterns, StatusReport};
use crate::{Params, SettleOn};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use usage_meter::shell::quote;
use usage_meter::ssh::{ExecOutput, Ssh, SshError, SshErrorKind};
use usage_meter::{appliance, Context, Failure};

/// The remote status command: `cd`, then the command; a missing directory is reported distinctly.
pub fn status_cmd(chdir: &str, command: &str) -> String {
    format!("cd {} 2>/dev/null || {{ echo '{NO_DIR}' >&2; exit 1; }}; {command}", quote(chdir))
}
const NO_DIR: &str = "um-verify: no such directory";

/// One run of the status command, reconnecting first if needed.
fn run_status(ssh: &mut Option<Ssh>, p: &Params, ctx: &mut Context) -> Result<ExecOutput, SshError> {
    if ssh.is_none() {
        let (s, warning) = Ssh::connect_quiet(&p.connection, Duration::from_secs(p.connection.connect_timeout))?;
        usage_meter::ssh::warn_once(ctx, warning);
        *ssh = Some(s);
    }
    let Some(s) = ssh.as_ref() else {
        return Err(SshError::new(SshErrorKind::Other, &p.connection.label(), "no SSH session"));
    };
    ctx.log(2, format!("running {}", p.command));
    s.exec(&status_cmd(&p.chdir, &p.command), Duration::from_secs(p.command_timeout))
}

/// The service manager's evidence for the listed services, over the same
/// session; `None` when it cannot tell (or the command did not run).
fn ask_units(ssh: &Option<Ssh>, p: &Params, report: &StatusReport) -> Result<Option<BTreeMap<String, UnitState>>, SshError> {
    let services: Vec<(String, String)> = report.services.keys().map(|s| (s.clone(), unit_name(&p.service_unit, s))).collect();
    let units: Vec<String> = services.iter().map(|(_, u)| u.clone()).collect();
    let Some(s) = ssh.as_ref() else {
        return Err(SshError::new(SshErrorKind::Other, &p.connection.label(), "no SSH session"));
    };
    let out = s.exec(&units_cmd(&units), Duration::from_secs(p.command_timeout))?;
    Ok(parse_units(&out.stdout, &services))
}

/// Ask the service manager after a check that saw every service Running;
/// whether that settles it. Sets the pause to when the youngest unit reaches
/// the window; an appliance that cannot tell hands the decision to the window.
fn consult(
    ctx: &mut Context,
    p: &Params,
    ssh: &Option<Ssh>,
    report: &StatusReport,
    w: &mut Waited,
    evidence: &mut Evidence,
    pause: &mut Duration,
) -> bool {
    match ask_units(ssh, p, report) {
        Ok(Some(units)) => {
            let verdict = judge(&units, w.settle.window);
            ctx.log(2, format!("service manager: {verdict:?}"));
            w.units = Some(units);
            match verdict {
                Ok(()) => w.settle.settle_on_evidence(),
                // check again when the youngest unit reaches the window
                Err(Some(left)) => {
                    w.settle.overrule();
                    *pause = (*pause).min(left + Duration::from_millis(100));
                }
                // a unit is not active although the check said Running: not settling
                Err(None) => w.settle.broken(),
            }
        }
        // the next check reconnects if the session is gone
        Err(e) => {
            ctx.log(1, format!("asking the service manager: {e}"));
            w.settle.overrule();
        }
        Ok(None) => {
            ctx.log(1, "the service manager cannot tell how long the units have been up: the fixed window decides");
            w.units = None;
            *evidence = Evidence::CannotTell;
        }
    }
    w.settle.is_settled()
}

/// What the wait for the services saw.
pub(crate) struct Waited {
    /// How many times the status command ran.
    pub(crate) attempts: u32,
    /// The last report and the output it was parsed from.
    pub(crate) last: Option<(StatusReport, ExecOutput)>,
    /// The connection error of the last try, when it could not run.
    pub(crate) last_ssh_error: Option<SshError>,
    pub(crate) settle: Settle,
    /// The service manager's evidence of the last read (None: not read, or it cannot tell).
    pub(crate) units: Option<BTreeMap<String, UnitState>>,
}

/// Whether the service manager is asked, and whether it could tell so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    Ask,
    CannotTell,
}

/// Run the status command every `interval` until the services have settled
/// Running or `timeout` has passed (a settle window under way goes on).
pub(crate) fn wait_for_services(
    ctx: &mut Context,
    p: &Params,
    patterns: &Patterns,
    ssh: &mut Option<Ssh>,
    start: Instant,
) -> Result<Waited, Failure> {
    let deadline = start + Duration::from_secs(p.timeout);
    let settle = if p.timeout == 0 {
        Settle::new(1, Duration::ZERO)
    } else {
        Settle::new(p.settle_polls, Duration::from_secs(p.settle_seconds.unwrap_or(4 * p.interval)))
    };
    let mut w = Waited { attempts: 0, last: None, last_ssh_error: None, settle, units: None };
    let mut evidence = if p.settle_on == SettleOn::ServiceManager && p.timeout > 0 { Evidence::Ask } else { Evidence::CannotTell };
    loop {
        let mut pause = Duration::from_secs(p.interval);
        match run_status(ssh, p, ctx) {
            Ok(out) => {
                w.attempts += 1;
                w.last_ssh_error = None;
                check_ran(p, &out)?;
                let report = parse_status(&out.stdout, patterns);
                ctx.log(2, format!("attempt {}: {} services, offline: {:?}", w.attempts, report.services.len(), report.offline()));
                let ok = healthy(&report, out.rc, p.check_rc);
                let mut settled = w.settle.observe(&report, ok, Instant::now());
                if ok && evidence == Evidence::Ask {
                    settled = consult(ctx, p, ssh, &report, &mut w, &mut evidence, &mut pause);
                }
                w.last = Some((report, out));
                if settled {
                    return Ok(w);
                }
                if ok {
                    ctx.log(2, format!("all Running in {} consecutive checks; settling", w.settle.streak));
                }
            }
            Err(e) if e.is_transient() => {
                ctx.log(1, format!("status check: {e}; retrying"));
                *ssh = None;
                w.last_ssh_error = Some(e);
                w.settle.broken();
            }
            Err(e) => return Err(e.into_failure("run status")),
        }
        let now = Instant::now();
        // past the timeout, only a settle window already under way goes on, and
        // not for longer than one more window (a unit restarting while status
        // says Running would otherwise keep it going)
        let overtime = deadline + w.settle.window + Duration::from_secs(p.interval);
        if now >= deadline && (w.settle.streak == 0 || now >= overtime) {
            return Ok(w);
        }
        let left = if now < deadline { deadline - now } else { pause };
        let pause = pause.min(left);
        match ssh.as_ref() {
            Some(s) => s.idle(pause), // keepalives: a NAT must not drop the idle flow
            None => std::thread::sleep(pause),
        }
    }
}

/// A status command that could not run at all (no directory, not found or
/// not executable) fails at once: waiting will not help.
fn check_ran(p: &Params, out: &ExecOutput) -> Result<(), Failure> {
    if out.stderr.contains(NO_DIR) {
        return Err(Failure::new("run status", format!("{} does not exist on the appliance", p.chdir))
            .hint("check that this is a Usage Meter appliance, or set chdir to its installation directory"));
    }
    if matches!(out.rc, Some(126 | 127)) {
        return Err(Failure::new(
            "run status",
            format!("`{}` could not be run in {} (rc={}): {}", p.command, p.chdir, out.rc.unwrap_or_default(), out.tail(3).join(" | ")),
        )
        .hint(format!("check the command option; the documented check is ./scripts/status.sh in {}", appliance::INSTALL_DIR))
        .with("status_rc", out.rc.unwrap_or_default()));
    }
    Ok(())
}
