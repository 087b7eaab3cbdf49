//! The one failure type of every module: it names the step, what was seen and
//! what to do; the runner adds the host. Extra fields (rc, log paths, output
//! tails) travel with it into the result.

use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone)]
pub struct Failure {
    /// The step of the procedure that failed, e.g. `connect`, `upload`.
    pub step: String,
    /// What was seen.
    pub msg: String,
    /// What the user should do about it.
    pub hint: Option<String>,
    /// Extra result fields (e.g. `rc`, `stdout_lines`, `upgrade_log`).
    pub data: Map<String, Value>,
}

impl Failure {
    pub fn new(step: impl Into<String>, msg: impl Into<String>) -> Self {
        Failure { step: step.into(), msg: msg.into(), hint: None, data: Map::new() }
    }

    /// Attach the advice shown after the message.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attach an extra result field.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// A failure from an `anyhow` chain, rendered as `outer: inner: ...`.
    pub fn from_error(step: impl Into<String>, err: &anyhow::Error) -> Self {
        Failure::new(step, format!("{err:#}"))
    }

    /// The message shown to the user: `host H, step S: what. What to do: hint`.
    pub fn render(&self, host: Option<&str>) -> String {
        let mut out = match host {
            Some(h) if !h.is_empty() => format!("host {h}, step '{}': {}", self.step, self.msg),
            _ => format!("step '{}': {}", self.step, self.msg),
        };
        if let Some(hint) = &self.hint {
            if !out.ends_with('.') {
                out.push('.');
            }
            out.push_str(" What to do: ");
            out.push_str(hint);
        }
        out
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(None))
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn render_names_host_step_and_advice() {
        let f = Failure::new("connect", "connection refused").hint("start sshd on the console");
        assert_eq!(f.render(Some("um1")), "host um1, step 'connect': connection refused. What to do: start sshd on the console");
        assert_eq!(f.render(None), "step 'connect': connection refused. What to do: start sshd on the console");
    }
}
