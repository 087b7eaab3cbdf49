//! Whether the services are healthy: one check (every service Running, and
//! exit code 0 with check_rc), why not, and the settle window over consecutive checks.

use crate::status::{self, StatusReport};
use std::time::{Duration, Instant};

/// Whether one run counts as healthy.
pub fn healthy(report: &StatusReport, rc: Option<i32>, check_rc: bool) -> bool {
    report.all_running() && (!check_rc || rc == Some(0))
}

/// Why the services are not healthy, for the failure message.
pub fn problem(report: &StatusReport, rc: Option<i32>, check_rc: bool, command: &str) -> String {
    let offline = report.offline();
    if !offline.is_empty() {
        return format!("{} of {} services not Running: {}", offline.len(), report.services.len(), offline.join(", "));
    }
    if report.running_count() == 0 {
        return format!("no line of the output of `{command}` reads as a service status (Running or Offline)");
    }
    if check_rc && rc != Some(0) {
        return format!("`{command}` exited with {} (check_rc is on)", rc.map_or("no exit status".into(), |r| r.to_string()));
    }
    "unknown".into()
}

/// The settle window: healthy means every service Running in at least
/// `polls` consecutive checks, the first and the last at least `window` apart.
/// Also remembers the services seen Running and later not Running.
#[derive(Debug, Clone)]
pub struct Settle {
    pub polls: u32,
    pub window: Duration,
    /// Consecutive healthy checks so far, and when the first of them ran.
    pub streak: u32,
    since: Option<Instant>,
    settled: bool,
    /// What settled it: `window` (the consecutive checks) or `service manager` (the units' evidence).
    pub by: Option<&'static str>,
    seen_running: std::collections::BTreeSet<String>,
    flapping: std::collections::BTreeSet<String>,
}

impl Settle {
    pub fn new(polls: u32, window: Duration) -> Self {
        Settle {
            polls: polls.max(1),
            window,
            streak: 0,
            since: None,
            settled: false,
            by: None,
            seen_running: Default::default(),
            flapping: Default::default(),
        }
    }

    /// One check's report; true once the window is complete.
    pub fn observe(&mut self, report: &StatusReport, ok: bool, now: Instant) -> bool {
        for (name, st) in &report.services {
            if st == status::RUNNING {
                self.seen_running.insert(name.clone());
            } else if self.seen_running.contains(name) {
                self.flapping.insert(name.clone());
            }
        }
        if !ok {
            self.broken();
            return false;
        }
        let since = *self.since.get_or_insert(now);
        self.streak += 1;
        self.settled = self.streak >= self.polls && now.duration_since(since) >= self.window;
        self.by = self.settled.then_some("window");
        self.settled
    }

    /// The service manager says every unit has been up for the window: settled now.
    pub fn settle_on_evidence(&mut self) {
        self.settled = true;
        self.by = Some("service manager");
    }

    /// The service manager can tell and says not yet: the checks alone do not settle it.
    pub fn overrule(&mut self) {
        self.settled = false;
        self.by = None;
    }

    /// A check that failed or could not run ends the streak.
    pub fn broken(&mut self) {
        self.streak = 0;
        self.since = None;
        self.settled = false;
        self.by = None;
    }

    pub fn is_settled(&self) -> bool {
        self.settled
    }

    pub fn flapping(&self) -> Vec<String> {
        self.flapping.iter().cloned().collect()
    }
}
