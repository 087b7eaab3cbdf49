//! Unit tests of the pure parts: the gather command and its parsing, password expiry, dates, option checks.

use super::*;

fn params() -> Params {
    serde_json::from_value(serde_json::json!({"host": "um1", "password": "x"})).unwrap()
}

const SAMPLE: &str = "boot_id=abc-123\nhostname=um01\nsshd_active=active\nsshd_enabled=disabled\n\
    df=/dev/sda4 9510192 3402860 5603612 38% /opt\ninstall=1\ninstall_link=0\nold=1\n\
    log=/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-19264531\n\
    log=/opt/vmware/cloudusagemetering-old/var/logs/inplaceupgradeum-20262511-19264531\nnow=1795600000\n\
    chage=Last password change\t\t\t\t\t: Nov 25, 2026\nchage=Password expires\t\t\t\t\t: Feb 23, 2027\n\
    chage=Password inactive\t\t\t\t\t: never\n\
    record.format=1\nrecord.id=1795-42\nrecord.sha256=ABCD\nrecord.rc=0\nrecord.finished_boot_id=abc-123\nrecord.log=/var/lib/x/runs/1.log\n\
    upgrade_running=0\nend=1\n";

#[test]
fn parses_everything() {
    let a = parse_gather(SAMPLE).unwrap();
    assert_eq!(a.boot_id, "abc-123");
    assert_eq!(a.hostname, "um01");
    assert!(a.sshd_active);
    assert_eq!(a.sshd_enabled, Some(false));
    assert_eq!(a.opt_free_bytes, Some(5603612 * 1024));
    assert!(a.install_present && !a.install_is_symlink && a.old_install_present);
    assert_eq!(a.upgrade_logs.len(), 2);
    assert_eq!(a.root_password_expiry.as_deref(), Some("2027-02-23"));
    // now = 2026-11-24T... UTC
    assert_eq!(a.root_password_expired, Some(false));
    assert!(a.root_password_expires_in_days.unwrap() > 80);
    assert!(a.upgrade_recorded);
    assert_eq!(a.upgrade_rc, Some(0));
    assert!(a.upgrade_awaits_reboot);
    assert!(!a.upgrade_in_progress);
}

#[test]
fn record_from_an_earlier_boot_does_not_await_reboot() {
    let a = parse_gather(&SAMPLE.replacen("boot_id=abc-123", "boot_id=new-boot", 1)).unwrap();
    assert!(a.upgrade_recorded && !a.upgrade_awaits_reboot);
}

#[test]
fn missing_pieces_are_null_not_errors() {
    let a = parse_gather(
        "boot_id=b\nsshd_active=inactive\nsshd_enabled=unknown\ndf=\ninstall=0\ninstall_link=0\nold=0\nnow=x\nupgrade_running=1\nend=1\n",
    )
    .unwrap();
    assert!(!a.sshd_active);
    assert_eq!(a.sshd_enabled, None);
    assert_eq!(a.opt_free_bytes, None);
    assert_eq!(a.root_password_expiry, None);
    assert_eq!(a.root_password_expired, None);
    assert!(!a.upgrade_recorded && !a.upgrade_awaits_reboot && a.upgrade_in_progress);
    assert!(a.upgrade_logs.is_empty());
    // a command cut short is not a result
    assert_eq!(parse_gather("boot_id=b\n"), None);
    assert_eq!(parse_gather(""), None);
}

#[test]
fn wrapped_df_lines() {
    assert_eq!(usage_meter::ssh::df_data_free("/dev/mapper/very-long-name  100 50 40 50% /opt"), Some(40 * 1024));
    assert_eq!(usage_meter::ssh::df_data_free("garbage"), None);
    assert_eq!(usage_meter::ssh::df_data_free(""), None);
}

#[test]
fn password_expiry_cases() {
    let today = days_from_civil(2027, 2, 23).unwrap();
    assert_eq!(password_expiry("never", Some(today)), Expiry { shown: "never".into(), expired: Some(false), days_left: None });
    assert_eq!(password_expiry("password must be changed", None).expired, Some(true));
    let e = password_expiry("Feb 23, 2027", Some(today));
    assert_eq!(e, Expiry { shown: "2027-02-23".into(), expired: Some(true), days_left: Some(0) });
    let e = password_expiry("Feb 23, 2027", Some(today - 10));
    assert_eq!((e.expired, e.days_left), (Some(false), Some(10)));
    assert_eq!(password_expiry("Feb 23, 2027", None).expired, None);
    assert_eq!(password_expiry("2027-02-23", Some(today + 1)).expired, Some(true));
    assert_eq!(password_expiry("23. Feb. 2027", Some(today)).expired, None);
}

#[test]
fn calendar_round_trip() {
    assert_eq!(days_from_civil(1970, 1, 1), Some(0));
    assert_eq!(days_from_civil(2000, 3, 1), Some(11017));
    for z in [-1000, 0, 59, 60, 11016, 20000, 2_932_896] {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), Some(z), "{z}");
    }
    assert_eq!(parse_chage_date("Nov 25, 2026"), days_from_civil(2026, 11, 25));
    assert_eq!(parse_chage_date("Foo 25, 2026"), None);
    assert_eq!(parse_chage_date("Nov 32, 2026"), None);
    assert_eq!(parse_chage_date("é 1, 2026"), None);
}

#[test]
fn ssh_false_without_api_password_is_refused() {
    let mut p = params();
    p.ssh = false;
    let e = ApplianceInfo::run(&mut Context::default(), p).unwrap_err();
    assert!(e.render(None).contains("api_password"), "{}", e.render(None));
}

#[test]
fn api_options_default_to_one_try_three_seconds_apart() {
    let p = params();
    assert!(p.ssh);
    assert_eq!((p.retry.api_retries, p.retry.api_retry_delay), (0, 3));
}

#[test]
fn gather_command_is_one_command_with_quoted_paths() {
    let mut p = params();
    p.install_dir = "/opt/my ums".into();
    let c = gather_cmd(&p);
    assert!(c.contains("'/opt/my ums'/var/logs/inplaceupgradeum-*"));
    assert!(c.contains("chage -l root"));
    assert!(c.contains("/var/lib/vcloud-usage-meter/upgrade.record"));
    assert!(c.ends_with("echo end=1"));
}
