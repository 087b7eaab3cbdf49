//! Waiting for the appliance to come back: the backoff between connection
//! attempts, one attempt, the wait for a new boot id, the test command, and
//! the timeout failure that says what was seen.

use crate::{secs, Run};
use std::time::{Duration, Instant};
use usage_meter::ssh::{ConnectionArgs, Ssh, SshError, SshErrorKind};
use usage_meter::{Context, Failure};

// ---------------------------------------------------------------- pure parts

/// Delays between the starts of two connection attempts while waiting: 0.1 s
/// growing by half each time to a 0.25 s cap, so the lag after sshd is back
/// stays small (a refused connection costs next to nothing, and sshd nothing).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Duration::from_millis(100), cap: Duration::from_millis(250) }
    }
}

impl Iterator for Backoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 3 / 2).min(self.cap);
        Some(now)
    }
}

/// Time one attempt may take to connect and to see sshd's banner (then the
/// login has `connect_timeout` per step). Short (1 s) so that an
/// attempt lost while the link was down does not delay noticing the
/// appliance; every 5th attempt after consecutive timeouts gets the full
/// `connect_timeout`, so a link slower than 1 s round trip still gets through.
pub fn probe_timeout(consecutive_timeouts: u32, connect_timeout: Duration) -> Duration {
    let short = Duration::from_secs(1).min(connect_timeout);
    if consecutive_timeouts > 0 && consecutive_timeouts % 5 == 0 {
        connect_timeout
    } else {
        short
    }
}

/// What was seen while waiting, for the timeout message.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// A connection attempt failed at least once (the appliance went away).
    pub went_down: bool,
    /// The old boot id answered after the reboot was issued, this many times.
    pub old_boot_answers: u32,
    /// The last connection error and when (seconds after the reboot was issued).
    pub last_error: Option<(SshError, f64)>,
    /// Outcome of the reboot command, if it was read back.
    pub reboot_rc: Option<i32>,
    pub sshd_enabled: Option<bool>,
}

/// The timeout failure: what was seen and what to do.
pub fn timeout_failure(timeout: u64, seen: &Seen) -> Failure {
    let last =
        seen.last_error.as_ref().map(|(e, at)| format!("; last connection error ({at:.1} s after the reboot was issued): {}", e.detail));
    let (state, hint) = if !seen.went_down && seen.old_boot_answers > 0 {
        (
            "it never went down: SSH kept answering with the boot id from before".to_string(),
            "the reboot command did not take effect: run it on the appliance console, or set reboot_command \
             to one that works there (check the reboot command's result with -vvv)"
                .to_string(),
        )
    } else {
        let refused = matches!(seen.last_error.as_ref().map(|(e, _)| e.kind), Some(SshErrorKind::Refused));
        let mut hint = String::new();
        if refused {
            hint.push_str(
                "the appliance answers but sshd is not listening: if sshd is not enabled at boot it does not come back after a reboot; \
                 open the appliance's console in vCenter and run `service sshd start` as root, then run the play again. ",
            );
        } else {
            hint.push_str(
                "open the appliance's console in vCenter to see whether it is still booting, stuck or powered off; \
                 raise reboot_timeout if it is only slow. ",
            );
        }
        hint.push_str("If it does not boot, revert it to the snapshot taken before the upgrade");
        ("it has not answered SSH with a new boot id".to_string(), hint)
    };
    let mut msg = format!("the appliance did not come back within {timeout} s: {state}");
    if let Some(l) = last {
        msg.push_str(&l);
    }
    if seen.sshd_enabled == Some(false) {
        msg.push_str("; sshd was not enabled at boot before the reboot");
    }
    let mut f = Failure::new("wait for reboot", msg).hint(hint).with("rebooted", false);
    if let Some((e, _)) = &seen.last_error {
        f = f.with("last_error", e.to_string());
    }
    f
}

// ---------------------------------------------------------------- remote parts

/// A connection attempt's result while waiting.
enum Attempt {
    /// Back, with this boot id (and the connection's warning, if any).
    Up(Ssh, String, Option<String>),
    /// Not reachable yet.
    NotYet(SshError),
}

/// One attempt over one connection: wait at most `probe` for sshd's banner
/// (`Ssh::connect_when_answering`: a port forward that accepts and resets,
/// or a firewall that drops, counts as "not yet"), then log in and read the
/// boot id. A refused port costs sshd nothing; the login happens only once
/// the banner is there.
fn attempt(args: &ConnectionArgs, probe: Duration) -> Attempt {
    let full = Duration::from_secs(args.connect_timeout);
    match Ssh::connect_when_answering(args, probe, full) {
        Ok((ssh, warning)) => match ssh.boot_id() {
            Ok(id) if !id.is_empty() => Attempt::Up(ssh, id, warning),
            Ok(_) => Attempt::NotYet(SshError::new(SshErrorKind::Other, &args.label(), "empty boot id")),
            Err(e) => Attempt::NotYet(e),
        },
        Err(e) => Attempt::NotYet(e),
    }
}

impl Run<'_> {
    /// Wait until SSH answers with a new boot id; returns that session and
    /// the id. While `held` (a session to the old boot) answers, it is
    /// watched instead of connecting: no login until the old boot is gone.
    pub(crate) fn wait_for_new_boot(&mut self, ctx: &mut Context, mut held: Option<Ssh>) -> Result<(Ssh, String), Failure> {
        let p = self.p;
        let mut backoff = Backoff::default();
        let mut timeouts_in_a_row = 0u32;
        loop {
            let started = Instant::now();
            if let Some(s) = held.take() {
                if self.check_reboot_outcome(ctx, &s)? {
                    self.seen.old_boot_answers += 1;
                    held = Some(s);
                } else {
                    ctx.log(2, "the session to the old boot ended");
                    self.seen.went_down = true;
                }
            } else {
                let probe = probe_timeout(timeouts_in_a_row, Duration::from_secs(p.connection.connect_timeout));
                match attempt(&p.connection, probe) {
                    Attempt::Up(s, id, warning) if id != self.before => {
                        usage_meter::ssh::warn_once(ctx, warning);
                        return Ok((s, id));
                    }
                    Attempt::Up(s, _, _) => {
                        self.seen.old_boot_answers += 1;
                        timeouts_in_a_row = 0;
                        held = Some(s);
                    }
                    Attempt::NotYet(e) => self.not_yet(ctx, e, &mut timeouts_in_a_row)?,
                }
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(timeout_failure(p.reboot_timeout, &self.seen)
                    .with("boot_id_before", self.before.clone())
                    .with("elapsed", secs(self.issued_at.elapsed())));
            }
            // Sleep only what is left of the backoff step: an attempt that timed out has waited already.
            let step = backoff.next().unwrap_or(Duration::from_millis(250));
            let wake = (started + step).min(self.deadline);
            if wake > now {
                std::thread::sleep(wake - now);
            }
        }
    }

    /// A failed attempt: "not yet", or a real error (a refused login, a changed host key).
    fn not_yet(&mut self, ctx: &mut Context, e: SshError, timeouts_in_a_row: &mut u32) -> Result<(), Failure> {
        if e.kind.is_fatal() && self.seen.went_down {
            let at = secs(self.issued_at.elapsed());
            return Err(Failure::new(
                "wait for reboot",
                format!(
                    "the appliance is back ({at} s after the reboot was issued) but refuses the SSH session: {}: {}",
                    e.target, e.detail
                ),
            )
            .hint(e.hint.clone())
            .with("rebooted", true)
            .with("boot_id_before", self.before.clone()));
        }
        if e.kind.is_fatal() {
            return Err(e.into_failure("wait for reboot"));
        }
        ctx.log(2, format!("not yet: {e}"));
        self.seen.went_down = true;
        *timeouts_in_a_row = if e.kind == SshErrorKind::Timeout { *timeouts_in_a_row + 1 } else { 0 };
        self.seen.last_error = Some((e, secs(self.issued_at.elapsed())));
        Ok(())
    }

    /// The test command, retried until the deadline (reconnecting when
    /// needed); returns the session it passed on.
    pub(crate) fn test_command(&self, ctx: &mut Context, ssh: Ssh, after: &str) -> Result<Option<Ssh>, Failure> {
        let p = self.p;
        let mut session = Some(ssh);
        let mut last_problem = String::new();
        let mut test_backoff = Backoff { next: Duration::from_millis(500), cap: Duration::from_secs(2) };
        loop {
            if session.is_none() {
                match Ssh::connect_quiet(&p.connection, Duration::from_secs(p.connection.connect_timeout)) {
                    Ok((s, warning)) => {
                        usage_meter::ssh::warn_once(ctx, warning);
                        session = Some(s);
                    }
                    Err(e) if e.kind.is_fatal() => return Err(e.into_failure("test command")),
                    Err(e) => last_problem = e.to_string(),
                }
            }
            if let Some(s) = &session {
                let left = self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(10));
                match s.exec(&p.test_command, left) {
                    Ok(o) if o.ok() => return Ok(session),
                    Ok(o) => {
                        last_problem = format!(
                            "`{}` exited with {}: {}",
                            p.test_command,
                            o.rc.map_or("no exit status".into(), |r| r.to_string()),
                            o.tail(5).join(" | ")
                        );
                    }
                    Err(e) if e.kind.is_fatal() => return Err(e.into_failure("test command")),
                    Err(e) => {
                        last_problem = e.to_string();
                        session = None;
                    }
                }
            }
            if Instant::now() >= self.deadline {
                return Err(Failure::new(
                    "test command",
                    format!("the appliance is back (boot id {after}) but the test command did not succeed within reboot_timeout: {last_problem}"),
                )
                .hint("check the appliance on its console; fix test_command if it cannot succeed there")
                .with("rebooted", true)
                .with("boot_id_before", self.before.clone())
                .with("boot_id_after", after.to_string()));
            }
            std::thread::sleep(test_backoff.next().unwrap_or(Duration::from_secs(1)));
        }
    }
}
