#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! vcloud.usage_meter.upgrade_logs: copy the Usage Meter upgrade logs from the
//! appliance to a directory on the controller.
//!
//! One remote command lists the files matching the patterns with their size and
//! the sha256 of what would be saved (the whole file, or its last `max_bytes`
//! bytes); each file that the controller does not already have with that
//! checksum is then streamed (`head -c`/`tail -c`, 64 KiB at a time) into a
//! temporary file next to its final name and renamed into place.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use usage_meter::reply::Reply;
use usage_meter::shell::{quote, Script};
use usage_meter::ssh::{expand_tilde, ConnectionArgs, Ssh};
use usage_meter::upgrade_state::{self, hex, is_sha256_hex, SUM_SH};
use usage_meter::{Context, Failure, Module, ModuleDoc, Outcome, Support};

pub const DEFAULT_INSTALL_DIR: &str = usage_meter::appliance::INSTALL_DIR;
pub const DEFAULT_OLD_INSTALL_DIR: &str = usage_meter::appliance::OLD_INSTALL_DIR;
pub const DEFAULT_STATUS_COMMAND: &str = "./scripts/status.sh";
pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Name of the status output in `dest`.
pub const STATUS_FILE: &str = "status.txt";
const LIST_SH: &str = include_str!("remote/list.sh");
const STATUS_SH: &str = include_str!("remote/status.sh");

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

/// The default patterns for these directories.
pub fn default_patterns(install_dir: &str, old_install_dir: &str, state_dir: &str) -> Vec<String> {
    let t = |d: &str| d.trim_end_matches('/').to_string();
    vec![
        format!("{}/var/logs/inplaceupgradeum-*", t(install_dir)),
        format!("{}/var/logs/inplaceupgradeum-*", t(old_install_dir)),
        upgrade_state::path_in(state_dir, "runs/*.log"),
        upgrade_state::path_in(state_dir, upgrade_state::RECORD_FILE),
        upgrade_state::path_in(state_dir, upgrade_state::CURRENT_FILE),
    ]
}

/// One shell word that expands `pattern` as a glob: `*` and `?` (and a
/// bracket expression of plain characters) stay active, everything else is quoted.
pub fn glob_word(pattern: &str) -> Result<String, String> {
    if !pattern.starts_with('/') {
        return Err(format!("pattern '{pattern}' must be an absolute path"));
    }
    if pattern.contains(['\n', '\r', '\0']) {
        return Err(format!("pattern {pattern:?} contains a line break or NUL"));
    }
    if Path::new(pattern).components().any(|c| c == Component::ParentDir) {
        return Err(format!("pattern '{pattern}' must not contain '..'"));
    }
    let mut word = String::new();
    let mut lit = String::new();
    let flush = |lit: &mut String, word: &mut String| {
        if !lit.is_empty() {
            word.push_str(&quote(lit));
            lit.clear();
        }
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' | '?' => {
                flush(&mut lit, &mut word);
                word.push(c);
            }
            '[' => {
                let close = chars[i + 1..].iter().position(|&x| x == ']').map(|p| p + i + 1);
                let plain = |s: &[char]| {
                    let body = s.strip_prefix(&['!']).or_else(|| s.strip_prefix(&['^'])).unwrap_or(s);
                    !body.is_empty() && body.iter().all(|x| x.is_ascii_alphanumeric() || matches!(x, '.' | '_' | '-'))
                };
                match close {
                    Some(j) if plain(&chars[i + 1..j]) => {
                        flush(&mut lit, &mut word);
                        word.extend(&chars[i..=j]);
                        i = j;
                    }
                    _ => lit.push(c),
                }
            }
            _ => lit.push(c),
        }
        i += 1;
    }
    flush(&mut lit, &mut word);
    Ok(word)
}

/// The listing command (`remote/list.sh`): per existing regular file its
/// size, offset (> 0: only the tail from there is saved), sha256 and path.
pub fn list_cmd(words: &[String], max_bytes: u64) -> String {
    Script::new(&[SUM_SH, LIST_SH]).env("UM_MAX_BYTES", max_bytes.to_string()).words(words).command()
}

/// A file the listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub size: u64,
    /// First byte saved (0 unless truncated).
    pub offset: u64,
    /// sha256 of the bytes from `offset` to `size`.
    pub sha256: String,
}

impl Listed {
    pub fn len(&self) -> u64 {
        self.size - self.offset
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn truncated(&self) -> bool {
        self.offset > 0
    }
}

/// Parse the listing; duplicates (a file matched by two patterns) are kept once.
/// `None` when the command did not run to its end or a line is malformed.
pub fn parse_list(stdout: &str) -> Option<Vec<Listed>> {
    let r = Reply::parse(stdout);
    let mut out: Vec<Listed> = Vec::new();
    for f in r.sections("file") {
        let size: u64 = f.get("size")?.parse().ok()?;
        let offset: u64 = f.get("offset")?.parse().ok()?;
        let (sha, path) = (f.get("sha256")?, f.get("path")?);
        if !is_sha256_hex(sha) || offset > size || !path.starts_with('/') {
            return None;
        }
        if out.iter().all(|l| l.path != path) {
            out.push(Listed { path: path.to_string(), size, offset, sha256: sha.to_ascii_lowercase() });
        }
    }
    r.complete.then_some(out)
}

/// Where remote `path` is saved under `dest`: its path without the leading `/`;
/// `None` for a path that could leave `dest` (`..`) or names nothing.
pub fn local_path(dest: &Path, remote: &str) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for c in Path::new(remote).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => rel.push(s),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if rel.as_os_str().is_empty() || rel == Path::new(STATUS_FILE) {
        return None;
    }
    Some(dest.join(rel))
}

/// sha256 and size of a local file (1 MiB reads); `None` when it is not a readable regular file.
pub fn local_sum(path: &Path) -> Option<(u64, String)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    usage_meter::checksum::hash_file(path).ok()
}

/// Whether `path` already holds exactly `len` bytes with checksum `sha`.
pub fn already_saved(path: &Path, len: u64, sha: &str) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.len() == len => local_sum(path).is_some_and(|(_, s)| s == sha),
        _ => false,
    }
}

/// A writer that hashes what goes through it.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The temporary name next to `path`: `.<name>.part-<pid>`.
pub fn part_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

fn make_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn dest_failure(dest: &Path, what: &str, e: &std::io::Error) -> Failure {
    Failure::new("write dest", format!("cannot {what} in dest {} on the controller: {e}", dest.display()))
        .hint("set dest to a directory the user running Ansible can create and write (on the controller)")
}

/// Write `content` to `path` through a temporary file and a rename (mode 0600).
fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let tmp = part_path(path);
    let _ = std::fs::remove_file(&tmp);
    let r = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// What one fetch gave: bytes saved and their sha256.
fn fetch_one(ssh: &Ssh, l: &Listed, local: &Path, stall: Duration) -> Result<(u64, String), Failure> {
    let dir = local.parent().unwrap_or(local);
    make_dir(dir).map_err(|e| dest_failure(dir, "create a folder", &e))?;
    let tmp = part_path(local);
    let _ = std::fs::remove_file(&tmp);
    let file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(|e| dest_failure(dir, "create a file", &e))?;
    let mut w = Hashing { inner: BufWriter::with_capacity(256 * 1024, file), hash: Sha256::new() };
    let result = ssh.download(&l.path, l.offset, l.len(), &mut w, stall);
    let finish = |w: Hashing<BufWriter<File>>| -> std::io::Result<String> {
        let Hashing { inner, hash } = w;
        let f = inner.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(hex(&hash.finalize()))
    };
    let outcome = match result {
        Ok(d) if d.ok() || d.bytes == l.len() => match finish(w) {
            Ok(sha) => std::fs::rename(&tmp, local).map(|()| (d.bytes, sha)).map_err(|e| dest_failure(dir, "rename a file", &e)),
            Err(e) => Err(dest_failure(dir, "write a file", &e)),
        },
        Ok(d) => Err(Failure::new(
            "fetch",
            format!(
                "reading {} on the appliance failed (rc={}): {}",
                l.path,
                d.rc.map_or("none".into(), |r| r.to_string()),
                d.stderr.trim()
            ),
        )
        .hint("run the task again; check that the file is readable by the SSH user")),
        Err(e) => Err(e.into_failure("fetch")),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome
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

/// What is there on the appliance (one round trip).
fn list(ctx: &mut Context, ssh: &Ssh, words: &[String], max_bytes: u64) -> Result<Vec<Listed>, Failure> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let out = ssh.exec(&list_cmd(words, max_bytes), Duration::from_secs(1800)).map_err(|e| e.into_failure("list logs"))?;
    let listed = parse_list(&out.stdout).ok_or_else(|| {
        Failure::new("list logs", format!("unexpected output of the listing (rc={:?}): {}", out.rc, out.tail(5).join(" | ")))
    })?;
    if out.stdout.contains("SKIP ") {
        ctx.warn("a file whose name contains a line break was skipped");
    }
    Ok(listed)
}

/// A listed file, where it goes on the controller, and whether the controller lacks it.
struct Planned {
    listed: Listed,
    local: PathBuf,
    fetch: bool,
}

/// What the controller lacks.
fn plan(ctx: &mut Context, dest: &Path, listed: Vec<Listed>) -> Vec<Planned> {
    let mut plan = Vec::new();
    for l in listed {
        let Some(local) = local_path(dest, &l.path) else {
            ctx.warn(format!("{} cannot be saved under dest and was skipped", l.path));
            continue;
        };
        let have = already_saved(&local, l.len(), &l.sha256);
        plan.push(Planned { listed: l, local, fetch: !have });
    }
    plan
}

/// The status output, and how it compares with the one saved before.
struct Status {
    rc: Option<i32>,
    text: Option<String>,
    /// `<dest>/status.txt`.
    path: PathBuf,
    /// It differs from the saved one (or none is saved).
    changed: bool,
    /// None was saved before. status.sh's output varies from run to run
    /// (times, uptimes): saving a newer one refreshes a snapshot and is no
    /// change; a first one is.
    new: bool,
}

fn read_status(ctx: &mut Context, ssh: &Ssh, p: &Params, dest: &Path) -> Status {
    let mut rc = None;
    let mut text = None;
    if p.status {
        let cmd = Script::new(&[STATUS_SH]).env("UM_DIR", p.install_dir.as_str()).env("UM_COMMAND", p.status_command.as_str()).command();
        match ssh.exec(&cmd, Duration::from_secs(120)) {
            Ok(o) => {
                rc = o.rc;
                text = Some(format!("{}{}", o.stdout, o.stderr));
            }
            Err(e) => ctx.warn(format!("the status command could not run: {e}")),
        }
    }
    let path = dest.join(STATUS_FILE);
    let changed = text.as_ref().is_some_and(|t| std::fs::read(&path).map_or(true, |old| old != t.as_bytes()));
    let new = text.is_some() && !path.exists();
    Status { rc, text, path, changed, new }
}

fn saved(l: &Listed, local: &Path, sha: String, fetched: bool) -> SavedFile {
    SavedFile { remote: l.path.clone(), local: local.display().to_string(), size: l.size, sha256: sha, truncated: l.truncated(), fetched }
}

/// Fetch what the controller lacks; returns every planned file and how many were fetched.
fn fetch_all(ctx: &mut Context, ssh: &Ssh, plan: &[Planned], stall: Duration) -> Result<(Vec<SavedFile>, u64), Failure> {
    let mut files = Vec::new();
    let mut fetched = 0u64;
    for Planned { listed: l, local, fetch } in plan {
        if !*fetch {
            files.push(saved(l, local, l.sha256.clone(), false));
            continue;
        }
        ctx.log(2, format!("fetching {} ({} bytes from {}) to {}", l.path, l.len(), l.offset, local.display()));
        let (bytes, sha) = fetch_one(ssh, l, local, stall)?;
        if bytes != l.len() || sha != l.sha256 {
            ctx.warn(format!(
                "{} changed while it was copied (listed {} bytes, sha256 {}; saved {bytes} bytes, sha256 {sha})",
                l.path,
                l.len(),
                l.sha256
            ));
        }
        fetched += 1;
        files.push(saved(l, local, sha, true));
    }
    Ok((files, fetched))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(cmd: &str) -> String {
        let o = std::process::Command::new("bash").arg("-c").arg(cmd).output().unwrap();
        String::from_utf8(o.stdout).unwrap()
    }

    #[test]
    fn defaults() {
        let p = default_patterns("/opt/u/", "/opt/u-old", "/var/lib/x");
        assert_eq!(
            p,
            vec![
                "/opt/u/var/logs/inplaceupgradeum-*",
                "/opt/u-old/var/logs/inplaceupgradeum-*",
                "/var/lib/x/runs/*.log",
                "/var/lib/x/upgrade.record",
                "/var/lib/x/upgrade.current",
            ]
        );
    }

    #[test]
    fn glob_words() {
        assert_eq!(glob_word("/opt/x/var/logs/inplaceupgradeum-*").unwrap(), "/opt/x/var/logs/inplaceupgradeum-*");
        assert_eq!(glob_word("/a b/*.log").unwrap(), "'/a b/'*.log");
        assert_eq!(glob_word("/x/$(reboot)?").unwrap(), "'/x/$(reboot)'?");
        assert_eq!(glob_word("/x/[0-9]*").unwrap(), "/x/[0-9]*");
        assert_eq!(glob_word("/x/[;reboot]").unwrap(), "'/x/[;reboot]'");
        assert_eq!(glob_word("/x/[").unwrap(), "'/x/['");
        assert!(glob_word("relative/*").is_err());
        assert!(glob_word("/a\nb").is_err());
        assert!(glob_word("/a/../etc/*").is_err());
    }

    #[test]
    fn list_parsing() {
        let h = "a".repeat(64);
        let f =
            |size: u64, offset: u64, sha: &str, path: &str| format!("@@file\nsize={size}\noffset={offset}\nsha256={sha}\npath={path}\n");
        let out = format!("noise\n{}{}@@skip\nx\n{}@@end\n", f(10, 0, &h, "/x/a log"), f(100, 40, &h, "/x/b"), f(10, 0, &h, "/x/a log"));
        let l = parse_list(&out).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0], Listed { path: "/x/a log".into(), size: 10, offset: 0, sha256: h.clone() });
        assert!(l[1].truncated() && l[1].len() == 60);
        assert_eq!(parse_list("@@end\n"), Some(vec![]));
        assert_eq!(parse_list(&f(10, 0, &h, "/x/a")), None);
        assert_eq!(parse_list(&format!("{}@@end\n", f(10, 11, &h, "/x/a"))), None);
        assert_eq!(parse_list(&format!("{}@@end\n", f(10, 0, "nothex", "/x/a"))), None);
        assert_eq!(parse_list(&format!("{}@@end\n", f(10, 0, &h, "x/a"))), None);
    }

    #[test]
    fn local_paths() {
        let d = Path::new("/srv/logs/um01");
        assert_eq!(local_path(d, "/opt/a/var/logs/x").unwrap(), Path::new("/srv/logs/um01/opt/a/var/logs/x"));
        assert_eq!(local_path(d, "/opt//a/./x").unwrap(), Path::new("/srv/logs/um01/opt/a/x"));
        assert_eq!(local_path(d, "/opt/../etc/passwd"), None);
        assert_eq!(local_path(d, "/"), None);
        assert_eq!(local_path(d, "/status.txt"), None);
    }

    #[test]
    fn listing_runs_locally() {
        // The listing is plain sh + coreutils: run it against a temp dir.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("logs dir");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("inplaceupgradeum-1"), b"hello\n").unwrap();
        std::fs::write(d.join("inplaceupgradeum-2"), b"0123456789").unwrap();
        std::fs::write(d.join("empty"), b"").unwrap();
        std::fs::create_dir(d.join("inplaceupgradeum-dir")).unwrap();
        let base = d.to_str().unwrap();
        let words: Vec<String> = [format!("{base}/inplaceupgradeum-*"), format!("{base}/empty"), format!("{base}/missing-*")]
            .iter()
            .map(|p| glob_word(p).unwrap())
            .collect();
        let l = parse_list(&sh(&list_cmd(&words, 8))).unwrap();
        assert_eq!(l.len(), 3, "{l:?}");
        assert_eq!(l[0].path, format!("{base}/inplaceupgradeum-1"));
        assert_eq!(l[0].sha256, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
        assert!(!l[0].truncated());
        // 10 bytes, max 8: the last 8 are saved
        assert_eq!((l[1].size, l[1].offset), (10, 2));
        assert_eq!(l[1].sha256, hex(&Sha256::digest(b"23456789")));
        assert_eq!(l[2].sha256, hex(&Sha256::digest(b"")));
        // the fetch command gives exactly the listed bytes
        let got = sh(&usage_meter::ssh::download::range_cmd(&l[1].path, l[1].offset, l[1].len()));
        assert_eq!(got, "23456789");
        // no limit
        let l = parse_list(&sh(&list_cmd(&words, 0))).unwrap();
        assert!(!l[1].truncated());
        // nothing matches
        assert_eq!(parse_list(&sh(&list_cmd(&[glob_word("/nonexistent/x-*").unwrap()], 0))), Some(vec![]));
    }

    #[test]
    fn local_checks_and_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        write_atomic(&f, b"hello\n").unwrap();
        let sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert!(already_saved(&f, 6, sha));
        assert!(!already_saved(&f, 5, sha));
        assert!(!already_saved(&dir.path().join("b"), 6, sha));
        assert!(!part_path(&f).exists());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(local_sum(&f), Some((6, sha.to_string())));
        assert_eq!(local_sum(dir.path()), None);
    }
}
