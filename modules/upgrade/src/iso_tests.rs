//! Unit tests of ISO mode: options, record extras, and the start script with
//! the ISO runner, run locally on a prompting script.

use super::*;
use std::io::Write;
use usage_meter::upgrade_state::RECORD_FILE;

#[test]
fn the_checksum_keys_an_iso_run() {
    assert_eq!(iso_key(Some(&format!("sha1:{}", "A".repeat(40)))).unwrap(), format!("sha1:{}", "a".repeat(40)));
    assert_eq!(iso_key(Some(&format!("sha256:{}", "b".repeat(64)))).unwrap(), "b".repeat(64));
    assert!(iso_key(None).is_err());
    assert!(iso_key(Some("sha1:abc")).is_err());
    assert!(iso_key(Some(&format!("md5:{}", "a".repeat(32)))).is_err());
    assert_eq!(key_checksum(&"b".repeat(64)), format!("sha256:{}", "b".repeat(64)));
    assert_eq!(key_checksum("sha1:ab"), "sha1:ab");
}

#[test]
fn the_token_is_one_line_read_first() {
    assert_eq!(token_prefix(Some("UMA:x")).unwrap(), "IFS= read -r UM_TOK || UM_TOK=\nUMA:x\n");
    assert_eq!(token_prefix(None).unwrap(), "IFS= read -r UM_TOK || UM_TOK=\n\n");
    assert!(token_prefix(Some("a\nb")).is_err());
}

#[test]
fn a_missing_token_may_start_again_other_stops_not() {
    let rec = UpgradeRecord { id: "1".into(), sha256: "k".into(), rc: 125, ..Default::default() };
    let st = |stopped: &str| Status {
        boot_id: "b".into(),
        shar_exists: true,
        record: Some(rec.clone()),
        extra: RecordExtra { stopped: Some(stopped.into()), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(plan(&st("missing_token"), Some("k"), Some("k"), false), Plan::Start);
    assert!(matches!(plan(&st("unexpected_prompt"), Some("k"), Some("k"), false), Plan::PreviousFailed(_)));
}

#[test]
fn a_run_that_ended_in_a_reboot_is_found() {
    let cur = CurrentRun { id: "2".into(), sha256: "k".into(), boot_id: "b1".into(), ..Default::default() };
    let st = Status { boot_id: "b2".into(), current: Some(cur), ..Default::default() };
    assert!(unrecorded_reboot(&st, "k").is_some());
    assert!(unrecorded_reboot(&st, "other").is_none());
    assert!(unrecorded_reboot(&Status { running: true, ..st.clone() }, "k").is_none());
    assert!(unrecorded_reboot(&Status { boot_id: "b1".into(), ..st }, "k").is_none());
    let e = parse_extra("id=1\nrc=125\nstopped=unexpected_prompt\nprompt=Proceed? [y/N]: \n");
    assert_eq!(e.stopped.as_deref(), Some("unexpected_prompt"));
    assert_eq!(e.prompt.as_deref(), Some("Proceed? [y/N]: "));
    assert!(parse_extra("rebooted=1\n").rebooted);
}

/// The start script (token first on stdin) and the ISO runner, locally; the record.
fn run_iso(dir: &std::path::Path, script: &str, token: Option<&str>, input: &str) -> String {
    let iso = dir.join("iso");
    std::fs::create_dir_all(&iso).unwrap();
    std::fs::write(iso.join("upgrade-um.sh"), script).unwrap();
    let sd = dir.join("state");
    let prompt = default_token_prompt();
    let script_path = iso.join("upgrade-um.sh");
    let args = [
        sd.to_str().unwrap(),
        script_path.to_str().unwrap(),
        iso.to_str().unwrap(),
        "sha1:aa",
        "-",
        "0",
        "",
        dir.to_str().unwrap(),
        input,
        &prompt,
        "2",
    ];
    let mut c = std::process::Command::new("bash")
        .args(["-s", "--"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text = format!("{}{}", token_prefix(token).unwrap(), start_script(true));
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap();
    assert!(out.contains("state=started"), "{out}");
    for _ in 0..200 {
        if let Ok(r) = std::fs::read_to_string(sd.join(RECORD_FILE)) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no record");
}

const PROMPTS: &str = "printf 'Enter the access token: '\nread -r t\necho\n[ \"$t\" = UMA:good ] && echo accepted || exit 3\n";

#[test]
fn the_runner_answers_the_token_prompt_and_stops_at_others() {
    if std::process::Command::new("flock").arg("-V").output().is_err() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let rec = run_iso(d.path(), PROMPTS, Some("UMA:good"), "stdin");
    let r = UpgradeRecord::parse(&rec).unwrap();
    assert_eq!((r.rc, r.sha256.as_str()), (0, "sha1:aa"), "{rec}");
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(log.contains("accepted") && !log.contains("UMA:good"), "{log}");
    // nothing of the token is left in the state dir
    let runs = std::fs::read_dir(d.path().join("state/runs")).unwrap().count();
    assert_eq!(runs, 1, "only the log is left");

    let d = tempfile::tempdir().unwrap();
    let rec = run_iso(d.path(), PROMPTS, None, "stdin");
    assert!(rec.contains("stopped=missing_token") && rec.contains("rc=125"), "{rec}");

    let d = tempfile::tempdir().unwrap();
    let rec = run_iso(d.path(), &format!("{PROMPTS}printf 'Proceed? [y/N]: '\nread -r a\n"), Some("UMA:good"), "stdin");
    assert!(rec.contains("stopped=unexpected_prompt") && rec.contains("prompt=Proceed? [y/N]: "), "{rec}");

    // asked again (the token was not taken): stopped, not answered twice
    let d = tempfile::tempdir().unwrap();
    let again = "printf 'Enter the access token: '\nread -r t\necho\nprintf 'Invalid. Enter the access token: '\nread -r t\n";
    let rec = run_iso(d.path(), again, Some("UMA:bad"), "stdin");
    assert!(rec.contains("stopped=token_again") && rec.contains("prompt=Invalid. Enter the access token: "), "{rec}");
}

#[test]
fn a_failed_run_is_tried_again_only_with_another_token() {
    let rec = UpgradeRecord { id: "1".into(), sha256: "k".into(), rc: 6, ..Default::default() };
    let failed = |tid: &str| Status {
        boot_id: "b".into(),
        shar_exists: true,
        record: Some(rec.clone()),
        extra: RecordExtra { token_id: Some(tid.into()), ..Default::default() },
        ..Default::default()
    };
    let given = token_id("UMA:right");
    assert_eq!(given.len(), 16);
    let mut same = failed(&given);
    same.token_changed = token_changed(&same.extra, Some("UMA:right"));
    assert!(matches!(plan(&same, Some("k"), Some("k"), false), Plan::PreviousFailed(_)));
    let mut other = failed(&token_id("UMA:wrong"));
    other.token_changed = token_changed(&other.extra, Some("UMA:right"));
    assert_eq!(plan(&other, Some("k"), Some("k"), false), Plan::Start);
    // no token now, or none recorded: the same run, not a new attempt
    assert!(!token_changed(&other.extra, None));
    assert!(!token_changed(&RecordExtra::default(), Some("UMA:right")));
}
