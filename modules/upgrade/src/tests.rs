//! Unit tests of the pure parts and of the remote scripts, run locally.

use super::*;
use crate::start::RUNNER_SH;
use usage_meter::checksum::parse_checksum;
use usage_meter::reply::Reply;
use usage_meter::upgrade_state::{CURRENT_FILE, RECORD_FILE};

fn rec(id: &str, sha: &str, rc: i32, boot: &str) -> UpgradeRecord {
    UpgradeRecord { id: id.into(), sha256: sha.into(), rc, finished_boot_id: boot.into(), ..Default::default() }
}
fn cur(id: &str, sha: &str) -> CurrentRun {
    CurrentRun { id: id.into(), sha256: sha.into(), ..Default::default() }
}
fn st() -> Status {
    Status { boot_id: "b1".into(), shar_exists: true, chdir_exists: true, flock: true, ..Default::default() }
}

#[test]
fn plan_start_and_attach() {
    assert_eq!(plan(&st(), Some("aa"), None, false), Plan::Start);
    assert_eq!(plan(&Status { running: true, ..st() }, Some("aa"), None, true), Plan::Attach);
    assert_eq!(plan(&Status { shar_exists: false, ..st() }, None, None, false), Plan::Missing);
}

#[test]
fn plan_after_success() {
    let s = Status { record: Some(rec("1", "aa", 0, "b1")), current: Some(cur("1", "aa")), ..st() };
    assert!(matches!(plan(&s, Some("aa"), None, false), Plan::AlreadyRan(_)));
    // bundle gone after the reboot: still done
    assert!(matches!(plan(&s, None, None, false), Plan::AlreadyRan(_)));
    assert!(matches!(plan(&s, None, Some("aa"), false), Plan::AlreadyRan(_)));
    // ... but not when the user names another bundle: that one never ran
    assert_eq!(plan(&s, None, Some("bb"), false), Plan::Missing);
    // another bundle, or force: run
    assert_eq!(plan(&s, Some("bb"), None, false), Plan::Start);
    assert_eq!(plan(&s, Some("aa"), None, true), Plan::Start);
}

#[test]
fn plan_after_failure_or_interruption() {
    let s = Status { record: Some(rec("1", "aa", 2, "b1")), current: Some(cur("1", "aa")), ..st() };
    assert!(matches!(plan(&s, Some("aa"), None, false), Plan::PreviousFailed(_)));
    assert_eq!(plan(&s, Some("aa"), None, true), Plan::Start);
    assert_eq!(plan(&s, Some("bb"), None, false), Plan::Start);
    let s = Status { record: Some(rec("1", "aa", 0, "b0")), current: Some(cur("2", "cc")), ..st() };
    assert!(matches!(plan(&s, Some("cc"), None, false), Plan::Interrupted(_)));
    assert_eq!(plan(&s, Some("cc"), None, true), Plan::Start);
}

#[test]
fn plan_already_upgraded_layout() {
    let s = Status { old_present: true, shar_exists: false, ..st() };
    assert_eq!(plan(&s, None, None, false), Plan::AlreadyUpgraded);
    let s = Status { old_present: true, ..st() };
    assert_eq!(plan(&s, Some("aa"), None, false), Plan::AlreadyUpgraded);
    assert_eq!(plan(&s, Some("aa"), None, true), Plan::Start);
}

#[test]
fn status_parsing() {
    let out = "boot_id=b1\nrunning=0\nshar=1\nchdir=1\nold=0\nflock=1\nupgrade_log=/x/var/logs/inplaceupgradeum-1-2\n\
@@record\nid=9\nsha256=AA\nrc=0\nfinished_boot_id=b1\nlog=/s/runs/9.log\n@@current\nid=9\nsha256=aa\nlog=/s/runs/9.log\n\
@@tail\nline one\nline=two\n@@end\n";
    let s = parse_status(out).unwrap();
    assert_eq!(s.boot_id, "b1");
    assert!(s.shar_exists && s.flock && !s.running && !s.old_present);
    assert_eq!(s.upgrade_log.as_deref(), Some("/x/var/logs/inplaceupgradeum-1-2"));
    assert_eq!(s.record.as_ref().unwrap().sha256, "aa");
    assert_eq!(s.current.as_ref().unwrap().id, "9");
    assert_eq!(s.tail, vec!["line one", "line=two"]);
    assert!(s.record.unwrap().awaits_reboot("b1"));
    // truncated output (connection cut) is not a status
    assert_eq!(parse_status("boot_id=b1\nrunning=0\n@@record\n"), None);
}

#[test]
fn scripts_use_the_library_names() {
    let s = start_script(false);
    for f in [RECORD_FILE, CURRENT_FILE, upgrade_state::LOCK_FILE] {
        assert!(s.contains(f), "{f}");
    }
    assert!(!s.contains("@RUNNER@") && s.contains("umstatkey() {"));
    assert!(RUNNER_SH.contains("upgrade.record"));
    assert_eq!(started("state=started\nid=17-3\n"), (Some("started".into()), Some("17-3".into())));
    assert_eq!(parse_checksum(&format!("sha256:{}", "F".repeat(64))), Ok("f".repeat(64)));
    assert!(parse_checksum("sha1:abc").is_err());
}

/// `state` and `id` of the start script's reply.
fn started(out: &str) -> (Option<String>, Option<String>) {
    let r = Reply::parse(out);
    (r.get("state").map(str::to_string), r.get("id").map(str::to_string))
}

/// The start script run locally as the module runs it (`bash -s -- ARGS`, script on stdin); its stdout.
fn run_start_script(args: &[&str]) -> String {
    use std::io::Write;
    let mut c = std::process::Command::new("bash")
        .args(["-s", "--"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(start_script(false).as_bytes()).unwrap();
    String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
}

/// The start script and runner, run locally: a fake bundle in a temp chdir.
#[test]
fn start_and_runner_work_locally() {
    if std::process::Command::new("flock").arg("-V").output().is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ch = dir.path().join("ums");
    std::fs::create_dir_all(ch.join("var/logs")).unwrap();
    std::fs::write(ch.join("b.shar"), "echo running in $PWD umask $(umask); touch var/logs/inplaceupgradeum-1-2; sleep 0.5; exit 0\n")
        .unwrap();
    let sd = dir.path().join("state");
    let start = |expect: &str| {
        run_start_script(&[sd.to_str().unwrap(), ch.join("b.shar").to_str().unwrap(), ch.to_str().unwrap(), "aa", expect, "0"])
    };
    let (state, id) = started(&start("-"));
    assert_eq!(state.as_deref(), Some("started"));
    // a second start while it runs finds the lock held
    assert_eq!(started(&start("-")).0.as_deref(), Some("busy"));
    let test = format!("if {}; then echo RUNNING; fi", upgrade_state::in_progress_test(sd.to_str().unwrap()));
    let running = || String::from_utf8(std::process::Command::new("sh").arg("-c").arg(&test).output().unwrap().stdout).unwrap();
    assert!(running().contains("RUNNING"));
    // the status script sees the run, and after waiting for it, its record
    let status = |wait: u64| {
        let cmd = status_script(sd.to_str().unwrap(), ch.join("b.shar").to_str().unwrap(), ch.to_str().unwrap(), 20, wait, true);
        let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        parse_status(&String::from_utf8(out.stdout).unwrap()).unwrap()
    };
    let st = status(0);
    assert!(st.running && st.shar_exists && st.chdir_exists && !st.old_present && st.flock, "{st:?}");
    assert_eq!(st.current.as_ref().map(|c| c.id.clone()), id.clone());
    let st = status(5);
    assert!(!st.running, "{st:?}");
    assert_eq!(st.record.as_ref().map(|r| (r.id.clone(), r.rc)), Some((id.clone().unwrap(), 0)));
    assert!(st.tail.iter().any(|l| l.contains("running in")), "{st:?}");
    for _ in 0..100 {
        if !running().contains("RUNNING") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = UpgradeRecord::parse(&std::fs::read_to_string(sd.join(RECORD_FILE)).unwrap()).unwrap();
    assert_eq!(Some(r.id.clone()), id);
    assert_eq!(r.rc, 0);
    assert!(r.upgrade_log.unwrap().ends_with("inplaceupgradeum-1-2"));
    let out = std::fs::read_to_string(&r.log).unwrap();
    assert!(out.contains(&format!("running in {} umask", ch.display())), "{out}");
    // the bundle runs with the caller's umask, not the state dir's 077
    assert!(!out.contains("umask 0077"), "{out}");
    // the record moved on: a start that expected no record is told to look again
    assert_eq!(started(&start("-")).0.as_deref(), Some("raced"));
}

/// A bundle replaced after the module hashed it is not run: the start
/// script compares the checksum cache entry with the file under the lock.
#[test]
fn start_refuses_a_bundle_replaced_since_it_was_hashed() {
    if std::process::Command::new("flock").arg("-V").output().is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ch = dir.path().join("ums");
    std::fs::create_dir_all(&ch).unwrap();
    let shar = ch.join("b.shar");
    std::fs::write(&shar, "exit 0\n").unwrap();
    let sd = dir.path().join("state");
    let (sd_s, shar_s) = (sd.to_str().unwrap(), shar.to_str().unwrap());
    let sh = |script: &str| std::process::Command::new("bash").arg("-c").arg(script).output().unwrap();
    let sha = || String::from_utf8(sh(&format!("sha256sum < {shar_s}")).stdout).unwrap()[..64].to_string();
    // the module's hash, recorded in the cache as remote_sha256 does
    let sum = sha();
    assert!(sh(&upgrade_state::record_sum_script(sd_s, shar_s, &sum)).status.success());
    let cache = upgrade_state::cache_file(sd_s, shar_s);
    let start = |sha: &str| started(&run_start_script(&[sd_s, shar_s, ch.to_str().unwrap(), sha, "-", "0", &cache])).0;
    // another bundle under the same name since the hash: look again, nothing runs
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&shar, "echo other; exit 0\n").unwrap();
    assert_eq!(start(&sum).as_deref(), Some("raced"));
    assert!(!sd.join(CURRENT_FILE).exists());
    // hashed again (cache entry for the file as it is): it starts
    let sum2 = sha();
    assert_ne!(sum, sum2);
    assert!(sh(&upgrade_state::record_sum_script(sd_s, shar_s, &sum2)).status.success());
    assert_eq!(start(&sum2).as_deref(), Some("started"));
}

/// failure.yml reads rc, stdout_lines, upgrade_log and log from a failed run:
/// the failure carries them, and the docs say so.
#[test]
fn failed_run_returns_its_documented_failure_data() {
    let r = UpgradeRecord { upgrade_log: Some("/x/inplaceupgradeum-1".into()), log: "/s/1.log".into(), ..rec("1", "aa", 3, "b1") };
    let f = wait::run_failure(&r, &["ERROR boom".into()], "the run failed");
    assert_eq!(f.data["rc"], 3);
    assert_eq!(f.data["stdout_lines"], serde_json::json!(["ERROR boom"]));
    assert_eq!(f.data["upgrade_log"], "/x/inplaceupgradeum-1");
    assert_eq!(f.data["log"], "/s/1.log");
    let schema = serde_json::to_value(schemars::schema_for!(Output)).unwrap();
    for key in ["rc", "stdout_lines", "upgrade_log", "log"] {
        let returned = schema["properties"][key]["x-returned"].as_str().unwrap_or("");
        assert!(returned.contains("failure"), "{key}: returned: {returned}");
    }
}
