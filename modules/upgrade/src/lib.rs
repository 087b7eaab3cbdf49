#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.upgrade: run `bash <shar>` in the Usage Meter directory,
//! detached on the appliance (it survives a dropped SSH connection), under a
//! lock (it never runs twice at once), with its outcome recorded on the
//! appliance (a re-run after success changes nothing and says whether the
//! completing reboot is still due). See `usage_meter::upgrade_state`.
//! With `script` it runs an ISO's upgrade script the same way, answering its
//! access token prompt (`iso.rs`, `remote/iso_runner.sh`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use usage_meter::checksum::checksum_option;
use usage_meter::secret::Secret;
use usage_meter::ssh::{ConnectionArgs, Reconnecting, Ssh};
use usage_meter::upgrade_state::{self, UpgradeRecord};
use usage_meter::{Context, Failure, Module, ModuleDoc, Outcome, Support};

mod iso;
mod plan;
mod settle;
mod start;
mod status;
mod wait;

pub use iso::*;
pub use plan::*;
use settle::settle;
pub use start::start_script;
use start::{start, Started};
pub use status::*;
use wait::wait_for;

pub const DEFAULT_CHDIR: &str = usage_meter::appliance::INSTALL_DIR;
pub const DEFAULT_SHAR: &str = usage_meter::appliance::BUNDLE;

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
fn default_token_prompt() -> String {
    "access token[^:]*:[[:space:]]*$".into()
}
fn default_prompt_timeout() -> u64 {
    60
}
fn default_reboot_wait() -> u64 {
    10
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
    ///
    /// With O(script) it is required: the ISO's checksum, C(sha1:<40 hex
    /// digits>) (as in its C(.mf)) or C(sha256:<64 hex digits>). It names the
    /// ISO in the run record, so that the same ISO never runs twice; it is not
    /// computed here (M(vcloud.usage_meter.shar_copy) verified the copy).
    pub checksum: Option<String>,
    /// Absolute path of an upgrade ISO's script on the appliance (4.4 and
    /// later), as M(vcloud.usage_meter.iso_mount) returns it in RV(vcloud.usage_meter.iso_mount#module:script).
    /// It runs as C(bash <script>) from its own directory instead of the
    /// bundle, detached, under the same lock and record; O(chdir) is then only
    /// where the upgrade logs are looked for. Mutually exclusive with O(shar).
    #[schemars(length(min = 1))]
    pub script: Option<String>,
    /// The access token an upgrade to 9.x asks for (it starts with C(UMA:)).
    /// Given to the script when its output shows O(token_prompt); it travels
    /// only over the SSH connection's standard input into a root-only file
    /// that the run reads into a shell variable and removes at once: never a
    /// command line, an environment, a log or the output. When the prompt
    /// comes and no token was given, the run is stopped and the task fails.
    pub access_token: Option<Secret>,
    /// How the script reads the token [guess]: V(stdin), or V(pty) for a
    /// script that reads its terminal (C(/dev/tty)); it then runs under
    /// util-linux C(script), with echo off.
    #[serde(default)]
    pub token_input: TokenInput,
    /// The token prompt [guess]: an extended regular expression (bash C(=~)),
    /// matched case-insensitively against the output's last line while that
    /// line has no line break yet.
    #[serde(default = "default_token_prompt")]
    #[schemars(length(min = 1))]
    pub token_prompt: String,
    /// Seconds the output's last line may stand without a line break and with
    /// no further output before it counts as a prompt nobody expected (not
    /// O(token_prompt)): the script is then stopped (its process group
    /// killed) and the task fails at once with the prompt's text. Too low a
    /// value stops a script that only prints C(Working... ) and works quietly.
    #[serde(default = "default_prompt_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub prompt_timeout: u64,
    /// With O(script): seconds to watch, after a successful run that did not
    /// reboot, whether the appliance goes down anyway (a script that ends with
    /// C(reboot), which returns before the system stops) [guess]. When it
    /// does, the task waits for it to come back (within O(timeout)) and returns
    /// RV(rebooted=true). V(0) does not watch.
    #[serde(default = "default_reboot_wait")]
    #[schemars(range(min = 0, max = 600))]
    pub reboot_wait: u64,
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
    /// Also returned when the task fails because the run failed.
    #[schemars(extend("x-sample" = 0, "x-returned" = "when a run is recorded, also on failure"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// Whether the appliance must be rebooted to complete the upgrade (a
    /// successful run is recorded in the current boot).
    #[schemars(extend("x-sample" = true))]
    pub reboot_required: bool,
    /// The newest C(var/logs/inplaceupgradeum-*) file under O(chdir). Also
    /// returned when the task fails because the run failed.
    #[schemars(extend("x-sample" = "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-12345", "x-returned" = "when one exists, also on failure"))]
    pub upgrade_log: Option<String>,
    /// Output of the run on the appliance (stdout and stderr), under O(state_dir).
    /// Also returned when the task fails because the run failed.
    #[schemars(extend("x-sample" = "/var/lib/vcloud-usage-meter/runs/1795000000-4242.log", "x-returned" = "when a run is recorded, also on failure"))]
    pub log: Option<String>,
    /// The last O(tail_lines) lines of the run's output. Also returned when
    /// the task fails because the run failed (not when it fails before a run,
    /// e.g. at the connection).
    #[schemars(extend("x-sample" = ["INFO  upgrade to 4.3.0 staged; reboot the appliance to complete the upgrade"], "x-returned" = "success, and on failure of the run"))]
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
    /// The appliance rebooted during the run (its boot id changed): an ISO's
    /// script that reboots by itself. Not a failure; verify the version after.
    #[schemars(extend("x-sample" = false))]
    pub rebooted: bool,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One task's run: its options, its connection, its clock.
pub(crate) struct Run<'a> {
    pub(crate) p: &'a Params,
    pub(crate) conn: Reconnecting<'a>,
    pub(crate) t0: Instant,
    /// When the task gives up waiting (`timeout`).
    pub(crate) deadline: Instant,
    /// Timeout of one remote command.
    pub(crate) io_t: Duration,
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
                "With O(script) it runs an upgrade ISO's script (4.4 and later, mounted by M(vcloud.usage_meter.iso_mount)) the same way: C(bash <script>) from the script's directory, detached, locked, recorded under the ISO's O(checksum) (never twice for the same ISO), re-attached after a dropped connection. The run answers the access token prompt by itself (O(access_token), O(token_input), O(token_prompt)); a prompt nobody expected stops the run and fails the task at once with its text (O(prompt_timeout)). A script that reboots the appliance is no failure: RV(rebooted) says so.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "The 4.3 upgrade is completed by a reboot (M(vcloud.usage_meter.reboot)); this module does not reboot.",
                "ISO mode needs C(mkfifo), C(pgrep)/C(pkill) and, for O(token_input=pty), util-linux C(script) on the appliance.",
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

- name: Run a mounted ISO's upgrade script, answering the token prompt
  vcloud.usage_meter.upgrade:
    script: "{{ iso.script }}"
    checksum: "sha1:{{ iso_sha1 }}"
    access_token: "{{ usage_meter_access_token }}"
  register: upgrade
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let t0 = Instant::now();
        let want = check_options(&p)?;
        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        let mut run = Run {
            p: &p,
            conn: Reconnecting::new(&p.connection, Some(ssh)),
            t0,
            deadline: t0 + Duration::from_secs(p.timeout),
            io_t: Duration::from_secs(p.connection.connect_timeout.max(30)),
        };
        let mut races = 0;
        let mut maybe_started = false;
        // The record id before this task tried to start a run.
        let mut seen_before: Option<String> = None;
        loop {
            let mut st = run.status(ctx, 0, run.deadline)?;
            // an ISO run that ended in a reboot while no task watched (not recorded in check mode)
            if p.script.is_some() && !ctx.check_mode && iso::record_reboot(ctx, &mut run, &st, want.as_deref().unwrap_or_default())? {
                st = run.status(ctx, 0, run.deadline)?;
            }
            st.token_changed = p.script.is_some() && iso::token_changed(&st.extra, p.access_token.as_ref().map(|t| t.expose()));
            let sha = bundle_sum(ctx, &mut run, &st, want.as_deref())?;
            let todo = plan(&st, sha.as_deref(), want.as_deref(), p.force);
            ctx.log(2, format!("plan: {todo:?}"));
            let base = |status: &str, attached: bool| Output {
                rc: None,
                reboot_required: false,
                upgrade_log: st.upgrade_log.clone(),
                log: None,
                stdout_lines: Vec::new(),
                attached,
                status: status.into(),
                checksum: sha.as_deref().map(key_checksum),
                seconds: round3(t0.elapsed().as_secs_f64()),
                rebooted: false,
            };
            match todo {
                Plan::Attach if !ctx.check_mode => return wait_for(ctx, &mut run, None, true, sha),
                Plan::Start if !ctx.check_mode => {
                    let expect = st.record.as_ref().map_or("-".to_string(), |r| r.id.clone());
                    if !maybe_started {
                        seen_before = Some(expect.clone());
                    }
                    match start(&mut run, &st, sha.as_deref(), &expect, races < 3)? {
                        Started::Running(id) => {
                            ctx.log(1, format!("started upgrade run {id}"));
                            return wait_for(ctx, &mut run, Some(id), false, sha);
                        }
                        Started::Busy => return wait_for(ctx, &mut run, None, true, sha),
                        Started::Raced => races += 1,
                        Started::Dropped => {
                            races += 1;
                            maybe_started = true;
                        }
                    }
                }
                todo => {
                    // A run this task started but lost sight of (dropped connection) is still its change.
                    let ours = |r: &UpgradeRecord| maybe_started && seen_before.as_deref() != Some(r.id.as_str());
                    return settle(ctx.check_mode, &p, &st, todo, base, ours);
                }
            }
        }
    }
}

/// Check the options; the `checksum` option as hex (with `script`: the record key, see [`iso_key`]).
fn check_options(p: &Params) -> Result<Option<String>, Failure> {
    let want = match &p.script {
        None => checksum_option(p.checksum.as_deref())?,
        Some(_) if p.shar != DEFAULT_SHAR => {
            return Err(Failure::new("check options", "parameters are mutually exclusive: shar|script")
                .hint("give shar for the 4.3 bundle, or script for an ISO's upgrade script"))
        }
        Some(_) => Some(iso_key(p.checksum.as_deref())?),
    };
    if p.token_prompt.contains(['\n', '\r']) {
        return Err(Failure::new("check options", "token_prompt must be one line"));
    }
    let script = p.script.as_deref().unwrap_or("/");
    for (name, v) in [("shar", &p.shar), ("chdir", &p.chdir), ("state_dir", &p.state_dir), ("script", &script.to_string())] {
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
    Ok(want)
}

/// The bundle's sha256 (hex) when it is there and no run is going on; it
/// must be `want` when the task names one.
fn bundle_sum(ctx: &Context, run: &mut Run<'_>, st: &Status, want: Option<&str>) -> Result<Option<String>, Failure> {
    if !st.shar_exists || st.running {
        return Ok(None);
    }
    let p = run.p;
    if p.script.is_some() {
        // an ISO's script: the run is keyed by the ISO's checksum (the option)
        return Ok(want.map(str::to_string));
    }
    let s = run.conn.get().map_err(|e| e.into_failure("checksum bundle"))?;
    let sha = upgrade_state::remote_sha256(s, &p.state_dir, &p.shar, !ctx.check_mode, Duration::from_secs(3600))
        .map_err(|e| e.into_failure("checksum bundle"))?
        .map(|r| r.sha256);
    if let (Some(w), Some(s)) = (want, &sha) {
        if w != s {
            return Err(Failure::new("verify bundle", format!("{} has sha256:{s}, not the expected sha256:{w}; it was not run", p.shar))
                .hint("copy the right bundle with vcloud.usage_meter.shar_copy (with checksum), or fix the checksum option"));
        }
    }
    Ok(sha)
}

#[cfg(test)]
mod iso_tests;
#[cfg(test)]
mod tests;
