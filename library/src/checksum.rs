//! Checksums: the `sha256:<hex>` form the options take, hex, and the sha256
//! of a local file.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// 64 hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
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

/// A module's `checksum` option (`sha256:<hex>`, optional) as lower-case hex, or
/// the failure every module reports for a malformed one.
pub fn checksum_option(value: Option<&str>) -> Result<Option<String>, crate::Failure> {
    value
        .map(parse_checksum)
        .transpose()
        .map_err(|m| crate::Failure::new("check checksum", m).hint("give the sha256 published with the bundle as sha256:<64 hex digits>"))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Size and sha256 (hex) of everything `r` yields, read in 1 MiB blocks.
pub fn hash_reader(mut r: impl Read) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((total, hex(&h.finalize())))
}

/// Size and sha256 (hex) of a local file.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    hash_reader(std::fs::File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_checksum_forms() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b");
        std::fs::write(&f, b"hello\n").unwrap();
        assert_eq!(hash_file(&f).unwrap(), (6, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03".to_string()));
        assert!(hash_file(&dir.path().join("none")).is_err());
        assert_eq!(hash_reader(&b""[..]).unwrap().1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert!(is_sha256_hex(&"A".repeat(64)) && !is_sha256_hex(&"a".repeat(63)));
        assert_eq!(parse_checksum(&format!("SHA256:{}", "F".repeat(64))), Ok("f".repeat(64)));
    }
}
