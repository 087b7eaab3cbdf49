use crate::bundle::parse_iso_name;
use crate::manifest::sha1_for;
use crate::plan::plan;
use crate::rules::{allows, table, Guesses, Mark, Ver};

fn v(s: &str) -> Ver {
    Ver::parse(s).unwrap()
}

fn vs(list: &[&str]) -> Vec<Ver> {
    list.iter().map(|s| v(s)).collect()
}

/// The plan as "from>to" strings, or the refusal's message.
fn route(cur: &str, target: &str, bundles: &[&str]) -> Result<Vec<String>, String> {
    route_with(Guesses::default(), cur, target, bundles)
}

fn route_with(g: Guesses, cur: &str, target: &str, bundles: &[&str]) -> Result<Vec<String>, String> {
    plan(&table(g), v(cur), v(target), &vs(bundles))
        .map(|hops| hops.iter().map(|h| format!("{}>{}", h.from.short(), h.to.short())).collect())
        .map_err(|r| r.message)
}

#[test]
fn versions_parse_from_what_appliances_and_names_say() {
    assert_eq!(Ver::parse("4.2.0.0 build 18320944"), Some(Ver::new(4, 2, 0)));
    assert_eq!(Ver::parse("4.2"), Some(Ver::new(4, 2, 0)));
    assert_eq!(Ver::parse("v9.0.1"), Some(Ver::new(9, 0, 1)));
    assert_eq!(Ver::parse(" 4.8.0.1"), Some(Ver::new(4, 8, 0)));
    assert_eq!(Ver::parse("latest"), None);
    assert_eq!(Ver::parse(""), None);
    assert!(Ver::new(4, 10, 0) > Ver::new(4, 9, 9));
}

#[test]
fn iso_names_give_version_and_build() {
    assert_eq!(parse_iso_name("Usage_Meter_Agent-4.8.0.0-24087577_Upgrade.iso"), Some((Ver::new(4, 8, 0), "24087577".into())));
    assert_eq!(parse_iso_name("Usage_Meter_Agent-9.0.1-1_Upgrade.iso"), Some((Ver::new(9, 0, 1), "1".into())));
    assert_eq!(parse_iso_name("Usage_Meter_Agent-4.8.0.0_Upgrade.iso"), None);
    assert_eq!(parse_iso_name("Usage_Meter_Agent-4.8.x-1_Upgrade.iso"), None);
    assert_eq!(parse_iso_name("other.iso"), None);
}

#[test]
fn the_rules_table_says_what_the_vendor_documents() {
    let t = table(Guesses::default());
    assert!(allows(&t, v("4.1"), v("4.3")).is_some() && allows(&t, v("4.2"), v("4.3")).is_some());
    assert!(allows(&t, v("4.0"), v("4.3")).is_none());
    for to in ["4.4", "4.5"] {
        assert_eq!(allows(&t, v("4.1"), v(to)).map(|r| r.mark), Some(Mark::Doc), "{to}");
    }
    for to in ["4.6", "4.7"] {
        assert!(allows(&t, v("4.2"), v(to)).is_none(), "{to} needs 4.3");
        assert!(allows(&t, v("4.3"), v(to)).is_some() && allows(&t, v("4.5"), v(to)).is_some());
    }
    assert_eq!(allows(&t, v("4.3"), v("4.8")).map(|r| r.mark), Some(Mark::Guess));
    assert!(allows(&t, v("4.2"), v("4.8")).is_none());
    let r = allows(&t, v("4.8"), v("9.0")).unwrap();
    assert!(r.token && r.mark == Mark::Doc);
    assert!(!allows(&t, v("9.0"), v("9.1")).unwrap().token);
    assert!(allows(&t, v("4.7"), v("9.0")).is_none());
    assert!(allows(&t, v("4.6"), v("4.4")).is_none(), "never downwards");
    assert!(allows(&t, v("4.8"), v("4.8")).is_none());
    assert!(allows(&t, v("4.8"), v("10.0")).is_none(), "nothing published for 10");
    assert!(allows(&t, v("4.8.0"), v("4.8.1")).is_some(), "a patch of the same line");
}

#[test]
fn the_guesses_are_options() {
    let g = Guesses { min_source_4_8: v("4.6"), min_source_9: v("4.7") };
    let t = table(g);
    assert!(allows(&t, v("4.5"), v("4.8")).is_none() && allows(&t, v("4.6"), v("4.8")).is_some());
    let r = allows(&t, v("4.7"), v("9.0")).unwrap();
    assert!(r.token && r.mark == Mark::Guess);
    assert!(allows(&t, v("4.6"), v("9.0")).is_none());
}

#[test]
fn single_hops() {
    assert_eq!(route("4.2.0.0 build 1", "4.3", &["4.3"]), Ok(vec!["4.2>4.3".into()]));
    assert_eq!(route("4.1", "4.3", &["4.3"]), Ok(vec!["4.1>4.3".into()]));
    assert_eq!(route("4.2", "4.5", &["4.5"]), Ok(vec!["4.2>4.5".into()]));
    assert_eq!(route("4.8", "9.1", &["9.1"]), Ok(vec!["4.8>9.1".into()]));
    assert_eq!(route("9.0", "9.1", &["9.1"]), Ok(vec!["9.0>9.1".into()]));
}

#[test]
fn chains_of_hops_in_order() {
    assert_eq!(route("4.2", "4.6", &["4.6", "4.3"]), Ok(vec!["4.2>4.3".into(), "4.3>4.6".into()]));
    assert_eq!(route("4.2", "9.0", &["9.0", "4.8", "4.3"]), Ok(vec!["4.2>4.3".into(), "4.3>4.8".into(), "4.8>9.0".into()]));
    assert_eq!(route("4.1", "4.8", &["4.4", "4.8"]), Ok(vec!["4.1>4.4".into(), "4.4>4.8".into()]));
    assert_eq!(route("4.3", "9.1", &["4.8", "9.0", "9.1"]), Ok(vec!["4.3>4.8".into(), "4.8>9.1".into()]));
}

#[test]
fn the_fewest_hops_win() {
    assert_eq!(route("4.2", "4.5", &["4.3", "4.4", "4.5"]), Ok(vec!["4.2>4.5".into()]));
    let r = route("4.2", "9.0", &["4.3", "4.5", "4.6", "4.7", "4.8", "9.0"]).unwrap();
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r.last().map(String::as_str), Some("4.8>9.0"));
    assert_eq!(route("4.5", "4.8", &["4.6", "4.7", "4.8"]), Ok(vec!["4.5>4.8".into()]));
}

#[test]
fn nothing_to_do_at_or_past_the_target() {
    assert_eq!(route("4.3.0.0 build 2", "4.3", &["4.3"]), Ok(vec![]));
    assert_eq!(route("4.5", "4.3", &[]), Ok(vec![]));
    assert_eq!(route("9.0", "4.8", &["4.8"]), Ok(vec![]));
}

#[test]
fn a_forbidden_hop_is_refused_with_what_to_download() {
    let m = route("4.2.0", "4.6", &["4.6"]).unwrap_err();
    assert!(m.contains("4.2.0 → 4.6.0 needs 4.3 first"), "{m}");
    assert!(m.contains("add the 4.3 shar (ums-system-upgrade.shar)"), "{m}");
    assert!(m.contains("on top of 4.3 and later [doc]"), "{m}");
    let m = route("4.2", "9.0", &["9.0"]).unwrap_err();
    assert!(m.contains("4.3 shar") && m.contains("the 4.8 ISO"), "{m}");
    let m = route("4.7", "9.0", &["9.0"]).unwrap_err();
    assert!(m.contains("needs 4.8 first") && m.contains("the 4.8 ISO"), "{m}");
    assert_eq!(route_with(Guesses { min_source_9: v("4.7"), ..Guesses::default() }, "4.7", "9.0", &["9.0"]), Ok(vec!["4.7>9.0".into()]));
}

#[test]
fn a_missing_target_bundle_is_refused() {
    let m = route("4.2", "4.3", &[]).unwrap_err();
    assert!(m.contains("has no bundle for 4.3") && m.contains("add the 4.3 shar"), "{m}");
    let m = route("4.3", "4.8", &["4.6"]).unwrap_err();
    assert!(m.contains("has no bundle for 4.8") && m.contains("Usage_Meter_Agent-4.8.*_Upgrade.iso"), "{m}");
    let r = plan(&table(Guesses::default()), v("4.3"), v("4.8"), &vs(&["4.6"])).unwrap_err();
    assert_eq!(r.missing, vs(&["4.8"]));
}

#[test]
fn bundles_older_than_the_appliance_are_not_used() {
    let m = route("4.5", "4.8", &["4.3", "4.4"]).unwrap_err();
    assert!(m.contains("has no bundle for 4.8"), "{m}");
    assert!(!m.contains("4.3 shar"), "{m}");
    assert_eq!(route("4.5", "4.8", &["4.3", "4.4", "4.8"]), Ok(vec!["4.5>4.8".into()]));
}

#[test]
fn no_published_rule_or_source_is_said_so() {
    let m = route("4.8", "10.0", &["10.0"]).unwrap_err();
    assert!(m.contains("no in-place upgrade rule is known for 10.0"), "{m}");
    let m = route("4.0", "4.3", &["4.3"]).unwrap_err();
    assert!(m.contains("not a documented source") && m.contains("from 4.1 or 4.2"), "{m}");
}

#[test]
fn a_guessed_rule_change_moves_the_refusal() {
    let g = Guesses { min_source_4_8: v("4.6"), ..Guesses::default() };
    let r = plan(&table(g), v("4.3"), v("4.8"), &vs(&["4.8"])).unwrap_err();
    assert_eq!(r.missing, vs(&["4.6"]), "{r:?}");
    assert!(r.message.contains("needs 4.6 first") && r.message.contains("min_source_4_8 and later [guess]"), "{r:?}");
    assert_eq!(route_with(g, "4.3", "4.8", &["4.8", "4.7"]), Ok(vec!["4.3>4.7".into(), "4.7>4.8".into()]));
}

#[test]
fn the_newest_bundle_of_the_target_line_is_used() {
    let hops = plan(&table(Guesses::default()), v("4.3"), v("4.8"), &vs(&["4.8.0", "4.8.1"])).unwrap();
    assert_eq!(hops.len(), 1);
    assert_eq!((hops[0].to, hops[0].bundle), (v("4.8.1"), 1));
}

#[test]
fn manifests_in_both_forms() {
    let h = "a9993e364706816aba3e25717850c26c9cd0d89d";
    let name = "Usage_Meter_Agent-4.8.0.0-1_Upgrade.iso";
    assert_eq!(sha1_for(&format!("{h}  {name}\n"), name), Ok(h.into()));
    assert_eq!(sha1_for(&format!("{}  *{name}\n", h.to_uppercase()), name), Ok(h.into()));
    assert_eq!(sha1_for(&format!("SHA1({name})= {h}\n"), name), Ok(h.into()));
    assert_eq!(sha1_for(&format!("SHA1 ({name}) = {h}\r\n"), name), Ok(h.into()));
    assert_eq!(sha1_for(&format!("SHA1(./{name})= {h}\nSHA1(x.ovf)= {h}\n"), name), Ok(h.into()));
    let e = sha1_for(&format!("{h}  other.iso\n"), name).unwrap_err();
    assert!(e.contains("no SHA-1 line for") && e.contains("other.iso"), "{e}");
    assert!(sha1_for("garbage\n", name).unwrap_err().contains("holds no SHA-1 line"));
    assert!(sha1_for(&format!("{}  {name}\n", &h[..39]), name).is_err(), "39 digits are not a SHA-1");
}

#[test]
fn the_cache_makes_a_pass_once_and_takes_over_a_dead_makers_marker() {
    use crate::cache::{marker_of, once};
    use crate::digest::Pass;
    let key = format!("unit-test|{}|{:?}", std::process::id(), std::time::SystemTime::now());
    let pass = Pass { size: 3, sha1: "a9993e364706816aba3e25717850c26c9cd0d89d".into(), signature_ok: true };
    // A marker left by a process that no longer runs (pid far above pid_max).
    let marker = marker_of(&key).unwrap();
    std::fs::write(&marker, "4999999999").unwrap();
    let mut calls = 0;
    assert_eq!(
        once(&key, || {
            calls += 1;
            Ok(pass.clone())
        })
        .unwrap(),
        (pass.clone(), false)
    );
    assert_eq!(
        once(&key, || {
            calls += 1;
            Ok(pass.clone())
        })
        .unwrap(),
        (pass.clone(), true)
    );
    assert_eq!(calls, 1);
    assert!(!marker.exists());
    // A failed pass is not cached: the next call tries again.
    let other = format!("{key}|failing");
    assert!(once(&other, || Err(usage_meter::Failure::new("read bundle", "gone"))).is_err());
    assert!(!once(&other, || Ok(pass.clone())).unwrap().1);
}
