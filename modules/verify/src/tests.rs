//! Unit tests of the pure parts: the commands, the info parsing, health and the settle window.

use super::*;
use crate::status::parse_status;
use std::time::Duration;

#[test]
fn upgrade_log_tail_is_documented_for_failures_and_absent_on_success() {
    let mut out = Output {
        services: BTreeMap::new(),
        all_running: true,
        offline: vec![],
        upgrade_log: None,
        old_install_present: false,
        status_rc: Some(0),
        stdout_lines: vec![],
        flapping: vec![],
        attempts: 1,
        waited: 0.0,
        upgrade_log_tail: None,
        api: None,
    };
    assert!(serde_json::to_value(&out).unwrap().get("upgrade_log_tail").is_none());
    // the version through the API is null, not absent, without api_password
    assert_eq!(serde_json::to_value(&out).unwrap()["api"], serde_json::Value::Null);
    out.upgrade_log_tail = Some(vec!["x".into()]);
    assert_eq!(serde_json::to_value(&out).unwrap()["upgrade_log_tail"], serde_json::json!(["x"]));
    let schema = serde_json::to_value(schemars::schema_for!(Output)).unwrap();
    assert_eq!(schema["properties"]["upgrade_log_tail"]["x-returned"], "failure");
}

#[test]
fn commands_quote_paths() {
    let c = status_cmd("/opt/my dir", "./scripts/status.sh");
    assert!(c.starts_with("cd '/opt/my dir' 2>/dev/null ||"));
    assert!(c.ends_with("; ./scripts/status.sh"));
    let (inst, old) = (appliance::INSTALL_DIR, appliance::OLD_INSTALL_DIR);
    let i = info_cmd(inst, old, Some(20));
    assert!(i.contains(&format!("ls -1td -- {inst}/var/logs/inplaceupgradeum-* {old}/var/logs/inplaceupgradeum-*")));
    assert!(i.contains("tail -n 20"));
    assert!(!info_cmd("/a", "/b", None).contains("tail"));
}

#[test]
fn info_parsing() {
    let i = parse_info("old=1\nlog=/x/var/logs/inplaceupgradeum-1\n--- um-verify log tail ---\nline a\nold=0\n");
    assert_eq!(
        i,
        Info {
            old_install_present: true,
            upgrade_log: Some("/x/var/logs/inplaceupgradeum-1".into()),
            tail: vec!["line a".into(), "old=0".into()]
        }
    );
    assert_eq!(parse_info("old=0\nlog=\n"), Info::default());
    assert_eq!(parse_info(""), Info::default());
}

#[test]
fn settle_needs_consecutive_checks_over_the_window() {
    let pats = Patterns::defaults().unwrap();
    let up = parse_status("gw : Running\nvcdcol : Running", &pats);
    let down = parse_status("gw : Running\nvcdcol : Offline", &pats);
    let t0 = Instant::now();
    let s = |secs: u64| t0 + Duration::from_secs(secs);
    let mut st = Settle::new(3, Duration::from_secs(20));
    assert!(!st.observe(&down, false, s(0)));
    assert!(!st.observe(&up, true, s(5)));
    assert!(!st.observe(&up, true, s(10)));
    assert!(!st.observe(&down, false, s(15)), "a crash loop breaks the streak");
    assert_eq!(st.flapping(), vec!["vcdcol".to_string()]);
    assert!(!st.observe(&up, true, s(20)));
    assert!(!st.observe(&up, true, s(25)));
    assert!(!st.observe(&up, true, s(30)), "3 checks, but only 10 s apart");
    assert!(st.observe(&up, true, s(40)));
    assert!(st.is_settled());
    // one check is enough with polls 1 and no window (timeout 0)
    let mut once = Settle::new(1, Duration::ZERO);
    assert!(once.observe(&up, true, s(0)));
    assert!(once.flapping().is_empty());
}

#[test]
fn health_and_problem() {
    let pats = Patterns::defaults().unwrap();
    let ok = parse_status("gw : Running\ncore : Running", &pats);
    assert!(healthy(&ok, Some(1), false));
    assert!(!healthy(&ok, Some(1), true));
    assert!(healthy(&ok, Some(0), true));
    assert!(problem(&ok, Some(1), true, "s").contains("exited with 1"));
    let bad = parse_status("gw : Running\ncore : Offline\ndss : Offline", &pats);
    assert!(!healthy(&bad, Some(0), false));
    assert_eq!(problem(&bad, Some(1), false, "s"), "2 of 3 services not Running: core, dss");
    let none = parse_status("hello", &pats);
    assert!(problem(&none, Some(0), false, "./scripts/status.sh").contains("no line"));
}
