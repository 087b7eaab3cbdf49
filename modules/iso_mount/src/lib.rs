#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.iso_mount: loop-mount an upgrade ISO read-only at a
//! private mount point on the appliance and find its upgrade script; unmount
//! it again (and remove the ISO) afterwards.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::ssh::{ConnectionArgs, Ssh};
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

mod look;

pub use look::*;

const LOOK_SH: &str = include_str!("remote/look.sh");
const MOUNT_SH: &str = include_str!("remote/mount.sh");
const UNMOUNT_SH: &str = include_str!("remote/unmount.sh");

/// The mount point the blog's 9.x procedure uses.
pub const DEFAULT_PATH: &str = "/root/upgrade";

fn default_path() -> String {
    DEFAULT_PATH.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The ISO is mounted read-only at O(path).
    Mounted,
    /// Nothing of this ISO is mounted at O(path), and O(path) is gone.
    Absent,
}

fn default_state() -> State {
    State::Mounted
}

/// Options of vcloud.usage_meter.iso_mount.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Path of the upgrade ISO on the appliance (copied there by M(vcloud.usage_meter.shar_copy)).
    #[schemars(length(min = 1))]
    pub iso: String,
    /// The mount point: a directory of its own, made with mode 0700 and
    /// removed again by O(state=absent). The default is the one a blog shows
    /// for the 9.x upgrade.
    #[serde(default = "default_path")]
    #[schemars(length(min = 1))]
    pub path: String,
    /// V(mounted): loop-mount the ISO read-only (C(mount -o loop,ro)) at
    /// O(path). V(absent): unmount it (lazily only when a process still uses
    /// it, with a warning) and remove O(path).
    #[serde(default = "default_state")]
    pub state: State,
    /// The upgrade script, relative to the ISO's root. Default [guess]:
    /// C(upgrade-um.sh) when the ISO has it (the name the vendor's KB gives
    /// for 9.x), else the one C(*.sh) at the root with "upgrade" in its name;
    /// else the task fails listing the root.
    #[schemars(length(min = 1))]
    pub script: Option<String>,
    /// With O(state=absent), also delete the ISO file.
    #[serde(default)]
    pub remove_iso: bool,
}

/// Result of vcloud.usage_meter.iso_mount.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The mount point.
    #[schemars(extend("x-sample" = "/root/upgrade"))]
    pub mount_point: String,
    /// Absolute path of the upgrade script on the appliance, for
    /// M(vcloud.usage_meter.upgrade)'s C(script) option.
    #[schemars(extend("x-sample" = "/root/upgrade/upgrade-um.sh", "x-returned" = "state=mounted, unless check mode found the ISO not mounted yet"))]
    pub script: Option<String>,
    /// How the script was chosen: V(known) (C(upgrade-um.sh)), V(found) (the
    /// one upgrade script at the root) or V(given) (the O(script) option).
    #[schemars(extend("x-sample" = "known", "x-returned" = "when script is returned"))]
    pub script_source: Option<String>,
    /// State=absent: the unmount had to be lazy (a process still used the
    /// mount point; the kernel detaches it once that process lets go).
    #[schemars(extend("x-sample" = false))]
    pub lazy: bool,
    /// State=absent: the ISO file was deleted (O(remove_iso)).
    #[schemars(extend("x-sample" = false))]
    pub removed_iso: bool,
}

#[derive(Debug)]
pub struct IsoMount;

/// One task: its options, its session.
struct Task<'a> {
    p: &'a Params,
    ssh: Ssh,
    io_t: Duration,
}

impl Task<'_> {
    fn look(&self) -> Result<Look, Failure> {
        let cmd = Script::new(&[LOOK_SH])
            .env("UM_ISO", self.p.iso.as_str())
            .env("UM_PATH", self.p.path.as_str())
            .env("UM_SCRIPT", self.p.script.clone().unwrap_or_default())
            .command();
        let out = self.ssh.exec(&cmd, self.io_t).map_err(|e| e.into_failure("look at the mount point"))?;
        parse_look(&out.stdout).ok_or_else(|| {
            Failure::new("look at the mount point", format!("unexpected output: {}", out.tail(3).join(" | "))).hint("run with -vvv")
        })
    }

    fn with_script(&self, look: &Look, mut out: Output) -> Result<Output, Failure> {
        let (rel, src) = find_script(look, self.p.script.as_deref(), &self.p.path)?;
        out.script = Some(format!("{}/{rel}", self.p.path));
        out.script_source = Some(src.as_str().into());
        Ok(out)
    }
}

fn describe(iso: &str, path: &str, mounted: bool) -> String {
    if mounted {
        format!("{path}: {iso} mounted read-only\n")
    } else {
        format!("{path}: not mounted\n")
    }
}

/// Absolute, no white space or control characters (mountinfo escapes them).
fn check_options(p: &Params) -> Result<(), Failure> {
    for (name, v) in [("iso", &p.iso), ("path", &p.path)] {
        if !v.starts_with('/') || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Failure::new("check options", format!("{name} '{v}' must be an absolute path without spaces")));
        }
    }
    if p.path.trim_end_matches('/').is_empty() {
        return Err(Failure::new("check options", "path must not be /"));
    }
    if p.script.as_deref().is_some_and(|s| s.split('/').any(|c| c == "..")) {
        return Err(Failure::new("check options", "script must be inside the ISO (no '..')"));
    }
    Ok(())
}

impl Module for IsoMount {
    const NAME: &'static str = "iso_mount";
    const VERSION_ADDED: &'static str = "1.2.0";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Loop-mount a Usage Meter upgrade ISO read-only on the appliance and find its upgrade script",
            description: &[
                "Mounts an upgrade ISO (4.4 and later) that is on the appliance read-only (C(mount -o loop,ro)) at a private mount point (mode 0700), and returns the upgrade script to give M(vcloud.usage_meter.upgrade).",
                "The same ISO already mounted there is no change. Anything else mounted there (another ISO, a device) is never touched: the task fails saying what is mounted there. A directory that is not empty is refused too (a mount would hide its files).",
                "O(state=absent) unmounts it, lazily only as a last resort (a warning says so), removes the mount point and, with O(remove_iso=true), the ISO file. Run it also after a failed upgrade.",
                "One SSH login per task. Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "How the vendor's procedure mounts the ISO is only shown by a blog for 9.x (C(mount -o loop /dev/cdrom /root/upgrade)); the script name C(upgrade-um.sh) is in the vendor's KB. For 4.4-4.8 both are a [guess]: see O(script).",
                "Needs C(mount) with loop devices and the iso9660 file system on the appliance; the 9.x procedure mounts the CD-ROM the same way, so the appliance has both [guess for 4.4-4.8].",
            ],
            examples: r#"
- name: Mount the ISO copied by shar_copy
  vcloud.usage_meter.iso_mount:
    iso: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24342042_Upgrade.iso
  register: iso

- name: Run its upgrade script
  vcloud.usage_meter.upgrade:
    script: "{{ iso.script }}"
    checksum: "sha1:{{ iso_sha1 }}"

- name: Unmount it and delete the ISO
  vcloud.usage_meter.iso_mount:
    iso: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24342042_Upgrade.iso
    state: absent
    remove_iso: true
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        check_options(&p)?;
        let path = p.path.trim_end_matches('/').to_string();
        let p = Params { path, ..p };
        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        let t = Task { p: &p, ssh, io_t: Duration::from_secs(p.connection.connect_timeout.max(30)) };
        let look = t.look()?;
        match p.state {
            State::Mounted => mounted(ctx, &t, &look),
            State::Absent => absent(ctx, &t, &look),
        }
    }
}

fn base(p: &Params) -> Output {
    Output { mount_point: p.path.clone(), script: None, script_source: None, lazy: false, removed_iso: false }
}

fn mounted(ctx: &mut Context, t: &Task<'_>, look: &Look) -> Result<Outcome<Output>, Failure> {
    let p = t.p;
    match look.at_path(&p.iso) {
        AtPath::Ours => return Ok(Outcome::new(false, t.with_script(look, base(p))?)),
        AtPath::Other(what) => {
            return Err(Failure::new("mount the ISO", format!("{} is in use: {what} is mounted there", p.path))
                .hint("unmount it first (it is not this task's), or choose another path"))
        }
        AtPath::Free => {}
    }
    if !look.iso {
        return Err(Failure::new("mount the ISO", format!("there is no ISO at {} on the appliance", p.iso))
            .hint("copy it first with vcloud.usage_meter.shar_copy, or fix the iso option"));
    }
    if look.dir && !look.empty {
        return Err(Failure::new("mount the ISO", format!("{} is a directory that is not empty; a mount would hide its files", p.path))
            .hint("choose another path, or empty it"));
    }
    let diff = Diff::new(describe(&p.iso, &p.path, false), describe(&p.iso, &p.path, true));
    if ctx.check_mode {
        return Ok(Outcome::new(true, base(p)).diff(diff).msg(format!("would mount {} at {}", p.iso, p.path)));
    }
    let cmd = Script::new(&[MOUNT_SH]).env("UM_ISO", p.iso.as_str()).env("UM_PATH", p.path.as_str()).command();
    let out = t.ssh.exec(&cmd, t.io_t).map_err(|e| e.into_failure("mount the ISO"))?;
    let r = Reply::parse(&out.stdout);
    if r.get("rc").map(str::trim) != Some("0") {
        let err = r.section("err").map(|s| s.text()).unwrap_or_else(|| out.tail(3).join(" | "));
        return Err(Failure::new("mount the ISO", format!("mount -o loop,ro {} {} failed: {}", p.iso, p.path, err.trim()))
            .hint("check that the file is an ISO image (sha1sum against its .mf) and that the appliance has free loop devices"));
    }
    let after = t.look()?;
    if after.at_path(&p.iso) != AtPath::Ours {
        return Err(Failure::new("mount the ISO", format!("mount reported success but {} does not show {} mounted", p.path, p.iso)));
    }
    // a mounted ISO that is not an upgrade ISO is not left behind
    let out = match t.with_script(&after, base(p)) {
        Ok(o) => o,
        Err(f) => {
            let cmd = unmount_cmd(p, true, false);
            if t.ssh.exec(&cmd, t.io_t).is_err() {
                ctx.warn(format!("could not unmount {} again: run this task with state=absent", p.path));
            }
            return Err(f);
        }
    };
    Ok(Outcome::new(true, out).diff(diff).msg(format!("mounted {} read-only at {}", p.iso, p.path)))
}

fn unmount_cmd(p: &Params, mounted: bool, remove_iso: bool) -> String {
    Script::new(&[UNMOUNT_SH])
        .env("UM_PATH", p.path.as_str())
        .env("UM_MOUNTED", if mounted { "1" } else { "0" })
        .env("UM_ISO", p.iso.as_str())
        .env("UM_REMOVE_ISO", if remove_iso { "1" } else { "0" })
        .command()
}

fn absent(ctx: &mut Context, t: &Task<'_>, look: &Look) -> Result<Outcome<Output>, Failure> {
    let p = t.p;
    let ours = match look.at_path(&p.iso) {
        AtPath::Other(what) => {
            return Err(Failure::new("unmount the ISO", format!("{} holds {what}, not {}: left alone", p.path, p.iso))
                .hint("unmount it yourself if it is left over, or fix the path option"))
        }
        AtPath::Ours => true,
        AtPath::Free => false,
    };
    let remove_iso = p.remove_iso && look.iso;
    if !ours && !look.dir && !remove_iso {
        return Ok(Outcome::new(false, base(p)));
    }
    let mut before = describe(&p.iso, &p.path, ours);
    let mut after = format!("{}: removed\n", p.path);
    if remove_iso {
        before.push_str(&format!("{}: present\n", p.iso));
        after.push_str(&format!("{}: deleted\n", p.iso));
    }
    let diff = Diff::new(before, after);
    if ctx.check_mode {
        return Ok(Outcome::new(true, Output { removed_iso: remove_iso, ..base(p) }).diff(diff));
    }
    let out = t.ssh.exec(&unmount_cmd(p, ours, remove_iso), t.io_t).map_err(|e| e.into_failure("unmount the ISO"))?;
    let r = Reply::parse(&out.stdout);
    let err = r.section("err").map(|s| s.text()).unwrap_or_default().trim().to_string();
    let u = r.get("umount").map(str::trim).unwrap_or("");
    if u == "failed" || (!r.complete) {
        return Err(Failure::new(
            "unmount the ISO",
            format!("umount {} failed: {}", p.path, if err.is_empty() { out.tail(3).join(" | ") } else { err }),
        )
        .hint("see what uses it (fuser -vm) on the appliance, then run again"));
    }
    let lazy = u == "lazy";
    if lazy {
        ctx.warn(format!("{} was busy ({err}): unmounted lazily; the kernel detaches the ISO once the last process using it ends", p.path));
    }
    if look.dir && !r.flag("rmdir") {
        ctx.warn(format!("{} could not be removed: {err}", p.path));
    }
    let removed_iso = r.flag("removed_iso");
    if remove_iso && !removed_iso {
        return Err(Failure::new("remove the ISO", format!("{} was unmounted but could not be deleted: {err}", p.iso)));
    }
    Ok(Outcome::new(true, Output { lazy, removed_iso, ..base(p) }).diff(diff))
}

#[cfg(test)]
mod tests;
