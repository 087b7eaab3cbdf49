#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.shar_copy: put the upgrade bundle on the appliance.
//!
//! Streams the file into `.<name>.part` next to `dest` (4 MiB writes; a large
//! one in two halves on two connections at once, see [`plan`]), then, in one remote command, hashes the partial file on the
//! appliance and renames it into place only when size and sha256 match. An
//! interrupted copy resumes from the partial file. The expected sha256 is the
//! `checksum` option when given (the local file is then hashed only when that
//! is free or needed, see [`Params::checksum`]), else the local file's, hashed
//! on its own thread while it is sent.
//!
//! Copies to one appliance take turns: each holds an exclusive `flock` on
//! [`LOCK_FILE`] under the state dir for as long as it runs (see [`CopyLock`]),
//! so two plays at once never write the same partial file.

mod local_sum;
mod lock;
mod plan;
mod precheck;
mod remote;
mod send;
mod stage;
mod transfer;

pub use local_sum::*;
pub use lock::*;
pub use plan::*;
use precheck::{check_free_space, check_mode_msg, inspect};
pub use remote::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
pub use stage::{checksum_wanted, record_body, record_path, StageRecord, StagedMode};
use stage::{recorded, settle, staged_outcome, Staging, Wanted};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use transfer::{transfer, CopyRun, Source};
use usage_meter::shell::Script;
use usage_meter::ssh::{expand_tilde, ConnectionArgs, Reconnecting, Ssh};
use usage_meter::upgrade_state;
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

pub const DEFAULT_DEST: &str = usage_meter::appliance::BUNDLE;

fn default_dest() -> String {
    DEFAULT_DEST.into()
}
fn default_retries() -> u32 {
    2
}
fn default_state_dir() -> String {
    upgrade_state::DEFAULT_STATE_DIR.into()
}
fn default_lock_timeout() -> u64 {
    600
}

/// Options of vcloud.usage_meter.shar_copy.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Path on the controller of the upgrade bundle (C(ums-system-upgrade.shar)
    /// downloaded from the vendor portal).
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub src: PathBuf,
    /// Absolute path of the bundle on the appliance. The documented procedure
    /// runs it from C(/opt/vmware/cloudusagemetering).
    #[serde(default = "default_dest")]
    #[schemars(length(min = 1))]
    pub dest: String,
    /// Expected checksum of O(src), C(sha256:<64 hex digits>) as published with
    /// the bundle, or C(sha1:<40 hex digits>) for an ISO (its C(.mf) is SHA-1:
    /// the appliance then hashes the bundle with sha1 as well, after the copy
    /// verified it with sha256 against the local file's). The copy on the appliance is checked against it; the local
    /// file is checked against it before a byte is sent when its checksum is
    /// known on the controller already (cached), in check mode, and when O(dest)
    /// has the bundle's size; else only when the copy does not verify, to tell a
    /// wrong local file (the task fails naming it; its copy is not put in place)
    /// from a transfer that went wrong (copied again once).
    pub checksum: Option<String>,
    /// Copy even when O(dest) already has the same sha256.
    #[serde(default)]
    pub force: bool,
    /// Make the folder of O(dest) (and its parents, readable by root only) when
    /// it is missing, instead of failing. The inplace_upgrade role sets it for
    /// the later releases' ISOs, whose folder no appliance has at first.
    #[serde(default)]
    pub create_dir: bool,
    /// How many times to reconnect and resume when the SSH connection drops
    /// during the copy. With V(0) the task fails and a later run resumes.
    #[serde(default = "default_retries")]
    #[schemars(range(max = 20))]
    pub retries: u32,
    /// Directory of this collection on the appliance, where the checksum of a
    /// copied bundle is cached (keyed by device, inode, size, mtime and ctime,
    /// so a changed file is hashed again) and where the copy lock lives. Must
    /// not be inside C(/opt/vmware/cloudusagemetering).
    #[serde(default = "default_state_dir")]
    #[schemars(length(min = 1))]
    pub state_dir: String,
    /// Seconds to wait while another copy to the same appliance runs (two
    /// plays at once). Copies to one appliance take turns under a lock; the
    /// one that waited then finds the bundle in place (no change) when it is
    /// the same file. After this long the task fails, naming the other copy.
    /// With V(0) it fails at once.
    #[serde(default = "default_lock_timeout")]
    #[schemars(range(max = 86400))]
    pub lock_timeout: u64,
    /// How many SSH streams send the bundle. V(2): two connections (a
    /// second login) on two threads, each sending one half into its own file
    /// on the appliance, which joins them before it hashes the whole; an
    /// interrupted copy resumes both halves. V(1): one connection, one login.
    /// V(auto): two streams when at least 512 MiB are still to be sent, else
    /// one. Measured at 1 GiB: almost half the time of one stream at 50 ms
    /// (the window per round trip bounds one stream there), on a local link
    /// from nothing to a fifth, depending on how busy the controller's CPUs
    /// are; at 256 MiB on a local link the two were even, so the second login
    /// is not taken below 512 MiB. A split copy needs room on the appliance
    /// for its upper half twice while the halves are joined.
    #[serde(default)]
    pub streams: Streams,
    /// Leave a record on the appliance that the bundle is staged, once it is
    /// in place and verified (copied, or found identical): C(<state_dir>/staged/<name of dest>.json),
    /// readable by root only, with dest, sha256 (and sha1 when O(checksum) is
    /// one), size, the time (UTC) and the name of O(src). A record that
    /// already says the same keeps its time. M(vcloud.usage_meter.appliance_info)
    /// lists the records (RV(vcloud.usage_meter.appliance_info#module:appliance.staged)).
    #[serde(default)]
    pub record: bool,
    /// V(verify): copy nothing, only check that O(dest) is there with the
    /// checksum and size its staging record says (one login; the appliance
    /// hashes it once, writes nothing), and that it is O(src) (size, and
    /// sha256 when known on the controller) and has O(checksum) when given;
    /// else fail naming O(dest) and the time it was staged ("staged bundle
    /// changed on the appliance since ..."). Fails too when there is no record.
    /// V(ignore): copy as usual (RV(staged) and RV(staged_at) still tell of a record).
    #[serde(default)]
    pub staged: StagedMode,
}

/// Result of vcloud.usage_meter.shar_copy.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Path of the bundle on the appliance.
    #[schemars(extend("x-sample" = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"))]
    pub dest: String,
    /// Checksum of the bundle (on both sides after the task).
    #[schemars(extend("x-sample" = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"))]
    pub checksum: String,
    /// Size of the bundle in bytes.
    #[schemars(extend("x-sample" = 1073741824))]
    pub size: u64,
    /// Bytes sent by this run (0 when the appliance already had the file,
    /// less than RV(size) when a partial copy was resumed).
    #[schemars(extend("x-sample" = 1073741824))]
    pub transferred: u64,
    /// Wall time of the task in seconds.
    #[schemars(extend("x-sample" = 3.2))]
    pub seconds: f64,
    /// Whether this run continued a partial copy left by an interrupted one.
    #[schemars(extend("x-sample" = false))]
    pub resumed: bool,
    /// Whether a staging record on the appliance (see O(record)) says that
    /// O(dest) holds this bundle (in check mode: as it is before the task).
    #[schemars(extend("x-sample" = true))]
    pub staged: bool,
    /// When the bundle was staged (UTC), from its record on the appliance; null when there is none.
    #[schemars(extend("x-sample" = "2026-12-01T18:30:05Z", "x-returned" = "always (null without a record)"))]
    pub staged_at: Option<String>,
}

/// Check the options: the source (path, metadata) and the `checksum` option as hex.
fn check_options(p: &Params) -> Result<(PathBuf, std::fs::Metadata, Wanted), Failure> {
    let src = expand_tilde(&p.src);
    let meta = std::fs::metadata(&src).map_err(|e| {
        Failure::new("check src", format!("src {} cannot be read on the controller: {e}", src.display()))
            .hint("set src to the path of the downloaded ums-system-upgrade.shar on the controller")
    })?;
    if meta.is_dir() {
        return Err(Failure::new("check src", format!("src {} is a directory", src.display()))
            .hint("set src to the bundle file itself, e.g. <dir>/ums-system-upgrade.shar"));
    }
    if !p.dest.starts_with('/') || p.dest.ends_with('/') {
        return Err(
            Failure::new("check dest", format!("dest '{}' must be an absolute file path", p.dest)).hint(format!("e.g. {DEFAULT_DEST}"))
        );
    }
    let want = checksum_wanted(p.checksum.as_deref())?;
    Ok((src, meta, want))
}

/// The local file is not the published bundle: `then` says what became of the copy.
pub(crate) fn wrong_src(src: &std::path::Path, have: &str, want: &str, size: u64, then: &str) -> Failure {
    Failure::new("verify src", format!("{} has sha256:{have}, not the expected sha256:{want}; {then}", src.display()))
        .hint("download the bundle again (it is incomplete or not the one published), or fix the checksum option")
        .with("size", size)
}

#[derive(Debug)]
pub struct SharCopy;

impl Module for SharCopy {
    const NAME: &'static str = "shar_copy";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Copy the upgrade bundle to a Usage Meter appliance, verified and resumable",
            description: &[
                "Copies C(ums-system-upgrade.shar) from the controller to the appliance over SSH, the copy step of the in-place upgrade to 4.3.",
                "Skips the transfer when O(dest) already has the same sha256. Checks the free space on the destination filesystem first.",
                "Writes to C(.<name>.part) next to O(dest) (with two streams, see O(streams), the upper half to C(.<name>.part.2), appended on the appliance); then, in one step on the appliance, hashes that file as it is on disk and renames exactly those bytes into place only when size and sha256 match, so the real name never holds a truncated or foreign bundle. A later run (or a retry after a dropped connection, see O(retries)) resumes the partial copy; if the resumed file does not verify, the copy starts over once.",
                "Copies to one appliance take turns (two plays at once): each holds a lock on the appliance (C(flock) on C(shar_copy.lock) under O(state_dir)) from before it looks at O(dest) until it ends, and the lock is released as soon as the copy ends or its SSH connection closes. The second copy waits (see O(lock_timeout)) and then finds the bundle in place (no change) or copies its own; when it gives up, it names the other copy (controller, source, age).",
                "Staging ahead of the maintenance window: with O(record) the task leaves a record on the appliance of the bundle it put (or found) in place; later, O(staged=verify) copies nothing and only checks that the staged bundle is still there, unchanged, failing with the time it was staged when it is not.",
                "The appliance hashes the written file (with C(openssl dgst), else C(sha256sum)). That sum is compared with O(checksum) when given; else with the local file's, which the controller hashes while it sends.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options.",
            ],
            notes: &[
                "The checksum of a copied bundle is cached on the appliance under O(state_dir) and on the controller in its temporary directory (private to the user), keyed by the file's identity and modification and change times, so an unchanged re-run costs no hashing.",
                "Needs C(flock) (util-linux) on the appliance, as vcloud.usage_meter.upgrade does. Check mode takes no lock and writes nothing.",
            ],
            examples: r#"
- name: Copy the bundle, verified against the published checksum
  vcloud.usage_meter.shar_copy:
    src: files/ums-system-upgrade.shar
    checksum: "sha256:{{ ums_bundle_sha256 }}"

- name: Stage an ISO days ahead (checked against the SHA-1 of its .mf), with a record
  vcloud.usage_meter.shar_copy:
    src: files/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    dest: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    checksum: "sha1:{{ um_iso_sha1 }}"
    record: true

- name: In the window, only check the staged bundle (nothing is sent)
  vcloud.usage_meter.shar_copy:
    src: files/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    dest: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    staged: verify
  register: um_staged
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let t0 = Instant::now();
        let (src, meta, wanted) = check_options(&p)?;
        let size = meta.len();
        let key = local_key(&src, &meta);
        if p.staged == StagedMode::Verify {
            let rec = stage::verify(ctx, &p, &src, size, &wanted, cached_local_sum(&key).as_deref())?;
            return Ok(staged_outcome(&p, rec, t0));
        }
        let (want, want_sha1) = wanted;
        // With a published checksum the appliance's sha256 of what it received
        // is compared with that checksum, and the local file is hashed only when
        // it costs nothing (cached), in check mode, when dest has its size, or
        // after a mismatch (to tell a wrong local file from a bad transfer).
        // Without one, the local file is hashed on its own thread while it is sent.
        let mut local = LocalSum::start(&src, &key, want.is_none());
        if let Some(w) = &want {
            if ctx.check_mode || local.known().is_some() {
                let have = local.get(&src, &key)?;
                if &have != w {
                    return Err(wrong_src(&src, &have, w, size, "nothing was sent"));
                }
            }
        }

        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        // Everything from here on, up to the rename, happens under the copy
        // lock (not in check mode, which writes nothing).
        let mut cr = CopyRun {
            p: &p,
            conn: Reconnecting::new(&p.connection, Some(ssh)),
            id: RunId::new(),
            src: &src,
            lock: None,
            drops: 0,
            deadline: t0 + Duration::from_secs(3600 * 6),
            io_t: Duration::from_secs(p.connection.connect_timeout.max(30)),
        };
        if !ctx.check_mode {
            take_lock_retrying(ctx, &mut cr, false)?;
        }
        let waited = cr.lock.as_ref().and_then(|l| l.waited.clone());
        let part = part_path(&p.dest);
        let io_t = cr.io_t;
        let (remote, before_sum) = inspect(ctx, &mut cr, size)?;
        // The local checksum is needed now only to compare with a dest of the
        // same size, or for check mode's diff; else it is finished on its own
        // thread while the bytes go out (a cold 1 GiB copy: ~0.7 s less), or,
        // with a published checksum, not computed at all unless the copy does
        // not verify.
        let known_sum = if before_sum.is_some() || ctx.check_mode {
            let have = local.get(&src, &key)?;
            if let Some(w) = want.as_ref().filter(|w| **w != have) {
                return Err(wrong_src(&src, &have, w, size, "nothing was sent"));
            }
            Some(have)
        } else {
            want.clone()
        };
        let out = |checksum: &str, transferred, resumed, st: &Staging| Output {
            dest: p.dest.clone(),
            checksum: checksum.to_string(),
            size,
            transferred,
            seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            resumed,
            staged: st.staged,
            staged_at: st.staged_at.clone(),
        };
        let after_wait = |msg: String| match &waited {
            Some((who, d)) => {
                format!("{msg} (after waiting {} s for another copy to this appliance: {})", d.as_secs(), who.describe(false))
            }
            None => msg,
        };
        if let (Some(sum), false) = (known_sum.as_deref().filter(|s| before_sum.as_deref() == Some(*s)), p.force) {
            // A partial file left by an interrupted copy: ours to remove, under the lock.
            if remote.part_size.is_some() && !ctx.check_mode {
                if let Ok(s) = cr.conn.get() {
                    let _ =
                        s.exec(&guarded(&p.state_dir, &cr.id.token, Script::new(&[REMOVE_PART_SH]).env("UM_PART", part.as_str())), io_t);
                }
            }
            let st = settle(&mut cr, remote.record.as_deref(), sum, size, want_sha1.as_deref(), ctx.check_mode)?;
            return Ok(Outcome::new(st.wrote, out(&format!("sha256:{sum}"), 0, false, &st)).msg(after_wait(format!(
                "{} already has sha256:{sum}{}",
                p.dest,
                recorded(&st)
            ))));
        }
        let describe = |s: Option<&str>| match s {
            Some(s) => format!("{}: sha256:{s}\n", p.dest),
            None if remote.dest_size.is_some() => format!("{}: (another file)\n", p.dest),
            None => format!("{}: (absent)\n", p.dest),
        };
        let diff = |sum: &str| Diff::new(describe(before_sum.as_deref()), describe(Some(sum)));

        // Free space for what is still to be sent.
        let have = Layout { part: remote.part_size, part2: remote.part2_size, fresh: p.force };
        let first = plan(have, size, p.streams);
        check_free_space(&mut cr, &remote, size, &first)?;
        if ctx.check_mode {
            let what = check_mode_msg(&mut cr, size - first.bytes());
            let sum = local.get(&src, &key)?;
            let old = remote.record.as_deref().and_then(StageRecord::parse);
            let st = Staging { staged: false, staged_at: old.map(|r| r.staged_at), wrote: p.record };
            return Ok(Outcome::new(true, out(&format!("sha256:{sum}"), 0, false, &st)).diff(diff(&sum)).msg(what));
        }

        // Transfer, resuming after a dropped connection up to `retries` times,
        // restarting from zero once if the file does not verify.
        let source = Source { path: &src, key: &key, size, checked: local.known().is_some() || want.is_none() };
        let sent = transfer(ctx, &mut cr, &source, &mut local, known_sum, have)?;
        if sent.one_stream && local.known().is_none() && !sent.by_other {
            // The appliance hashed every byte read from the file in one stream
            // and found the published checksum: that is the file's sha256, as
            // long as the file has not changed since (same identity and times).
            if std::fs::metadata(&src).is_ok_and(|m| local_key(&src, &m) == key) {
                store_local_sum(&key, &sent.sum);
            }
        }
        let checksum = format!("sha256:{}", sent.sum);
        let st = settle(&mut cr, remote.record.as_deref(), &sent.sum, size, want_sha1.as_deref(), false)?;
        let msg = if sent.by_other {
            format!("another copy to this appliance put the same bundle in place while this one reconnected: {} has {checksum}", p.dest)
        } else if sent.resumed {
            after_wait(format!("resumed and verified {checksum}"))
        } else {
            after_wait(format!("copied and verified {checksum}"))
        };
        let msg = format!("{msg}{}", recorded(&st));
        Ok(Outcome::new(true, out(&checksum, sent.transferred, sent.resumed, &st)).diff(diff(&sent.sum)).msg(msg))
    }
}

#[cfg(test)]
mod tests;
