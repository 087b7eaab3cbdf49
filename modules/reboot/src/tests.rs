//! Unit tests of the pure parts and of the remote scripts, run locally.

use super::*;
use usage_meter::ssh::{SshError, SshErrorKind};

#[test]
fn backoff_starts_small_and_caps_low() {
    let v: Vec<u128> = Backoff::default().take(6).map(|d| d.as_millis()).collect();
    assert_eq!(v, vec![100, 150, 225, 250, 250, 250]);
}

#[test]
fn probe_timeout_is_short_but_sometimes_full() {
    let ct = Duration::from_secs(10);
    assert_eq!(probe_timeout(0, ct), Duration::from_secs(1));
    assert_eq!(probe_timeout(4, ct), Duration::from_secs(1));
    assert_eq!(probe_timeout(5, ct), ct);
    assert_eq!(probe_timeout(10, ct), ct);
    // never longer than connect_timeout
    assert_eq!(probe_timeout(1, Duration::from_millis(500)), Duration::from_millis(500));
}

#[test]
fn fatal_kinds() {
    assert!(SshErrorKind::Auth.is_fatal());
    assert!(SshErrorKind::HostKey.is_fatal());
    assert!(SshErrorKind::PasswordExpired.is_fatal());
    for k in [
        SshErrorKind::Refused,
        SshErrorKind::Timeout,
        SshErrorKind::Unreachable,
        SshErrorKind::Dropped,
        SshErrorKind::Resolve,
        SshErrorKind::Other,
    ] {
        assert!(!k.is_fatal(), "{k:?}");
    }
}

/// Run a command line with sh; its stdout.
fn sh(cmd: &str) -> String {
    let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn issue_and_outcome_scripts_work_locally() {
    // A "reboot command" with quotes, run detached one second later; its
    // exit code and output are recorded where the outcome script finds them.
    let sd = std::env::temp_dir().join(format!("um-reboot-test-{}", std::process::id()));
    let sd_s = sd.to_str().unwrap();
    let tok = format!("test-{}", std::process::id());
    let out = sh(&issue_cmd(r"echo 'it'\''s down'; exit 3", &tok, sd_s));
    let i = parse_issued(&out);
    assert!(i.issued && !i.upgrade_running, "{out}");
    let d = i.dir.clone().unwrap();
    assert!(out.contains("locked=1") == std::process::Command::new("flock").arg("-V").output().is_ok(), "{out}");
    let mut outcome = None;
    for _ in 0..100 {
        outcome = parse_outcome(&sh(&outcome_cmd(&d, &tok)));
        if outcome.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(outcome, Some((3, "it's down".to_string())));
    for ext in ["rc", "log"] {
        let _ = std::fs::remove_file(format!("{d}/.um-reboot-{tok}.{ext}"));
    }
    // while an upgrade holds the lock, nothing is started
    if std::process::Command::new("flock").arg("-V").output().is_ok() {
        let lock = sd.join(upgrade_state::LOCK_FILE);
        let mut holder = std::process::Command::new("flock").arg(&lock).args(["sleep", "30"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let out = sh(&issue_cmd("echo never", &tok, sd_s));
        holder.kill().unwrap();
        holder.wait().unwrap();
        let i = parse_issued(&out);
        assert!(i.upgrade_running && !i.issued, "{out}");
    }
    std::fs::remove_dir_all(&sd).unwrap();
}

#[test]
fn issued_output_parsing() {
    let i = parse_issued("sshd_enabled=disabled\ndir=/run\nissued=1\n");
    assert_eq!(i, Issued { sshd_enabled: Some(false), dir: Some("/run".into()), issued: true, upgrade_running: false });
    let i = parse_issued("sshd_enabled=unknown\ndir=/tmp\n");
    assert_eq!(i, Issued { sshd_enabled: None, dir: Some("/tmp".into()), issued: false, upgrade_running: false });
    assert!(parse_issued("sshd_enabled=enabled\nupgrade_running=1\n").upgrade_running);
    assert_eq!(parse_issued(""), Issued::default());
}

#[test]
fn outcome_parsing() {
    assert_eq!(parse_outcome(""), None);
    assert_eq!(parse_outcome("rc=0\n@@output\n"), Some((0, String::new())));
    assert_eq!(
        parse_outcome("rc=1\n@@output\nFailed to talk to init daemon.\nrc=5\n"),
        Some((1, "Failed to talk to init daemon.\nrc=5".into()))
    );
    assert_eq!(parse_outcome("rc=\n@@output\n"), None);
    assert_eq!(parse_outcome("garbage"), None);
    assert!(outcome_cmd("/run", "t1").contains("UM_BASE=/run/.um-reboot-t1 "));
}

#[test]
fn timeout_messages_say_what_was_seen() {
    let mut seen = Seen { old_boot_answers: 3, ..Seen::default() };
    let f = timeout_failure(60, &seen);
    assert!(f.msg.contains("never went down"), "{}", f.msg);
    assert!(f.hint.as_deref().unwrap_or("").contains("reboot_command"));

    seen.went_down = true;
    seen.last_error = Some((SshError::new(SshErrorKind::Refused, "um1", "connection refused (nothing listens on the SSH port)"), 42.0));
    seen.sshd_enabled = Some(false);
    let f = timeout_failure(60, &seen);
    assert!(f.msg.contains("within 60 s"), "{}", f.msg);
    assert!(f.msg.contains("connection refused"), "{}", f.msg);
    assert!(f.msg.contains("not enabled at boot"), "{}", f.msg);
    let hint = f.hint.clone().unwrap_or_default();
    assert!(hint.contains("service sshd start") && hint.contains("snapshot"), "{hint}");
    assert_eq!(f.data.get("last_error").and_then(|v| v.as_str()), Some("um1: connection refused (nothing listens on the SSH port)"));

    seen.last_error = Some((SshError::new(SshErrorKind::Timeout, "um1", "no answer within 1.0 s"), 50.0));
    let hint = timeout_failure(60, &seen).hint.unwrap_or_default();
    assert!(hint.contains("console") && hint.contains("snapshot") && hint.contains("reboot_timeout"), "{hint}");
}

#[test]
fn secs_rounds() {
    assert_eq!(secs(Duration::from_millis(1234)), 1.23);
}
