//! The copy lock: copies to one appliance take turns.
//!
//! The holder is a shell on the appliance, run over its own SSH channel of the
//! copy's connection: it takes an exclusive `flock` on LOCK_FILE, writes
//! OWNER_FILE, says `@@held` and then reads its stdin until the channel
//! closes (the copy ended, or its connection dropped or the controller died:
//! sshd closes the pipe), when it removes OWNER_FILE and exits, which releases
//! the lock. A waiting holder says `@@waiting` every 2 s (so a dead link is
//! noticed) and gives up with `@@busy` after the timeout, each time it starts
//! to wait and when it gives up followed by the owner's `key=value` lines
//! (`remote/lock.sh`, in the protocol of `usage_meter::reply`).
//!
//! Every command that writes the partial file or renames it first checks that
//! OWNER_FILE still names this run (its token): a copy that lost its lock
//! writes nothing.

use crate::transfer::CopyRun;
use crate::Params;
use std::path::Path;
use std::time::{Duration, Instant};
use usage_meter::reply::Line;
use usage_meter::shell::Script;
use usage_meter::ssh::{Held, Ssh, SshError};
use usage_meter::upgrade_state::path_in;
use usage_meter::{Context, Failure};

/// The lock file under the state dir: `flock`ed by the copy that runs.
pub const LOCK_FILE: &str = "shar_copy.lock";
/// Who holds [`LOCK_FILE`] (`key=value` lines), written by the holder, for the
/// message of a copy that has to wait.
pub const OWNER_FILE: &str = "shar_copy.owner";

/// `state_dir/LOCK_FILE` and `state_dir/OWNER_FILE`.
pub fn lock_paths(state_dir: &str) -> (String, String) {
    (path_in(state_dir, LOCK_FILE), path_in(state_dir, OWNER_FILE))
}

const LOCK_SH: &str = include_str!("remote/lock.sh");
const GUARD_SH: &str = include_str!("remote/guard.sh");
const BUSY_SH: &str = include_str!("remote/busy.sh");
pub(crate) const REMOVE_PART_SH: &str = include_str!("remote/remove_part.sh");

/// The holder script. `owner` are extra `key=value` lines for OWNER_FILE
/// (the holder adds `token`, `pid`, `client`, `started`).
pub fn lock_script(state_dir: &str, token: &str, timeout_secs: u64, owner: &[(&str, &str)]) -> String {
    let (lock, own) = lock_paths(state_dir);
    let extra: String = owner.iter().map(|(k, v)| format!("{k}={}\n", v.replace(['\n', '\r'], "?"))).collect();
    Script::new(&[LOCK_SH])
        .env("UM_SD", state_dir)
        .env("UM_LOCK", lock)
        .env("UM_OWNER", own)
        .env("UM_TOKEN", token)
        .env("UM_TIMEOUT", timeout_secs.to_string())
        .env("UM_EXTRA", extra)
        .command()
}

/// `s`, run only while this run holds the lock (OWNER_FILE names its
/// token); else it prints `UMLOSTLOCK` and does nothing.
pub fn guarded(state_dir: &str, token: &str, s: Script) -> String {
    let (_, own) = lock_paths(state_dir);
    s.after(GUARD_SH).env("UM_OWNER", own).env("UM_TOKEN", token).command()
}

/// Shell that prints `UMBUSY` while a copy holds the lock, writing nothing
/// (a shared `flock` probe, as `upgrade_state::in_progress_test` does).
pub fn lock_busy_cmd(state_dir: &str) -> String {
    Script::new(&[BUSY_SH]).env("UM_LOCK", lock_paths(state_dir).0).command()
}

/// The holder of the lock, from its OWNER_FILE (as a waiting copy saw it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockOwner(pub Vec<(String, String)>);

impl LockOwner {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|(key, v)| key == k && !v.trim().is_empty()).map(|(_, v)| v.trim())
    }

    /// `the copy of <src> to <dest> from controller <name> (<address>, pid <n>)`,
    /// then `, running for <n> s` when `age` (as of the holder's report).
    pub fn describe(&self, age: bool) -> String {
        if self.get("token").is_none() {
            return "another copy (it has not recorded who it is yet)".into();
        }
        let mut s = format!("the copy of {} to {}", self.get("src").unwrap_or("?"), self.get("dest").unwrap_or("?"));
        let mut from = Vec::new();
        if let Some(c) = self.get("client") {
            from.push(c.to_string());
        }
        if let Some(pid) = self.get("controller_pid") {
            from.push(format!("pid {pid}"));
        }
        s.push_str(&format!(" from controller {}", self.get("controller").unwrap_or("?")));
        if !from.is_empty() {
            s.push_str(&format!(" ({})", from.join(", ")));
        }
        let num = |k: &str| self.get(k).and_then(|v| v.parse::<u64>().ok());
        if let (true, Some(now), Some(started)) = (age, num("now"), num("started")) {
            s.push_str(&format!(", running for {} s", now.saturating_sub(started)));
        }
        s
    }
}

/// What the holder script said up to `@@held` (or to its end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockReport {
    /// The last state (section): held, waiting, busy, noflock, error.
    pub state: String,
    /// The holder it waited for, if it had to wait.
    pub owner: Option<LockOwner>,
    /// The owner's lines follow (the first `@@waiting`, and `@@busy`).
    reading_owner: bool,
}

impl LockReport {
    /// Take one line of the holder's output.
    pub fn line(&mut self, line: &str) {
        match Line::parse(line) {
            Line::Section(st) => {
                // each report of the owner starts afresh: when it starts to wait, and when it gives up
                self.reading_owner = (st == "waiting" && self.state != "waiting") || st == "busy";
                if self.reading_owner {
                    self.owner = Some(LockOwner::default());
                }
                self.state = st.to_string();
            }
            Line::Field(k, v) if self.reading_owner => {
                if let Some(o) = self.owner.as_mut() {
                    o.0.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
}

/// The copy lock on the appliance, held while this value lives: dropping it
/// closes the holder's channel, which ends the holder and releases the lock.
pub struct CopyLock {
    /// The channel running the holder, kept only to be closed when dropped.
    _holder: Held,
    /// The copy it waited for, and how long.
    pub waited: Option<(LockOwner, Duration)>,
}

impl std::fmt::Debug for CopyLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyLock").field("waited", &self.waited).finish_non_exhaustive()
    }
}

/// What identifies this run in the owner file.
#[derive(Debug, Clone)]
pub struct RunId {
    pub token: String,
    pub controller: String,
}

impl RunId {
    pub fn new() -> RunId {
        let controller = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().chars().filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).collect::<String>())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        RunId { token: format!("{controller}-{}", usage_meter::appliance::run_token()), controller }
    }
}

impl Default for RunId {
    fn default() -> Self {
        RunId::new()
    }
}

const LOCK_STEP: &str = "wait for the copy lock";

/// Why the copy lock was not taken.
#[derive(Debug)]
enum LockError {
    /// The connection broke (worth reconnecting).
    Link(SshError),
    Failed(Failure),
}

impl LockError {
    fn into_failure(self) -> Failure {
        match self {
            LockError::Link(e) => {
                e.hint("the connection to the appliance broke while taking the copy lock; run the task again").into_failure(LOCK_STEP)
            }
            LockError::Failed(f) => f,
        }
    }
}

/// Take the copy lock, waiting up to `p.lock_timeout` for another copy
/// (`resuming`: again, after a dropped connection).
fn take_lock(ctx: &Context, ssh: &Ssh, p: &Params, run: &RunId, src: &Path, resuming: bool) -> Result<CopyLock, LockError> {
    let (lock_path, _) = lock_paths(&p.state_dir);
    let step = LOCK_STEP;
    let src_s = src.display().to_string();
    let pid = std::process::id().to_string();
    let script = lock_script(
        &p.state_dir,
        &run.token,
        p.lock_timeout,
        &[("controller", run.controller.as_str()), ("controller_pid", pid.as_str()), ("src", src_s.as_str()), ("dest", p.dest.as_str())],
    );
    // The holder speaks every 2 s while it waits: a silence this long is a dead link.
    let quiet = Duration::from_secs(p.connection.connect_timeout.max(20));
    let t0 = Instant::now();
    let mut report = LockReport::default();
    let mut told = false;
    let mut stuck = false;
    let mut holder = ssh
        .exec_held(&script, quiet, |line| {
            report.line(line);
            if report.state == "held" {
                return false;
            }
            if t0.elapsed() > Duration::from_secs(p.lock_timeout.saturating_add(60)) {
                stuck = true;
                return false;
            }
            if report.state == "waiting" && !told && report.owner.as_ref().is_some_and(|o| o.get("now").is_some()) {
                told = true;
                let who = report.owner.as_ref().map(|o| o.describe(true)).unwrap_or_default();
                ctx.log(1, format!("another copy to this appliance holds {lock_path}: {who}; waiting up to {} s", p.lock_timeout));
            }
            true
        })
        .map_err(LockError::Link)?;
    if stuck {
        return Err(LockError::Failed(
            Failure::new(step, format!("the lock holder on the appliance still waits after {} s", t0.elapsed().as_secs()))
                .hint("run the task again"),
        ));
    }
    let waited = report.owner.clone().map(|o| (o, t0.elapsed()));
    let failed = match report.state.as_str() {
        "held" => return Ok(CopyLock { _holder: holder, waited }),
        "busy" => {
            let who = report.owner.as_ref().map(|o| o.describe(true)).unwrap_or_else(|| "another copy".into());
            Failure::new(
                step,
                format!(
                    "another copy to this appliance is running and still holds {lock_path} after {} s (lock_timeout): {who}; {}",
                    p.lock_timeout,
                    if resuming { "this copy, cut off and reconnected, stops here" } else { "nothing was sent" }
                ),
            )
            .hint(
                "let that copy finish, then run again (when it copied the same bundle, the run finds it in place and changes nothing), \
                 or raise lock_timeout; the lock is released as soon as that copy ends or its SSH connection closes",
            )
            .with("lock_owner", report.owner.map(|o| o.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()).unwrap_or_default())
        }
        "noflock" => Failure::new(step, "flock (util-linux) is not available on the appliance")
            .hint("the lock that keeps two copies from writing the same file at once needs flock; install util-linux"),
        _ => {
            let tail = holder.stderr_tail(3);
            Failure::new(
                step,
                format!(
                    "could not take the lock {lock_path} (state '{}'){}",
                    report.state,
                    if tail.is_empty() { String::new() } else { format!(": {}", tail.join(" | ")) }
                ),
            )
            .hint(format!("check that {} can be created on the appliance (disk space, permissions), or set state_dir", p.state_dir))
        }
    };
    Err(LockError::Failed(failed))
}

/// [`take_lock`] into `cr.lock`, connecting again when the connection drops
/// while it waits (counted in `cr.drops`, at most `retries`).
pub(crate) fn take_lock_retrying(ctx: &mut Context, cr: &mut CopyRun<'_>, resuming: bool) -> Result<(), Failure> {
    let p = cr.p;
    loop {
        let taken = match cr.conn.get() {
            Ok(s) => take_lock(ctx, s, p, &cr.id, cr.src, resuming),
            Err(e) => Err(LockError::Link(e)),
        };
        match taken {
            Ok(l) => {
                cr.lock = Some(l);
                return Ok(());
            }
            Err(LockError::Link(e)) if e.is_transient() && cr.drops < p.retries => {
                cr.drops += 1;
                ctx.warn(format!(
                    "the connection dropped while taking the copy lock ({}); reconnecting (retry {} of {})",
                    e.detail, cr.drops, p.retries
                ));
                cr.conn
                    .reconnect(Duration::from_millis(300 * u64::from(cr.drops)), cr.deadline)
                    .map_err(|e| e.into_failure("reconnect"))?;
            }
            Err(e) => return Err(e.into_failure()),
        }
    }
}
