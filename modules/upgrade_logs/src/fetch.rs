//! Copying onto the controller: each file streamed over SSH into a temporary
//! file next to its final name, hashed on the way, and renamed into place;
//! the folders and the atomic write of the status output.

use crate::plan::{Listed, Planned};
use crate::SavedFile;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use usage_meter::ssh::Ssh;
use usage_meter::upgrade_state::hex;
use usage_meter::{Context, Failure};

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

pub(crate) fn make_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

pub(crate) fn dest_failure(dest: &Path, what: &str, e: &std::io::Error) -> Failure {
    Failure::new("write dest", format!("cannot {what} in dest {} on the controller: {e}", dest.display()))
        .hint("set dest to a directory the user running Ansible can create and write (on the controller)")
}

/// Write `content` to `path` through a temporary file and a rename (mode 0600).
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
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

pub(crate) fn saved(l: &Listed, local: &Path, sha: String, fetched: bool) -> SavedFile {
    SavedFile { remote: l.path.clone(), local: local.display().to_string(), size: l.size, sha256: sha, truncated: l.truncated(), fetched }
}

/// Fetch what the controller lacks; returns every planned file and how many were fetched.
pub(crate) fn fetch_all(ctx: &mut Context, ssh: &Ssh, plan: &[Planned], stall: Duration) -> Result<(Vec<SavedFile>, u64), Failure> {
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
