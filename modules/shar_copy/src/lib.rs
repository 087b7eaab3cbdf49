#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.shar_copy: put the upgrade bundle on the appliance.
//!
//! Streams the file into `.<name>.part` next to `dest` (one SSH channel, 4 MiB
//! writes), then, in one remote command, hashes the partial file on the
//! appliance and renames it into place only when size and sha256 match. An
//! interrupted copy resumes from the partial file. The local file is hashed on
//! its own thread while it is sent.
//!
//! Copies to one appliance take turns: each holds an exclusive `flock` on
//! [`LOCK_FILE`] under the state dir for as long as it runs (see [`CopyLock`]),
//! so two plays at once never write the same partial file.

mod local_sum;
mod lock;

pub use local_sum::*;
pub use lock::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use usage_meter::reply::Reply;
use usage_meter::shell::{script, Script};
use usage_meter::ssh::{expand_tilde, ConnectionArgs, Reconnecting, Ssh};
use usage_meter::upgrade_state::{self, parse_checksum, SUM_SH};
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

const GATHER_SH: &str = include_str!("remote/gather.sh");
const RECEIVE_SH: &str = include_str!("remote/receive.sh");
const FINISH_SH: &str = include_str!("remote/finish.sh");

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
    /// the bundle. The local file is checked before a byte is sent, and the
    /// copy on the appliance is checked against it too.
    pub checksum: Option<String>,
    /// Copy even when O(dest) already has the same sha256.
    #[serde(default)]
    pub force: bool,
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
}

/// The temporary name next to `dest`: `<dir>/.<name>.part`.
pub fn part_path(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.part"),
        None => format!(".{dest}.part"),
    }
}

/// Directory of `dest` (`/` for a top-level file).
pub fn dest_dir(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.into(),
        None => ".".into(),
    }
}

/// What the appliance has at `dest` before the copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub dir_exists: bool,
    pub dest_size: Option<u64>,
    pub part_size: Option<u64>,
}

pub fn gather_cmd(dest: &str) -> String {
    script(&[GATHER_SH], &[("UM_DIR", &dest_dir(dest)), ("UM_DEST", dest), ("UM_PART", &part_path(dest))])
}

pub fn parse_gather(stdout: &str) -> Option<Remote> {
    let r = Reply::parse(stdout);
    let remote = Remote { dir_exists: r.flag("dir"), dest_size: r.num("dest")?, part_size: r.num("part")? };
    (r.complete && r.get("dir").is_some()).then_some(remote)
}

/// Where to start sending: resume a partial no longer than the source, else start over.
pub fn resume_offset(part: Option<u64>, size: u64) -> u64 {
    match part {
        Some(n) if n <= size => n,
        _ => 0,
    }
}

/// The receiving command: a fresh copy starts a new file (a new inode, so
/// nothing a cut connection left running can still write into it), a resume
/// appends. A failed write drains the rest of the stream, so the controller
/// gets the result rather than a broken pipe. Prints `size=<bytes of the part file>`.
pub fn receive_cmd(part: &str, offset: u64) -> Script {
    Script::new(&[RECEIVE_SH]).env("UM_PART", part).env("UM_OFFSET", offset.to_string())
}

/// The last step, in one command under the lock: hash the partial file as it
/// is on disk now and rename exactly those bytes into place when size and
/// sha256 are the source's, then record the checksum (see `remote/finish.sh`).
pub fn finish_cmd(part: &str, dest: &str, state_dir: &str, sha256: &str, size: u64) -> Script {
    Script::new(&[SUM_SH, FINISH_SH])
        .env("UM_PART", part)
        .env("UM_DEST", dest)
        .env("UM_SHA", sha256)
        .env("UM_SIZE", size.to_string())
        .env("UM_CACHE", upgrade_state::cache_file(state_dir, dest))
}

/// What [`finish_cmd`] reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Verified and renamed into place.
    Renamed,
    /// The partial file is not the source (size, sha256 as found); nothing was renamed.
    Mismatch(Option<u64>, String),
    /// Verified, but the rename failed.
    RenameFailed,
}

pub fn parse_finished(stdout: &str) -> Option<Finished> {
    let r = Reply::parse(stdout);
    match r.get("result")? {
        "renamed" => Some(Finished::Renamed),
        "renamefail" => Some(Finished::RenameFailed),
        "bad" => Some(Finished::Mismatch(r.num("size").flatten(), r.get("sha256").unwrap_or_default().trim().to_string())),
        _ => None,
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
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
                "Writes to C(.<name>.part) next to O(dest); then, in one step on the appliance, hashes that file as it is on disk and renames exactly those bytes into place only when size and sha256 match, so the real name never holds a truncated or foreign bundle. A later run (or a retry after a dropped connection, see O(retries)) resumes the partial copy; if the resumed file does not verify, the copy starts over once.",
                "Copies to one appliance take turns (two plays at once): each holds a lock on the appliance (C(flock) on C(shar_copy.lock) under O(state_dir)) from before it looks at O(dest) until it ends, and the lock is released as soon as the copy ends or its SSH connection closes. The second copy waits (see O(lock_timeout)) and then finds the bundle in place (no change) or copies its own; when it gives up, it names the other copy (controller, source, age).",
                "The controller hashes the local file while it sends; the appliance hashes the written file (with C(openssl dgst), else C(sha256sum)).",
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
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let t0 = Instant::now();
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
        let want = p
            .checksum
            .as_deref()
            .map(parse_checksum)
            .transpose()
            .map_err(|m| Failure::new("check checksum", m).hint("copy the sha256 published with the bundle as sha256:<hex>"))?;
        let size = meta.len();
        let key = local_key(&src, &meta);
        let mut local = LocalSum::start(&src, &key);
        if let Some(w) = &want {
            let have = local.get(&src, &key)?;
            if &have != w {
                return Err(Failure::new(
                    "verify src",
                    format!("{} has sha256:{have}, not the expected sha256:{w}; nothing was sent", src.display()),
                )
                .hint("download the bundle again (it is incomplete or not the one published), or fix the checksum option")
                .with("size", size));
            }
        }

        let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
        // Everything from here on, up to the rename, happens under the copy
        // lock (not in check mode, which writes nothing).
        let run = RunId::new();
        let mut conn = Reconnecting::new(&p.connection, Some(ssh));
        let deadline = t0 + Duration::from_secs(3600 * 6);
        let mut drops = 0u32;
        let mut lock = None;
        if !ctx.check_mode {
            lock = Some(take_lock_retrying(ctx, &mut conn, &p, &run, &src, false, &mut drops, deadline)?);
        }
        let waited = lock.as_ref().and_then(|l| l.waited.clone());
        let part = part_path(&p.dest);
        let dir = dest_dir(&p.dest);
        let io_t = Duration::from_secs(p.connection.connect_timeout.max(30));
        let hash_t = Duration::from_secs(3600);
        let g = conn.get().and_then(|s| s.exec(&gather_cmd(&p.dest), io_t)).map_err(|e| e.into_failure("inspect dest"))?;
        let remote =
            parse_gather(&g.stdout).ok_or_else(|| Failure::new("inspect dest", format!("unexpected output: {}", g.tail(3).join(" | "))))?;
        if !remote.dir_exists {
            return Err(Failure::new("inspect dest", format!("the directory {dir} does not exist on the appliance"))
                .hint(format!("check dest; the bundle belongs in {}", usage_meter::appliance::INSTALL_DIR)));
        }

        // Same file already there?
        let mut before_sum = None;
        if remote.dest_size == Some(size) {
            let s = conn.get().map_err(|e| e.into_failure("checksum dest"))?;
            let rs = upgrade_state::remote_sha256(s, &p.state_dir, &p.dest, !ctx.check_mode, hash_t)
                .map_err(|e| e.into_failure("checksum dest"))?;
            before_sum = rs.map(|r| r.sha256);
        }
        // The local checksum is needed now only to compare with a dest of the
        // same size, or for check mode's diff; else it is finished on its own
        // thread while the bytes go out (a cold 1 GiB copy: ~0.7 s less).
        let mut known_sum = if before_sum.is_some() || ctx.check_mode { Some(local.get(&src, &key)?) } else { None };
        let out = |checksum: &str, transferred, resumed| Output {
            dest: p.dest.clone(),
            checksum: checksum.to_string(),
            size,
            transferred,
            seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            resumed,
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
                if let Ok(s) = conn.get() {
                    let _ = s.exec(&guarded(&p.state_dir, &run.token, Script::new(&[REMOVE_PART_SH]).env("UM_PART", part.as_str())), io_t);
                }
            }
            return Ok(Outcome::new(false, out(&format!("sha256:{sum}"), 0, false))
                .msg(after_wait(format!("{} already has sha256:{sum}", p.dest))));
        }
        let describe = |s: Option<&str>| match s {
            Some(s) => format!("{}: sha256:{s}\n", p.dest),
            None if remote.dest_size.is_some() => format!("{}: (another file)\n", p.dest),
            None => format!("{}: (absent)\n", p.dest),
        };
        let diff = |sum: &str| Diff::new(describe(before_sum.as_deref()), describe(Some(sum)));

        // Free space for what is still to be sent.
        let offset = if p.force { 0 } else { resume_offset(remote.part_size, size) };
        let need = size - offset;
        let free = conn.get().and_then(|s| s.free_bytes(&dir)).map_err(|e| e.into_failure("check free space"))?;
        // A partial copy we cannot resume is deleted first: its space counts as free.
        let reclaim = if offset == 0 { remote.part_size.unwrap_or(0) } else { 0 };
        let free = free.saturating_add(reclaim);
        if need > free {
            return Err(Failure::new(
                "check free space",
                format!(
                    "the copy needs {need} bytes ({}) on the filesystem of {dir}, but only {} bytes ({}) are free; nothing was sent",
                    mib(need),
                    free,
                    mib(free)
                ),
            )
            .hint(format!("free space under {dir} on the appliance (old bundles, var/logs), then run again"))
            .with("needed", need)
            .with("free", free));
        }
        if ctx.check_mode {
            // No lock in check mode; but say so when another copy holds it (its
            // partial file is not ours to resume).
            let busy = conn.get().and_then(|s| s.exec(&lock_busy_cmd(&p.state_dir), io_t)).is_ok_and(|o| o.stdout.contains("UMBUSY"));
            let what = if busy {
                format!(
                    "another copy to this appliance is running (it holds {}): the task would wait for it (lock_timeout), then copy the bundle unless that copy puts the same file in place",
                    lock_paths(&p.state_dir).0
                )
            } else if offset > 0 {
                format!("would resume the copy at byte {offset}")
            } else {
                "would copy the bundle".into()
            };
            let sum = local.get(&src, &key)?;
            return Ok(Outcome::new(true, out(&format!("sha256:{sum}"), 0, false)).diff(diff(&sum)).msg(what));
        }

        // Transfer, resuming after a dropped connection up to `retries` times,
        // restarting from zero once if the file does not verify.
        let lost_lock = |step: &str| {
            Failure::new(step, format!("this copy no longer holds the copy lock ({}); nothing was renamed", lock_paths(&p.state_dir).0))
                .hint("another copy to this appliance took over (or the lock holder was killed); run the task again once it has finished")
        };
        let in_place_by_other = |sum: &str| {
            format!("another copy to this appliance put the same bundle in place while this one reconnected: {} has sha256:{sum}", p.dest)
        };
        let mut offset = offset;
        let mut transferred = 0u64;
        let mut resumed = false;
        let mut restarted = false;
        loop {
            if offset > 0 {
                resumed = true;
            }
            let cmd = guarded(&p.state_dir, &run.token, receive_cmd(&part, offset));
            ctx.log(2, format!("sending {} from byte {offset} to {part}", src.display()));
            let mut file = File::open(&src).map_err(|e| Failure::new("read src", format!("{}: {e}", src.display())))?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| Failure::new("read src", format!("{}: {e}", src.display())))?;
            let mut noop = |_: u64, _: &[u8]| {};
            let sent = match conn.get() {
                // after the last byte the receiver only closes the file and stats it
                Ok(s) => s.exec_with_stdin(&cmd, &mut file, &mut noop, io_t),
                Err(e) => Err(e),
            };
            let sum = match &known_sum {
                Some(s) => s.clone(),
                None => known_sum.insert(local.get(&src, &key)?).clone(),
            };
            let checksum = format!("sha256:{sum}");
            let (rout, n) = match sent {
                Ok(v) => v,
                Err(e) if e.is_transient() && drops < p.retries => {
                    drops += 1;
                    ctx.warn(format!("the connection dropped during the copy ({}); resuming (retry {drops} of {})", e.detail, p.retries));
                    match resume_after_drop(ctx, &mut conn, &mut lock, &p, &run, &src, &sum, size, &mut drops, deadline, io_t)? {
                        Some(o) => offset = o,
                        None => {
                            return Ok(Outcome::new(true, out(&checksum, transferred, resumed))
                                .diff(diff(&sum))
                                .msg(in_place_by_other(&sum)))
                        }
                    }
                    continue;
                }
                Err(e) => {
                    return Err(e
                        .hint("run the task again: it resumes from the partial copy (.part file) on the appliance")
                        .into_failure("copy"));
                }
            };
            transferred += n;
            if rout.stdout.contains("UMLOSTLOCK") {
                return Err(lost_lock("copy"));
            }
            let Some(rsize) = Reply::parse(&rout.stdout).num::<u64>("size").flatten() else {
                if rout.rc.is_none() && drops < p.retries {
                    // Closed without a result: the connection went away at the end.
                    drops += 1;
                    match resume_after_drop(ctx, &mut conn, &mut lock, &p, &run, &src, &sum, size, &mut drops, deadline, io_t)? {
                        Some(o) => offset = o,
                        None => {
                            return Ok(Outcome::new(true, out(&checksum, transferred, resumed))
                                .diff(diff(&sum))
                                .msg(in_place_by_other(&sum)))
                        }
                    }
                    continue;
                }
                return Err(Failure::new("copy", format!("the appliance did not confirm the copy: {}", rout.tail(5).join(" | ")))
                    .hint("check free space and permissions in the destination directory; run again to resume"));
            };
            if rout.stderr.contains("UMWRITEFAIL") || rsize < size {
                return Err(Failure::new(
                    "copy",
                    format!("writing {part} on the appliance failed after {rsize} of {size} bytes: {}", rout.tail(3).join(" | ")),
                )
                .hint("free space on the appliance (the disk may be full) and run again; the partial copy is kept and resumed"));
            }

            // Verified on disk and into place in one command, under the lock;
            // the checksum is remembered.
            let fin = guarded(&p.state_dir, &run.token, finish_cmd(&part, &p.dest, &p.state_dir, &sum, size));
            let fout = match conn.get().and_then(|s| s.exec(&fin, hash_t)) {
                Ok(o) if o.rc.is_some() || drops >= p.retries => o,
                Err(e) if !e.is_transient() || drops >= p.retries => {
                    return Err(e
                        .hint("run the task again: the partial copy is kept, then checked and renamed")
                        .into_failure("rename into place"));
                }
                // The connection dropped at the very end: look again (the rename may have happened).
                _ => {
                    drops += 1;
                    match resume_after_drop(ctx, &mut conn, &mut lock, &p, &run, &src, &sum, size, &mut drops, deadline, io_t)? {
                        Some(o) => offset = o,
                        None => break,
                    }
                    continue;
                }
            };
            if fout.stdout.contains("UMLOSTLOCK") {
                return Err(lost_lock("rename into place"));
            }
            let (rsize, rsha) = match parse_finished(&fout.stdout) {
                Some(Finished::Renamed) => break,
                Some(Finished::Mismatch(z, h)) => (z.map_or_else(|| "?".to_string(), |z| z.to_string()), h),
                None => {
                    return Err(Failure::new(
                        "rename into place",
                        format!("checking {part} on the appliance gave no result (rc {:?}): {}", fout.rc, fout.tail(3).join(" | ")),
                    )
                    .hint(format!("check that sha256sum or openssl works on the appliance and {dir} is readable; run again (the partial copy is kept)")));
                }
                Some(Finished::RenameFailed) => {
                    return Err(Failure::new(
                        "rename into place",
                        format!("renaming {part} to {} failed (rc {:?}): {}", p.dest, fout.rc, fout.tail(3).join(" | ")),
                    )
                    .hint(format!("check permissions and free space in {dir}; run again (the partial copy is kept)")));
                }
            };
            if !restarted {
                // A resumed (or stale) partial file that does not verify: start over once.
                restarted = true;
                ctx.warn(format!("the copy on the appliance did not verify (size {rsize}, sha256:{rsha}); copying again from the start"));
                offset = 0;
                resumed = false;
                continue;
            }
            return Err(Failure::new(
                "verify copy",
                format!("the copy on the appliance has size {rsize} and sha256:{rsha}, the source has size {size} and {checksum}"),
            )
            .hint("the source file may have changed during the copy, or the link corrupts data; run again"));
        }

        // the loop ends only after a send, which made the checksum known
        let sum = known_sum.ok_or_else(|| Failure::new("copy", "internal error: no checksum after the copy").hint("run again"))?;
        let checksum = format!("sha256:{sum}");
        let msg = if resumed { format!("resumed and verified {checksum}") } else { format!("copied and verified {checksum}") };
        Ok(Outcome::new(true, out(&checksum, transferred, resumed)).diff(diff(&sum)).msg(after_wait(msg)))
    }
}

/// After a dropped connection: connect again, take the lock again (the old
/// holder ends with its connection; another copy may have taken its turn
/// meanwhile), and see how much of the partial file is there: the offset to
/// resume at, or `None` when another copy has put the same bundle in place.
#[allow(clippy::too_many_arguments)]
fn resume_after_drop(
    ctx: &mut Context,
    conn: &mut Reconnecting<'_>,
    lock: &mut Option<CopyLock>,
    p: &Params,
    run: &RunId,
    src: &Path,
    sum: &str,
    size: u64,
    drops: &mut u32,
    deadline: Instant,
    io_t: Duration,
) -> Result<Option<u64>, Failure> {
    // Let go of the old connection's holder first: it keeps that connection open.
    *lock = None;
    conn.reconnect(Duration::from_millis(300 * u64::from((*drops).max(1))), deadline).map_err(|e| e.into_failure("reconnect"))?;
    conn.flush_warnings(ctx);
    *lock = Some(take_lock_retrying(ctx, conn, p, run, src, true, drops, deadline)?);
    let s = conn.get().map_err(|e| e.into_failure("reconnect"))?;
    let g = s.exec(&gather_cmd(&p.dest), io_t).map_err(|e| e.into_failure("inspect partial copy"))?;
    let r = parse_gather(&g.stdout)
        .ok_or_else(|| Failure::new("inspect partial copy", format!("unexpected output: {}", g.tail(3).join(" | "))))?;
    if r.part_size.is_none() && r.dest_size == Some(size) && !p.force {
        let rs = upgrade_state::remote_sha256(s, &p.state_dir, &p.dest, true, Duration::from_secs(3600))
            .map_err(|e| e.into_failure("checksum dest"))?;
        if rs.is_some_and(|r| r.sha256 == sum) {
            return Ok(None);
        }
    }
    Ok(Some(resume_offset(r.part_size, size)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::{BufRead, Read};
    use usage_meter::upgrade_state::hex;

    #[test]
    fn checksum_format() {
        let h = "A".repeat(64);
        assert_eq!(parse_checksum(&format!("sha256:{h}")), Ok("a".repeat(64)));
        assert_eq!(parse_checksum(&format!(" SHA256:{h} ")), Ok("a".repeat(64)));
        assert!(parse_checksum(&h).is_err());
        assert!(parse_checksum("md5:abc").unwrap_err().contains("not supported"));
        assert!(parse_checksum("sha256:abc").unwrap_err().contains("3 characters"));
        assert!(parse_checksum(&format!("sha256:{}", "g".repeat(64))).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(part_path("/opt/vmware/cloudusagemetering/x.shar"), "/opt/vmware/cloudusagemetering/.x.shar.part");
        assert_eq!(
            lock_paths("/var/lib/vcloud-usage-meter/"),
            ("/var/lib/vcloud-usage-meter/shar_copy.lock".to_string(), "/var/lib/vcloud-usage-meter/shar_copy.owner".to_string())
        );
        assert_eq!(dest_dir("/opt/vmware/cloudusagemetering/x.shar"), "/opt/vmware/cloudusagemetering");
        assert_eq!(dest_dir("/x.shar"), "/");
    }

    #[test]
    fn gather_parsing() {
        assert_eq!(parse_gather("dir=1\ndest=10\npart=\n@@end\n"), Some(Remote { dir_exists: true, dest_size: Some(10), part_size: None }));
        assert_eq!(parse_gather("dir=0\ndest=\npart=5\n@@end\n").map(|r| r.part_size), Some(Some(5)));
        assert_eq!(parse_gather("dir=1\ndest=x\npart=\n@@end\n"), None);
        assert_eq!(parse_gather("dir=1\ndest=\npart=\n"), None);
        assert_eq!(parse_gather("dir=1\n@@end\n"), None);
    }

    #[test]
    fn resume_rules() {
        assert_eq!(resume_offset(None, 10), 0);
        assert_eq!(resume_offset(Some(4), 10), 4);
        assert_eq!(resume_offset(Some(10), 10), 10);
        assert_eq!(resume_offset(Some(11), 10), 0);
    }

    fn received(out: &str) -> Option<u64> {
        Reply::parse(out).num("size").flatten()
    }

    #[test]
    fn received_parsing() {
        assert_eq!(received("size=42\n"), Some(42));
        assert_eq!(received("noise\nsize=7\n"), Some(7));
        assert_eq!(received("size=\n"), None);
        assert_eq!(received(""), None);
    }

    #[test]
    fn finished_parsing() {
        let h = "c".repeat(64);
        assert_eq!(parse_finished("result=renamed\n"), Some(Finished::Renamed));
        assert_eq!(parse_finished("result=renamefail\n"), Some(Finished::RenameFailed));
        assert_eq!(parse_finished(&format!("result=bad\nsize=42\nsha256={h}\n")), Some(Finished::Mismatch(Some(42), h)));
        assert_eq!(parse_finished("result=bad\nsize=\nsha256=\n"), Some(Finished::Mismatch(None, String::new())));
        assert_eq!(parse_finished("something else\n"), None);
    }

    /// `sh -c cmd` with stdin and stdout piped.
    fn spawn_sh(cmd: &str) -> std::process::Child {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Run `cmd` with sh, `input` on its stdin; its stdout.
    fn feed(cmd: &str, input: &[u8]) -> String {
        use std::io::Write;
        let mut c = spawn_sh(cmd);
        c.stdin.take().unwrap().write_all(input).unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
    }

    #[test]
    fn receive_and_finish_commands_work_locally() {
        // The commands are plain sh: feed them a file and check the result.
        let dir = tempfile::tempdir().unwrap();
        let (part, dest, sd) = (dir.path().join(".b.part"), dir.path().join("b"), dir.path().join("state"));
        let (part_s, dest_s, sd_s) = (part.to_str().unwrap(), dest.to_str().unwrap(), sd.to_str().unwrap());
        let data = b"0123456789abcdef".repeat(1000);
        let want = hex(&Sha256::digest(&data));
        let n = data.len() as u64;
        // a stale partial file is replaced by a fresh copy
        std::fs::write(&part, b"stale stale stale").unwrap();
        assert_eq!(received(&feed(&receive_cmd(part_s, 0).command(), &data[..5000])), Some(5000));
        // not all there: not renamed
        let fin = finish_cmd(part_s, dest_s, sd_s, &want, n).command();
        assert!(matches!(parse_finished(&feed(&fin, b"")), Some(Finished::Mismatch(Some(5000), _))));
        assert!(!dest.exists());
        assert_eq!(received(&feed(&receive_cmd(part_s, 5000).command(), &data[5000..])), Some(n));
        assert_eq!(std::fs::read(&part).unwrap(), data);
        // the right size but other bytes: not renamed
        let mut other = data.clone();
        other[100] ^= 1;
        std::fs::write(&part, &other).unwrap();
        assert_eq!(parse_finished(&feed(&fin, b"")), Some(Finished::Mismatch(Some(n), hex(&Sha256::digest(&other)))));
        assert!(!dest.exists());
        // the source's bytes: renamed, and the checksum recorded
        std::fs::write(&part, &data).unwrap();
        assert_eq!(parse_finished(&feed(&fin, b"")), Some(Finished::Renamed));
        assert!(!part.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        let rs = feed(&upgrade_state::remote_sha256_script(sd_s, dest_s, false), b"");
        assert_eq!(upgrade_state::parse_remote_sum(&rs).unwrap().map(|r| (r.sha256, r.cached)), Some((want, true)));
    }

    #[test]
    fn lock_report_and_owner() {
        let mut r = LockReport::default();
        for l in [
            "@@waiting",
            "token=t1",
            "pid=12",
            "client=10.0.0.5",
            "started=100",
            "controller=ctl1",
            "controller_pid=777",
            "src=/b/ums.shar",
            "dest=/opt/x.shar",
            "now=130",
            "@@waiting",
            "token=not read",
            "@@held",
        ] {
            r.line(l);
        }
        assert_eq!(r.state, "held");
        assert_eq!(
            r.owner.as_ref().unwrap().describe(true),
            "the copy of /b/ums.shar to /opt/x.shar from controller ctl1 (10.0.0.5, pid 777), running for 30 s"
        );
        assert!(!r.owner.unwrap().describe(false).contains("running"));
        let mut r = LockReport::default();
        r.line("@@held\n");
        assert_eq!((r.state.as_str(), r.owner), ("held", None));
        assert!(LockOwner::default().describe(true).contains("has not recorded"));
    }

    fn has_flock() -> bool {
        std::process::Command::new("flock").arg("-V").output().is_ok()
    }

    /// Start the holder script with sh; its stdin stays open until the child is dropped.
    fn holder(sd: &str, token: &str, timeout: u64) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>) {
        let script = lock_script(sd, token, timeout, &[("controller", "ctl"), ("src", "/x/b\nshar"), ("dest", "/opt/b")]);
        let mut c = spawn_sh(&script);
        let out = std::io::BufReader::new(c.stdout.take().unwrap());
        (c, out)
    }

    fn until_state(out: &mut impl BufRead, states: &[&str]) -> LockReport {
        let mut r = LockReport::default();
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                return r;
            }
            r.line(&line);
            if states.contains(&r.state.as_str()) {
                return r;
            }
        }
    }

    #[test]
    fn lock_script_takes_turns_locally_and_ends_its_own_stale_holder() {
        assert!(has_flock(), "flock (util-linux) is needed: the appliance side of the lock uses it");
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("state");
        let sd_s = sd.to_str().unwrap();
        let (mut a, mut a_out) = holder(sd_s, "run-a", 5);
        assert_eq!(until_state(&mut a_out, &["held"]).state, "held");
        let owner = std::fs::read_to_string(sd.join(OWNER_FILE)).unwrap();
        assert!(owner.contains("token=run-a\n") && owner.contains("src=/x/b?shar\n") && owner.contains("dest=/opt/b\n"), "{owner}");
        assert_eq!(feed(&lock_busy_cmd(sd_s), b"").trim(), "UMBUSY");
        // the guard lets the holder's run through, and no other
        assert_eq!(feed(&guarded(sd_s, "run-a", Script::new(&["echo went on"])), b"").trim(), "went on");
        assert_eq!(feed(&guarded(sd_s, "run-b", Script::new(&["echo went on"])), b"").trim(), "UMLOSTLOCK");
        // a second copy gives up after its timeout, naming the first
        let (mut b, mut b_out) = holder(sd_s, "run-b", 1);
        let mut r = until_state(&mut b_out, &["held", "busy"]);
        assert_eq!(r.state, "busy");
        let mut rest = String::new();
        b_out.read_to_string(&mut rest).unwrap();
        rest.lines().for_each(|l| r.line(l));
        assert_eq!(r.owner.as_ref().unwrap().0.iter().filter(|(k, _)| k == "token").count(), 1, "{:?}", r.owner);
        assert!(r.owner.unwrap().describe(true).contains("the copy of /x/b?shar to /opt/b from controller ctl"));
        b.wait().unwrap();
        // a third one waits, and gets the lock when the first ends (its stdin closes)
        let (mut c, mut c_out) = holder(sd_s, "run-c", 30);
        assert_eq!(until_state(&mut c_out, &["waiting", "held"]).state, "waiting");
        drop(a.stdin.take());
        a.wait().unwrap();
        let r = until_state(&mut c_out, &["held", "busy"]);
        assert_eq!(r.state, "held");
        assert!(std::fs::read_to_string(sd.join(OWNER_FILE)).unwrap().contains("token=run-c\n"));
        drop(c.stdin.take());
        c.wait().unwrap();
        assert!(!sd.join(OWNER_FILE).exists());
        assert_eq!(feed(&lock_busy_cmd(sd_s), b"").trim(), "UMFREE");
        assert_eq!(feed(&lock_busy_cmd(dir.path().join("none").to_str().unwrap()), b"").trim(), "UMFREE");
        assert!(!dir.path().join("none").exists());

        // a holder of this run whose connection is gone but not yet noticed by
        // sshd is ended by the run's next holder, which takes the lock at once
        let (mut old, mut old_out) = holder(sd_s, "run-d", 5);
        assert_eq!(until_state(&mut old_out, &["held"]).state, "held");
        let (mut new, mut new_out) = holder(sd_s, "run-d", 0);
        let r = until_state(&mut new_out, &["held", "busy"]);
        assert_eq!((r.state.as_str(), r.owner), ("held", None));
        assert!(!old.wait().unwrap().success());
        drop(new.stdin.take());
        new.wait().unwrap();
    }

    #[test]
    fn local_hash_and_cache_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.shar");
        std::fs::write(&f, b"hello\n").unwrap();
        assert_eq!(hash_file(&f).unwrap(), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
        let k1 = local_key(&f, &std::fs::metadata(&f).unwrap());
        store_local_sum(&k1, &"d".repeat(64));
        assert_eq!(cached_local_sum(&k1), Some("d".repeat(64)));
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&f, b"hellp\n").unwrap();
        let k2 = local_key(&f, &std::fs::metadata(&f).unwrap());
        assert_ne!(k1, k2);
        assert_eq!(cached_local_sum(&k2), None);
    }
}
