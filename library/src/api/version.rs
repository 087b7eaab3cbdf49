//! The Usage Meter version through the appliance API (login, `GET
//! /agent_info`, logout), with retries while nothing answers yet: what
//! M(appliance_info) and M(verify) return as `api`.

use super::{AgentInfo, ApiArgs, ApiError, Client, Version};
use crate::protocol::Context;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

fn default_api_retry_delay() -> u64 {
    3
}

/// How long to wait for an appliance API that does not answer yet (flatten
/// into a module's Params next to [`ApiArgs`]).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RetryArgs {
    /// How many more times to try the appliance API while nothing answers
    /// (not listening yet right after a boot, connection refused or timed
    /// out), O(api_retry_delay) seconds apart. Any answer, even a refused
    /// login, ends the tries.
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub api_retries: u32,
    /// Seconds between two tries of the appliance API (see O(api_retries)).
    #[serde(default = "default_api_retry_delay")]
    #[schemars(range(max = 600))]
    pub api_retry_delay: u64,
}

/// What the appliance API said about the version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct ApiRead {
    /// The Usage Meter version as C(major.minor.patch), the form the roles
    /// compare with their target; null when it could not be read.
    #[schemars(extend("x-sample" = "4.3.0", "x-returned" = "always"))]
    pub version: Option<String>,
    /// The version as numbers (C(major), C(minor), C(patch), C(hotfix), C(build)); null when not read.
    #[schemars(extend("x-returned" = "always"))]
    pub version_info: Option<Version>,
    /// Why the version could not be read, and what to do; null when it was
    /// read. Never holds the password or the session id.
    #[schemars(extend(
        "x-sample" = "appliance API um01:8443: login as usagemeter was refused (HTTP 401): wrong api_username or api_password. What to do: check api_username and api_password",
        "x-returned" = "always"
    ))]
    pub error: Option<String>,
    /// Tries made: 1, plus one per retry of O(api_retries) used.
    #[schemars(extend("x-sample" = 1))]
    pub attempts: u32,
    /// The generation of the appliance API, told from its login answer:
    /// C(4) (a session id) or C(9) (a bearer token); null when no login was answered.
    #[schemars(extend("x-sample" = 4, "x-returned" = "always"))]
    pub generation: Option<u8>,
    /// The port the appliance API answered on; null when nothing answered.
    #[schemars(extend("x-sample" = 8443, "x-returned" = "always"))]
    pub port: Option<u16>,
}

/// Which appliance API a task spoke (M(certificates) returns it as `api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ApiUsed {
    /// The generation of the appliance API, told from its login answer: C(4) or C(9).
    #[schemars(extend("x-sample" = 4, "x-returned" = "always"))]
    pub generation: Option<u8>,
    /// The port the appliance API answered on.
    #[schemars(extend("x-sample" = 8443))]
    pub port: u16,
}

impl super::Client {
    /// The generation and port this client spoke.
    pub fn used(&self) -> ApiUsed {
        ApiUsed { generation: self.generation(), port: self.port() }
    }
}

/// Call `attempt` with the number of the try (1, 2, ...) until it succeeds,
/// fails with an answer, or `retries` retries after "no answer" are used up.
/// Returns the last result and the tries made.
pub fn with_retries<T>(retries: u32, mut attempt: impl FnMut(u32) -> Result<T, ApiError>) -> (Result<T, ApiError>, u32) {
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt(tries) {
            Err(e) if e.is_no_answer() && tries <= retries => continue,
            done => return (done, tries),
        }
    }
}

/// An API error as one line for the result: what happened and what to do.
fn explain(e: &ApiError) -> String {
    format!("{e}. What to do: {}", e.hint)
}

/// The version through the appliance API, tried as [`with_retries`] says.
pub fn read_version(host: &str, args: &ApiArgs, retry: &RetryArgs, ctx: &mut Context) -> ApiRead {
    let mut client = match Client::new(host, args, ctx) {
        Ok(c) => c,
        Err(e) => return ApiRead { error: Some(explain(&e)), attempts: 1, ..ApiRead::default() },
    };
    let delay = Duration::from_secs(retry.api_retry_delay);
    let (read, attempts) = with_retries(retry.api_retries, |n| {
        if n > 1 {
            ctx.log(
                2,
                format!(
                    "appliance API {}: no answer yet; try {n} of {} in {}s",
                    client.target(),
                    retry.api_retries + 1,
                    retry.api_retry_delay
                ),
            );
            std::thread::sleep(delay);
        }
        agent_info_once(&mut client, ctx)
    });
    let answered = !matches!(&read, Err(e) if e.is_no_answer());
    let (generation, port) = (client.generation(), answered.then(|| client.port()));
    match read {
        Ok(info) => ApiRead {
            version: Some(format!("{}.{}.{}", info.version.major, info.version.minor, info.version.patch)),
            version_info: Some(info.version),
            error: None,
            attempts,
            generation,
            port,
        },
        Err(e) => ApiRead { error: Some(explain(&e)), attempts, generation, port, ..ApiRead::default() },
    }
}

/// Login, `GET /agent_info`, logout.
fn agent_info_once(client: &mut Client, ctx: &mut Context) -> Result<AgentInfo, ApiError> {
    let info = client.agent_info(ctx);
    client.logout(ctx);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: super::super::ApiErrorKind) -> ApiError {
        ApiError::new(kind, "um1:8443", "x")
    }

    #[test]
    fn retries_wait_out_no_answer_only() {
        use super::super::ApiErrorKind::*;
        // refused twice, then an answer: three tries
        let (r, n) = with_retries(5, |n| if n < 3 { Err(err(Refused)) } else { Ok(n) });
        assert_eq!((r.unwrap(), n), (3, 3));
        // never listening: 1 + retries tries, the last error returned
        let (r, n) = with_retries(2, |_| Err::<(), _>(err(Timeout)));
        assert_eq!((r.unwrap_err().kind, n), (Timeout, 3));
        // an answer, even a refused login, ends it at once
        for kind in [Auth, Http, Tls, Parse, Config, Resolve, Generation] {
            let (r, n) = with_retries(5, |_| Err::<(), _>(err(kind)));
            assert_eq!((r.unwrap_err().kind, n), (kind, 1), "{kind:?}");
        }
        // no retries asked: one try
        assert_eq!(with_retries(0, |_| Err::<(), _>(err(Connect))).1, 1);
    }
}
