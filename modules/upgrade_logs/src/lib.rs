#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.upgrade_logs: copy the Usage Meter upgrade logs from the
//! appliance to a directory on the controller.
//!
//! One remote command lists the files matching the patterns with their size and
//! the sha256 of what would be saved (the whole file, or its last `max_bytes`
//! bytes); each file that the controller does not already have with that
//! checksum is then streamed (`head -c`/`tail -c`, 64 KiB at a time) into a
//! temporary file next to its final name and renamed into place.

mod fetch;
mod plan;
mod status;

pub use fetch::part_path;
pub use plan::{already_saved, default_patterns, glob_word, list_cmd, local_path, local_sum, parse_list, Listed};

use fetch::{dest_failure, fetch_all, make_dir, saved, write_atomic};
use plan::{list, plan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use status::read_status;
use std::path::{Path, PathBuf};
use std::time::Duration;
use usage_meter::ssh::{expand_tilde, ConnectionArgs, Ssh};
use usage_meter::upgrade_state;
use usage_meter::{Context, Failure, Module, ModuleDoc, Outcome, Support};

pub const DEFAULT_INSTALL_DIR: &str = usage_meter::appliance::INSTALL_DIR;
pub const DEFAULT_OLD_INSTALL_DIR: &str = usage_meter::appliance::OLD_INSTALL_DIR;
pub const DEFAULT_STATUS_COMMAND: &str = "./scripts/status.sh";
pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Name of the status output in `dest`.
pub const STATUS_FILE: &str = "status.txt";

fn default_install_dir() -> String {
    DEFAULT_INSTALL_DIR.into()
}
fn default_old_install_dir() -> String {
    DEFAULT_OLD_INSTALL_DIR.into()
}
fn default_state_dir() -> String {
    upgrade_state::DEFAULT_STATE_DIR.into()
}
fn default_status_command() -> String {
    DEFAULT_STATUS_COMMAND.into()
}
fn default_true() -> bool {
    true
}
fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

/// Options of vcloud.usage_meter.upgrade_logs.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Directory on the controller to save the logs in (absolute; C(~) is
    /// expanded). Created with mode C(0700) when missing. Each file is saved
    /// under its path on the appliance, as M(ansible.builtin.fetch) does, e.g.
    /// C(<dest>/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-<date>-<build>).
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub dest: String,
    /// The Usage Meter installation directory on the appliance.
    #[serde(default = "default_install_dir")]
    #[schemars(length(min = 1))]
    pub install_dir: String,
    /// Where the 4.3 upgrade keeps the previous installation after its reboot
    /// (with the upgrade log of the run that staged it).
    #[serde(default = "default_old_install_dir")]
    #[schemars(length(min = 1))]
    pub old_install_dir: String,
    /// Directory on the appliance where M(vcloud.usage_meter.upgrade) records
    /// its runs (the run outputs C(runs/*.log), C(upgrade.record) and C(upgrade.current)).
    #[serde(default = "default_state_dir")]
    #[schemars(length(min = 1))]
    pub state_dir: String,
    /// Absolute paths or shell globs (C(*), C(?), C([...])) of the files to
    /// copy; directories and non-matching patterns are skipped.
    ///
    /// Default: C(<install_dir>/var/logs/inplaceupgradeum-*),
    /// C(<old_install_dir>/var/logs/inplaceupgradeum-*),
    /// C(<state_dir>/runs/*.log), C(<state_dir>/upgrade.record) and
    /// C(<state_dir>/upgrade.current).
    pub patterns: Option<Vec<String>>,
    /// Also run O(status_command) in O(install_dir) and save its output
    /// (stdout, then stderr) as C(status.txt) in O(dest). A failing command is
    /// not an error: its exit code is returned as RV(status_rc).
    #[serde(default = "default_true")]
    pub status: bool,
    /// The status command, run in O(install_dir) when O(status) is true.
    #[serde(default = "default_status_command")]
    #[schemars(length(min = 1))]
    pub status_command: String,
    /// Most bytes saved per file. A larger file keeps its last O(max_bytes)
    /// bytes (the end of a log says why it failed) and is returned with
    /// C(truncated=true). V(0) means no limit.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

/// One file copied (or already present) on the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SavedFile {
    /// Path on the appliance.
    #[schemars(extend("x-sample" = "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-2026-25-11-24000000"))]
    pub remote: String,
    /// Path on the controller.
    #[schemars(extend("x-sample" = "/srv/logs/um01/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-2026-25-11-24000000"))]
    pub local: String,
    /// Size of the file on the appliance, in bytes.
    #[schemars(extend("x-sample" = 4096))]
    pub size: u64,
    /// sha256 of the saved content (the whole file, or its tail when RV(files[].truncated)).
    #[schemars(extend("x-sample" = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"))]
    pub sha256: String,
    /// Whether only the last O(max_bytes) bytes were saved.
    pub truncated: bool,
    /// Whether this run copied it (false: the controller already had it).
    pub fetched: bool,
}

/// Result of vcloud.usage_meter.upgrade_logs.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The directory on the controller.
    #[schemars(extend("x-sample" = "/srv/logs/um01"))]
    pub dest: String,
    /// The files matching O(patterns), in pattern order (in check mode: what would be saved).
    pub files: Vec<SavedFile>,
    /// How many files were copied by this run (in check mode: would be).
    #[schemars(extend("x-sample" = 2))]
    pub fetched: u64,
    /// Path of the saved status output; null when O(status) is false or the command could not run.
    #[schemars(extend("x-sample" = "/srv/logs/um01/status.txt", "x-returned" = "always"))]
    pub status_file: Option<String>,
    /// Exit code of O(status_command); null when it did not run or gave none.
    #[schemars(extend("x-sample" = 0, "x-returned" = "always"))]
    pub status_rc: Option<i32>,
}

#[derive(Debug)]
pub struct UpgradeLogs;

impl Module for UpgradeLogs {
    const NAME: &'static str = "upgrade_logs";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Copy the Usage Meter upgrade logs from the appliance to the controller",
            description: &[
                "Copies the in-place upgrade logs (C(var/logs/inplaceupgradeum-*) of the current and, after the 4.3 reboot, the previous installation), the output and record of M(vcloud.usage_meter.upgrade) runs, and the output of the status script to a directory on the controller: the evidence to keep when an upgrade fails.",
                "One SSH command lists the matching files with their size and sha256; each file is then streamed over SSH into a temporary file in O(dest) and renamed into place, so a partial copy never has the final name and no file is held in memory.",
                "A file that O(dest) already holds with the same sha256 is not copied again (C(changed=false) when no file was copied; a status output that differs from the C(status.txt) already in O(dest) is saved again without counting as a change, since the script's output varies from run to run).",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options. When the appliance cannot be reached the task fails with the usual connection message (in a rescue, use C(ignore_errors: true)).",
            ],
            notes: &[
                "Files larger than O(max_bytes) keep their last O(max_bytes) bytes; RV(files[].sha256) is then the checksum of that tail.",
                "A log still growing while it is copied is saved as it was when listed (the listed size).",
            ],
            examples: r#"
- name: Save the upgrade logs of the appliance on the controller
  vcloud.usage_meter.upgrade_logs:
    dest: "{{ playbook_dir }}/usage-meter-logs/{{ inventory_hostname }}"
    connect_timeout: 10
  ignore_errors: true

- name: Only the newest upgrade log, at most 5 MiB of it
  vcloud.usage_meter.upgrade_logs:
    dest: /srv/um-logs
    patterns:
      - /opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-*
    status: false
    max_bytes: 5242880
"#,
            check_mode: Support::Full,
            diff_mode: Support::None,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let dest = check_dest(&p)?;
        let patterns = p.patterns.clone().unwrap_or_else(|| default_patterns(&p.install_dir, &p.old_install_dir, &p.state_dir));
        let words = patterns
            .iter()
            .map(|x| glob_word(x))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| Failure::new("check patterns", m).hint("give absolute paths or globs of files on the appliance"))?;

        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        let stall = Duration::from_secs(p.connection.connect_timeout.max(30));
        let listed = list(ctx, &ssh, &words, p.max_bytes)?;
        let plan = plan(ctx, &dest, listed);
        let status = read_status(ctx, &ssh, &p, &dest);

        let to_fetch = plan.iter().filter(|x| x.fetch).count() as u64;
        let changed = to_fetch > 0 || status.new;
        if ctx.check_mode {
            let files = plan.iter().map(|x| saved(&x.listed, &x.local, x.listed.sha256.clone(), x.fetch)).collect();
            let out = Output {
                dest: dest.display().to_string(),
                files,
                fetched: to_fetch,
                status_file: status.text.as_ref().map(|_| status.path.display().to_string()),
                status_rc: status.rc,
            };
            return Ok(Outcome::new(changed, out).msg(format!("would copy {to_fetch} file(s) to {}", dest.display())));
        }

        if changed || status.changed {
            make_dir(&dest).map_err(|e| dest_failure(&dest, "create the folder", &e))?;
        }
        let (files, fetched) = fetch_all(ctx, &ssh, &plan, stall)?;
        let mut status_file = None;
        if let Some(t) = &status.text {
            if status.changed {
                write_atomic(&status.path, t.as_bytes()).map_err(|e| dest_failure(&dest, "write status.txt", &e))?;
            }
            status_file = Some(status.path.display().to_string());
        }
        let truncated = files.iter().filter(|f| f.truncated).count();
        let mut msg = format!("copied {fetched} of {} file(s) to {}", files.len(), dest.display());
        if truncated > 0 {
            msg.push_str(&format!("; {truncated} kept only their last {} bytes", p.max_bytes));
        }
        let out = Output { dest: dest.display().to_string(), files, fetched, status_file, status_rc: status.rc };
        Ok(Outcome::new(fetched > 0 || status.new, out).msg(msg))
    }
}

/// `dest` on the controller: absolute, and a directory if it exists.
fn check_dest(p: &Params) -> Result<PathBuf, Failure> {
    let dest = expand_tilde(Path::new(&p.dest));
    if !dest.is_absolute() {
        return Err(Failure::new("check dest", format!("dest '{}' must be an absolute path", p.dest))
            .hint("e.g. dest: \"{{ playbook_dir }}/usage-meter-logs/{{ inventory_hostname }}\""));
    }
    if dest.exists() && !dest.is_dir() {
        return Err(Failure::new("check dest", format!("dest {} exists on the controller and is not a directory", dest.display()))
            .hint("set dest to a directory (it is created when missing)"));
    }
    Ok(dest)
}

#[cfg(test)]
mod tests;
