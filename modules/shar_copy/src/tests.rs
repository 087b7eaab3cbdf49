//! Unit tests of the pure parts and of the remote scripts, run locally.

use super::*;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};
use usage_meter::checksum::parse_checksum;
use usage_meter::reply::Reply;
use usage_meter::upgrade_state::hex;

#[test]
fn checksum_format() {
    let h = "A".repeat(64);
    assert_eq!(parse_checksum(&format!("sha256:{h}")), Ok("a".repeat(64)));
    assert_eq!(parse_checksum(&format!(" SHA256:{h} ")), Ok("a".repeat(64)));
    assert!(parse_checksum(&h).is_err());
    assert!(parse_checksum("md5:abc").unwrap_err().contains("not supported"));
    assert!(parse_checksum("sha256:abc").unwrap_err().contains("3 characters"));
    assert!(parse_checksum(&format!("sha256:{}", "g".repeat(64))).is_err());
}

#[test]
fn paths() {
    assert_eq!(part_path("/opt/vmware/cloudusagemetering/x.shar"), "/opt/vmware/cloudusagemetering/.x.shar.part");
    assert_eq!(
        lock_paths("/var/lib/vcloud-usage-meter/"),
        ("/var/lib/vcloud-usage-meter/shar_copy.lock".to_string(), "/var/lib/vcloud-usage-meter/shar_copy.owner".to_string())
    );
    assert_eq!(dest_dir("/opt/vmware/cloudusagemetering/x.shar"), "/opt/vmware/cloudusagemetering");
    assert_eq!(dest_dir("/x.shar"), "/");
}

#[test]
fn gather_parsing() {
    assert_eq!(
        parse_gather("dir=1\ndest=10\npart=\n@@end\n"),
        Some(Remote { dir_exists: true, dest_size: Some(10), part_size: None, part2_size: None, record: None })
    );
    assert_eq!(parse_gather("dir=0\ndest=\npart=5\n@@end\n").map(|r| r.part_size), Some(Some(5)));
    assert_eq!(parse_gather("dir=1\ndest=x\npart=\n@@end\n"), None);
    assert_eq!(parse_gather("dir=1\ndest=\npart=\n"), None);
    assert_eq!(parse_gather("dir=1\n@@end\n"), None);
}

#[test]
fn resume_rules() {
    assert_eq!(resume_offset(None, 10), 0);
    assert_eq!(resume_offset(Some(4), 10), 4);
    assert_eq!(resume_offset(Some(10), 10), 10);
    assert_eq!(resume_offset(Some(11), 10), 0);
}

fn received(out: &str) -> Option<u64> {
    Reply::parse(out).num("size").flatten()
}

#[test]
fn received_parsing() {
    assert_eq!(received("size=42\n"), Some(42));
    assert_eq!(received("noise\nsize=7\n"), Some(7));
    assert_eq!(received("size=\n"), None);
    assert_eq!(received(""), None);
}

#[test]
fn finished_parsing() {
    let h = "c".repeat(64);
    assert_eq!(parse_finished("result=renamed\n"), Some(Finished::Renamed));
    assert_eq!(parse_finished("result=renamefail\n"), Some(Finished::RenameFailed));
    assert_eq!(parse_finished(&format!("result=bad\nsize=42\nsha256={h}\n")), Some(Finished::Mismatch(Some(42), h)));
    assert_eq!(parse_finished("result=bad\nsize=\nsha256=\n"), Some(Finished::Mismatch(None, String::new())));
    assert_eq!(parse_finished("something else\n"), None);
}

/// `sh -c cmd` with stdin and stdout piped.
fn spawn_sh(cmd: &str) -> std::process::Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Run `cmd` with sh, `input` on its stdin; its stdout.
fn feed(cmd: &str, input: &[u8]) -> String {
    use std::io::Write;
    let mut c = spawn_sh(cmd);
    c.stdin.take().unwrap().write_all(input).unwrap();
    String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
}

#[test]
fn receive_and_finish_commands_work_locally() {
    // The commands are plain sh: feed them a file and check the result.
    let dir = tempfile::tempdir().unwrap();
    let (part, dest, sd) = (dir.path().join(".b.part"), dir.path().join("b"), dir.path().join("state"));
    let (part_s, dest_s, sd_s) = (part.to_str().unwrap(), dest.to_str().unwrap(), sd.to_str().unwrap());
    let data = b"0123456789abcdef".repeat(1000);
    let want = hex(&Sha256::digest(&data));
    let n = data.len() as u64;
    // a stale partial file is replaced by a fresh copy
    std::fs::write(&part, b"stale stale stale").unwrap();
    assert_eq!(received(&feed(&receive_cmd(part_s, 0).command(), &data[..5000])), Some(5000));
    // not all there: not renamed
    let fin = finish_cmd(part_s, dest_s, sd_s, &want, n, false).command();
    assert!(matches!(parse_finished(&feed(&fin, b"")), Some(Finished::Mismatch(Some(5000), _))));
    assert!(!dest.exists());
    assert_eq!(received(&feed(&receive_cmd(part_s, 5000).command(), &data[5000..])), Some(n));
    assert_eq!(std::fs::read(&part).unwrap(), data);
    // the right size but other bytes: not renamed
    let mut other = data.clone();
    other[100] ^= 1;
    std::fs::write(&part, &other).unwrap();
    assert_eq!(parse_finished(&feed(&fin, b"")), Some(Finished::Mismatch(Some(n), hex(&Sha256::digest(&other)))));
    assert!(!dest.exists());
    // the source's bytes: renamed, and the checksum recorded
    std::fs::write(&part, &data).unwrap();
    assert_eq!(parse_finished(&feed(&fin, b"")), Some(Finished::Renamed));
    assert!(!part.exists());
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let rs = feed(&upgrade_state::remote_sha256_script(sd_s, dest_s, false), b"");
    assert_eq!(upgrade_state::parse_remote_sum(&rs).unwrap().map(|r| (r.sha256, r.cached)), Some((want, true)));
}

#[test]
fn a_copy_in_two_halves_is_joined_before_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (part, dest, sd) = (dir.path().join(".b.part"), dir.path().join("b"), dir.path().join("state"));
    let (part_s, dest_s, sd_s) = (part.to_str().unwrap(), dest.to_str().unwrap(), sd.to_str().unwrap());
    let upper = upper_path(part_s);
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let (n, mid) = (data.len() as u64, 25_000);
    let want = hex(&Sha256::digest(&data));
    // the upper half arrives first, in two goes; the lower one after it
    assert_eq!(received(&feed(&receive_cmd(&upper, 0).command(), &data[mid..30_000])), Some(5000));
    assert_eq!(received(&feed(&receive_cmd(&upper, 5000).command(), &data[30_000..])), Some(n - mid as u64));
    assert_eq!(received(&feed(&receive_cmd(part_s, 0).command(), &data[..mid])), Some(mid as u64));
    let g = parse_gather(&feed(&gather_cmd(dest_s), b"")).unwrap();
    assert_eq!((g.part_size, g.part2_size), (Some(mid as u64), Some(n - mid as u64)));
    assert_eq!(parse_finished(&feed(&finish_cmd(part_s, dest_s, sd_s, &want, n, true).command(), b"")), Some(Finished::Renamed));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(!part.exists() && !std::path::Path::new(&upper).exists());
    // a later copy in one stream from byte 0 drops an upper half left behind
    std::fs::write(&upper, b"left over").unwrap();
    let one = receive_cmd(part_s, 0).env("UM_DROP", upper.as_str()).command();
    assert_eq!(received(&feed(&one, &data)), Some(n));
    assert!(!std::path::Path::new(&upper).exists());
}

#[test]
fn lock_report_and_owner() {
    let mut r = LockReport::default();
    for l in [
        "@@waiting",
        "token=t1",
        "pid=12",
        "client=10.0.0.5",
        "started=100",
        "controller=ctl1",
        "controller_pid=777",
        "src=/b/ums.shar",
        "dest=/opt/x.shar",
        "now=130",
        "@@waiting",
        "token=not read",
        "@@held",
    ] {
        r.line(l);
    }
    assert_eq!(r.state, "held");
    assert_eq!(
        r.owner.as_ref().unwrap().describe(true),
        "the copy of /b/ums.shar to /opt/x.shar from controller ctl1 (10.0.0.5, pid 777), running for 30 s"
    );
    assert!(!r.owner.unwrap().describe(false).contains("running"));
    let mut r = LockReport::default();
    r.line("@@held\n");
    assert_eq!((r.state.as_str(), r.owner), ("held", None));
    assert!(LockOwner::default().describe(true).contains("has not recorded"));
}

fn has_flock() -> bool {
    std::process::Command::new("flock").arg("-V").output().is_ok()
}

/// Start the holder script with sh; its stdin stays open until the child is dropped.
fn holder(sd: &str, token: &str, timeout: u64) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>) {
    let script = lock_script(sd, token, timeout, &[("controller", "ctl"), ("src", "/x/b\nshar"), ("dest", "/opt/b")]);
    let mut c = spawn_sh(&script);
    let out = std::io::BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

fn until_state(out: &mut impl BufRead, states: &[&str]) -> LockReport {
    let mut r = LockReport::default();
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            return r;
        }
        r.line(&line);
        if states.contains(&r.state.as_str()) {
            return r;
        }
    }
}

#[test]
fn lock_script_takes_turns_locally_and_ends_its_own_stale_holder() {
    assert!(has_flock(), "flock (util-linux) is needed: the appliance side of the lock uses it");
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("state");
    let sd_s = sd.to_str().unwrap();
    let (mut a, mut a_out) = holder(sd_s, "run-a", 5);
    assert_eq!(until_state(&mut a_out, &["held"]).state, "held");
    let owner = std::fs::read_to_string(sd.join(OWNER_FILE)).unwrap();
    assert!(owner.contains("token=run-a\n") && owner.contains("src=/x/b?shar\n") && owner.contains("dest=/opt/b\n"), "{owner}");
    assert_eq!(feed(&lock_busy_cmd(sd_s), b"").trim(), "UMBUSY");
    // the guard lets the holder's run through, and no other
    assert_eq!(feed(&guarded(sd_s, "run-a", Script::new(&["echo went on"])), b"").trim(), "went on");
    assert_eq!(feed(&guarded(sd_s, "run-b", Script::new(&["echo went on"])), b"").trim(), "UMLOSTLOCK");
    // a second copy gives up after its timeout, naming the first
    let (mut b, mut b_out) = holder(sd_s, "run-b", 1);
    let mut r = until_state(&mut b_out, &["held", "busy"]);
    assert_eq!(r.state, "busy");
    let mut rest = String::new();
    b_out.read_to_string(&mut rest).unwrap();
    rest.lines().for_each(|l| r.line(l));
    assert_eq!(r.owner.as_ref().unwrap().0.iter().filter(|(k, _)| k == "token").count(), 1, "{:?}", r.owner);
    assert!(r.owner.unwrap().describe(true).contains("the copy of /x/b?shar to /opt/b from controller ctl"));
    b.wait().unwrap();
    // a third one waits, and gets the lock when the first ends (its stdin closes)
    let (mut c, mut c_out) = holder(sd_s, "run-c", 30);
    assert_eq!(until_state(&mut c_out, &["waiting", "held"]).state, "waiting");
    drop(a.stdin.take());
    a.wait().unwrap();
    let r = until_state(&mut c_out, &["held", "busy"]);
    assert_eq!(r.state, "held");
    assert!(std::fs::read_to_string(sd.join(OWNER_FILE)).unwrap().contains("token=run-c\n"));
    drop(c.stdin.take());
    c.wait().unwrap();
    assert!(!sd.join(OWNER_FILE).exists());
    assert_eq!(feed(&lock_busy_cmd(sd_s), b"").trim(), "UMFREE");
    assert_eq!(feed(&lock_busy_cmd(dir.path().join("none").to_str().unwrap()), b"").trim(), "UMFREE");
    assert!(!dir.path().join("none").exists());

    // a holder of this run whose connection is gone but not yet noticed by
    // sshd is ended by the run's next holder, which takes the lock at once
    let (mut old, mut old_out) = holder(sd_s, "run-d", 5);
    assert_eq!(until_state(&mut old_out, &["held"]).state, "held");
    let (mut new, mut new_out) = holder(sd_s, "run-d", 0);
    let r = until_state(&mut new_out, &["held", "busy"]);
    assert_eq!((r.state.as_str(), r.owner), ("held", None));
    assert!(!old.wait().unwrap().success());
    drop(new.stdin.take());
    new.wait().unwrap();
}

#[test]
fn local_hash_and_cache_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("b.shar");
    std::fs::write(&f, b"hello\n").unwrap();
    assert_eq!(hash_file(&f).unwrap(), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    let k1 = local_key(&f, &std::fs::metadata(&f).unwrap());
    store_local_sum(&k1, &"d".repeat(64));
    assert_eq!(cached_local_sum(&k1), Some("d".repeat(64)));
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&f, b"hellp\n").unwrap();
    let k2 = local_key(&f, &std::fs::metadata(&f).unwrap());
    assert_ne!(k1, k2);
    assert_eq!(cached_local_sum(&k2), None);
}
