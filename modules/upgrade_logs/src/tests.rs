//! Unit tests of the pure parts and of the listing script, run locally.

use super::*;
use sha2::{Digest, Sha256};
use usage_meter::upgrade_state::hex;

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
    let f = |size: u64, offset: u64, sha: &str, path: &str| format!("@@file\nsize={size}\noffset={offset}\nsha256={sha}\npath={path}\n");
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
