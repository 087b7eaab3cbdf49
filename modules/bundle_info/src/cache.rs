//! The controller-side cache of the expensive pass over an ISO, so that the
//! module called once per host reads each file once per run (and across runs
//! while nothing changes). Keyed on the identity (path, device, inode, size,
//! mtime, ctime) of the ISO, the `.sign` and the `.crt`, and the digest; it holds
//! the SHA-1 and the signature verdict. Cheap checks (the `.mf`, the chain,
//! the dates) run every time. Hosts run in parallel (forks) take turns: the
//! first makes the pass under a marker file, the others wait for its entry.

use crate::digest::Pass;
use std::io::Write;

use std::path::{Path, PathBuf};
use usage_meter::Failure;

/// The identity of a file's current content, or None if it cannot be read.
pub use usage_meter::local_cache::current_key as identity;

fn entry(key: &str) -> Option<PathBuf> {
    usage_meter::local_cache::entry("bundle", key)
}

pub fn get(key: &str) -> Option<Pass> {
    let text = std::fs::read_to_string(entry(key)?).ok()?;
    let mut lines = text.lines();
    if lines.next()? != key {
        return None;
    }
    let size = lines.next()?.parse().ok()?;
    let sha1 = lines.next()?.to_string();
    let signature_ok = match lines.next()? {
        "signature=ok" => true,
        "signature=bad" => false,
        _ => return None,
    };
    (sha1.len() == 40 && sha1.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Pass { size, sha1, signature_ok })
}

/// The pass for `key`: from the cache (true), or made by `make` (false) while
/// other callers for the same key wait. A marker left by a process that died
/// is taken over; without a usable cache directory `make` just runs.
pub fn once(key: &str, make: impl FnOnce() -> Result<Pass, Failure>) -> Result<(Pass, bool), Failure> {
    let Some(marker) = marker_of(key) else { return make().map(|p| (p, false)) };
    // A pid reused by another process must not hold us forever: after this
    // long (hours for a multi-GiB ISO on a slow disk would be absurd) hash ourselves.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(1800);
    loop {
        if let Some(hit) = get(key) {
            return Ok((hit, true));
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&marker) {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                let made = make();
                if let Ok(p) = &made {
                    put(key, p);
                }
                let _ = std::fs::remove_file(&marker);
                return made.map(|p| (p, false));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if std::time::Instant::now() > give_up {
                    return make().map(|p| (p, false));
                }
                if !maker_alive(&marker) {
                    let _ = std::fs::remove_file(&marker);
                    continue;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(_) => return make().map(|p| (p, false)),
        }
    }
}

/// The marker a caller making the pass for `key` holds.
pub fn marker_of(key: &str) -> Option<PathBuf> {
    entry(key).map(|e| e.with_extension("making"))
}

/// Whether the process named in the marker still runs (a marker with no pid
/// yet is being written: alive).
fn maker_alive(marker: &Path) -> bool {
    match std::fs::read_to_string(marker) {
        Ok(pid) if pid.trim().is_empty() => true,
        Ok(pid) => Path::new("/proc").join(pid.trim()).exists(),
        Err(_) => false,
    }
}

pub fn put(key: &str, p: &Pass) {
    let Some(path) = entry(key) else { return };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let verdict = if p.signature_ok { "ok" } else { "bad" };
    if std::fs::write(&tmp, format!("{key}\n{}\n{}\nsignature={verdict}\n", p.size, p.sha1)).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}
