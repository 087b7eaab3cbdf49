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
use usage_meter::shell::quote;

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

/// Shell: print `rec=<record>` when `path` holds one (appended to the gather command).
pub fn read_cmd(path: &str) -> String {
    let q = quote(path);
    format!("if [ -f {q} ]; then echo \"rec=$(head -c 200 {q} | tr '\\n' ' ')\"; fi")
}

/// The record in the gather output, if any.
pub fn parse_read(stdout: &str) -> Option<Original> {
    stdout.lines().find_map(|l| l.strip_prefix("rec=")).and_then(Original::parse)
}

/// Shell: write the record atomically (private, in a directory made if missing).
pub fn write_cmd(path: &str, o: &Original) -> String {
    let q = quote(path);
    // the quoted path, then `.tmp.$$` unquoted so that the shell's pid expands
    let tmp = format!("{q}.tmp.$$");
    let dir = quote(path.rsplit_once('/').map_or(".", |(d, _)| if d.is_empty() { "/" } else { d }));
    format!("umask 077 && mkdir -p {dir} && printf '%s recorded=%s\\n' {} \"$(date +%s)\" > {tmp} && mv -f {tmp} {q}", quote(&o.line()))
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
        let out = "mgr=systemctl active=active enabled=enabled\nrec=active=no enabled=no recorded=5 \n";
        assert_eq!(parse_read(out), Some(Original { active: false, enabled: Some(false), recorded: Some(5) }));
        assert_eq!(parse_read("mgr=systemctl active=active enabled=enabled\n"), None);
    }

    #[test]
    fn write_is_atomic_and_quoted() {
        let o = Original { active: true, enabled: None, recorded: None };
        let cmd = write_cmd("/var/lib/x y/sshd.original", &o);
        assert!(cmd.starts_with("umask 077 && mkdir -p '/var/lib/x y' && "), "{cmd}");
        assert!(cmd.contains("'active=yes enabled=unknown'"), "{cmd}");
        assert!(
            cmd.ends_with(
                "> '/var/lib/x y/sshd.original'.tmp.$$ && mv -f '/var/lib/x y/sshd.original'.tmp.$$ '/var/lib/x y/sshd.original'"
            ),
            "{cmd}"
        );
        let plain = write_cmd("/var/lib/um/sshd.original", &o);
        assert!(
            plain.ends_with("> /var/lib/um/sshd.original.tmp.$$ && mv -f /var/lib/um/sshd.original.tmp.$$ /var/lib/um/sshd.original"),
            "{plain}"
        );
    }
}
