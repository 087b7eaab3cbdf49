#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.shar_copy: put the upgrade bundle on the appliance.
//!
//! Streams the file into `.<name>.part` next to `dest` (one SSH channel, 4 MiB
//! writes, the remote side hashing while it writes), checks size and sha256,
//! and only then renames it into place. An interrupted copy resumes from the
//! partial file. The local file is hashed on its own thread while it is sent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use usage_meter::shell::quote;
use usage_meter::ssh::{expand_tilde, ConnectionArgs, Reconnecting, Ssh};
use usage_meter::upgrade_state::{self, hex, is_sha256_hex, HASH_FN};
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

pub const DEFAULT_DEST: &str = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar";

fn default_dest() -> String {
    DEFAULT_DEST.into()
}
fn default_retries() -> u32 {
    2
}
fn default_state_dir() -> String {
    upgrade_state::DEFAULT_STATE_DIR.into()
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
    /// so a changed file is hashed again). Must not be inside
    /// C(/opt/vmware/cloudusagemetering).
    #[serde(default = "default_state_dir")]
    #[schemars(length(min = 1))]
    pub state_dir: String,
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

/// `sha256:<hex>` → lower-case hex.
pub fn parse_checksum(s: &str) -> Result<String, String> {
    let t = s.trim();
    let (algo, hexpart) = t.split_once(':').ok_or_else(|| format!("checksum '{t}' is not in the form sha256:<64 hex digits>"))?;
    if !algo.eq_ignore_ascii_case("sha256") {
        return Err(format!("checksum algorithm '{algo}' is not supported: use sha256:<64 hex digits>"));
    }
    if !is_sha256_hex(hexpart) {
        return Err(format!("checksum '{t}' is not in the form sha256:<64 hex digits> ({} characters after 'sha256:')", hexpart.len()));
    }
    Ok(hexpart.to_ascii_lowercase())
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
    let d = quote(dest);
    let p = quote(&part_path(dest));
    let dir = quote(&dest_dir(dest));
    format!(
        "if [ -d {dir} ]; then echo dir=1; else echo dir=0; fi; \
         if [ -f {d} ]; then echo dest=$(stat -c %s {d}); else echo dest=; fi; \
         if [ -f {p} ]; then echo part=$(stat -c %s {p}); else echo part=; fi"
    )
}

pub fn parse_gather(stdout: &str) -> Option<Remote> {
    let mut r = Remote::default();
    let mut seen = 0;
    for line in stdout.lines() {
        let Some((k, v)) = line.trim().split_once('=') else { continue };
        let num = || if v.is_empty() { Some(None) } else { v.parse().ok().map(Some) };
        match k {
            "dir" => {
                r.dir_exists = v == "1";
                seen += 1;
            }
            "dest" => {
                r.dest_size = num()?;
                seen += 1;
            }
            "part" => {
                r.part_size = num()?;
                seen += 1;
            }
            _ => {}
        }
    }
    (seen == 3).then_some(r)
}

/// Where to start sending: resume a partial no longer than the source, else start over.
pub fn resume_offset(part: Option<u64>, size: u64) -> u64 {
    match part {
        Some(n) if n <= size => n,
        _ => 0,
    }
}

/// The receiving command: a fresh copy hashes the stream as it is written
/// (`tee`); a resume appends and hashes the whole partial file.
pub fn receive_cmd(part: &str, offset: u64) -> String {
    let p = quote(part);
    if offset == 0 {
        format!("umask 022; {HASH_FN}; ( tee {p} || echo UMTEEFAIL >&2 ) | umhash; stat -c 'size=%s' {p}")
    } else {
        format!("umask 022; {HASH_FN}; cat >> {p} || echo UMTEEFAIL >&2; umhash < {p}; stat -c 'size=%s' {p}")
    }
}

/// From the receiving command's output: (sha256 of what was written, size of the partial file).
pub fn parse_received(stdout: &str) -> Option<(String, u64)> {
    let mut sha = None;
    let mut size = None;
    for line in stdout.lines() {
        if let Some(v) = line.strip_prefix("size=") {
            size = v.trim().parse().ok();
        } else if let Some(first) = line.split_whitespace().next() {
            if is_sha256_hex(first) {
                sha = Some(first.to_ascii_lowercase());
            }
        }
    }
    Some((sha?, size?))
}

// ---------------------------------------------------------------------------
// Local hashing, with a small cache keyed by the file's identity and times.

/// sha256 of a local file, reading in 1 MiB blocks.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Identity of a local file's content version.
pub fn local_key(path: &Path, meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}|{}|{}|{}|{}.{}|{}.{}",
        path.display(),
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

/// The controller-side cache directory, only if it is ours and private
/// (another user must not be able to plant a checksum).
fn cache_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("vcloud-usage-meter-{uid}"));
    if !dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).recursive(true).create(&dir).ok()?;
    }
    let m = std::fs::symlink_metadata(&dir).ok()?;
    (m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0).then_some(dir)
}

fn cache_entry(key: &str) -> Option<PathBuf> {
    Some(cache_dir()?.join(format!("sha256-{}", &hex(&Sha256::digest(key.as_bytes()))[..32])))
}

pub fn cached_local_sum(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(cache_entry(key)?).ok()?;
    let (k, sum) = text.trim_end().rsplit_once('\n')?;
    (k == key && is_sha256_hex(sum)).then(|| sum.to_string())
}

pub fn store_local_sum(key: &str, sum: &str) {
    let Some(path) = cache_entry(key) else { return };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, format!("{key}\n{sum}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// The local checksum: known now, or being computed on a thread.
enum LocalSum {
    Known(String),
    Pending(JoinHandle<std::io::Result<String>>),
}

impl LocalSum {
    fn start(path: &Path, key: &str) -> LocalSum {
        if let Some(s) = cached_local_sum(key) {
            return LocalSum::Known(s);
        }
        let p = path.to_path_buf();
        LocalSum::Pending(std::thread::spawn(move || hash_file(&p)))
    }

    fn get(&mut self, src: &Path, key: &str) -> Result<String, Failure> {
        let s = match std::mem::replace(self, LocalSum::Known(String::new())) {
            LocalSum::Known(s) => s,
            LocalSum::Pending(h) => {
                let r = h.join().map_err(|_| Failure::new("hash src", "the hashing thread failed"))?;
                let s = r.map_err(|e| Failure::new("hash src", format!("reading {}: {e}", src.display())))?;
                store_local_sum(key, &s);
                s
            }
        };
        *self = LocalSum::Known(s.clone());
        Ok(s)
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
                "Writes to C(.<name>.part) next to O(dest) and renames it into place only when size and sha256 match, so an interrupted copy never leaves a truncated bundle under the real name. A later run (or a retry after a dropped connection, see O(retries)) resumes the partial copy; if the resumed file does not verify, the copy starts over once.",
                "Both sides hash while the data flows (the remote side with C(openssl dgst), else C(sha256sum)).",
                "Runs on the controller; use C(delegate_to: localhost).",
            ],
            notes: &[
                "The checksum of a copied bundle is cached on the appliance under O(state_dir) and on the controller in its temporary directory (private to the user), keyed by the file's identity and modification and change times, so an unchanged re-run costs no hashing.",
            ],
            examples: r#"
- name: Copy the bundle, verified against the published checksum
  vcloud.usage_meter.shar_copy:
    host: "{{ ansible_host }}"
    password: "{{ ansible_password }}"
    src: files/ums-system-upgrade.shar
    checksum: "sha256:{{ ums_bundle_sha256 }}"
  delegate_to: localhost
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
            return Err(Failure::new("check dest", format!("dest '{}' must be an absolute file path", p.dest))
                .hint(format!("e.g. {DEFAULT_DEST}")));
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
        let mut conn = Reconnecting::new(&p.connection, Some(ssh));
        let part = part_path(&p.dest);
        let dir = dest_dir(&p.dest);
        let io_t = Duration::from_secs(p.connection.connect_timeout.max(30));
        let g = conn.get().and_then(|s| s.exec(&gather_cmd(&p.dest), io_t)).map_err(|e| e.into_failure("inspect dest"))?;
        let remote = parse_gather(&g.stdout)
            .ok_or_else(|| Failure::new("inspect dest", format!("unexpected output: {}", g.tail(3).join(" | "))))?;
        if !remote.dir_exists {
            return Err(Failure::new("inspect dest", format!("the directory {dir} does not exist on the appliance"))
                .hint("check dest; the bundle belongs in /opt/vmware/cloudusagemetering"));
        }

        // Same file already there?
        let mut before_sum = None;
        if remote.dest_size == Some(size) {
            let s = conn.get().map_err(|e| e.into_failure("checksum dest"))?;
            let rs = upgrade_state::remote_sha256(s, &p.state_dir, &p.dest, !ctx.check_mode, Duration::from_secs(3600))
                .map_err(|e| e.into_failure("checksum dest"))?;
            before_sum = rs.map(|r| r.sha256);
        }
        let sum = local.get(&src, &key)?;
        let checksum = format!("sha256:{sum}");
        let out = |transferred, resumed| Output {
            dest: p.dest.clone(),
            checksum: checksum.clone(),
            size,
            transferred,
            seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            resumed,
        };
        if before_sum.as_deref() == Some(sum.as_str()) && !p.force {
            if remote.part_size.is_some() && !ctx.check_mode {
                if let Ok(s) = conn.get() {
                    let _ = s.exec(&format!("rm -f {}", quote(&part)), io_t);
                }
            }
            return Ok(Outcome::new(false, out(0, false)).msg(format!("{} already has {checksum}", p.dest)));
        }
        let describe = |s: Option<&str>| match s {
            Some(s) => format!("{}: sha256:{s}\n", p.dest),
            None if remote.dest_size.is_some() => format!("{}: (another file)\n", p.dest),
            None => format!("{}: (absent)\n", p.dest),
        };
        let diff = Diff::new(describe(before_sum.as_deref()), describe(Some(&sum)));

        // Free space for what is still to be sent.
        let offset = if p.force { 0 } else { resume_offset(remote.part_size, size) };
        let need = size - offset;
        let free = conn.get().and_then(|s| s.free_bytes(&dir)).map_err(|e| e.into_failure("check free space"))?;
        // A partial copy we cannot resume is deleted first: its space counts as free.
        let reclaim = if offset == 0 { remote.part_size.unwrap_or(0) } else { 0 };
        if need > free + reclaim {
            return Err(Failure::new(
                "check free space",
                format!(
                    "the copy needs {need} bytes ({}) on the filesystem of {dir}, but only {} bytes ({}) are free; nothing was sent",
                    mib(need),
                    free + reclaim,
                    mib(free + reclaim)
                ),
            )
            .hint(format!("free space under {dir} on the appliance (old bundles, var/logs), then run again"))
            .with("needed", need)
            .with("free", free + reclaim));
        }
        if ctx.check_mode {
            let what = if offset > 0 { format!("would resume the copy at byte {offset}") } else { "would copy the bundle".into() };
            return Ok(Outcome::new(true, out(0, false)).diff(diff).msg(what));
        }

        // Transfer, resuming after a dropped connection up to `retries` times,
        // restarting from zero once if a resumed file does not verify.
        let deadline = t0 + Duration::from_secs(3600 * 6);
        let mut offset = offset;
        let mut transferred = 0u64;
        let mut resumed = false;
        let mut restarted = false;
        let mut drops = 0u32;
        loop {
            if offset > 0 {
                resumed = true;
            }
            let cmd = if offset == 0 && remote.part_size.is_some() {
                format!("rm -f {q}; {}", receive_cmd(&part, 0), q = quote(&part))
            } else {
                receive_cmd(&part, offset)
            };
            ctx.log(2, format!("sending {} from byte {offset} to {part}", src.display()));
            let mut file = File::open(&src).map_err(|e| Failure::new("read src", format!("{}: {e}", src.display())))?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| Failure::new("read src", format!("{}: {e}", src.display())))?;
            let mut noop = |_: u64, _: &[u8]| {};
            let sent = match conn.get() {
                Ok(s) => s.exec_with_stdin(&cmd, &mut file, &mut noop, Duration::from_secs(3600)),
                Err(e) => Err(e),
            };
            let (rout, n) = match sent {
                Ok(v) => v,
                Err(e) if e.is_transient() && drops < p.retries => {
                    drops += 1;
                    ctx.warn(format!("the connection dropped during the copy ({}); resuming (retry {drops} of {})", e.detail, p.retries));
                    conn.reconnect(Duration::from_millis(300 * u64::from(drops.max(1))), deadline).map_err(|e| e.into_failure("reconnect"))?;
                    offset = refresh_offset(&mut conn, &p.dest, size, io_t)?;
                    continue;
                }
                Err(e) => {
                    return Err(e
                        .hint("run the task again: it resumes from the partial copy (.part file) on the appliance")
                        .into_failure("copy"));
                }
            };
            transferred += n;
            let Some((rsha, rsize)) = parse_received(&rout.stdout) else {
                if rout.rc.is_none() && drops < p.retries {
                    // Closed without a result: the connection went away at the end.
                    drops += 1;
                    conn.reconnect(Duration::from_millis(300 * u64::from(drops.max(1))), deadline).map_err(|e| e.into_failure("reconnect"))?;
                    offset = refresh_offset(&mut conn, &p.dest, size, io_t)?;
                    continue;
                }
                return Err(Failure::new("copy", format!("the appliance did not confirm the copy: {}", rout.tail(5).join(" | ")))
                    .hint("check free space and permissions in the destination directory; run again to resume"));
            };
            if rout.stderr.contains("UMTEEFAIL") || rsize < size {
                return Err(Failure::new(
                    "copy",
                    format!("writing {part} on the appliance failed after {rsize} of {size} bytes: {}", rout.tail(3).join(" | ")),
                )
                .hint("free space on the appliance (the disk may be full) and run again; the partial copy is kept and resumed"));
            }
            if rsize == size && rsha == sum {
                break;
            }
            if !restarted {
                // A resumed (or stale) partial file that does not verify: start over once.
                restarted = true;
                ctx.warn(format!(
                    "the copy on the appliance did not verify (size {rsize}, sha256:{rsha}); copying again from the start"
                ));
                let s = conn.get().map_err(|e| e.into_failure("copy"))?;
                s.exec_ok(&format!("rm -f {}", quote(&part)), io_t).map_err(|e| e.into_failure("copy"))?;
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

        // Verified: into place, and remember its checksum.
        let finish = format!(
            "mv -f {pq} {dq} && {{ {}; }} 2>/dev/null; [ -f {dq} ] && ! [ -e {pq} ]",
            upgrade_state::record_sum_script(&p.state_dir, &p.dest, &sum),
            pq = quote(&part),
            dq = quote(&p.dest)
        );
        conn.get().and_then(|s| s.exec_ok(&finish, io_t)).map_err(|e| e.into_failure("rename into place"))?;
        let msg = if resumed { format!("resumed and verified {checksum}") } else { format!("copied and verified {checksum}") };
        Ok(Outcome::new(true, out(transferred, resumed)).diff(diff).msg(msg))
    }
}

/// After a reconnect: how much of the partial file is already there.
fn refresh_offset(conn: &mut Reconnecting<'_>, dest: &str, size: u64, io_t: Duration) -> Result<u64, Failure> {
    let g = conn.get().and_then(|s| s.exec(&gather_cmd(dest), io_t)).map_err(|e| e.into_failure("inspect partial copy"))?;
    let r = parse_gather(&g.stdout).ok_or_else(|| Failure::new("inspect partial copy", format!("unexpected output: {}", g.tail(3).join(" | "))))?;
    Ok(resume_offset(r.part_size, size))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(dest_dir("/opt/vmware/cloudusagemetering/x.shar"), "/opt/vmware/cloudusagemetering");
        assert_eq!(dest_dir("/x.shar"), "/");
    }

    #[test]
    fn gather_parsing() {
        assert_eq!(
            parse_gather("dir=1\ndest=10\npart=\n"),
            Some(Remote { dir_exists: true, dest_size: Some(10), part_size: None })
        );
        assert_eq!(parse_gather("dir=0\ndest=\npart=5\n").map(|r| r.part_size), Some(Some(5)));
        assert_eq!(parse_gather("dir=1\ndest=x\npart=\n"), None);
        assert_eq!(parse_gather("dir=1\n"), None);
    }

    #[test]
    fn resume_rules() {
        assert_eq!(resume_offset(None, 10), 0);
        assert_eq!(resume_offset(Some(4), 10), 4);
        assert_eq!(resume_offset(Some(10), 10), 10);
        assert_eq!(resume_offset(Some(11), 10), 0);
    }

    #[test]
    fn received_parsing() {
        let h = "c".repeat(64);
        assert_eq!(parse_received(&format!("{h} *stdin\nsize=42\n")), Some((h.clone(), 42)));
        assert_eq!(parse_received(&format!("{h}  -\nsize=42\n")), Some((h.clone(), 42)));
        assert_eq!(parse_received("size=42\n"), None);
    }

    #[test]
    fn receive_commands_work_locally() {
        // The receiving commands are plain sh: feed them a file and check the result.
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(".b.part");
        let part_s = part.to_str().unwrap();
        let data = b"0123456789abcdef".repeat(1000);
        let want = hex(&Sha256::digest(&data));
        let feed = |cmd: &str, input: &[u8]| {
            use std::io::Write;
            let mut c = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(input).unwrap();
            String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
        };
        let out = feed(&receive_cmd(part_s, 0), &data[..5000]);
        let (_, sz) = parse_received(&out).unwrap();
        assert_eq!(sz, 5000);
        let out = feed(&receive_cmd(part_s, 5000), &data[5000..]);
        assert_eq!(parse_received(&out), Some((want.clone(), data.len() as u64)));
        assert_eq!(std::fs::read(&part).unwrap(), data);
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
