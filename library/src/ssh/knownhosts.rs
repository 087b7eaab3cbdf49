//! OpenSSH known_hosts, read and appended by us rather than libssh2 so that
//! hashed entries (Debian's default), `[host]:port`, wildcards, negation and
//! `@revoked` work, and errors can name the file and line.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The key is recorded for this host.
    Match,
    /// The host is recorded with another key of the same type (line number).
    Mismatch { line: usize },
    /// The key is marked `@revoked` (line number).
    Revoked { line: usize },
    /// The host is recorded, but only with keys of other types.
    OtherTypes { types: Vec<String> },
    /// The host is not recorded.
    NotFound,
}

#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    revoked: bool,
    patterns: String,
    key_type: String,
    key: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    pub path: PathBuf,
    entries: Vec<Entry>,
}

/// The name OpenSSH records: `host`, or `[host]:port` off port 22.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// Read `path`; a missing file is an empty list.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(Self::parse(path, &text))
    }

    pub fn parse(path: &Path, text: &str) -> Self {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if first.starts_with('@') {
                revoked = first == "@revoked";
                if first == "@cert-authority" {
                    continue; // host certificates are not used by the appliance
                }
                first = fields.next().unwrap_or_default();
            }
            let (Some(key_type), Some(key_b64)) = (fields.next(), fields.next()) else { continue };
            let Ok(key) = B64.decode(key_b64) else { continue };
            entries.push(Entry { line: i + 1, revoked, patterns: first.to_string(), key_type: key_type.to_string(), key });
        }
        KnownHosts { path: path.to_path_buf(), entries }
    }

    fn for_host<'a>(&'a self, host: &'a str, port: u16) -> impl Iterator<Item = &'a Entry> + 'a {
        let name = host_pattern(host, port);
        self.entries.iter().filter(move |e| patterns_match(&e.patterns, &name))
    }

    /// Key types recorded for the host (to prefer them in the handshake).
    pub fn types_for(&self, host: &str, port: u16) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.for_host(host, port).filter(|e| !e.revoked) {
            if !out.contains(&e.key_type) {
                out.push(e.key_type.clone());
            }
        }
        out
    }

    pub fn check(&self, host: &str, port: u16, key_type: &str, key: &[u8]) -> Check {
        let entries: Vec<&Entry> = self.for_host(host, port).collect();
        if let Some(e) = entries.iter().find(|e| e.revoked && e.key == key) {
            return Check::Revoked { line: e.line };
        }
        if entries.iter().any(|e| !e.revoked && e.key_type == key_type && e.key == key) {
            return Check::Match;
        }
        if let Some(e) = entries.iter().find(|e| !e.revoked && e.key_type == key_type) {
            return Check::Mismatch { line: e.line };
        }
        let types = self.types_for(host, port);
        if types.is_empty() {
            Check::NotFound
        } else {
            Check::OtherTypes { types }
        }
    }

    /// Append `host key` to the file (creating it 0600, its directory 0700).
    pub fn append(path: &Path, host: &str, port: u16, key_type: &str, key: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir)?;
                set_mode(dir, 0o700)?;
            }
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        set_mode(path, 0o600)?;
        // One write(2) of the whole line: with O_APPEND, forks recording keys
        // at once cannot interleave their lines.
        let line = format!("{} {} {}\n", host_pattern(host, port), key_type, B64.encode(key));
        f.write_all(line.as_bytes())
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    if meta.permissions().mode() & 0o777 != mode && meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// OpenSSH's pattern-list rule: any negated match excludes, else any match includes.
fn patterns_match(list: &str, name: &str) -> bool {
    if let Some(hashed) = list.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pat in list.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if wildcard(neg, name) {
                return false;
            }
        } else if wildcard(pat, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else { return false };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else { return false };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` globbing, case-insensitive as OpenSSH does for host names.
fn wildcard(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0usize, 0usize, None, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"key-one";
    const OTHER: &[u8] = b"key-two";

    fn kh(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("/kh"), text)
    }

    #[test]
    fn plain_port_and_mismatch() {
        let k = kh(&format!("um1 ssh-ed25519 {}\n[um2]:2222 ssh-ed25519 {}\n", B64.encode(KEY), B64.encode(KEY)));
        assert_eq!(k.check("um1", 22, "ssh-ed25519", KEY), Check::Match);
        assert_eq!(k.check("um1", 22, "ssh-ed25519", OTHER), Check::Mismatch { line: 1 });
        assert_eq!(k.check("um2", 2222, "ssh-ed25519", KEY), Check::Match);
        assert_eq!(k.check("um2", 22, "ssh-ed25519", KEY), Check::NotFound);
        assert_eq!(k.check("um1", 22, "ecdsa-sha2-nistp256", OTHER), Check::OtherTypes { types: vec!["ssh-ed25519".into()] });
    }

    #[test]
    fn hashed_entries_match() {
        // |1|salt|HMAC-SHA1(salt, "10.0.0.5") computed here with the same primitives
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap_or_else(|_| unreachable!());
        mac.update(b"10.0.0.5");
        let hash = mac.finalize().into_bytes();
        let line = format!("|1|{}|{} ssh-rsa {}", B64.encode(salt), B64.encode(hash), B64.encode(KEY));
        let k = kh(&line);
        assert_eq!(k.check("10.0.0.5", 22, "ssh-rsa", KEY), Check::Match);
        assert_eq!(k.check("10.0.0.6", 22, "ssh-rsa", KEY), Check::NotFound);
    }

    #[test]
    fn wildcards_negation_revoked_and_comments() {
        let text = format!(
            "# comment\n*.site,!bad.site ssh-ed25519 {k}\n@revoked * ssh-ed25519 {o}\ngarbage\n",
            k = B64.encode(KEY),
            o = B64.encode(OTHER)
        );
        let k = kh(&text);
        assert_eq!(k.check("um.site", 22, "ssh-ed25519", KEY), Check::Match);
        assert_eq!(k.check("bad.site", 22, "ssh-ed25519", KEY), Check::NotFound);
        assert_eq!(k.check("anything", 22, "ssh-ed25519", OTHER), Check::Revoked { line: 3 });
    }

    #[test]
    fn append_creates_private_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("sub/known_hosts");
        KnownHosts::append(&path, "h", 2222, "ssh-ed25519", KEY).unwrap_or_else(|_| unreachable!());
        let k = KnownHosts::load(&path).unwrap_or_else(|_| unreachable!());
        assert_eq!(k.check("h", 2222, "ssh-ed25519", KEY), Check::Match);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
    }
}
