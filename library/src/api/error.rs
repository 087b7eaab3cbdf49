//! Classified API errors: every one names the appliance and says what to do.

use crate::error::Failure;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// A bad option value found before any request (ca_path unreadable, no password).
    Config,
    /// The name did not resolve.
    Resolve,
    /// Nothing listens on the API port.
    Refused,
    /// No answer in time.
    Timeout,
    /// Any other network failure (reset, unreachable, closed).
    Connect,
    /// The TLS handshake failed: untrusted, expired or misnamed certificate.
    Tls,
    /// `POST /login` refused the credentials (401/403).
    Auth,
    /// The session was refused again right after a fresh login.
    SessionExpired,
    /// An unexpected HTTP status (with the API's errCode/message if any).
    Http,
    /// The response was not the JSON we expected.
    Parse,
    /// The login answered as the other API generation than `api_generation` forced.
    Generation,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    /// `host:port` of the appliance API.
    pub target: String,
    pub detail: String,
    pub hint: String,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The API's `errCode`, when the body had one.
    pub err_code: Option<String>,
}

impl ApiError {
    pub fn new(kind: ApiErrorKind, target: &str, detail: impl Into<String>) -> Self {
        ApiError { kind, target: target.to_string(), detail: detail.into(), hint: default_hint(kind, target), status: None, err_code: None }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    #[must_use]
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Whether nothing answered (the API not listening yet, or not
    /// reachable): worth trying again while the appliance starts. Any HTTP
    /// answer, even 401, is not.
    pub fn is_no_answer(&self) -> bool {
        matches!(self.kind, ApiErrorKind::Refused | ApiErrorKind::Timeout | ApiErrorKind::Connect)
    }

    /// Whether nothing accepts connections on the port (refused, or reset
    /// before any answer, as a port forward does when the appliance side
    /// refuses): the cue to try the next API port.
    pub fn is_refusal(&self) -> bool {
        matches!(self.kind, ApiErrorKind::Refused | ApiErrorKind::Connect) && self.status.is_none()
    }

    /// As a module failure of `step`; `status` and `err_code` travel as result fields.
    pub fn into_failure(self, step: &str) -> Failure {
        let mut f = Failure::new(step, format!("appliance API {}: {}", self.target, self.detail)).hint(self.hint);
        if let Some(s) = self.status {
            f = f.with("status", s);
        }
        if let Some(c) = self.err_code {
            f = f.with("err_code", c);
        }
        f
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "appliance API {}: {}", self.target, self.detail)
    }
}

impl std::error::Error for ApiError {}

fn default_hint(kind: ApiErrorKind, target: &str) -> String {
    match kind {
        ApiErrorKind::Config => "fix the option named above".into(),
        ApiErrorKind::Resolve => "check the appliance address (host)".into(),
        ApiErrorKind::Refused => format!(
            "nothing accepts connections on {target}: check api_port and api_generation (the 4.x API \
             listens on 8443, the 9.x API on 443; some 4.x appliances publish it on 443 too) and that the \
             appliance's services are running (scripts/status.sh)"
        ),
        ApiErrorKind::Timeout | ApiErrorKind::Connect => format!(
            "check that {target} is the appliance API (api_port and api_generation: the 4.x API listens \
             on 8443, the 9.x API on 443), that the appliance is up and that no firewall blocks the port; \
             raise api_timeout on slow links"
        ),
        ApiErrorKind::Tls => "give the appliance's CA certificate (or its own self-signed certificate, \
             as PEM) in ca_path, or set validate_certs: false to skip the check (a warning is returned)"
            .into(),
        ApiErrorKind::Auth => "check api_username and api_password: they are the appliance's web UI \
             account (usagemeter), not root's SSH password"
            .into(),
        ApiErrorKind::SessionExpired => "run the task again; if it persists, check the appliance's clock and \
             that no other client logs the same account out"
            .into(),
        ApiErrorKind::Http => "check the appliance's API log (the API works only after the initial setup \
             is done) and run with -vvv"
            .into(),
        ApiErrorKind::Parse => "the appliance answered in an unexpected format; run with -vvv and report it".into(),
        ApiErrorKind::Generation => "set api_generation: auto (the default) to speak whichever API the appliance \
             answers with, or the generation named above; leave api_port unset to use that generation's port"
            .into(),
    }
}
