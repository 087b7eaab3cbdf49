//! Wait for a run to end, and report its recorded outcome.

use crate::iso::{key_checksum, record_reboot, stopped_failure};
use crate::{round3, Output, Run};
use std::time::{Duration, Instant};
use usage_meter::upgrade_state::{is_sha256_hex, UpgradeRecord};
use usage_meter::{Context, Diff, Failure, Outcome};

pub(crate) fn run_failure(r: &UpgradeRecord, tail: &[String], what: &str) -> Failure {
    Failure::new(
        "upgrade",
        format!(
            "{what}: bash {} exited with rc {}{}",
            r.shar,
            r.rc,
            tail.last().map(|l| format!("; last output: {l}")).unwrap_or_default()
        ),
    )
    .with("rc", r.rc)
    .with("stdout_lines", tail.to_vec())
    .with("upgrade_log", r.upgrade_log.clone())
    .with("log", r.log.clone())
}

/// An ISO's script may end with a `reboot`, which returns before the system
/// goes down: watch for `reboot_wait` s whether the boot id changes (the
/// status reconnects, so this waits for the appliance to come back).
fn going_down(ctx: &mut Context, run: &mut Run<'_>, boot_id: &str) -> Result<bool, Failure> {
    let until = Instant::now() + Duration::from_secs(run.p.reboot_wait);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(500));
        let st = run.status(ctx, 0, run.deadline + run.io_t)?;
        if st.boot_id.trim() != boot_id.trim() {
            ctx.log(1, "the appliance rebooted after the script ended");
            return Ok(true);
        }
    }
    Ok(false)
}

/// Poll until the lock is free, then report the recorded outcome.
/// `our_id`: the run this task started; `attached`: it found one running.
pub(crate) fn wait_for(
    ctx: &mut Context,
    run: &mut Run<'_>,
    our_id: Option<String>,
    attached: bool,
    sha: Option<String>,
) -> Result<Outcome<Output>, Failure> {
    let (p, deadline) = (run.p, run.deadline);
    let mut st = loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let st = run.status(ctx, p.poll_interval.min(left.max(1)), deadline + run.io_t);
        let st = match st {
            Ok(s) => s,
            Err(f) => {
                return Err(f.hint("the upgrade keeps running on the appliance: run the task again to attach to it"));
            }
        };
        if !st.running {
            break st;
        }
        if Instant::now() >= deadline {
            return Err(Failure::new("wait for upgrade", format!("the upgrade still runs after {} s", p.timeout))
                .hint("it keeps running on the appliance: run the task again (with a larger timeout) to attach to it")
                .with("stdout_lines", st.tail.clone())
                .with("log", st.current.as_ref().map(|c| c.log.clone()))
                .with("upgrade_log", st.upgrade_log.clone()));
        }
    };
    // an ISO's script that rebooted the appliance never got its record written
    if let (Some(_), Some(key)) = (&p.script, &sha) {
        if record_reboot(ctx, run, &st, key)? {
            st = run.status(ctx, 0, deadline + run.io_t)?;
        }
    }
    let started_boot = st.current.as_ref().map(|c| c.boot_id.trim().to_string()).unwrap_or_default();
    let current_id = our_id.or_else(|| st.current.as_ref().map(|c| c.id.clone()));
    let rec = st.record.clone().filter(|r| Some(&r.id) == current_id.as_ref());
    let Some(r) = rec else {
        return Err(Failure::new(
            "wait for upgrade",
            format!(
                "the upgrade run {} ended without recording an exit code: the appliance rebooted or the run was killed",
                current_id.unwrap_or_else(|| "?".into())
            ),
        )
        .hint("read the run's output and the upgrade log; restore the VM snapshot and run again")
        .with("stdout_lines", st.tail.clone())
        .with("log", st.current.as_ref().map(|c| c.log.clone()))
        .with("upgrade_log", st.upgrade_log.clone()));
    };
    if let Some(f) = stopped_failure(p, &st.extra) {
        let secs = round3(run.t0.elapsed().as_secs_f64());
        return Err(f.with("rc", r.rc).with("stdout_lines", st.tail.clone()).with("log", r.log.clone()).with("seconds", secs));
    }
    if !r.succeeded() {
        // a refused token is the usual cause of a failed ISO run given one
        let token = if st.extra.token_id.is_some() {
            "; if the script refused the access token, correct it and run again (a run with another token is a new attempt)"
        } else {
            ""
        };
        return Err(run_failure(&r, &st.tail, "the upgrade failed").hint(format!(
            "restore the VM snapshot taken before the upgrade (the appliance may be half-upgraded), read {}, then run again{token}",
            r.upgrade_log.as_deref().unwrap_or(&r.log)
        )));
    }
    let mut reboot = r.awaits_reboot(&st.boot_id);
    if reboot && p.script.is_some() && going_down(ctx, run, &st.boot_id)? {
        st = run.status(ctx, 0, run.deadline + run.io_t)?;
        reboot = r.awaits_reboot(&st.boot_id);
    }
    let rebooted = st.extra.rebooted || (!started_boot.is_empty() && started_boot != st.boot_id.trim());
    let out = Output {
        rc: Some(r.rc),
        reboot_required: reboot,
        upgrade_log: r.upgrade_log.clone().or(st.upgrade_log.clone()),
        log: Some(r.log.clone()),
        stdout_lines: st.tail.clone(),
        attached,
        status: if attached { "attached" } else { "ran" }.into(),
        checksum: Some(key_checksum(&r.sha256))
            .filter(|_| is_sha256_hex(&r.sha256) || r.sha256.starts_with("sha1:"))
            .or(sha.map(|s| key_checksum(&s))),
        seconds: round3(run.t0.elapsed().as_secs_f64()),
        rebooted,
    };
    let diff = Diff::new("upgrade: not run\n", format!("upgrade: bash {} exited 0\n", r.shar));
    let msg = if reboot {
        "upgrade staged; reboot the appliance to complete it"
    } else if rebooted {
        "upgrade finished; the appliance rebooted during the run"
    } else {
        "upgrade finished"
    };
    ctx.log(1, msg);
    Ok(Outcome::new(true, out).diff(diff).msg(msg))
}
