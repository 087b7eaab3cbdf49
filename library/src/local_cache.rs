//! The controller's private cache of work done on local files: shar_copy's
//! sha256 of a bundle and bundle_info's pass over an ISO. An entry is keyed on
//! the file's identity (path, device, inode, size, mtime, ctime), so any change
//! to the file makes a new key and an old entry is never used for it.

use crate::checksum::hex;
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The identity of the content of the file `path` whose metadata is `meta`.
pub fn file_key(path: &Path, meta: &std::fs::Metadata) -> String {
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

/// `file_key` of `path` as it is now, or None if it cannot be read.
pub fn current_key(path: &Path) -> Option<String> {
    std::fs::metadata(path).ok().map(|m| file_key(path, &m))
}

/// The cache directory, only if it is ours and private (another user must not
/// be able to plant a checksum or a verdict).
pub fn dir() -> Option<PathBuf> {
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("vcloud-usage-meter-{uid}"));
    if !dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).recursive(true).create(&dir).ok()?;
    }
    let m = std::fs::symlink_metadata(&dir).ok()?;
    (m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0).then_some(dir)
}

/// The entry of `key` among those of one kind (`prefix`: `sha256`, `bundle`).
pub fn entry(prefix: &str, key: &str) -> Option<PathBuf> {
    Some(dir()?.join(format!("{prefix}-{}", &hex(&Sha256::digest(key.as_bytes()))[..32])))
}
