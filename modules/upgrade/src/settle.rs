//! The answer when nothing is to be started or waited for (or in check mode).

use crate::iso::key_checksum;
use crate::wait::run_failure;
use crate::{Output, Params, Plan, Status};
use usage_meter::upgrade_state::UpgradeRecord;
use usage_meter::{Diff, Failure, Outcome};

/// The answer when nothing is to be started or waited for (or in check mode).
pub(crate) fn settle(
    check_mode: bool,
    p: &Params,
    st: &Status,
    todo: Plan,
    base: impl Fn(&str, bool) -> Output,
    ours: impl Fn(&UpgradeRecord) -> bool,
) -> Result<Outcome<Output>, Failure> {
    let ch = p.chdir.trim_end_matches('/');
    match todo {
        Plan::AlreadyRan(r) => {
            let reboot = r.awaits_reboot(&st.boot_id);
            let mut o = base("already_ran", false);
            o.rc = Some(r.rc);
            o.reboot_required = reboot;
            o.upgrade_log = r.upgrade_log.clone().or(o.upgrade_log);
            o.log = Some(r.log.clone()).filter(|l| !l.is_empty());
            o.stdout_lines = st.tail.clone();
            o.checksum = Some(key_checksum(&r.sha256));
            o.rebooted = st.extra.rebooted;
            let msg = if reboot {
                "this bundle already ran successfully; the appliance has not rebooted since: reboot to complete the upgrade"
            } else {
                "this bundle already ran successfully and the appliance has rebooted since"
            };
            Ok(Outcome::new(ours(&r), o).msg(msg))
        }
        Plan::AlreadyUpgraded => {
            Ok(Outcome::new(false, base("already_upgraded", false)).msg(format!(
                "{ch}-old exists and no run is recorded: the appliance already went through the in-place upgrade; nothing to do"
            )))
        }
        Plan::PreviousFailed(r) if st.extra.stopped.is_some() => {
            let f = crate::iso::stopped_failure(p, &st.extra).unwrap_or_else(|| run_failure(&r, &st.tail, "the previous run failed"));
            Err(f.hint("that was the previous run of this ISO: restore the VM snapshot and run again, or set force: true"))
        }
        Plan::PreviousFailed(r) => {
            Err(run_failure(&r, &st.tail, "the previous run of this bundle failed")
                .hint(format!(
                    "restore the VM snapshot taken before the upgrade and run again; read {} first. To run the bundle again without restoring, set force: true",
                    r.upgrade_log.as_deref().unwrap_or(&r.log)
                )))
        }
        Plan::Interrupted(c) => {
            Err(Failure::new(
                "upgrade",
                format!(
                    "the run {} of this bundle (started at {} in boot {}) ended without an exit code: the appliance rebooted or the run was killed",
                    c.id, c.started, c.boot_id
                ),
            )
            .hint(format!("read {} and the upgrade log; restore the VM snapshot and run again, or set force: true", c.log))
            .with("log", c.log.clone())
            .with("stdout_lines", st.tail.clone())
            .with("upgrade_log", st.upgrade_log.clone()))
        }
        Plan::Missing if p.script.is_some() => {
            Err(Failure::new("find the upgrade script", format!("there is no script at {} on the appliance", p.script.as_deref().unwrap_or_default()))
                .hint("mount the ISO first with vcloud.usage_meter.iso_mount and give its script"))
        }
        Plan::Missing => {
            Err(Failure::new("find bundle", format!("there is no bundle at {} on the appliance", p.shar))
                .hint("copy it first with vcloud.usage_meter.shar_copy, or set shar to where it is"))
        }
        Plan::Attach if check_mode => {
            Ok(
                Outcome::new(true, base("would_attach", true)).msg("an upgrade is running on the appliance; the task would wait for it")
            )
        }
        Plan::Start if check_mode => {
            let mut o = base("would_run", false);
            o.reboot_required = true;
            let (what, dir) = match &p.script {
                Some(s) => (s.as_str(), s.rsplit_once('/').map_or("/", |(d, _)| d)),
                None => (p.shar.as_str(), ch),
            };
            let d = Diff::new("upgrade: not run\n", format!("upgrade: bash {what} in {dir}\n"));
            Ok(Outcome::new(true, o).diff(d).msg(format!("would run bash {what} in {dir}")))
        }
        Plan::Attach | Plan::Start => Err(Failure::new("upgrade", "internal error: nothing settled").hint("run again")),
    }
}
