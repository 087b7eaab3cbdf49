#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.upgrade: run `bash <shar>` in the Usage Meter directory,
//! detached on the appliance (it survives a dropped SSH connection), under a
//! lock (it never runs twice at once), with its outcome recorded on the
//! appliance (a re-run after success changes nothing and says whether the
//! completing reboot is still due). See `usage_meter::upgrade_state`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::time::{Duration, Instant};
use usage_meter::reply::Reply;
use usage_meter::shell::{quote, Script};
use usage_meter::ssh::{ConnectionArgs, Reconnecting, Ssh};
use usage_meter::upgrade_state::{self, is_sha256_hex, parse_checksum, path_in, UpgradeRecord, CURRENT_FILE, RECORD_FILE};
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

pub const DEFAULT_CHDIR: &str = usage_meter::appliance::INSTALL_DIR;
pub const DEFAULT_SHAR: &str = usage_meter::appliance::BUNDLE;
const START_SH: &str = include_str!("remote/start.sh");
const RUNNER_SH: &str = include_str!("remote/runner.sh");
const STATUS_SH: &str = include_str!("remote/status.sh");

fn default_shar() -> String {
    DEFAULT_SHAR.into()
}
fn default_chdir() -> String {
    DEFAULT_CHDIR.into()
}
fn default_timeout() -> u64 {
    3600
}
fn default_poll() -> u64 {
    10
}
fn default_state_dir() -> String {
    upgrade_state::DEFAULT_STATE_DIR.into()
}
fn default_tail() -> usize {
    20
}

/// Options of vcloud.usage_meter.upgrade.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Path of the upgrade bundle on the appliance (see M(vcloud.usage_meter.shar_copy)).
    #[serde(default = "default_shar")]
    #[schemars(length(min = 1))]
    pub shar: String,
    /// Directory the bundle is run from, as the documented procedure does
    /// (C(cd /opt/vmware/cloudusagemetering && bash ums-system-upgrade.shar)).
    /// Its C(var/logs/inplaceupgradeum-*) files are the upgrade logs, and
    /// C(<chdir>-old) existing means the appliance already went through the 4.3 upgrade.
    #[serde(default = "default_chdir")]
    #[schemars(length(min = 1))]
    pub chdir: String,
    /// Seconds to wait for the upgrade to finish. When they run out the task
    /// fails but the upgrade keeps running on the appliance; run the task again
    /// to attach to it.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout: u64,
    /// Longest time in seconds one status check waits on the appliance; the end
    /// of the run is noticed within a quarter of a second either way.
    #[serde(default = "default_poll")]
    #[schemars(range(min = 1, max = 300))]
    pub poll_interval: u64,
    /// Run the bundle even when the same bundle already ran successfully, a
    /// previous run failed or was interrupted, or the appliance already has the
    /// 4.3 layout. Never starts a second run while one is in progress.
    #[serde(default)]
    pub force: bool,
    /// sha256 the bundle on the appliance must have, C(sha256:<64 hex digits>);
    /// a different bundle is refused.
    pub checksum: Option<String>,
    /// Directory of this collection on the appliance: the lock, the record of
    /// the last run and the run's output. Must survive the reboot, so it must
    /// not be inside O(chdir).
    #[serde(default = "default_state_dir")]
    #[schemars(length(min = 1))]
    pub state_dir: String,
    /// How many lines of the run's output to return in RV(stdout_lines).
    #[serde(default = "default_tail")]
    #[schemars(range(min = 1, max = 10000))]
    pub tail_lines: usize,
}

/// Result of vcloud.usage_meter.upgrade.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Exit code of C(bash <shar>). Absent when no run is recorded (nothing
    /// ran, or check mode): Ansible counts any other C(rc) than 0 as a failure.
    #[schemars(extend("x-sample" = 0, "x-returned" = "when a run is recorded"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// Whether the appliance must be rebooted to complete the upgrade (a
    /// successful run is recorded in the current boot).
    #[schemars(extend("x-sample" = true))]
    pub reboot_required: bool,
    /// The newest C(var/logs/inplaceupgradeum-*) file under O(chdir).
    #[schemars(extend("x-sample" = "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-12345", "x-returned" = "when one exists"))]
    pub upgrade_log: Option<String>,
    /// Output of the run on the appliance (stdout and stderr), under O(state_dir).
    #[schemars(extend("x-sample" = "/var/lib/vcloud-usage-meter/runs/1795000000-4242.log", "x-returned" = "when a run is recorded"))]
    pub log: Option<String>,
    /// The last O(tail_lines) lines of the run's output.
    #[schemars(extend("x-sample" = ["INFO  upgrade to 4.3.0 staged; reboot the appliance to complete the upgrade"]))]
    pub stdout_lines: Vec<String>,
    /// Whether this task found the upgrade already running (started by an
    /// earlier task or another play) and waited for it instead of starting it.
    #[schemars(extend("x-sample" = false))]
    pub attached: bool,
    /// What happened: V(ran), V(attached), V(already_ran) (this bundle already
    /// succeeded), V(already_upgraded) (4.3 layout, no record), V(would_run),
    /// V(would_attach) (check mode).
    #[schemars(extend("x-sample" = "ran"))]
    pub status: String,
    /// sha256 of the bundle (C(sha256:<hex>)), when it is on the appliance or recorded.
    #[schemars(extend("x-sample" = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "x-returned" = "when known"))]
    pub checksum: Option<String>,
    /// Wall time of the task in seconds.
    #[schemars(extend("x-sample" = 312.5))]
    pub seconds: f64,
}

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
}

/// One read-only look at the appliance; `wait_secs` > 0 first waits (up to
/// that long) for a running upgrade to end.
pub fn status_cmd(p: &Params, wait_secs: u64) -> String {
    status_script(&p.state_dir, &p.shar, &p.chdir, p.tail_lines, wait_secs)
}

fn status_script(state_dir: &str, shar: &str, chdir: &str, tail_lines: usize, wait_secs: u64) -> String {
    let ch = chdir.trim_end_matches('/');
    Script::new(&[upgrade_state::RUNNING_SH, STATUS_SH])
        .env("UM_LOCK", path_in(state_dir, upgrade_state::LOCK_FILE))
        .env("UM_RECORD", path_in(state_dir, RECORD_FILE))
        .env("UM_CURRENT", path_in(state_dir, CURRENT_FILE))
        .env("UM_SHAR", shar)
        .env("UM_CHDIR", ch)
        .env("UM_OLD", format!("{ch}-old"))
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
    };
    r.complete.then_some(s)
}

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
        if !force && !r.succeeded() && same(&r.sha256) && !matches!(&st.current, Some(c) if c.id != r.id) {
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

/// Seconds the start script waits for the upgrade lock (a status probe holds it
/// for a moment) before it answers busy.
const START_LOCK_WAIT_S: u64 = 5;

/// The start script with the runner embedded.
pub fn start_script() -> String {
    format!("{}\n{}", upgrade_state::SUM_SH, START_SH.replace("@RUNNER@", RUNNER_SH.trim_end()))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Debug)]
pub struct Upgrade;

impl Module for Upgrade {
    const NAME: &'static str = "upgrade";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Run the Usage Meter in-place upgrade bundle, detached, locked and recorded",
            description: &[
                "Runs C(bash <shar>) in O(chdir) on a vCloud Usage Meter appliance, as the documented 4.3 in-place upgrade does, and waits for it.",
                "The bundle runs detached on the appliance (new session, output to a log under O(state_dir)), so a dropped SSH connection does not stop it; the module reconnects with backoff and keeps waiting until O(timeout).",
                "A task that finds an upgrade already running attaches to it instead of starting another. A lock on the appliance (C(flock) on a file under O(state_dir), held by the run) makes sure the bundle never runs twice at once, even from two plays.",
                "The outcome (bundle sha256, exit code, boot id at completion, log paths) is recorded under O(state_dir). A re-run after success reports C(changed=false), with RV(reboot_required) true until the appliance has rebooted. Without a record, an existing C(<chdir>-old) means the appliance already has the 4.3 layout: nothing is done.",
                "A previous run of the same bundle that failed or was interrupted is not repeated unless O(force=true): restore the snapshot first.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "The 4.3 upgrade is completed by a reboot (M(vcloud.usage_meter.reboot)); this module does not reboot.",
                "Needs C(flock) (util-linux) on the appliance.",
            ],
            examples: r#"
- name: Run the upgrade bundle copied by shar_copy
  vcloud.usage_meter.upgrade:
    checksum: "sha256:{{ ums_bundle_sha256 }}"
  register: upgrade

- name: Reboot to complete it
  vcloud.usage_meter.reboot:
  when: upgrade.reboot_required
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let t0 = Instant::now();
        let want =
            p.checksum.as_deref().map(parse_checksum).transpose().map_err(|m| {
                Failure::new("check checksum", m).hint("give the sha256 published with the bundle as sha256:<64 hex digits>")
            })?;
        for (name, v) in [("shar", &p.shar), ("chdir", &p.chdir), ("state_dir", &p.state_dir)] {
            if !v.starts_with('/') {
                return Err(Failure::new("check options", format!("{name} '{v}' must be an absolute path")));
            }
        }
        let ch = p.chdir.trim_end_matches('/');
        let sd = p.state_dir.trim_end_matches('/');
        if sd == ch || sd.starts_with(&format!("{ch}/")) {
            return Err(Failure::new("check options", format!("state_dir {sd} is inside chdir {ch}, which the reboot replaces"))
                .hint(format!("use a directory outside it, e.g. {}", upgrade_state::DEFAULT_STATE_DIR)));
        }
        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        let mut conn = Reconnecting::new(&p.connection, Some(ssh));
        let io_t = Duration::from_secs(p.connection.connect_timeout.max(30));
        let deadline = t0 + Duration::from_secs(p.timeout);

        let mut races = 0;
        let mut maybe_started = false;
        // The record id before this task tried to start a run.
        let mut seen_before: Option<String> = None;
        loop {
            let st = read_status(ctx, &mut conn, &p, 0, io_t, deadline)?;
            let sha = if st.shar_exists && !st.running {
                let s = conn.get().map_err(|e| e.into_failure("checksum bundle"))?;
                upgrade_state::remote_sha256(s, &p.state_dir, &p.shar, !ctx.check_mode, Duration::from_secs(3600))
                    .map_err(|e| e.into_failure("checksum bundle"))?
                    .map(|r| r.sha256)
            } else {
                None
            };
            if let (Some(w), Some(s)) = (&want, &sha) {
                if w != s {
                    return Err(Failure::new(
                        "verify bundle",
                        format!("{} has sha256:{s}, not the expected sha256:{w}; it was not run", p.shar),
                    )
                    .hint("copy the right bundle with vcloud.usage_meter.shar_copy (with checksum), or fix the checksum option"));
                }
            }
            let base = |status: &str, attached: bool| Output {
                rc: None,
                reboot_required: false,
                upgrade_log: st.upgrade_log.clone(),
                log: None,
                stdout_lines: Vec::new(),
                attached,
                status: status.into(),
                checksum: sha.as_ref().map(|s| format!("sha256:{s}")),
                seconds: round3(t0.elapsed().as_secs_f64()),
            };
            let todo = plan(&st, sha.as_deref(), want.as_deref(), p.force);
            ctx.log(2, format!("plan: {todo:?}"));
            match todo {
                Plan::AlreadyRan(r) => {
                    let reboot = r.awaits_reboot(&st.boot_id);
                    let mut o = base("already_ran", false);
                    o.rc = Some(r.rc);
                    o.reboot_required = reboot;
                    o.upgrade_log = r.upgrade_log.clone().or(o.upgrade_log);
                    o.log = Some(r.log.clone()).filter(|l| !l.is_empty());
                    o.stdout_lines = st.tail.clone();
                    o.checksum = Some(format!("sha256:{}", r.sha256));
                    let msg = if reboot {
                        "this bundle already ran successfully; the appliance has not rebooted since: reboot to complete the upgrade"
                    } else {
                        "this bundle already ran successfully and the appliance has rebooted since"
                    };
                    // A run this task started but lost sight of (dropped connection) is still its change.
                    let changed = maybe_started && seen_before.as_deref() != Some(r.id.as_str());
                    return Ok(Outcome::new(changed, o).msg(msg));
                }
                Plan::AlreadyUpgraded => {
                    return Ok(Outcome::new(false, base("already_upgraded", false)).msg(format!(
                        "{ch}-old exists and no run is recorded: the appliance already went through the in-place upgrade; nothing to do"
                    )));
                }
                Plan::PreviousFailed(r) => {
                    return Err(run_failure(&r, &st.tail, &p, "the previous run of this bundle failed")
                        .hint(format!(
                            "restore the VM snapshot taken before the upgrade and run again; read {} first. To run the bundle again without restoring, set force: true",
                            r.upgrade_log.as_deref().unwrap_or(&r.log)
                        )));
                }
                Plan::Interrupted(c) => {
                    return Err(Failure::new(
                        "upgrade",
                        format!(
                            "the run {} of this bundle (started at {} in boot {}) ended without an exit code: the appliance rebooted or the run was killed",
                            c.id, c.started, c.boot_id
                        ),
                    )
                    .hint(format!("read {} and the upgrade log; restore the VM snapshot and run again, or set force: true", c.log))
                    .with("log", c.log.clone())
                    .with("stdout_lines", st.tail.clone())
                    .with("upgrade_log", st.upgrade_log.clone()));
                }
                Plan::Missing => {
                    return Err(Failure::new("find bundle", format!("there is no bundle at {} on the appliance", p.shar))
                        .hint("copy it first with vcloud.usage_meter.shar_copy, or set shar to where it is"));
                }
                Plan::Attach if ctx.check_mode => {
                    return Ok(Outcome::new(true, base("would_attach", true))
                        .msg("an upgrade is running on the appliance; the task would wait for it"));
                }
                Plan::Start if ctx.check_mode => {
                    let mut o = base("would_run", false);
                    o.reboot_required = true;
                    let d = Diff::new("upgrade: not run\n", format!("upgrade: bash {} in {ch}\n", p.shar));
                    return Ok(Outcome::new(true, o).diff(d).msg(format!("would run bash {} in {ch}", p.shar)));
                }
                Plan::Attach => return wait_for(ctx, &mut conn, &p, None, true, t0, deadline, io_t, sha),
                Plan::Start => {
                    if !st.flock {
                        return Err(Failure::new("start upgrade", "flock (util-linux) is not available on the appliance")
                            .hint("the lock that keeps the upgrade from running twice needs flock; install util-linux"));
                    }
                    if !st.chdir_exists {
                        return Err(Failure::new("start upgrade", format!("chdir {ch} does not exist on the appliance")));
                    }
                    let expect = st.record.as_ref().map_or("-".to_string(), |r| r.id.clone());
                    if !maybe_started {
                        seen_before = Some(expect.clone());
                    }
                    let cmd = format!(
                        "bash -s -- {} {} {} {} {} {START_LOCK_WAIT_S} {}",
                        quote(sd),
                        quote(&p.shar),
                        quote(ch),
                        quote(sha.as_deref().unwrap_or("-")),
                        quote(&expect),
                        quote(&upgrade_state::cache_file(sd, &p.shar))
                    );
                    let script = start_script();
                    let mut src = Cursor::new(script.as_bytes());
                    let mut noop = |_: u64, _: &[u8]| {};
                    let started = conn.get().and_then(|s| s.exec_with_stdin(&cmd, &mut src, &mut noop, io_t));
                    let out = match started {
                        Ok((out, _)) if out.rc.is_some() => out,
                        // The connection dropped while starting: the run may have
                        // started; look again (it is then running or recorded).
                        Ok(_) if races < 3 => {
                            conn.forget();
                            races += 1;
                            maybe_started = true;
                            continue;
                        }
                        Err(e) if e.is_transient() && races < 3 => {
                            conn.forget();
                            races += 1;
                            maybe_started = true;
                            continue;
                        }
                        Ok((out, _)) => out,
                        Err(e) => return Err(e.into_failure("start upgrade")),
                    };
                    let r = Reply::parse(&out.stdout);
                    match (r.get("state").map(str::trim), r.get("id").map(|id| id.trim().to_string())) {
                        (Some("started"), Some(id)) => {
                            ctx.log(1, format!("started upgrade run {id}"));
                            return wait_for(ctx, &mut conn, &p, Some(id), false, t0, deadline, io_t, sha);
                        }
                        (Some("busy"), _) => return wait_for(ctx, &mut conn, &p, None, true, t0, deadline, io_t, sha),
                        (Some("raced"), _) if races < 3 => {
                            races += 1;
                            continue;
                        }
                        (Some("noflock"), _) => {
                            return Err(Failure::new("start upgrade", "flock (util-linux) is not available on the appliance"))
                        }
                        _ => {
                            return Err(Failure::new(
                                "start upgrade",
                                format!("could not start the upgrade (rc {:?}): {}", out.rc, out.tail(5).join(" | ")),
                            )
                            .hint(format!("check that {sd} can be created on the appliance (disk space, permissions)")))
                        }
                    }
                }
            }
        }
    }
}

fn read_status(
    ctx: &mut Context,
    conn: &mut Reconnecting<'_>,
    p: &Params,
    wait: u64,
    io_t: Duration,
    deadline: Instant,
) -> Result<Status, Failure> {
    let out = conn
        .exec_retry(ctx, &status_cmd(p, wait), io_t + Duration::from_secs(wait), deadline)
        .map_err(|e| e.into_failure("read upgrade state"))?;
    conn.flush_warnings(ctx);
    parse_status(&out.stdout).ok_or_else(|| Failure::new("read upgrade state", format!("unexpected output: {}", out.tail(5).join(" | "))))
}

fn run_failure(r: &UpgradeRecord, tail: &[String], _p: &Params, what: &str) -> Failure {
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

/// Poll until the lock is free, then report the recorded outcome.
#[allow(clippy::too_many_arguments)]
fn wait_for(
    ctx: &mut Context,
    conn: &mut Reconnecting<'_>,
    p: &Params,
    our_id: Option<String>,
    attached: bool,
    t0: Instant,
    deadline: Instant,
    io_t: Duration,
    sha: Option<String>,
) -> Result<Outcome<Output>, Failure> {
    let mut warned = false;
    let st = loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let st = read_status(ctx, conn, p, p.poll_interval.min(left.max(1)), io_t, deadline + io_t);
        let st = match st {
            Ok(s) => s,
            Err(f) => {
                return Err(f.hint("the upgrade keeps running on the appliance: run the task again to attach to it"));
            }
        };
        if !st.running {
            break st;
        }
        if !conn.is_connected() && !warned {
            warned = true;
        }
        if Instant::now() >= deadline {
            return Err(Failure::new("wait for upgrade", format!("the upgrade still runs after {} s", p.timeout))
                .hint("it keeps running on the appliance: run the task again (with a larger timeout) to attach to it")
                .with("stdout_lines", st.tail.clone())
                .with("log", st.current.as_ref().map(|c| c.log.clone()))
                .with("upgrade_log", st.upgrade_log.clone()));
        }
    };
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
    if !r.succeeded() {
        return Err(run_failure(&r, &st.tail, p, "the upgrade failed").hint(format!(
            "restore the VM snapshot taken before the upgrade (the appliance may be half-upgraded), read {}, then run again",
            r.upgrade_log.as_deref().unwrap_or(&r.log)
        )));
    }
    let reboot = r.awaits_reboot(&st.boot_id);
    let out = Output {
        rc: Some(r.rc),
        reboot_required: reboot,
        upgrade_log: r.upgrade_log.clone().or(st.upgrade_log.clone()),
        log: Some(r.log.clone()),
        stdout_lines: st.tail.clone(),
        attached,
        status: if attached { "attached" } else { "ran" }.into(),
        checksum: Some(format!("sha256:{}", r.sha256)).filter(|_| is_sha256_hex(&r.sha256)).or(sha.map(|s| format!("sha256:{s}"))),
        seconds: round3(t0.elapsed().as_secs_f64()),
    };
    let diff = Diff::new("upgrade: not run\n", format!("upgrade: bash {} exited 0\n", r.shar));
    let msg = if reboot { "upgrade staged; reboot the appliance to complete it" } else { "upgrade finished" };
    ctx.log(1, msg);
    Ok(Outcome::new(true, out).diff(diff).msg(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, sha: &str, rc: i32, boot: &str) -> UpgradeRecord {
        UpgradeRecord { id: id.into(), sha256: sha.into(), rc, finished_boot_id: boot.into(), ..Default::default() }
    }
    fn cur(id: &str, sha: &str) -> CurrentRun {
        CurrentRun { id: id.into(), sha256: sha.into(), ..Default::default() }
    }
    fn st() -> Status {
        Status { boot_id: "b1".into(), shar_exists: true, chdir_exists: true, flock: true, ..Default::default() }
    }

    #[test]
    fn plan_start_and_attach() {
        assert_eq!(plan(&st(), Some("aa"), None, false), Plan::Start);
        assert_eq!(plan(&Status { running: true, ..st() }, Some("aa"), None, true), Plan::Attach);
        assert_eq!(plan(&Status { shar_exists: false, ..st() }, None, None, false), Plan::Missing);
    }

    #[test]
    fn plan_after_success() {
        let s = Status { record: Some(rec("1", "aa", 0, "b1")), current: Some(cur("1", "aa")), ..st() };
        assert!(matches!(plan(&s, Some("aa"), None, false), Plan::AlreadyRan(_)));
        // bundle gone after the reboot: still done
        assert!(matches!(plan(&s, None, None, false), Plan::AlreadyRan(_)));
        assert!(matches!(plan(&s, None, Some("aa"), false), Plan::AlreadyRan(_)));
        // ... but not when the user names another bundle: that one never ran
        assert_eq!(plan(&s, None, Some("bb"), false), Plan::Missing);
        // another bundle, or force: run
        assert_eq!(plan(&s, Some("bb"), None, false), Plan::Start);
        assert_eq!(plan(&s, Some("aa"), None, true), Plan::Start);
    }

    #[test]
    fn plan_after_failure_or_interruption() {
        let s = Status { record: Some(rec("1", "aa", 2, "b1")), current: Some(cur("1", "aa")), ..st() };
        assert!(matches!(plan(&s, Some("aa"), None, false), Plan::PreviousFailed(_)));
        assert_eq!(plan(&s, Some("aa"), None, true), Plan::Start);
        assert_eq!(plan(&s, Some("bb"), None, false), Plan::Start);
        let s = Status { record: Some(rec("1", "aa", 0, "b0")), current: Some(cur("2", "cc")), ..st() };
        assert!(matches!(plan(&s, Some("cc"), None, false), Plan::Interrupted(_)));
        assert_eq!(plan(&s, Some("cc"), None, true), Plan::Start);
    }

    #[test]
    fn plan_already_upgraded_layout() {
        let s = Status { old_present: true, shar_exists: false, ..st() };
        assert_eq!(plan(&s, None, None, false), Plan::AlreadyUpgraded);
        let s = Status { old_present: true, ..st() };
        assert_eq!(plan(&s, Some("aa"), None, false), Plan::AlreadyUpgraded);
        assert_eq!(plan(&s, Some("aa"), None, true), Plan::Start);
    }

    #[test]
    fn status_parsing() {
        let out = "boot_id=b1\nrunning=0\nshar=1\nchdir=1\nold=0\nflock=1\nupgrade_log=/x/var/logs/inplaceupgradeum-1-2\n\
@@record\nid=9\nsha256=AA\nrc=0\nfinished_boot_id=b1\nlog=/s/runs/9.log\n@@current\nid=9\nsha256=aa\nlog=/s/runs/9.log\n\
@@tail\nline one\nline=two\n@@end\n";
        let s = parse_status(out).unwrap();
        assert_eq!(s.boot_id, "b1");
        assert!(s.shar_exists && s.flock && !s.running && !s.old_present);
        assert_eq!(s.upgrade_log.as_deref(), Some("/x/var/logs/inplaceupgradeum-1-2"));
        assert_eq!(s.record.as_ref().unwrap().sha256, "aa");
        assert_eq!(s.current.as_ref().unwrap().id, "9");
        assert_eq!(s.tail, vec!["line one", "line=two"]);
        assert!(s.record.unwrap().awaits_reboot("b1"));
        // truncated output (connection cut) is not a status
        assert_eq!(parse_status("boot_id=b1\nrunning=0\n@@record\n"), None);
    }

    #[test]
    fn scripts_use_the_library_names() {
        let s = start_script();
        for f in [RECORD_FILE, CURRENT_FILE, upgrade_state::LOCK_FILE] {
            assert!(s.contains(f), "{f}");
        }
        assert!(!s.contains("@RUNNER@") && s.contains("umstatkey() {"));
        assert!(RUNNER_SH.contains("upgrade.record"));
        assert_eq!(started("state=started\nid=17-3\n"), (Some("started".into()), Some("17-3".into())));
        assert_eq!(parse_checksum(&format!("sha256:{}", "F".repeat(64))), Ok("f".repeat(64)));
        assert!(parse_checksum("sha1:abc").is_err());
    }

    /// `state` and `id` of the start script's reply.
    fn started(out: &str) -> (Option<String>, Option<String>) {
        let r = Reply::parse(out);
        (r.get("state").map(str::to_string), r.get("id").map(str::to_string))
    }

    /// The start script run locally as the module runs it (`bash -s -- ARGS`, script on stdin); its stdout.
    fn run_start_script(args: &[&str]) -> String {
        use std::io::Write;
        let mut c = std::process::Command::new("bash")
            .args(["-s", "--"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(start_script().as_bytes()).unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
    }

    /// The start script and runner, run locally: a fake bundle in a temp chdir.
    #[test]
    fn start_and_runner_work_locally() {
        if std::process::Command::new("flock").arg("-V").output().is_err() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ch = dir.path().join("ums");
        std::fs::create_dir_all(ch.join("var/logs")).unwrap();
        std::fs::write(ch.join("b.shar"), "echo running in $PWD umask $(umask); touch var/logs/inplaceupgradeum-1-2; sleep 0.5; exit 0\n")
            .unwrap();
        let sd = dir.path().join("state");
        let start = |expect: &str| {
            run_start_script(&[sd.to_str().unwrap(), ch.join("b.shar").to_str().unwrap(), ch.to_str().unwrap(), "aa", expect, "0"])
        };
        let (state, id) = started(&start("-"));
        assert_eq!(state.as_deref(), Some("started"));
        // a second start while it runs finds the lock held
        assert_eq!(started(&start("-")).0.as_deref(), Some("busy"));
        let test = format!("if {}; then echo RUNNING; fi", upgrade_state::in_progress_test(sd.to_str().unwrap()));
        let running = || String::from_utf8(std::process::Command::new("sh").arg("-c").arg(&test).output().unwrap().stdout).unwrap();
        assert!(running().contains("RUNNING"));
        // the status script sees the run, and after waiting for it, its record
        let status = |wait: u64| {
            let cmd = status_script(sd.to_str().unwrap(), ch.join("b.shar").to_str().unwrap(), ch.to_str().unwrap(), 20, wait);
            let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
            parse_status(&String::from_utf8(out.stdout).unwrap()).unwrap()
        };
        let st = status(0);
        assert!(st.running && st.shar_exists && st.chdir_exists && !st.old_present && st.flock, "{st:?}");
        assert_eq!(st.current.as_ref().map(|c| c.id.clone()), id.clone());
        let st = status(5);
        assert!(!st.running, "{st:?}");
        assert_eq!(st.record.as_ref().map(|r| (r.id.clone(), r.rc)), Some((id.clone().unwrap(), 0)));
        assert!(st.tail.iter().any(|l| l.contains("running in")), "{st:?}");
        for _ in 0..100 {
            if !running().contains("RUNNING") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let r = UpgradeRecord::parse(&std::fs::read_to_string(sd.join(RECORD_FILE)).unwrap()).unwrap();
        assert_eq!(Some(r.id.clone()), id);
        assert_eq!(r.rc, 0);
        assert!(r.upgrade_log.unwrap().ends_with("inplaceupgradeum-1-2"));
        let out = std::fs::read_to_string(&r.log).unwrap();
        assert!(out.contains(&format!("running in {} umask", ch.display())), "{out}");
        // the bundle runs with the caller's umask, not the state dir's 077
        assert!(!out.contains("umask 0077"), "{out}");
        // the record moved on: a start that expected no record is told to look again
        assert_eq!(started(&start("-")).0.as_deref(), Some("raced"));
    }

    /// A bundle replaced after the module hashed it is not run: the start
    /// script compares the checksum cache entry with the file under the lock.
    #[test]
    fn start_refuses_a_bundle_replaced_since_it_was_hashed() {
        if std::process::Command::new("flock").arg("-V").output().is_err() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ch = dir.path().join("ums");
        std::fs::create_dir_all(&ch).unwrap();
        let shar = ch.join("b.shar");
        std::fs::write(&shar, "exit 0\n").unwrap();
        let sd = dir.path().join("state");
        let (sd_s, shar_s) = (sd.to_str().unwrap(), shar.to_str().unwrap());
        let sh = |script: &str| std::process::Command::new("bash").arg("-c").arg(script).output().unwrap();
        let sha = || String::from_utf8(sh(&format!("sha256sum < {shar_s}")).stdout).unwrap()[..64].to_string();
        // the module's hash, recorded in the cache as remote_sha256 does
        let sum = sha();
        assert!(sh(&upgrade_state::record_sum_script(sd_s, shar_s, &sum)).status.success());
        let cache = upgrade_state::cache_file(sd_s, shar_s);
        let start = |sha: &str| started(&run_start_script(&[sd_s, shar_s, ch.to_str().unwrap(), sha, "-", "0", &cache])).0;
        // another bundle under the same name since the hash: look again, nothing runs
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&shar, "echo other; exit 0\n").unwrap();
        assert_eq!(start(&sum).as_deref(), Some("raced"));
        assert!(!sd.join(CURRENT_FILE).exists());
        // hashed again (cache entry for the file as it is): it starts
        let sum2 = sha();
        assert_ne!(sum, sum2);
        assert!(sh(&upgrade_state::record_sum_script(sd_s, shar_s, &sum2)).status.success());
        assert_eq!(start(&sum2).as_deref(), Some("started"));
    }
}
