//! Parsing the output of `scripts/status.sh` without knowing its exact format.
//!
//! The 4.3 documentation only says that healthy services say `Running` and a
//! failed one says `Offline` [doc]; the line format and the exit code are not
//! published [guess]. So the parser is deliberately tolerant: it strips ANSI
//! colours and carriage-return overwrites, reads one service per line, ignores
//! headers, rulers, blank lines and prose, and accepts the name before the
//! status (`gw : Running`, `gw   Running`, `| gw | Running |`, `gw is running`,
//! `[ OK ] gw Running`) or after it (`Offline  vcdCol`). It errs towards
//! safety: a line whose status reads Offline is reported Offline even when no
//! service name can be made out of it.
//!
//! Everything here is pure and total: any input (binary garbage included)
//! gives a report, never a panic.

use regex::Regex;
use std::collections::BTreeMap;

/// Longest service name accepted, in characters.
const MAX_NAME_CHARS: usize = 80;
/// A name with more words than this is prose, not a service.
const MAX_NAME_WORDS: usize = 4;
/// Lines longer than this are cut before parsing (bounded work per line).
const MAX_LINE_CHARS: usize = 4096;

/// The canonical status strings returned to the user.
pub const RUNNING: &str = "Running";
pub const OFFLINE: &str = "Offline";

/// What the status output says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    /// Service name → `Running` or `Offline`.
    pub services: BTreeMap<String, String>,
    /// The cleaned output (colours and control characters removed), one entry per non-empty line.
    pub lines: Vec<String>,
}

impl StatusReport {
    /// Names of the services that are not Running, sorted.
    pub fn offline(&self) -> Vec<String> {
        self.services.iter().filter(|(_, s)| s.as_str() != RUNNING).map(|(n, _)| n.clone()).collect()
    }
    pub fn running_count(&self) -> usize {
        self.services.values().filter(|s| s.as_str() == RUNNING).count()
    }
    /// At least one service Running and none Offline.
    pub fn all_running(&self) -> bool {
        self.running_count() > 0 && self.offline().is_empty()
    }
}

/// The two status patterns, compiled.
#[derive(Debug, Clone)]
pub struct Patterns {
    pub running: Regex,
    pub offline: Regex,
}

/// Default regex for a healthy service: the word "running" in any case.
pub const DEFAULT_RUNNING: &str = r"(?i)\brunning\b";
/// Default regex for a failed service: "offline" and a few synonyms, in any case.
pub const DEFAULT_OFFLINE: &str = r"(?i)\b(?:offline|not[ _-]?running|stopped|failed|inactive|dead)\b";

/// Compile one pattern; the error names the option.
pub fn compile(option: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("{option} is not a valid regular expression: {e}"))
}

impl Patterns {
    /// Compile user patterns; the error names the option.
    pub fn new(running: &str, offline: &str) -> Result<Patterns, String> {
        Ok(Patterns { running: compile("running_pattern", running)?, offline: compile("offline_pattern", offline)? })
    }

    /// The defaults (see [`DEFAULT_RUNNING`], [`DEFAULT_OFFLINE`]).
    pub fn defaults() -> Result<Patterns, String> {
        Patterns::new(DEFAULT_RUNNING, DEFAULT_OFFLINE)
    }
}

/// Remove ANSI escape sequences (CSI, OSC, two-byte escapes, 8-bit CSI) and
/// other control characters except tab; a carriage return keeps only what was
/// written after it, as a terminal would show it.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.next() {
                // CSI: parameters and intermediates, then one final byte 0x40..=0x7e
                Some('[') => {
                    for d in it.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&d) {
                            break;
                        }
                    }
                }
                // OSC / DCS / APC / PM / SOS: up to BEL or ESC \
                Some(']' | 'P' | '_' | '^' | 'X') => {
                    while let Some(d) = it.next() {
                        if d == '\u{7}' {
                            break;
                        }
                        if d == '\u{1b}' {
                            if it.peek() == Some(&'\\') {
                                it.next();
                            }
                            break;
                        }
                    }
                }
                // charset designation: ESC ( B and friends take one more character
                Some('(' | ')' | '*' | '+' | '#' | '%') => {
                    it.next();
                }
                _ => {}
            },
            '\u{9b}' => {
                for d in it.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&d) {
                        break;
                    }
                }
            }
            '\r' => {
                // "progress\rgw : Running" shows as "gw : Running"; a trailing \r (CRLF) changes nothing
                if it.peek().is_some_and(|n| *n != '\n') {
                    let line_start = out.rfind('\n').map_or(0, |i| i + 1);
                    out.truncate(line_start);
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Parse the whole output of the status command.
pub fn parse_status(output: &str, patterns: &Patterns) -> StatusReport {
    let mut report = StatusReport::default();
    for raw in strip_ansi(output).lines() {
        let line: String = raw.chars().take(MAX_LINE_CHARS).collect();
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        report.lines.push(line.to_string());
        if let Some((name, status)) = parse_line(line, patterns) {
            match report.services.get(&name) {
                // a service listed twice: Offline wins
                Some(prev) if prev.as_str() == OFFLINE => {}
                _ => {
                    report.services.insert(name, status.to_string());
                }
            }
        }
    }
    report
}

/// One cleaned line → (service name, canonical status), or `None` for
/// headers, rulers, prose and lines without a status word.
pub fn parse_line(line: &str, patterns: &Patterns) -> Option<(String, &'static str)> {
    let run = patterns.running.find(line).filter(|m| !m.as_str().is_empty());
    let off = patterns.offline.find(line).filter(|m| !m.as_str().is_empty());
    // The earliest status word decides ("gw : Offline (was Running)");
    // on a tie (overlapping patterns) Offline wins.
    let (m, status) = match (run, off) {
        (None, None) => return None,
        (Some(r), None) => (r, RUNNING),
        (None, Some(o)) => (o, OFFLINE),
        (Some(r), Some(o)) => {
            if o.start() <= r.start() {
                (o, OFFLINE)
            } else {
                (r, RUNNING)
            }
        }
    };
    let before = &line[..m.start()];
    let after = &line[m.end()..];
    let name = name_before(before).or_else(|| if before.trim().is_empty() { name_after(after) } else { None });
    match (name, status) {
        (Some(n), s) => Some((n, s)),
        (None, OFFLINE) => Some((fallback_name(line), OFFLINE)),
        (None, _) => None,
    }
}

/// Words that surround a name in prose-like formats ("Service gw is running").
const LEADING_FILLER: &[&str] = &["service", "services", "the", "svc", "component"];
const TRAILING_FILLER: &[&str] = &["is", "are", "was", "status", "state", "currently", "now", "service"];

fn is_explicit_sep(c: char) -> bool {
    matches!(c, ':' | '|' | '=' | '\t' | '│' | '┃' | '→' | '>')
}

/// Split at explicit separators: `:`, `|`, `=`, tab, a run of 2+ spaces, a
/// dotted leader (`...`), or a ` - ` dash.
fn fields(s: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut explicit = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev = if i > 0 { chars.get(i - 1).copied() } else { None };
        let sep = is_explicit_sep(c)
            || (c == ' ' && next == Some(' '))
            || (c == '.' && next == Some('.'))
            || (matches!(c, '-' | '–' | '—') && prev == Some(' ') && matches!(next, None | Some(' ')));
        if sep {
            explicit = true;
            push_field(&mut out, &cur);
            cur.clear();
        } else {
            cur.push(c);
        }
        i += 1;
    }
    push_field(&mut out, &cur);
    (out, explicit)
}

/// Keep a field only when it has something besides punctuation.
fn push_field(out: &mut Vec<String>, cur: &str) {
    if cur.chars().any(char::is_alphanumeric) {
        out.push(cur.trim().to_string());
    }
}

/// Remove `[ OK ]`-style bracketed tags.
fn drop_bracket_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The words of a candidate name, without decorations and filler words.
fn name_words(field: &str) -> Vec<String> {
    let mut words: Vec<String> = field
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '(' | ')' | '/' | '@' | '.' | '-'))))
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | '-')))
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(str::to_string)
        .collect();
    while words.len() > 1 && words.last().is_some_and(|w| TRAILING_FILLER.contains(&w.to_ascii_lowercase().as_str())) {
        words.pop();
    }
    while words.len() > 1 && words.first().is_some_and(|w| LEADING_FILLER.contains(&w.to_ascii_lowercase().as_str())) {
        words.remove(0);
    }
    words
}

fn valid_name(words: &[String], explicit: bool) -> Option<String> {
    if words.is_empty() || words.len() > MAX_NAME_WORDS || (!explicit && words.len() > 1) {
        return None;
    }
    let name = words.join(" ");
    let lower = name.to_ascii_lowercase();
    // a header cell, not a service
    if matches!(lower.as_str(), "status" | "state" | "service" | "services" | "name" | "is" | "are") {
        return None;
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return None;
    }
    Some(name)
}

/// The name in the text before the status word: the last field.
fn name_before(before: &str) -> Option<String> {
    let cleaned = drop_bracket_tags(before);
    let (fs, explicit) = fields(&cleaned);
    let last = fs.last()?;
    valid_name(&name_words(last), explicit)
}

/// The name in the text after the status word: the first field ("Offline  vcdCol").
fn name_after(after: &str) -> Option<String> {
    let cleaned = drop_bracket_tags(after);
    let (fs, explicit) = fields(&cleaned);
    let first = fs.first()?;
    // only a single, clearly separated word: "Running since 10:00" is not a name
    let words = name_words(first);
    if words.len() != 1 || !(explicit || fs.len() == 1) {
        return None;
    }
    valid_name(&words, true)
}

fn fallback_name(line: &str) -> String {
    let s: String = line.chars().take(MAX_NAME_CHARS).collect();
    s.trim().to_string()
}

#[cfg(test)]
mod tests;
