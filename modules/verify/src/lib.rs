//! vcloud.usage_meter.verify: wait until `scripts/status.sh` reports every
//! Usage Meter service Running (step 7 of the 4.3 procedure), read-only.

mod evidence;
mod info;
mod settle;
pub mod status;
mod wait;

pub use evidence::{judge, parse_units, unit_name, units_cmd, UnitState};
pub use info::{info_cmd, parse_info, Info};
pub use settle::{healthy, problem, Settle};
pub use wait::status_cmd;

use info::read_info;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use status::{Patterns, StatusReport};
use std::collections::BTreeMap;
use std::time::Instant;
use usage_meter::api::{ApiArgs, ApiRead, RetryArgs};
use usage_meter::ssh::{ConnectionArgs, ExecOutput, Ssh, SshError, SshErrorKind};
use usage_meter::{appliance, Context, Failure, Module, ModuleDoc, Outcome, Support};
use wait::wait_for_services;

fn default_chdir() -> String {
    appliance::INSTALL_DIR.into()
}
fn default_command() -> String {
    "./scripts/status.sh".into()
}
fn default_timeout() -> u64 {
    600
}
fn default_interval() -> u64 {
    5
}
fn default_command_timeout() -> u64 {
    120
}
fn default_running() -> String {
    status::DEFAULT_RUNNING.into()
}
fn default_offline() -> String {
    status::DEFAULT_OFFLINE.into()
}
fn default_old_install() -> String {
    appliance::OLD_INSTALL_DIR.into()
}
fn default_tail() -> u64 {
    20
}
fn default_settle_polls() -> u32 {
    3
}
fn default_service_unit() -> String {
    "{name}.service".into()
}

/// What may end the settle window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettleOn {
    /// The service manager's evidence where the appliance can tell, else the fixed window.
    #[default]
    ServiceManager,
    /// Only the fixed window of consecutive checks.
    Window,
}

/// Options of vcloud.usage_meter.verify.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// The appliance API, used only to read the Usage Meter version once the
    /// services are Running, when O(api_password) is given.
    #[serde(flatten)]
    pub api: ApiArgs,
    #[serde(flatten)]
    pub retry: RetryArgs,
    /// Directory on the appliance to run O(command) in: the Usage Meter installation.
    #[serde(default = "default_chdir")]
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub chdir: String,
    /// The status command, run by the login shell of O(username) in O(chdir).
    ///
    /// The documented check is C(./scripts/status.sh).
    #[serde(default = "default_command")]
    #[schemars(length(min = 1))]
    pub command: String,
    /// Seconds to wait for every service to be Running. Services come up
    /// Offline, then Running, over some time after a boot. V(0) checks once.
    #[serde(default = "default_timeout")]
    #[schemars(range(max = 86400))]
    pub timeout: u64,
    /// Seconds between two runs of O(command) while waiting.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 1, max = 600))]
    pub interval: u64,
    /// Seconds one run of O(command) may take.
    #[serde(default = "default_command_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub command_timeout: u64,
    /// Regular expression (Rust syntax) of a healthy service's status in a line of output.
    ///
    /// [guess] The output format of C(status.sh) is not published; the default
    /// matches the word C(Running) in any letter case. Case-insensitive
    /// patterns use ASCII case folding.
    #[serde(default = "default_running")]
    #[schemars(length(min = 1))]
    pub running_pattern: String,
    /// Regular expression (Rust syntax) of a failed service's status in a line of output.
    ///
    /// [guess] The default matches C(Offline) (documented) and, to be safe,
    /// C(not running), C(stopped), C(failed), C(inactive), C(dead), in any letter case.
    /// When a line holds both patterns, the earlier match decides.
    #[serde(default = "default_offline")]
    #[schemars(length(min = 1))]
    pub offline_pattern: String,
    /// Also treat a non-zero exit code of O(command) as unhealthy.
    ///
    /// [guess] The exit code of C(status.sh) is not published, so by default only
    /// its output counts (every listed service Running, at least one listed).
    #[serde(default)]
    pub check_rc: bool,
    /// Where the previous installation is kept after a 4.3 upgrade.
    #[serde(default = "default_old_install")]
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub old_install_dir: String,
    /// How many consecutive runs of O(command) must show every service Running
    /// before the services count as healthy (the settle window).
    ///
    /// A service in a crash loop (C(Restart=on-failure)) shows Running for a
    /// moment after each restart; one lucky run must not pass it.
    #[serde(default = "default_settle_polls")]
    #[schemars(range(min = 1, max = 1000))]
    pub settle_polls: u32,
    /// Seconds that must lie between the first and the last of those
    /// consecutive all-Running runs. Default 4 x O(interval): 20 s at the
    /// default interval of 5 s.
    ///
    /// The wait goes on past O(timeout) while a settle window that started
    /// before it is still running; a run that is not all Running ends it.
    /// With O(timeout=0) the module checks once and does not settle.
    #[schemars(range(max = 86400))]
    pub settle_seconds: Option<u64>,
    /// What decides that the services have settled.
    ///
    /// V(service_manager): once every service is Running, ask systemd how long
    /// the unit of each service (O(service_unit)) has been active
    /// (C(systemctl show -p ActiveState,NRestarts,ActiveEnterTimestampMonotonic));
    /// healthy as soon as every unit has been active, with no restart since, for
    /// O(settle_seconds), and not before, whatever the checks saw. A crash loop
    /// restarts its unit, so it never gets there. Where the appliance cannot tell
    /// (no C(systemctl show), a unit it does not know), the fixed window decides,
    /// as with V(window): O(settle_polls) consecutive checks over O(settle_seconds).
    #[serde(default)]
    pub settle_on: SettleOn,
    /// The systemd unit of each service listed by O(command): C({name}) is the
    /// service's name in lower case.
    ///
    /// [guess] The unit names of the Usage Meter services are not published.
    /// With a name systemd does not know, the fixed window decides (see O(settle_on)).
    #[serde(default = "default_service_unit")]
    #[schemars(length(min = 1))]
    pub service_unit: String,
    /// Lines of the upgrade log returned when the check fails.
    #[serde(default = "default_tail")]
    #[schemars(range(min = 1, max = 10000))]
    pub log_tail_lines: u64,
}

/// Result of vcloud.usage_meter.verify.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Every service the status output listed, name → C(Running) or C(Offline).
    #[schemars(extend("x-sample" = {"gw": "Running", "vcdcol": "Running"}))]
    pub services: BTreeMap<String, String>,
    /// Whether at least one service is listed and all listed services are Running.
    #[schemars(extend("x-sample" = true))]
    pub all_running: bool,
    /// Names of the services not Running (empty on success).
    pub offline: Vec<String>,
    /// Path of the newest upgrade log (C(var/logs/inplaceupgradeum-*) under O(chdir) or O(old_install_dir)); null when there is none.
    #[schemars(extend("x-sample" = "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-19264531", "x-returned" = "always"))]
    pub upgrade_log: Option<String>,
    /// Whether O(old_install_dir) exists (the 4.3 upgrade moves the previous installation there at the reboot).
    pub old_install_present: bool,
    /// Exit code of the last run of O(command) (null when none was reported).
    ///
    /// Not named C(rc): Ansible fails a task whose result has a non-zero C(rc),
    /// and C(status.sh) may exit non-zero while every service is Running [guess].
    #[schemars(extend("x-returned" = "always"))]
    pub status_rc: Option<i32>,
    /// Output of the last run of O(command), without colours and blank lines.
    pub stdout_lines: Vec<String>,
    /// Services seen Running and then not Running during the wait (a crash loop, or a restart).
    #[schemars(extend("x-sample" = [], "x-returned" = "always"))]
    pub flapping: Vec<String>,
    /// What ended the wait for the services to settle: C(service manager) (every
    /// unit active for O(settle_seconds), see O(settle_on)) or C(window) (the
    /// consecutive checks); null when they did not settle.
    #[schemars(extend("x-sample" = "service manager", "x-returned" = "always"))]
    pub settled_by: Option<String>,
    /// The service manager's evidence of the last read, service → its unit, C(active_state),
    /// C(active_seconds), C(restarts); null when it was not read or the appliance cannot tell.
    #[schemars(extend("x-returned" = "always"))]
    pub units: Option<BTreeMap<String, UnitState>>,
    /// How many times O(command) ran.
    #[schemars(extend("x-sample" = 3))]
    pub attempts: u32,
    /// Seconds spent waiting for the services.
    #[schemars(extend("x-sample" = 4.2))]
    pub waited: f64,
    /// The last O(log_tail_lines) lines of the upgrade log (C(upgrade_log)), when the
    /// services are not all Running at the end of the wait (the failure result,
    /// which carries the other fields too).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-sample" = ["INFO upgrade step 9/9 done", "ERROR vcdcol did not start"], "x-returned" = "failure"))]
    pub upgrade_log_tail: Option<Vec<String>>,
    /// The version the appliance API reported once every service was Running
    /// (login, C(GET /agent_info), logout; O(api_retries) waits out an API
    /// that does not listen yet); null when O(api_password) is not given. An
    /// API problem is a warning and C(api.error), not a failure.
    #[schemars(extend("x-returned" = "success (null without api_password)"))]
    pub api: Option<ApiRead>,
}

#[derive(Debug)]
pub struct Verify;

impl Module for Verify {
    const NAME: &'static str = "verify";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Wait until every Usage Meter service reports Running",
            description: &[
                "Runs the appliance's status script (C(cd /opt/vmware/cloudusagemetering && ./scripts/status.sh)), the documented check after the 4.3 upgrade and its reboot, until every listed service is Running or O(timeout) has passed.",
                "Services come up Offline, then Running, over some time after a boot, so the module polls every O(interval) seconds.",
                "Healthy means every service Running and settled: by default, every service's systemd unit active for at least O(settle_seconds) with no restart since (O(settle_on)), which ends the wait as soon as it holds; where the appliance cannot tell, every service Running in O(settle_polls) consecutive checks spread over at least O(settle_seconds) (by default 3 checks over 20 s at the default interval). A service in a crash loop, Running for a moment after each restart, does not pass, and is named as flapping in the failure.",
                "The output is parsed defensively, because its format is not published [guess]: ANSI colours are removed, each line is read as one service, headers, rulers, blank lines and prose are ignored, and the name may stand before the status (C(gw : Running), a padded table, C(| gw | Running |), C(gw is running)) or after it.",
                "Fails, after the wait, when any service is Offline or no service is Running, with the names, the path of the newest upgrade log and its last lines.",
                "With O(api_password), once every service is Running, also reads the Usage Meter version through the appliance API (RV(api)): the version the upgrade left. Both API generations are spoken (4.x on port 8443, 9.x on 443, see O(api_generation)), so the version after an upgrade to 9.x is read as well. An API problem is a warning and RV(api.error), not a failure.",
                "Read-only: it runs in check mode too and never reports a change.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "When a service stays Offline after the 4.3 upgrade, the documented recovery is to revert the appliance to the snapshot taken before the upgrade and repeat it.",
                "O(running_pattern) and O(offline_pattern) are regular expressions in Rust syntax; the earlier match in a line decides, and a line matching O(offline_pattern) counts as Offline even when no service name can be read from it.",
            ],
            examples: r#"
- name: Wait until every Usage Meter service is Running
  vcloud.usage_meter.verify:
    timeout: 900
  register: um_status

- name: Show the services
  ansible.builtin.debug:
    var: um_status.services

- name: A status script that prints UP/DOWN
  vcloud.usage_meter.verify:
    running_pattern: '\bUP\b'
    offline_pattern: '\bDOWN\b'
"#,
            check_mode: Support::Full,
            diff_mode: Support::None,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let patterns = Patterns::new(&p.running_pattern, &p.offline_pattern)
            .map_err(|e| Failure::new("validate", e).hint("fix the regular expression (Rust regex syntax)"))?;
        let start = Instant::now();
        let mut ssh = Some(Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?);
        let wait = wait_for_services(ctx, &p, &patterns, &mut ssh, start)?;
        let waited = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;

        let Some((report, out)) = wait.last else {
            let e = wait
                .last_ssh_error
                .unwrap_or_else(|| SshError::new(SshErrorKind::Other, &p.connection.label(), "the status command never ran"));
            return Err(e.into_failure("run status"));
        };
        let ok = wait.settle.is_settled();
        let info = read_info(ctx, &p, ssh.as_ref(), ok)?;
        let mut output = Output {
            all_running: ok,
            offline: report.offline(),
            services: report.services.clone(),
            upgrade_log: info.upgrade_log.clone(),
            old_install_present: info.old_install_present,
            status_rc: out.rc,
            stdout_lines: report.lines.clone(),
            flapping: wait.settle.flapping(),
            settled_by: wait.settle.by.map(str::to_string),
            units: wait.units.clone(),
            attempts: wait.attempts,
            waited,
            upgrade_log_tail: None,
            api: None,
        };
        if ok {
            output.api = p.api.api_password.is_some().then(|| usage_meter::api::read_version(&p.connection.host, &p.api, &p.retry, ctx));
            if let Some(e) = output.api.as_ref().and_then(|a| a.error.as_ref()) {
                ctx.warn(format!("the services are Running, but the Usage Meter version could not be read from the appliance API: {e}"));
            }
            return Ok(Outcome::new(false, output));
        }
        Err(services_failure(&p, &wait.settle, &report, &out, &info, &output))
    }
}

/// The failure when the services did not settle Running: what, the log, and what to do.
fn services_failure(p: &Params, settle: &Settle, report: &StatusReport, out: &ExecOutput, info: &Info, output: &Output) -> Failure {
    let mut what = problem(report, out.rc, p.check_rc, &p.command);
    if healthy(report, out.rc, p.check_rc) && output.units.is_some() {
        what = format!(
            "every service was Running in the last check, but the service manager did not show every unit active for {} s: {}",
            settle.window.as_secs(),
            unit_summary(output.units.as_ref())
        );
    } else if healthy(report, out.rc, p.check_rc) {
        what = format!(
            "every service was Running in the last check, but not in {} consecutive checks over {} s (the settle window)",
            settle.polls,
            settle.window.as_secs()
        );
    }
    let flapping = settle.flapping();
    if !flapping.is_empty() {
        what = format!("{what}; flapping (seen Running, then not Running: a crash loop or restarts): {}", flapping.join(", "));
    }
    let log_part = match &info.upgrade_log {
        Some(l) => {
            let last_lines: Vec<&str> = info.tail.iter().rev().take(3).rev().map(String::as_str).collect();
            format!("; upgrade log {l}, last lines: {}", last_lines.join(" | "))
        }
        None => "; no upgrade log (var/logs/inplaceupgradeum-*) was found".to_string(),
    };
    let msg = format!("after {} s and {} checks, {what}{log_part}", output.waited, output.attempts);
    let hint = if report.services.is_empty() {
        "look at stdout_lines: if the services are listed in a format this module does not read, set running_pattern and offline_pattern to match it".to_string()
    } else {
        format!(
            "check those services on the appliance (cd {} && {}) and read the upgrade log; \
             raise timeout if the appliance is only slow to start them. If they stay Offline after the 4.3 upgrade, the documented recovery \
             is to revert the appliance to the snapshot taken before the upgrade and run the upgrade again",
            p.chdir, p.command
        )
    };
    let mut f = Failure::new("verify services", msg)
        .hint(hint)
        .with("offline", output.offline.clone())
        .with("all_running", false)
        .with("flapping", flapping)
        .with("settled_by", serde_json::Value::Null)
        .with("units", serde_json::to_value(&output.units).unwrap_or_default())
        .with("attempts", output.attempts)
        .with("waited", output.waited)
        .with("stdout_lines", output.stdout_lines.clone())
        .with("upgrade_log", info.upgrade_log.clone())
        .with("upgrade_log_tail", info.tail.clone())
        .with("old_install_present", info.old_install_present);
    f = f.with("services", serde_json::Value::Object(output.services.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()));
    if let Some(rc) = out.rc {
        f = f.with("status_rc", rc);
    }
    if !out.stderr.trim().is_empty() {
        f = f.with("stderr", out.stderr.trim().to_string());
    }
    f
}

/// The units that were not yet up long enough, for the failure message.
fn unit_summary(units: Option<&BTreeMap<String, UnitState>>) -> String {
    let parts: Vec<String> = units
        .into_iter()
        .flatten()
        .map(|(name, u)| match u.active_seconds {
            Some(s) => format!("{name} ({}, active {s} s, {} restarts)", u.unit, u.restarts.unwrap_or_default()),
            None => format!("{name} ({}, {}, {} restarts)", u.unit, u.active_state, u.restarts.unwrap_or_default()),
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests;
