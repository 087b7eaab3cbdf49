//! Release versions and the one table of in-place upgrade rules (docs/appliance.md,
//! "Later releases"): which versions a release installs on top of.

use std::fmt;

/// `major.minor.patch`; a hotfix number and a build are not part of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ver {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Ver {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Ver {
        Ver { major, minor, patch }
    }

    /// The leading dotted numbers of `4.2`, `4.2.0`, `4.2.0.0 build 18320944`, `v9.0.1`.
    pub fn parse(s: &str) -> Option<Ver> {
        let t = s.trim().trim_start_matches(['v', 'V']);
        let head = t.split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?;
        let mut nums = head.split('.').filter(|p| !p.is_empty()).map(|p| p.parse::<u32>().ok());
        let major = nums.next()??;
        let minor = nums.next().unwrap_or(Some(0))?;
        let patch = nums.next().unwrap_or(Some(0))?;
        Some(Ver { major, minor, patch })
    }

    /// Same release line (major.minor).
    pub fn line(self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// `4.3`, for messages about a release line.
    pub fn short(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for Ver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Where a rule comes from (the marks of docs/appliance.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Doc,
    Guess,
}

/// The sources a release line installs on top of: `[from, until)` (until exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The release line this rule is for: `(4, 6)`; `(9, u32::MAX)` is every 9.x.
    pub line: (u32, u32),
    pub from: Ver,
    pub until: Ver,
    /// The hop needs the access token (`UMA:...`).
    pub token: bool,
    pub mark: Mark,
    /// How the rule reads in a refusal: "on top of 4.3 and later".
    pub says: &'static str,
}

/// The options that replace the rules no one published ([guess]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guesses {
    /// Lowest source of 4.8 (not published; 4.6 and 4.7 say 4.3).
    pub min_source_4_8: Ver,
    /// Lowest 4.x source of 9.x besides 4.8 (not published: only 4.8 is).
    pub min_source_9: Ver,
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses { min_source_4_8: Ver::new(4, 3, 0), min_source_9: Ver::new(4, 8, 0) }
    }
}

const ANY_9: u32 = u32::MAX;
const V4: Ver = Ver::new(4, 0, 0);
const V4_3: Ver = Ver::new(4, 3, 0);
const V5: Ver = Ver::new(5, 0, 0);
const V9: Ver = Ver::new(9, 0, 0);
const V10: Ver = Ver::new(10, 0, 0);

/// Every rule, in one table.
pub fn table(g: Guesses) -> Vec<Rule> {
    let r = |line, from, until, token, mark, says| Rule { line, from, until, token, mark, says };
    vec![
        r((4, 3), Ver::new(4, 1, 0), V4_3, false, Mark::Doc, "from 4.1 or 4.2, by the shar"),
        r((4, 4), V4, V5, false, Mark::Doc, "on top of 4.x"),
        r((4, 5), V4, V5, false, Mark::Doc, "on top of 4.x"),
        r((4, 6), V4_3, V5, false, Mark::Doc, "on top of 4.3 and later"),
        r((4, 7), V4_3, V5, false, Mark::Doc, "on top of 4.3 and later"),
        r((4, 8), g.min_source_4_8, V5, false, Mark::Guess, "on top of min_source_4_8 and later"),
        r((9, ANY_9), Ver::new(4, 8, 0), V5, true, Mark::Doc, "from 4.8, with an access token"),
        r((9, ANY_9), g.min_source_9, Ver::new(4, 8, 0), true, Mark::Guess, "from min_source_9 and later, with an access token"),
        r((9, ANY_9), V9, V10, false, Mark::Doc, "from 9.0 and later (the token is carried over)"),
    ]
}

impl Rule {
    /// The rule as a refusal or the result shows it: `on top of 4.x [doc]`.
    pub fn describe(&self) -> String {
        let mark = match self.mark {
            Mark::Doc => "[doc]",
            Mark::Guess => "[guess]",
        };
        format!("{} {mark}", self.says)
    }
}

fn covers(rule: &Rule, target: Ver) -> bool {
    rule.line == target.line() || (rule.line.1 == ANY_9 && rule.line.0 == target.major)
}

/// The rules for a target release (empty: nothing is published for it).
pub fn rules_for(rules: &[Rule], target: Ver) -> Vec<Rule> {
    rules.iter().filter(|r| covers(r, target)).copied().collect()
}

/// The rule that lets `from` go to `to`, if one does (only upwards).
pub fn allows(rules: &[Rule], from: Ver, to: Ver) -> Option<Rule> {
    if to <= from {
        return None;
    }
    rules_for(rules, to).into_iter().find(|r| r.from <= from && from < r.until)
}

/// The release lines known to the table, as the lowest version of each
/// (`4.3.0`, ..., `9.0.0`): what a refusal may tell the operator to download.
pub fn catalog() -> Vec<Ver> {
    vec![V4_3, Ver::new(4, 4, 0), Ver::new(4, 5, 0), Ver::new(4, 6, 0), Ver::new(4, 7, 0), Ver::new(4, 8, 0), V9]
}
