//! Local hashing of the bundle, with a small cache keyed by the file's identity and times.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use usage_meter::checksum::is_sha256_hex;
use usage_meter::Failure;

/// sha256 of a local file.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    usage_meter::checksum::hash_file(path).map(|(_, sum)| sum)
}

/// Identity of a local file's content version.
pub use usage_meter::local_cache::file_key as local_key;

fn cache_entry(key: &str) -> Option<PathBuf> {
    usage_meter::local_cache::entry("sha256", key)
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

/// The local checksum: known now, being computed on a thread, or computed
/// only when asked for.
pub(crate) enum LocalSum {
    Known(String),
    Pending(JoinHandle<std::io::Result<String>>),
    Later(PathBuf),
}

impl LocalSum {
    /// From the cache, else on its own thread from now (`background`), else
    /// when [`LocalSum::get`] first asks for it.
    pub(crate) fn start(path: &Path, key: &str, background: bool) -> LocalSum {
        if let Some(s) = cached_local_sum(key) {
            return LocalSum::Known(s);
        }
        let p = path.to_path_buf();
        if !background {
            return LocalSum::Later(p);
        }
        LocalSum::Pending(std::thread::spawn(move || hash_file(&p)))
    }

    /// The checksum if it costs nothing to get (cached or already computed).
    pub(crate) fn known(&self) -> Option<&str> {
        match self {
            LocalSum::Known(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn get(&mut self, src: &Path, key: &str) -> Result<String, Failure> {
        let read_err = |e: std::io::Error| Failure::new("hash src", format!("reading {}: {e}", src.display()));
        let s = match std::mem::replace(self, LocalSum::Known(String::new())) {
            LocalSum::Known(s) => s,
            LocalSum::Pending(h) => {
                let r = h.join().map_err(|_| Failure::new("hash src", "the hashing thread failed"))?;
                let s = r.map_err(read_err)?;
                store_local_sum(key, &s);
                s
            }
            LocalSum::Later(p) => {
                let s = hash_file(&p).map_err(read_err)?;
                store_local_sum(key, &s);
                s
            }
        };
        *self = LocalSum::Known(s.clone());
        Ok(s)
    }
}
