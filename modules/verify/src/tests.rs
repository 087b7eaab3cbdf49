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
        settled_by: None,
        units: None,
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

fn svc(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(s, u)| ((*s).to_string(), (*u).to_string())).collect()
}

const SHOW: &str = "now=100000000\n@@show\nId=gw.service\nLoadState=loaded\nActiveState=active\nNRestarts=0\n\
    ActiveEnterTimestampMonotonic=40000000\n\nId=vcdcol.service\nLoadState=loaded\nActiveState=active\nNRestarts=3\n\
    ActiveEnterTimestampMonotonic=98000000\n@@end\n";

#[test]
fn units_are_read_by_id_with_their_age_and_restarts() {
    let u = parse_units(SHOW, &svc(&[("gw", "gw.service"), ("vcdcol", "vcdcol.service")])).unwrap();
    assert_eq!(u["gw"].active_seconds, Some(60.0));
    assert_eq!(u["gw"].restarts, Some(0));
    assert_eq!(u["vcdcol"].active_seconds, Some(2.0));
    assert_eq!(u["vcdcol"].restarts, Some(3));
    // the youngest unit decides: 2 s of a 40 s window
    assert_eq!(judge(&u, Duration::from_secs(40)), Err(Some(Duration::from_secs(38))));
    assert_eq!(judge(&u, Duration::from_secs(2)), Ok(()));
}

#[test]
fn a_unit_not_active_is_not_settled() {
    let out = SHOW.replacen("ActiveState=active\nNRestarts=3", "ActiveState=activating\nNRestarts=3", 1);
    let u = parse_units(&out, &svc(&[("gw", "gw.service"), ("vcdcol", "vcdcol.service")])).unwrap();
    assert_eq!(u["vcdcol"].active_seconds, None);
    assert_eq!(judge(&u, Duration::ZERO), Err(None));
}

#[test]
fn the_appliance_cannot_tell_without_show_a_unit_or_a_clock() {
    let both = svc(&[("gw", "gw.service"), ("vcdcol", "vcdcol.service")]);
    assert!(parse_units("now=1\n@@end\n", &both).is_none(), "no systemctl show");
    assert!(parse_units(SHOW, &svc(&[("dss", "dss.service")])).is_none(), "a unit it did not show");
    let unknown = SHOW.replacen("LoadState=loaded", "LoadState=not-found", 1);
    assert!(parse_units(&unknown, &both).is_none(), "a unit systemd does not know");
    assert!(parse_units(&SHOW.replacen("now=100000000", "now=", 1), &both).is_none(), "no clock");
    assert!(parse_units(&SHOW.replace("@@end\n", ""), &both).is_none(), "cut short");
    // /proc/uptime when /proc/timer_list is not readable
    let up = parse_units(&SHOW.replacen("now=100000000", "now_uptime=100.00", 1), &both).unwrap();
    assert_eq!(up["gw"].active_seconds, Some(60.0));
}

#[test]
fn unit_names_and_the_units_script() {
    assert_eq!(unit_name("{name}.service", "vcdCol"), "vcdcol.service");
    assert_eq!(unit_name("vmware-ums-{name}", "GW"), "vmware-ums-gw");
    let dir = std::env::temp_dir().join(format!("um-verify-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("systemctl");
    std::fs::write(&bin, "#!/bin/sh\necho \"args=$*\"\n").unwrap();
    let mut perm = std::fs::metadata(&bin).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&bin, perm).unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(units_cmd(&["gw.service".into(), "it's".into()]))
        .env("PATH", path)
        .output()
        .unwrap();
    let r = usage_meter::reply::Reply::parse(&String::from_utf8_lossy(&out.stdout));
    assert!(r.complete);
    assert!(r.get("now").is_some() || r.get("now_uptime").is_some());
    assert_eq!(
        r.section("show").unwrap().get("args"),
        Some("show -p Id,LoadState,ActiveState,NRestarts,ActiveEnterTimestampMonotonic -- gw.service it's")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
