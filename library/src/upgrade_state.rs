//! State the upgrade module records on the appliance (which bundle, by sha256,
//! its exit code, the boot it finished in), read by `upgrade` and `appliance_info`.
//!
//! Everything lives under one directory of our own on the appliance,
//! [`DEFAULT_STATE_DIR`] unless the task says otherwise. It must not be inside
//! `/opt/vmware/cloudusagemetering`, which the 4.3 reboot replaces.
//!
//! | file | written by | content |
//! |---|---|---|
//! | [`RECORD_FILE`] | the detached runner, when `bash <shar>` exits | `key=value` lines, see [`UpgradeRecord`] |
//! | [`CURRENT_FILE`] | the start script, under the lock | `key=value`: `id`, `sha256`, `shar`, `chdir`, `started`, `boot_id`, `log` of the run in progress |
//! | [`LOCK_FILE`] | - | `flock(1)`ed by the runner for as long as the upgrade runs |
//! | `runs/<id>.log` | the runner | stdout+stderr of `bash <shar>` |
//! | `sha256/<hash of path>` | `shar_copy`, `upgrade` | checksum cache: `stat` key, path, sha256 |
//! | `shar_copy.lock` | - | `flock(1)`ed by the copy that runs (`shar_copy`): copies take turns |
//! | `shar_copy.owner` | the copy holding the lock | `key=value`: its token, pid, controller, src, dest, start time |
//! | `sshd.original` | `sshd` (`original_file`, as the role sets it) | one line: sshd's state before a play first changed it |
//! | `staged/<name of dest>.json` | `shar_copy` (`record`), read by `appliance_info` | one JSON line: what was staged (dest, size, sha256, sha1, when) |
//! | `runs/<id>.d/` | an ISO run's start script and runner | its input FIFO and, for a moment, the token (0600 in a 0700 folder; removed once read) |
//!
//! The record is replaced atomically (`mv`), so a reader sees either the
//! previous record or the new one.

use crate::reply::Reply;
use crate::shell::{quote, script};
use crate::ssh::{Ssh, SshError, SshErrorKind};
use sha2::{Digest, Sha256};

pub use crate::checksum::{hex, is_sha256_hex, parse_checksum};
use std::time::Duration;

/// Our directory on the appliance (survives the 4.3 reboot, unlike `/opt/vmware/cloudusagemetering`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vcloud-usage-meter";
/// The outcome of the last finished upgrade run, under the state dir.
pub const RECORD_FILE: &str = "upgrade.record";
/// The run in progress (or the last one started), under the state dir.
pub const CURRENT_FILE: &str = "upgrade.current";
/// The lock file the detached runner holds with `flock` while the upgrade runs.
pub const LOCK_FILE: &str = "upgrade.lock";
/// Version of the record format (`format=` line).
pub const FORMAT: u32 = 1;

/// What a finished upgrade run left on the appliance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpgradeRecord {
    /// Run id (`<epoch>-<pid>`), also in [`CURRENT_FILE`] while it runs.
    pub id: String,
    /// sha256 (hex) of the bundle that ran.
    pub sha256: String,
    /// Path of the bundle that ran.
    pub shar: String,
    /// Directory it ran in.
    pub chdir: String,
    /// Exit code of `bash <shar>`.
    pub rc: i32,
    /// Unix time the run started.
    pub started: u64,
    /// Unix time it finished.
    pub finished: u64,
    /// boot_id of the appliance when it finished: a different boot_id now
    /// means the appliance has rebooted since.
    pub finished_boot_id: String,
    /// stdout+stderr of the run (under the state dir).
    pub log: String,
    /// The newest `var/logs/inplaceupgradeum-*` under `chdir` when it finished.
    pub upgrade_log: Option<String>,
}

impl UpgradeRecord {
    /// Parse the `key=value` lines of a record; `None` unless `id`, `sha256`
    /// and `rc` are present.
    pub fn parse(text: &str) -> Option<UpgradeRecord> {
        let r = Reply::parse(text);
        let get = |k: &str| r.get(k).map(str::to_string);
        let rec = UpgradeRecord {
            id: get("id").filter(|s| !s.is_empty())?,
            sha256: get("sha256")?.to_ascii_lowercase(),
            shar: get("shar").unwrap_or_default(),
            chdir: get("chdir").unwrap_or_default(),
            rc: get("rc")?.trim().parse().ok()?,
            started: get("started").and_then(|s| s.trim().parse().ok()).unwrap_or(0),
            finished: get("finished").and_then(|s| s.trim().parse().ok()).unwrap_or(0),
            finished_boot_id: get("finished_boot_id").unwrap_or_default(),
            log: get("log").unwrap_or_default(),
            upgrade_log: get("upgrade_log").filter(|s| !s.is_empty()),
        };
        Some(rec)
    }

    /// The bundle exited 0.
    pub fn succeeded(&self) -> bool {
        self.rc == 0
    }

    /// A successful run that finished in the current boot: the 4.3 upgrade is
    /// completed by a reboot that has not happened yet.
    pub fn awaits_reboot(&self, current_boot_id: &str) -> bool {
        self.succeeded() && !self.finished_boot_id.is_empty() && self.finished_boot_id.trim() == current_boot_id.trim()
    }
}

/// `state_dir/name`.
pub fn path_in(state_dir: &str, name: &str) -> String {
    format!("{}/{name}", state_dir.trim_end_matches('/'))
}

/// Read the record of the last finished run; `None` when there is none (or it is unreadable).
pub fn read(ssh: &Ssh, state_dir: &str) -> Result<Option<UpgradeRecord>, SshError> {
    let q = path_in(state_dir, RECORD_FILE);
    let out = ssh.exec(&script(&[CAT_IF_SH], &[("UM_FILE", &q)]), Duration::from_secs(30))?;
    if !out.ok() {
        return Err(SshError::new(SshErrorKind::Other, &ssh.target, format!("reading {q} failed: {}", out.tail(3).join(" | "))));
    }
    Ok(UpgradeRecord::parse(&out.stdout))
}

/// Shell snippet: exit 0 when an upgrade runner holds the lock (an upgrade is running).
///
/// The runner (and, for a moment, the script that starts it) holds an
/// exclusive `flock`; this probe takes a shared one, so probes never see each
/// other as a running upgrade.
pub fn in_progress_test(state_dir: &str) -> String {
    let lock = quote(&path_in(state_dir, LOCK_FILE));
    format!("{{ [ -e {lock} ] && command -v flock >/dev/null 2>&1 && ! flock -n -s {lock} true; }}")
}

// ---------------------------------------------------------------------------
// sha256 cache of remote files (the bundle): hashing a GB bundle on every
// idempotent run is slow; a file whose device, inode, size, mtime and ctime are
// unchanged (ctime cannot be set back by a user) keeps its recorded checksum.

/// Cache file of remote `path` under the state dir.
pub fn cache_file(state_dir: &str, path: &str) -> String {
    let h = hex(&Sha256::digest(path.as_bytes()));
    path_in(state_dir, &format!("sha256/{}", &h[..32]))
}

/// A remote file's checksum as [`remote_sha256`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSum {
    pub size: u64,
    pub sha256: String,
    /// Taken from the cache (no hashing needed).
    pub cached: bool,
}

/// Shell functions of the checksum cache (`umhash`, `umstatkey`, `umrecord`,
/// `umrecordsum`), put in front of a script that uses them.
pub const SUM_SH: &str = include_str!("remote/sum.sh");
/// Shell function `umrunning LOCK` (the probe of [`in_progress_test`]), put
/// in front of a script that uses it.
pub const RUNNING_SH: &str = include_str!("remote/running.sh");
const REMOTE_SUM_SH: &str = include_str!("remote/remote_sum.sh");
const RECORD_SUM_SH: &str = include_str!("remote/record_sum.sh");
const CAT_IF_SH: &str = include_str!("remote/cat_if.sh");

/// sha256 of remote `path` (`None` when it is not a regular file), from the
/// cache when the file is unchanged since it was recorded; a computed sum is
/// recorded when `write_cache` (never in check mode).
pub fn remote_sha256(ssh: &Ssh, state_dir: &str, path: &str, write_cache: bool, timeout: Duration) -> Result<Option<RemoteSum>, SshError> {
    let script = remote_sha256_script(state_dir, path, write_cache);
    let out = ssh.exec(&script, timeout)?;
    parse_remote_sum(&out.stdout).map_err(|detail| {
        SshError::new(SshErrorKind::Other, &ssh.target, format!("checksum of {path}: {detail}: {}", out.tail(3).join(" | ")))
    })
}

/// The command [`remote_sha256`] runs.
pub fn remote_sha256_script(state_dir: &str, path: &str, write_cache: bool) -> String {
    let cache = cache_file(state_dir, path);
    let write = if write_cache { "1" } else { "0" };
    script(&[SUM_SH, REMOTE_SUM_SH], &[("UM_PATH", path), ("UM_CACHE", &cache), ("UM_WRITE", write)])
}

/// Shell that records `sha256` (64 hex digits) as the checksum of remote
/// `path` as it is now (after a verified copy); a no-op for a malformed sum.
pub fn record_sum_script(state_dir: &str, path: &str, sha256: &str) -> String {
    if !is_sha256_hex(sha256) {
        return ":".into();
    }
    let cache = cache_file(state_dir, path);
    script(&[SUM_SH, RECORD_SUM_SH], &[("UM_PATH", path), ("UM_CACHE", &cache), ("UM_SHA", sha256)])
}

/// The reply of `remote/remote_sum.sh`: `missing=1`, or `size`, `sha256`, `cached`.
pub fn parse_remote_sum(stdout: &str) -> Result<Option<RemoteSum>, String> {
    let r = Reply::parse(stdout);
    if r.flag("missing") {
        return Ok(None);
    }
    let (Some(size), Some(sha)) = (r.get("size"), r.get("sha256")) else { return Err("unexpected output".into()) };
    let size = size.trim().parse().map_err(|_| format!("bad size {size}"))?;
    if !is_sha256_hex(sha) {
        return Err(format!("bad checksum {sha}"));
    }
    Ok(Some(RemoteSum { size, sha256: sha.to_ascii_lowercase(), cached: r.flag("cached") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: &str = "format=1\nid=1700000000-42\nsha256=ABCDEF\nshar=/opt/vmware/cloudusagemetering/ums-system-upgrade.shar\n\
chdir=/opt/vmware/cloudusagemetering\nrc=0\nstarted=1700000000\nfinished=1700000100\nfinished_boot_id=b1\n\
log=/var/lib/vcloud-usage-meter/runs/1700000000-42.log\nupgrade_log=/opt/x/var/logs/inplaceupgradeum-a=b\n";

    #[test]
    fn parses_record() {
        let r = UpgradeRecord::parse(REC).unwrap();
        assert_eq!(r.id, "1700000000-42");
        assert_eq!(r.sha256, "abcdef");
        assert_eq!(r.rc, 0);
        assert_eq!(r.finished, 1700000100);
        assert_eq!(r.upgrade_log.as_deref(), Some("/opt/x/var/logs/inplaceupgradeum-a=b"));
        assert!(r.awaits_reboot("b1"));
        assert!(!r.awaits_reboot("b2"));
        let failed = UpgradeRecord { rc: 2, ..r };
        assert!(!failed.awaits_reboot("b1"));
    }

    #[test]
    fn incomplete_record_is_none() {
        assert_eq!(UpgradeRecord::parse(""), None);
        assert_eq!(UpgradeRecord::parse("id=x\nsha256=y\n"), None);
        assert_eq!(UpgradeRecord::parse("id=x\nsha256=y\nrc=abc\n"), None);
        let r = UpgradeRecord::parse("id=x\nsha256=y\nrc=3\nupgrade_log=\n").unwrap();
        assert_eq!(r.upgrade_log, None);
        assert!(!r.awaits_reboot(""));
    }

    #[test]
    fn remote_sum_output() {
        let sha = "a".repeat(64);
        assert_eq!(parse_remote_sum("missing=1\n"), Ok(None));
        assert_eq!(
            parse_remote_sum(&format!("noise\nsize=12\nsha256={sha}\ncached=1\n")),
            Ok(Some(RemoteSum { size: 12, sha256: sha.clone(), cached: true }))
        );
        assert!(parse_remote_sum("size=12\nsha256=xyz\ncached=0").is_err());
        assert!(parse_remote_sum("size=x\nsha256=xyz\ncached=0").is_err());
        assert!(parse_remote_sum("").is_err());
    }

    #[test]
    fn cache_file_is_per_path() {
        let a = cache_file("/var/lib/x/", "/opt/a.shar");
        assert!(a.starts_with("/var/lib/x/sha256/"));
        assert_ne!(a, cache_file("/var/lib/x", "/opt/b.shar"));
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }

    #[test]
    fn sha256_script_runs_locally() {
        // The script is plain POSIX sh + coreutils: run it against a temp dir.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.shar");
        std::fs::write(&f, b"hello\n").unwrap();
        let sd = dir.path().join("state");
        let run = |write: bool| {
            let s = remote_sha256_script(sd.to_str().unwrap(), f.to_str().unwrap(), write);
            let o = std::process::Command::new("sh").arg("-c").arg(&s).output().unwrap();
            parse_remote_sum(&String::from_utf8_lossy(&o.stdout)).unwrap().unwrap()
        };
        let want = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let first = run(true);
        assert_eq!(first, RemoteSum { size: 6, sha256: want.into(), cached: false });
        assert!(run(false).cached);
        // a changed file is hashed again
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&f, b"hellp\n").unwrap();
        let again = run(false);
        assert!(!again.cached);
        assert_ne!(again.sha256, want);
        // a recorded sum is then served from the cache
        let rec = record_sum_script(sd.to_str().unwrap(), f.to_str().unwrap(), &"b".repeat(64));
        assert!(std::process::Command::new("sh").arg("-c").arg(&rec).status().unwrap().success());
        assert_eq!(run(false), RemoteSum { size: 6, sha256: "b".repeat(64), cached: true });
        assert_eq!(record_sum_script("/x", "/y", "nothex; reboot"), ":");
    }
}
