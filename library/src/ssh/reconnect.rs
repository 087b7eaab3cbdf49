//! One connection to the appliance, made again when it drops: long steps
//! (a GB copy, an hour-long upgrade) must survive a cut connection.

use super::error::{SshError, SshErrorKind};
use super::exec::ExecOutput;
use super::{ConnectionArgs, Ssh};
use crate::protocol::Context;
use std::time::{Duration, Instant};

/// A lazily (re)connected session.
#[derive(Debug)]
pub struct Reconnecting<'a> {
    args: &'a ConnectionArgs,
    ssh: Option<Ssh>,
    /// Warnings of the connections made here (host key not verified), for `flush_warnings`.
    warnings: Vec<String>,
}

impl<'a> Reconnecting<'a> {
    /// Start from an existing session (or none).
    pub fn new(args: &'a ConnectionArgs, ssh: Option<Ssh>) -> Self {
        Reconnecting { args, ssh, warnings: Vec::new() }
    }

    /// The session, connecting first if there is none.
    pub fn get(&mut self) -> Result<&Ssh, SshError> {
        if self.ssh.is_none() {
            let (s, warning) = Ssh::connect_quiet(self.args, Duration::from_secs(self.args.connect_timeout))?;
            if let Some(w) = warning {
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
            self.ssh = Some(s);
        }
        self.ssh.as_ref().ok_or_else(|| SshError::new(SshErrorKind::Other, &self.args.label(), "no connection"))
    }

    /// Hand the reconnects' warnings to the module's output (once each).
    pub fn flush_warnings(&mut self, ctx: &mut Context) {
        for w in self.warnings.drain(..) {
            super::session::warn_once(ctx, Some(w));
        }
    }

    /// Forget the session (it was cut); the next `get` connects again.
    pub fn forget(&mut self) {
        self.ssh = None;
    }

    pub fn is_connected(&self) -> bool {
        self.ssh.is_some()
    }

    /// Drop the session and connect again, with backoff from `first_wait`
    /// (doubling, at most 5 s), while errors are transient and `deadline` is ahead.
    pub fn reconnect(&mut self, first_wait: Duration, deadline: Instant) -> Result<(), SshError> {
        self.forget();
        let mut wait = first_wait;
        loop {
            std::thread::sleep(wait);
            match self.get() {
                Ok(_) => return Ok(()),
                Err(e) if e.is_transient() && Instant::now() < deadline => wait = (wait * 2).min(Duration::from_secs(5)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Run `cmd`, reconnecting on transient errors (or a channel closed
    /// without an exit status: the connection was cut) until `deadline`.
    pub fn exec_retry(&mut self, ctx: &Context, cmd: &str, timeout: Duration, deadline: Instant) -> Result<ExecOutput, SshError> {
        let mut wait = Duration::from_millis(250);
        loop {
            match self.get().and_then(|s| s.exec(cmd, timeout)) {
                Ok(o) if o.rc.is_some() => return Ok(o),
                Ok(_) if Instant::now() < deadline => self.forget(),
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    ctx.log(1, format!("connection lost ({e}); reconnecting"));
                    self.forget();
                }
                Ok(o) => return Ok(o),
                Err(e) => return Err(e),
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }
}
