//! The controller-side cache of the expensive pass over an ISO, so that the
//! module called once per host reads each file once per run (and across runs
//! while nothing changes). Keyed on the identity (path, device, inode, size,
//! mtime, ctime) of the ISO, the `.sign` and the `.crt`, and the digest; it holds
//! the SHA-1 and the signature verdict. Cheap checks (the `.mf`, the chain,
//! the dates) run every time.

use crate::digest::Pass;
use openssl::sha::sha256;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use usage_meter::checksum::hex;

/// The identity of a file's current content, or None if it cannot be read.
pub fn identity(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{}|{}|{}|{}|{}.{}|{}.{}",
        path.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

/// The cache directory, only if it is ours and private (another user must
/// not be able to plant a verdict); the same directory as shar_copy's cache.
fn dir() -> Option<PathBuf> {
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("vcloud-usage-meter-{uid}"));
    if !dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).recursive(true).create(&dir).ok()?;
    }
    let m = std::fs::symlink_metadata(&dir).ok()?;
    (m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0).then_some(dir)
}

fn entry(key: &str) -> Option<PathBuf> {
    Some(dir()?.join(format!("bundle-{}", &hex(&sha256(key.as_bytes()))[..32])))
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

pub fn put(key: &str, p: &Pass) {
    let Some(path) = entry(key) else { return };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let verdict = if p.signature_ok { "ok" } else { "bad" };
    if std::fs::write(&tmp, format!("{key}\n{}\n{}\nsignature={verdict}\n", p.size, p.sha1)).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}
