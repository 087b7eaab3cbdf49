//! Unit tests of the pure parts and of the look script, run locally.

use super::*;
use std::process::Command;

fn look(root: &[&str]) -> Look {
    Look { iso: true, dir: true, root: root.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

#[test]
fn the_known_script_comes_first() {
    let l = look(&["repo/", "upgrade-um.sh", "other-upgrade.sh"]);
    assert_eq!(find_script(&l, None, "/m").unwrap(), ("upgrade-um.sh".into(), Source::Known));
}

#[test]
fn the_one_upgrade_script_is_found() {
    let l = look(&["repo/", "README.txt", "Upgrade-UM-4.8.sh", "install.sh"]);
    assert_eq!(find_script(&l, None, "/m").unwrap(), ("Upgrade-UM-4.8.sh".into(), Source::Found));
}

#[test]
fn none_or_several_fail_listing_the_root() {
    let f = find_script(&look(&["repo/", "install.sh"]), None, "/m").unwrap_err();
    assert!(f.render(None).contains("repo/, install.sh"), "{}", f.render(None));
    let f = find_script(&look(&["a-upgrade.sh", "b-upgrade.sh"]), None, "/m").unwrap_err();
    assert!(f.render(None).contains("a-upgrade.sh, b-upgrade.sh"));
}

#[test]
fn a_given_script_must_exist() {
    let mut l = look(&["upgrade-um.sh"]);
    assert!(find_script(&l, Some("bin/run.sh"), "/m").is_err());
    l.script_ok = true;
    assert_eq!(find_script(&l, Some("bin/run.sh"), "/m").unwrap(), ("bin/run.sh".into(), Source::Given));
}

#[test]
fn what_is_mounted_there() {
    let mut l =
        Look { source: Some("/dev/loop3".into()), backing: Some("/data/u.iso".into()), iso_real: "/data/u.iso".into(), ..look(&[]) };
    assert_eq!(l.at_path("/opt/link/u.iso"), AtPath::Ours);
    l.backing = Some("/data/other.iso".into());
    assert_eq!(l.at_path("/data/u.iso"), AtPath::Other("/dev/loop3 (a loop device on /data/other.iso)".into()));
    // a mount naming the file itself as its source
    let l = Look { source: Some("/data/u.iso".into()), ..look(&[]) };
    assert_eq!(l.at_path("/data/u.iso"), AtPath::Ours);
    assert_eq!(look(&[]).at_path("/data/u.iso"), AtPath::Free);
}

#[test]
fn parse_the_look() {
    let out = "iso=1\niso_real=/d/u.iso\ndir=1\nmounted=1\nsource=/dev/loop0\nbacking=/d/u.iso (deleted)\nscript=0\n@@root\nrepo/\nupgrade-um.sh\n@@end\n";
    let l = parse_look(out).unwrap();
    assert_eq!(l.source.as_deref(), Some("/dev/loop0"));
    assert_eq!(l.backing.as_deref(), Some("/d/u.iso"));
    assert_eq!(l.root, vec!["repo/", "upgrade-um.sh"]);
    assert_eq!(parse_look("iso=1\n"), None);
}

#[test]
fn look_script_on_a_plain_directory() {
    let d = tempfile::tempdir().unwrap();
    let iso = d.path().join("u.iso");
    std::fs::write(&iso, b"x").unwrap();
    let mp = d.path().join("mnt");
    std::fs::create_dir(&mp).unwrap();
    let run = |path: &std::path::Path| {
        let o = Command::new("sh").arg("-c").arg(LOOK_SH).env("UM_ISO", &iso).env("UM_PATH", path).env("UM_SCRIPT", "").output().unwrap();
        parse_look(&String::from_utf8_lossy(&o.stdout)).unwrap()
    };
    let l = run(&mp);
    assert!(l.iso && l.dir && l.empty && l.source.is_none());
    assert_eq!(l.at_path(iso.to_str().unwrap()), AtPath::Free);
    std::fs::write(mp.join("f"), b"x").unwrap();
    assert!(!run(&mp).empty);
    let l = run(&d.path().join("none"));
    assert!(!l.dir);
}

#[test]
fn options_are_checked() {
    let p = |iso: &str, path: &str, script: Option<&str>| Params {
        connection: serde_json::from_str(r#"{"host":"h"}"#).unwrap(),
        iso: iso.into(),
        path: path.into(),
        state: State::Mounted,
        script: script.map(Into::into),
        remove_iso: false,
    };
    assert!(check_options(&p("/a.iso", "/root/upgrade", None)).is_ok());
    assert!(check_options(&p("a.iso", "/root/upgrade", None)).is_err());
    assert!(check_options(&p("/a b.iso", "/root/upgrade", None)).is_err());
    assert!(check_options(&p("/a.iso", "/", None)).is_err());
    assert!(check_options(&p("/a.iso", "/m", Some("../x.sh"))).is_err());
}
