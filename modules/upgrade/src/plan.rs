//! What to do, from what the appliance shows.

use crate::status::{CurrentRun, Status};
use usage_meter::upgrade_state::UpgradeRecord;

/// What to do, from what the appliance shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An upgrade runs now: wait for it.
    Attach,
    /// This bundle already ran successfully (or the bundle is gone and a success is recorded).
    AlreadyRan(UpgradeRecord),
    /// No record, but `<chdir>-old` exists: the 4.3 upgrade was done before.
    AlreadyUpgraded,
    /// The last run of this bundle failed.
    PreviousFailed(UpgradeRecord),
    /// The last run of this bundle ended without recording an exit code.
    Interrupted(CurrentRun),
    /// No bundle at `shar`.
    Missing,
    /// Start it.
    Start,
}

/// Decide; `sha` is the bundle's checksum (None when it is not there), `want`
/// the `checksum` option: with the bundle gone, a recorded success counts only
/// for the bundle the user names.
pub fn plan(st: &Status, sha: Option<&str>, want: Option<&str>, force: bool) -> Plan {
    if st.running {
        return Plan::Attach;
    }
    let same = |s: &str| sha == Some(s);
    if let Some(r) = &st.record {
        let gone_but_named = sha.is_none() && want.is_none_or(|w| w == r.sha256);
        if !force && r.succeeded() && (gone_but_named || same(&r.sha256)) {
            return Plan::AlreadyRan(r.clone());
        }
        // a run stopped at the token prompt for want of a token may start again once one is given
        let no_token = st.extra.stopped.as_deref() == Some("missing_token");
        // and one given another token (the last was refused) is a new attempt
        if !force && !r.succeeded() && !no_token && !st.token_changed && same(&r.sha256) && !matches!(&st.current, Some(c) if c.id != r.id)
        {
            return Plan::PreviousFailed(r.clone());
        }
    }
    if let Some(c) = &st.current {
        let recorded = st.record.as_ref().is_some_and(|r| r.id == c.id);
        if !force && !recorded && same(&c.sha256) {
            return Plan::Interrupted(c.clone());
        }
    }
    if !force && st.record.is_none() && st.old_present {
        return Plan::AlreadyUpgraded;
    }
    if sha.is_none() {
        return Plan::Missing;
    }
    Plan::Start
}
