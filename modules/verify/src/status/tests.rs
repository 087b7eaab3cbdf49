//! Unit tests of the status parser: the formats it reads, its patterns, and arbitrary input.

use super::*;

fn p() -> Patterns {
    Patterns::defaults().unwrap()
}

fn services(out: &str) -> Vec<(String, String)> {
    parse_status(out, &p()).services.into_iter().collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v.iter().map(|(a, b)| ((*a).to_string(), (*b).to_string())).collect();
    v.sort();
    v
}

#[test]
fn colon_format() {
    let out = "nginx : Running\ngw : Running\nvcdcol : Offline\n";
    assert_eq!(services(out), pairs(&[("gw", "Running"), ("nginx", "Running"), ("vcdcol", "Offline")]));
    let r = parse_status(out, &p());
    assert_eq!(r.offline(), vec!["vcdcol"]);
    assert!(!r.all_running());
}

#[test]
fn table_with_header_and_ruler() {
    let out = "SERVICE      STATUS\n-------      ------\nNginx        Running\nGW           Running\nvcdCol       Running\n\n";
    let r = parse_status(out, &p());
    assert_eq!(r.services.len(), 3);
    assert!(r.all_running());
    assert_eq!(r.lines.len(), 5);
}

#[test]
fn ansi_colours() {
    let out = "\u{1b}[1mgw\u{1b}[0m : \u{1b}[0;32mRunning\u{1b}[0m\n\u{1b}[1mdss\u{1b}[0m : \u{1b}[0;31mOffline\u{1b}[0m\n";
    assert_eq!(services(out), pairs(&[("dss", "Offline"), ("gw", "Running")]));
    let r = parse_status(out, &p());
    assert_eq!(r.lines, vec!["gw : Running", "dss : Offline"]);
}

#[test]
fn other_plausible_formats() {
    assert_eq!(services("| gw | Running |\n| core | Offline |"), pairs(&[("core", "Offline"), ("gw", "Running")]));
    assert_eq!(services("gw is running\nService core is not running"), pairs(&[("core", "Offline"), ("gw", "Running")]));
    assert_eq!(services("[ OK ] gw Running\n[FAIL] dss Offline"), pairs(&[("dss", "Offline"), ("gw", "Running")]));
    assert_eq!(services("gw.............Running\ncore...........RUNNING"), pairs(&[("core", "Running"), ("gw", "Running")]));
    assert_eq!(services("gw=running\ncore=offline"), pairs(&[("core", "Offline"), ("gw", "Running")]));
    assert_eq!(services("1  gw  Running  3d\n2  core  Running  3d"), pairs(&[("core", "Running"), ("gw", "Running")]));
    assert_eq!(services("gw\tRunning\ncore\tOffline"), pairs(&[("core", "Offline"), ("gw", "Running")]));
    assert_eq!(services("Running  gw\nOffline  core"), pairs(&[("core", "Offline"), ("gw", "Running")]));
    assert_eq!(services("- gw: Running (pid 42)\n* core: Offline (exit 3)"), pairs(&[("core", "Offline"), ("gw", "Running")]));
    assert_eq!(services("VC Collector : Running"), pairs(&[("VC Collector", "Running")]));
    assert_eq!(services("gw - Running"), pairs(&[("gw", "Running")]));
}

#[test]
fn earliest_status_word_decides() {
    assert_eq!(services("gw : Offline (was Running)"), pairs(&[("gw", "Offline")]));
    assert_eq!(services("gw : Running, 0 failed checks"), pairs(&[("gw", "Running")]));
}

#[test]
fn prose_headers_and_noise_are_ignored() {
    let out = "Checking Usage Meter services...\nAll services are running\nUsage Meter 4.3.0 build 19264531\n\
               Version : 4.3.0\n=====\nSERVICE STATUS\ngw : Running\n14 services Running\n";
    assert_eq!(services(out), pairs(&[("gw", "Running")]));
}

#[test]
fn offline_without_a_name_still_counts() {
    let r = parse_status("gw : Running\nOffline\n", &p());
    assert_eq!(r.offline(), vec!["Offline"]);
    assert!(!r.all_running());
}

#[test]
fn nothing_running_is_not_healthy() {
    assert!(!parse_status("", &p()).all_running());
    assert!(!parse_status("bash: ./scripts/status.sh: No such file or directory\n", &p()).all_running());
    assert!(!parse_status("SERVICE STATUS\n", &p()).all_running());
}

#[test]
fn duplicate_offline_wins() {
    let r = parse_status("gw : Offline\ngw : Running\n", &p());
    assert_eq!(r.offline(), vec!["gw"]);
}

#[test]
fn carriage_returns_and_crlf() {
    let r = parse_status("waiting 1/3\rwaiting 2/3\rgw : Running\r\ncore : Running\r\n", &p());
    assert_eq!(r.lines, vec!["gw : Running", "core : Running"]);
    assert!(r.all_running());
}

#[test]
fn strip_ansi_handles_all_sequence_kinds() {
    assert_eq!(strip_ansi("\u{1b}]0;title\u{7}ok"), "ok");
    assert_eq!(strip_ansi("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\"), "link");
    assert_eq!(strip_ansi("\u{1b}(Bplain\u{1b}=x"), "plainx");
    assert_eq!(strip_ansi("\u{9b}31mred"), "red");
    assert_eq!(strip_ansi("a\u{0}b\u{7}c\td"), "abc\td");
    assert_eq!(strip_ansi("\u{1b}"), "");
    assert_eq!(strip_ansi("\u{1b}["), "");
    assert_eq!(strip_ansi("\u{1b}]unterminated"), "");
}

#[test]
fn case_insensitive_flag_works() {
    // (?i) with Unicode classes works (the workspace enables regex's unicode-case)
    let pats = Patterns::new("(?i)running", DEFAULT_OFFLINE).unwrap();
    assert_eq!(parse_status("gw : RUNNING\ncore : Offline", &pats).running_count(), 1);
    let pats = Patterns::new(r"(?i)r\w+ing", DEFAULT_OFFLINE).unwrap();
    assert_eq!(parse_status("gw : RÜNNING", &pats).running_count(), 1);
}

#[test]
fn custom_patterns() {
    let pats = Patterns::new(r"\bUP\b", r"\bDOWN\b").unwrap();
    let r = parse_status("gw UP\ncore DOWN\n", &pats);
    assert_eq!(r.offline(), vec!["core"]);
    assert!(Patterns::new("(", "x").unwrap_err().contains("running_pattern"));
    // an empty-matching pattern cannot mark every line
    let pats = Patterns::new(r"x*", DEFAULT_OFFLINE).unwrap();
    assert!(parse_status("gw : Running", &pats).services.is_empty());
}

#[test]
fn arbitrary_input_never_panics() {
    // a cheap deterministic fuzz: byte soup around status words, multibyte characters
    let atoms = [
        "Running", "Offline", " ", "  ", ":", "|", "\u{1b}[", "m", "\r", "\n", "é", "✓", "[", "]", ".", "-", "gw", "\u{9b}", "\t", "=",
        "not ", "\u{0}",
    ];
    let pats = p();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(seed % 24) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(atoms[(seed % atoms.len() as u64) as usize]);
        }
        let r = parse_status(&s, &pats);
        let _ = r.all_running();
        seed = seed.wrapping_add(1);
    }
    let long = "x".repeat(MAX_LINE_CHARS * 3) + " : Running";
    let _ = parse_status(&long, &p());
}
