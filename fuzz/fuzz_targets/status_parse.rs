//! The verify module's parser of `scripts/status.sh` output
//! (`um_verify::status::parse_status`), which reads whatever the appliance
//! prints: ANSI sequences, carriage returns, binary garbage, huge lines.
//! Any input must give a report, never a panic, and the report must be sane.
//!
//! Input: the status output, parsed with the default patterns, and again with
//! one of a few fixed user pattern pairs (chosen by the first byte): custom
//! words, a pattern that matches the empty string, overlapping patterns. The
//! patterns are fixed on purpose: fuzzing the regex compiler is not our job and
//! costs most of the speed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use um_verify::status::{parse_status, strip_ansi, Patterns, StatusReport, OFFLINE, RUNNING};

static DEFAULTS: OnceLock<Patterns> = OnceLock::new();
static CUSTOM: OnceLock<Vec<Patterns>> = OnceLock::new();

/// (running_pattern, offline_pattern) pairs a user could set.
const PAIRS: &[(&str, &str)] = &[
    (r"\bUP\b", r"\bDOWN\b"),
    (r"x*", r"(?i)\boffline\b"),
    (r"(?i)running", r"(?i)running"),
    (r"(?i)\b(?:ok|active|running)\b", r"(?i)\b(?:not ok|inactive|down)\b"),
    (r"✓", r"✗"),
    (r"^\S+\s*$", r":"),
];

fn sane(out: &str, r: &StatusReport) {
    for (name, status) in &r.services {
        assert!(status == RUNNING || status == OFFLINE, "status {status:?}");
        assert!(!name.trim().is_empty(), "empty service name from {out:?}");
        assert_eq!(name.trim(), name, "untrimmed service name");
    }
    assert!(r.lines.len() <= out.lines().count() + out.matches('\r').count() + 1);
    for l in &r.lines {
        assert!(!l.is_empty() && !l.contains('\n'));
        assert!(!l.chars().any(|c| c.is_control() && c != '\t'), "control character left in {l:?}");
    }
    let offline = r.offline();
    assert_eq!(r.all_running(), r.running_count() > 0 && offline.is_empty());
    assert_eq!(offline.len() + r.running_count(), r.services.len());
}

fuzz_target!(|data: &[u8]| {
    let defaults = DEFAULTS.get_or_init(|| Patterns::defaults().unwrap_or_else(|e| panic!("default patterns: {e}")));
    let custom = CUSTOM.get_or_init(|| {
        PAIRS.iter().map(|(r, o)| Patterns::new(r, o).unwrap_or_else(|e| panic!("pattern pair: {e}"))).collect()
    });
    let text = String::from_utf8_lossy(data);
    let r = parse_status(&text, defaults);
    sane(&text, &r);
    // stripping is idempotent (no sequence is half-removed into a new one)
    let once = strip_ansi(&text);
    assert_eq!(strip_ansi(&once), once);

    if let Some(&first) = data.first() {
        let r = parse_status(&text, &custom[usize::from(first) % custom.len()]);
        sane(&text, &r);
    }
});
