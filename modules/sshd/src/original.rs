//! The record of how sshd was before a play first changed it, kept on the
//! appliance (`original_file`), so that a play run again after an interrupted
//! one (a killed controller, a lost connection) still knows what to put back:
//! the interrupted run's changes are no guide to that.
//!
//! One line of `key=value`: `active=yes enabled=no recorded=<unix time>`.
//! The first record wins; the task that puts sshd back (`forget_original`)
//! removes it.

use schemars::JsonSchema;
use serde::Serialize;
use usage_meter::reply::Reply;
use usage_meter::shell::{quote, Script};

const WRITE_SH: &str = include_str!("remote/write.sh");

/// sshd's state before the first change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Original {
    /// Whether sshd was running.
    pub active: bool,
    /// Whether sshd started at boot; null when it was not known.
    pub enabled: Option<bool>,
    /// Unix time (appliance clock) the record was written; null when it was not written.
    pub recorded: Option<u64>,
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl Original {
    /// The record's line, without `recorded=` (the appliance adds its own clock).
    pub fn line(&self) -> String {
        format!("active={} enabled={}", yes_no(self.active), self.enabled.map_or("unknown", yes_no))
    }

    /// Parse a record; `None` when it is not one (a damaged record is ignored, not trusted).
    pub fn parse(text: &str) -> Option<Original> {
        let (mut active, mut enabled, mut recorded) = (None, None, None);
        for kv in text.split_whitespace() {
            match kv.split_once('=')? {
                ("active", "yes") => active = Some(true),
                ("active", "no") => active = Some(false),
                ("enabled", "yes") => enabled = Some(Some(true)),
                ("enabled", "no") => enabled = Some(Some(false)),
                ("enabled", "unknown") => enabled = Some(None),
                ("recorded", t) => recorded = t.parse().ok(),
                _ => {}
            }
        }
        Some(Original { active: active?, enabled: enabled?, recorded })
    }
}

/// The original state in effect, and where it comes from: the record found
/// (`record`), else `fallback`, which is written first when the task changes
/// sshd and does not end the record (`recorded`), and only reported otherwise (`found`).
pub fn resolve(found: Option<Original>, fallback: Original, changes: bool, forget: bool) -> (Original, &'static str) {
    match found {
        Some(rec) => (rec, "record"),
        None if changes && !forget => (fallback, "recorded"),
        None => (fallback, "found"),
    }
}

/// The record in the gather output, if any.
pub fn parse_read(stdout: &str) -> Option<Original> {
    Reply::parse(stdout).section("record")?.lines.first().and_then(|l| Original::parse(l))
}

/// Shell: write the record atomically (private, in a directory made if missing).
pub fn write_cmd(path: &str, o: &Original) -> String {
    Script::new(&[WRITE_SH]).env("UM_RECORD", path).env("UM_LINE", o.line()).command()
}

/// Shell: remove the record.
pub fn remove_cmd(path: &str) -> String {
    format!("rm -f {}", quote(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let o = Original { active: false, enabled: Some(false), recorded: None };
        assert_eq!(o.line(), "active=no enabled=no");
        let back = Original::parse("active=no enabled=no recorded=1700000000").expect("record");
        assert_eq!(back, Original { recorded: Some(1_700_000_000), ..o });
        assert_eq!(Original::parse("active=yes enabled=unknown").map(|o| o.enabled), Some(None));
        assert_eq!(Original::parse("active=maybe enabled=no"), None);
        assert_eq!(Original::parse("enabled=no"), None);
        assert_eq!(Original::parse(""), None);
    }

    #[test]
    fn the_first_record_wins_and_only_a_change_writes_one() {
        let rec = Original { active: false, enabled: Some(false), recorded: Some(5) };
        let now = Original { active: true, enabled: Some(true), recorded: None };
        assert_eq!(resolve(Some(rec.clone()), now.clone(), true, false), (rec.clone(), "record"));
        assert_eq!(resolve(Some(rec.clone()), now.clone(), true, true), (rec, "record"));
        assert_eq!(resolve(None, now.clone(), true, false), (now.clone(), "recorded"));
        assert_eq!(resolve(None, now.clone(), false, false), (now.clone(), "found"));
        assert_eq!(resolve(None, now.clone(), true, true), (now, "found"));
    }

    #[test]
    fn finds_the_record_in_the_gather_output() {
        let out = "mgr=systemctl\nactive=active\nenabled=enabled\n@@record\nactive=no enabled=no recorded=5 \n@@end\n";
        assert_eq!(parse_read(out), Some(Original { active: false, enabled: Some(false), recorded: Some(5) }));
        assert_eq!(parse_read("mgr=systemctl\nactive=active\nenabled=enabled\n@@end\n"), None);
    }

    #[test]
    fn write_and_gather_work_locally() {
        let dir = std::env::temp_dir().join(format!("um-sshd-orig-{}", std::process::id()));
        let f = dir.join("x y").join("sshd.original");
        let fs = f.to_str().unwrap();
        let o = Original { active: true, enabled: None, recorded: None };
        let sh = |c: &str| std::process::Command::new("sh").arg("-c").arg(c).output().unwrap();
        assert!(sh(&write_cmd(fs, &o)).status.success());
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("active=yes enabled=unknown recorded=") && text.ends_with('\n'), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o077, 0);
        assert_eq!(std::fs::read_dir(f.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
        let out = String::from_utf8(sh(&crate::gather_cmd("sshd", Some(fs))).stdout).unwrap();
        assert!(out.starts_with("mgr="), "{out}");
        assert_eq!(parse_read(&out).map(|r| (r.active, r.enabled, r.recorded.is_some())), Some((true, None, true)));
        let out = String::from_utf8(sh(&crate::gather_cmd("sshd", None)).stdout).unwrap();
        assert_eq!(parse_read(&out), None);
        assert!(sh(&remove_cmd(fs)).status.success() && !f.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
