use super::*;
use std::os::unix::fs::PermissionsExt;

fn sh(cmd: &str) -> String {
    let o = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; // "hello\n"
const SHA1: &str = "f572d396fae9206628714fb2ce00f72e94f2258f";

fn stage(dest: &str, rec: &str, body: &str, sha1: Option<&str>, write: bool) -> Reply {
    let mut s = Script::new(&[SUM_SH, STAGE_SH]).env("UM_DEST", dest).env("UM_WRITE", if write { "1" } else { "0" });
    if let Some(h) = sha1 {
        s = s.env("UM_SHA1", h).env("UM_SHA1PART", format!(",\"sha1\":\"{h}\""));
    }
    if !rec.is_empty() {
        s = s.env("UM_RECORD", rec).env("UM_BODY", body);
    }
    Reply::parse(&sh(&s.command()))
}

#[test]
fn checksum_option_takes_sha256_or_sha1() {
    let (a, b) = checksum_wanted(Some(&format!("SHA1:{}", SHA1.to_uppercase()))).unwrap();
    assert_eq!((a, b.as_deref()), (None, Some(SHA1)));
    let (a, b) = checksum_wanted(Some(&format!("sha256:{SHA}"))).unwrap();
    assert_eq!((a.as_deref(), b), (Some(SHA), None));
    assert_eq!(checksum_wanted(None).unwrap(), (None, None));
    assert!(checksum_wanted(Some("sha1:abc")).unwrap_err().msg.contains("sha1:<40 hex digits>"));
    assert!(checksum_wanted(Some("md5:00")).unwrap_err().msg.contains("not supported"));
}

#[test]
fn record_body_and_path() {
    let b = record_body("/opt/a \"b\".iso", "a.iso", 6, SHA);
    assert_eq!(b, format!(r#"{{"format":1,"dest":"/opt/a \"b\".iso","name":"a.iso","size":6,"sha256":"{SHA}""#));
    let r = StageRecord::parse(&format!("{b},\"staged_at\":\"2026-12-07T09:00:00Z\"}}\n")).unwrap();
    assert!(r.matches("/opt/a \"b\".iso", 6, &SHA.to_uppercase()) && r.sha1.is_none());
    assert!(!r.matches("/opt/a \"b\".iso", 7, SHA));
    assert_eq!(record_path("/var/lib/x/", "/opt/vmware/u.iso"), "/var/lib/x/staged/u.iso.json");
    assert_eq!(StageRecord::parse("{\"dest\":1}"), None);
}

#[test]
fn stage_script_writes_once_root_only_and_checks_sha1() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("u.iso");
    std::fs::write(&dest, b"hello\n").unwrap();
    let dest = dest.to_str().unwrap();
    let rec = dir.path().join("state/staged/u.iso.json");
    let recs = rec.to_str().unwrap();
    let body = record_body(dest, "u.iso", 6, SHA);

    // check mode writes nothing
    let r = stage(dest, recs, &body, None, false);
    assert_eq!((r.get("record"), r.complete), (Some("would"), true));
    assert!(!rec.exists());

    let r = stage(dest, recs, &body, Some(SHA1), true);
    assert_eq!(r.get("record"), Some("written"));
    let at = r.get("staged_at").unwrap().to_string();
    let written = StageRecord::parse(&std::fs::read_to_string(&rec).unwrap()).unwrap();
    assert_eq!((written.sha1.as_deref(), written.staged_at.as_str(), written.size), (Some(SHA1), at.as_str(), 6));
    assert_eq!(std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(rec.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);

    // the same again keeps its time, with or without the sha1
    for h in [Some(SHA1), None] {
        let r = stage(dest, recs, &body, h, true);
        assert_eq!((r.get("record"), r.get("staged_at")), (Some("same"), Some(at.as_str())));
    }
    // another bundle at dest: a new record
    let other = record_body(dest, "u.iso", 6, &"0".repeat(64));
    assert_eq!(stage(dest, recs, &other, None, true).get("record"), Some("written"));

    // a wrong sha1 stops before the record
    let r = stage(dest, recs, &body, Some(&"1".repeat(40)), true);
    assert_eq!(r.get("sha1bad"), Some(SHA1));
    assert_eq!(r.get("record"), None);
    // only the sha1 asked for
    let r = stage(dest, "", "", Some(SHA1), true);
    assert!(r.complete && r.get("record").is_none() && r.get("sha1bad").is_none());
}

#[test]
fn verify_script_hashes_and_reads_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("u.shar");
    std::fs::write(&dest, b"hello\n").unwrap();
    let rec = dir.path().join("u.shar.json");
    let cmd = |sha1: bool| {
        Script::new(&[SUM_SH, VERIFY_SH])
            .env("UM_DEST", dest.to_str().unwrap())
            .env("UM_RECORD", rec.to_str().unwrap())
            .env("UM_SHA1", if sha1 { "1" } else { "0" })
            .command()
    };
    // no record: nothing hashed
    let f = parse_found(&sh(&cmd(true))).unwrap();
    assert_eq!(f, Found { record: None, size: Some(6), sha256: None, sha1: None });
    let body = record_body(dest.to_str().unwrap(), "u.shar", 6, SHA);
    std::fs::write(&rec, format!("{body},\"staged_at\":\"2026-12-07T09:00:00Z\"}}\n")).unwrap();
    let f = parse_found(&sh(&cmd(true))).unwrap();
    assert_eq!((f.sha256.as_deref(), f.sha1.as_deref()), (Some(SHA), Some(SHA1)));
    assert_eq!(f.record.unwrap().staged_at, "2026-12-07T09:00:00Z");
    assert_eq!(parse_found(&sh(&cmd(false))).unwrap().sha1, None);
    std::fs::remove_file(&dest).unwrap();
    let f = parse_found(&sh(&cmd(false))).unwrap();
    assert_eq!((f.size, f.record.is_some()), (None, true));
    assert_eq!(parse_found("dest=6\n"), None);
}
