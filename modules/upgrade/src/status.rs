//! What the appliance shows: one read-only look (`remote/status.sh`).

use crate::iso::{parse_extra, RecordExtra};
use crate::{Params, Run};
use std::time::{Duration, Instant};
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::upgrade_state::{self, path_in, UpgradeRecord, CURRENT_FILE, RECORD_FILE};
use usage_meter::{Context, Failure};

const STATUS_SH: &str = include_str!("remote/status.sh");

/// The run in progress, or the last one started (CURRENT_FILE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentRun {
    pub id: String,
    pub sha256: String,
    pub started: u64,
    pub boot_id: String,
    pub log: String,
}

impl CurrentRun {
    pub fn parse(text: &str) -> Option<CurrentRun> {
        let r = Reply::parse(text);
        let get = |k: &str| r.get(k).unwrap_or_default().to_string();
        let c = CurrentRun {
            id: get("id"),
            sha256: get("sha256").to_ascii_lowercase(),
            started: get("started").trim().parse().unwrap_or(0),
            boot_id: get("boot_id"),
            log: get("log"),
        };
        (!c.id.is_empty()).then_some(c)
    }
}

/// What the status script saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub boot_id: String,
    pub running: bool,
    pub shar_exists: bool,
    pub chdir_exists: bool,
    pub old_present: bool,
    pub flock: bool,
    pub upgrade_log: Option<String>,
    pub record: Option<UpgradeRecord>,
    pub current: Option<CurrentRun>,
    pub tail: Vec<String>,
    /// What an ISO run's record adds (why it was stopped, a reboot).
    pub extra: RecordExtra,
    /// The failed run on record was given another access token than this task's.
    pub token_changed: bool,
}

/// One read-only look at the appliance; `wait_secs` > 0 first waits (up to
/// that long) for a running upgrade to end.
/// With `script` (an ISO) it looks at the script instead of the bundle, and
/// `<chdir>-old` (the 4.3 layout) means nothing.
pub fn status_cmd(p: &Params, wait_secs: u64) -> String {
    let what = p.script.as_deref().unwrap_or(&p.shar);
    status_script(&p.state_dir, what, &p.chdir, p.tail_lines, wait_secs, p.script.is_none())
}

/// `old`: report whether `<chdir>-old` exists.
pub(crate) fn status_script(state_dir: &str, shar: &str, chdir: &str, tail_lines: usize, wait_secs: u64, old: bool) -> String {
    let ch = chdir.trim_end_matches('/');
    Script::new(&[upgrade_state::RUNNING_SH, STATUS_SH])
        .env("UM_LOCK", path_in(state_dir, upgrade_state::LOCK_FILE))
        .env("UM_RECORD", path_in(state_dir, RECORD_FILE))
        .env("UM_CURRENT", path_in(state_dir, CURRENT_FILE))
        .env("UM_SHAR", shar)
        .env("UM_CHDIR", ch)
        .env("UM_OLD", if old { format!("{ch}-old") } else { String::new() })
        .env("UM_TICKS", (wait_secs * 4).to_string())
        .env("UM_TAIL", tail_lines.to_string())
        .command()
}

pub fn parse_status(stdout: &str) -> Option<Status> {
    let r = Reply::parse(stdout);
    let body = |name: &str| r.section(name).map(|s| s.text()).unwrap_or_default();
    let s = Status {
        boot_id: r.get("boot_id")?.trim().to_string(),
        running: r.flag("running"),
        shar_exists: r.flag("shar"),
        chdir_exists: r.flag("chdir"),
        old_present: r.flag("old"),
        flock: r.flag("flock"),
        upgrade_log: r.get("upgrade_log").map(|v| v.trim().to_string()).filter(|x| !x.is_empty()),
        record: UpgradeRecord::parse(&body("record")),
        current: CurrentRun::parse(&body("current")),
        tail: r.section("tail").map(|s| s.lines.clone()).unwrap_or_default(),
        extra: parse_extra(&body("record")),
        token_changed: false,
    };
    r.complete.then_some(s)
}

impl Run<'_> {
    /// One look at the appliance ([`status_cmd`]), first waiting up to `wait` s
    /// for a running upgrade to end; retried over reconnections until `deadline`.
    pub(crate) fn status(&mut self, ctx: &mut Context, wait: u64, deadline: Instant) -> Result<Status, Failure> {
        let out = self
            .conn
            .exec_retry(ctx, &status_cmd(self.p, wait), self.io_t + Duration::from_secs(wait), deadline)
            .map_err(|e| e.into_failure("read upgrade state"))?;
        self.conn.flush_warnings(ctx);
        parse_status(&out.stdout)
            .ok_or_else(|| Failure::new("read upgrade state", format!("unexpected output: {}", out.tail(5).join(" | "))))
    }
}
