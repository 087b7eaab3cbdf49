//! What to copy: the patterns as shell words, the listing of the files on the
//! appliance (one round trip) and its parsing, where each file goes under
//! `dest`, and which of them the controller lacks.

use crate::STATUS_FILE;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use usage_meter::reply::Reply;
use usage_meter::shell::{quote, Script};
use usage_meter::ssh::Ssh;
use usage_meter::upgrade_state::{self, is_sha256_hex, SUM_SH};
use usage_meter::{Context, Failure};

const LIST_SH: &str = include_str!("remote/list.sh");

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

/// What is there on the appliance (one round trip).
pub(crate) fn list(ctx: &mut Context, ssh: &Ssh, words: &[String], max_bytes: u64) -> Result<Vec<Listed>, Failure> {
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
pub(crate) struct Planned {
    pub(crate) listed: Listed,
    pub(crate) local: PathBuf,
    pub(crate) fetch: bool,
}

/// What the controller lacks.
pub(crate) fn plan(ctx: &mut Context, dest: &Path, listed: Vec<Listed>) -> Vec<Planned> {
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
