//! HTTPS client of the Usage Meter appliance API (login, agent_info, product,
//! user_action, accept_certificate).
//!
//! ```ignore
//! let mut api = Client::new(&p.connection.host, &p.api, ctx).map_err(|e| e.into_failure("connect to the API"))?;
//! let version = api.agent_info(ctx).map_err(|e| e.into_failure("read version"))?.version;
//! ```
//!
//! The session id is registered as a secret the moment it is received, so it
//! is scrubbed from every output; it is sent only in the `sessionid` header.
//! A session refused mid-run (401, errCode `GW_LOGIN_REQUIRED`) is renewed
//! once: the request is retried once after a fresh login, and a refusal of
//! that retry is an error (at most [`MAX_RENEWALS`] renewals per client).

mod args;
pub mod error;
pub mod tls;
pub mod types;
pub mod version;

pub use args::ApiArgs;
pub use error::{ApiError, ApiErrorKind};
pub use types::{AgentInfo, PendingCertificate, Product, UserAction, Version};
pub use version::{read_version, with_retries, ApiRead, RetryArgs};

use crate::protocol::Context;
use crate::secret::Secret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

/// Sessions renewed per client at most (each request is retried once).
pub const MAX_RENEWALS: u32 = 5;

/// The errCode of a session the appliance no longer knows.
pub const LOGIN_REQUIRED: &str = "GW_LOGIN_REQUIRED";

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

/// A logged-in (or about to log in) API client.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    target: String,
    username: String,
    password: Option<Secret>,
    session: Option<String>,
    renewals: u32,
    seen: Arc<Mutex<tls::Seen>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("username", &self.username)
            .field("logged_in", &self.session.is_some())
            .finish()
    }
}

/// `host` for a URL: IPv6 literals in brackets.
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The errCode and a message from an API error body, if any.
fn api_error_text(body: &str) -> (Option<String>, Option<String>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = types::as_text(v.get("errCode"));
    let msg = ["errMsg", "message", "msg", "error"].iter().find_map(|k| types::as_text(v.get(*k)));
    (code, msg)
}

impl Client {
    /// A client for the API of `host` (no request is made yet). Warns when
    /// `validate_certs` is false.
    pub fn new(host: &str, args: &ApiArgs, ctx: &mut Context) -> Result<Client, ApiError> {
        let target = format!("{}:{}", url_host(host), args.api_port);
        let cfg_err = |m: String| ApiError::new(ApiErrorKind::Config, &target, m);
        let trust = if !args.validate_certs {
            ctx.warn(format!(
                "validate_certs is false: the TLS certificate of the appliance API {target} is not checked, \
                 so the API password could go to an impostor; give ca_path instead"
            ));
            tls::Trust::Off
        } else if let Some(ca) = &args.ca_path {
            let path = crate::ssh::expand_tilde(ca);
            let certs = tls::load_ca_file(&path).map_err(|m| cfg_err(m).hint("give a readable PEM file in ca_path"))?;
            tls::Trust::Roots { certs, exact: true, source: format!("ca_path {}", path.display()) }
        } else {
            let certs = tls::system_roots();
            if certs.is_empty() {
                return Err(cfg_err("the controller has no system CA certificates to check the appliance against".into())
                    .hint("give the appliance's CA certificate in ca_path (or set validate_certs: false in a lab)"));
            }
            tls::Trust::Roots { certs, exact: false, source: "the controller's system CA store".into() }
        };
        let (config, seen) = tls::client_config(&trust).map_err(|m| cfg_err(m).hint("give a PEM file with CA certificates in ca_path"))?;
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            // A fresh connection per request: a server that answers 401 without
            // reading the request body would otherwise parse that body as the next
            // request on the kept-alive connection (the simulator does: HTTP 501).
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(Duration::from_secs(args.api_timeout)))
            .user_agent(concat!("vcloud.usage_meter/", env!("CARGO_PKG_VERSION")))
            .build();
        let connector = ().chain(ConnectProxyConnector::default()).chain(TcpConnector::default()).chain(tls::TlsConnector { config });
        let agent = ureq::Agent::with_parts(http, connector, DefaultResolver::default());
        Ok(Client {
            agent,
            base: format!("https://{target}/api/v1"),
            target,
            username: args.api_username.clone(),
            password: args.api_password.clone(),
            session: None,
            renewals: 0,
            seen,
        })
    }

    /// `host:port` of the API, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// How many times the session was renewed.
    pub fn renewals(&self) -> u32 {
        self.renewals
    }

    /// SHA-256 fingerprint of the certificate the appliance API presented.
    pub fn server_fingerprint(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.fingerprint.clone())
    }

    fn classify(&self, e: ureq::Error) -> ApiError {
        let t = &self.target;
        let tls_err = |detail: String| {
            let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
            let what = seen.error.unwrap_or(detail);
            let fp = seen.fingerprint.map(|f| format!(" (it presented a certificate with SHA-256 fingerprint {f})")).unwrap_or_default();
            ApiError::new(
                ApiErrorKind::Tls,
                t,
                format!("TLS handshake failed: {what}{fp}; the certificate is checked because validate_certs is true"),
            )
        };
        match e {
            ureq::Error::Other(inner) if inner.is::<rustls::Error>() => tls_err(inner.to_string()),
            ureq::Error::Tls(m) => tls_err(m.to_string()),
            ureq::Error::TlsRequired => tls_err("TLS could not be set up".into()),
            ureq::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused => ApiError::new(ApiErrorKind::Refused, t, "connection refused"),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    ApiError::new(ApiErrorKind::Timeout, t, format!("no answer: {io}"))
                }
                _ => ApiError::new(ApiErrorKind::Connect, t, format!("connection failed: {io}")),
            },
            ureq::Error::Timeout(which) => ApiError::new(ApiErrorKind::Timeout, t, format!("timed out ({which})")),
            ureq::Error::HostNotFound => ApiError::new(ApiErrorKind::Resolve, t, "the host name did not resolve"),
            ureq::Error::ConnectionFailed => ApiError::new(ApiErrorKind::Connect, t, "connection failed"),
            other => ApiError::new(ApiErrorKind::Connect, t, format!("request failed: {other}")),
        }
    }

    /// One HTTP exchange; returns status and body text. Never logs bodies of login.
    fn send(&self, ctx: &Context, method: Method, path: &str, body: Option<&Value>, auth: bool) -> Result<(u16, String), ApiError> {
        let url = format!("{}{}", self.base, path);
        ctx.log(3, format!("API {method:?} {url}"));
        let session = if auth { self.session.as_deref() } else { None };
        let result = match (method, body) {
            (Method::Get, _) => {
                let mut r = self.agent.get(&url).header("Accept", "application/json");
                if let Some(s) = session {
                    r = r.header("sessionid", s);
                }
                r.call()
            }
            (m, b) => {
                let text = b.map(Value::to_string).unwrap_or_default();
                let mut r = if m == Method::Post { self.agent.post(&url) } else { self.agent.put(&url) };
                r = r.header("Accept", "application/json").header("Content-Type", "application/json");
                if let Some(s) = session {
                    r = r.header("sessionid", s);
                }
                r.send(text.as_str())
            }
        };
        let mut resp = result.map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().with_config().limit(16 * 1024 * 1024).read_to_string().map_err(|e| self.classify(e))?;
        ctx.log(3, format!("API {method:?} {path} -> {status}"));
        Ok((status, text))
    }

    /// `POST /login`; the session id is registered as a secret at once.
    pub fn login(&mut self, ctx: &mut Context) -> Result<(), ApiError> {
        let t = self.target.clone();
        let Some(password) = self.password.clone() else {
            return Err(ApiError::new(ApiErrorKind::Config, &t, "api_password is not set")
                .hint("give the password of the appliance's usagemeter account in api_password (for example from Ansible Vault)"));
        };
        let body = json!({ "user": self.username, "password": password.expose() });
        let (status, text) = self.send(ctx, Method::Post, "/login", Some(&body), false)?;
        match status {
            200..=299 => {}
            401 | 403 => {
                return Err(ApiError::new(
                    ApiErrorKind::Auth,
                    &t,
                    format!("login as {} was refused (HTTP {status}): wrong api_username or api_password", self.username),
                )
                .status(status))
            }
            _ => {
                let (code, msg) = api_error_text(&text);
                let mut e = ApiError::new(
                    ApiErrorKind::Http,
                    &t,
                    format!("login answered HTTP {status}{}", msg.map(|m| format!(": {m}")).unwrap_or_default()),
                )
                .status(status);
                e.err_code = code;
                return Err(e);
            }
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let sid = ["sessionid", "sessionId", "session_id"].iter().find_map(|k| types::as_text(v.get(*k)));
        let Some(sid) = sid else {
            return Err(ApiError::new(ApiErrorKind::Parse, &t, format!("login answered HTTP {status} without a sessionid")));
        };
        ctx.register_secret(&sid);
        self.session = Some(sid);
        ctx.log(2, format!("API {t}: logged in as {}", self.username));
        Ok(())
    }

    /// An authenticated request: logs in first if needed, renews an expired
    /// session once, and fails on any non-2xx status.
    pub fn request(&mut self, ctx: &mut Context, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, String), ApiError> {
        if self.session.is_none() {
            self.login(ctx)?;
        }
        let (mut status, mut text) = self.send(ctx, method, path, body, true)?;
        if status == 401 {
            let (code, _) = api_error_text(&text);
            if self.renewals < MAX_RENEWALS {
                ctx.log(2, format!("API session refused ({}); logging in again", code.as_deref().unwrap_or("401")));
                self.renewals += 1;
                self.session = None;
                self.login(ctx)?;
                (status, text) = self.send(ctx, method, path, body, true)?;
            }
        }
        if (200..300).contains(&status) {
            return Ok((status, text));
        }
        let (code, msg) = api_error_text(&text);
        let kind = if status == 401 { ApiErrorKind::SessionExpired } else { ApiErrorKind::Http };
        let what = if status == 401 {
            if self.renewals >= MAX_RENEWALS {
                format!("the session was refused again after {MAX_RENEWALS} fresh logins")
            } else {
                "the session was refused again right after a fresh login".to_string()
            }
        } else {
            format!("{method:?} {path} answered HTTP {status}")
        };
        let detail = match (&code, &msg) {
            (Some(c), Some(m)) => format!("{what} ({c}: {m})"),
            (Some(c), None) => format!("{what} ({c})"),
            (None, Some(m)) => format!("{what}: {m}"),
            (None, None) => what,
        };
        let mut e = ApiError::new(kind, &self.target, detail).status(status);
        e.err_code = code;
        Err(e)
    }

    /// GET `path` as JSON (an empty body is `null`).
    pub fn get_json(&mut self, ctx: &mut Context, path: &str) -> Result<Value, ApiError> {
        let (_, text) = self.request(ctx, Method::Get, path, None)?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| ApiError::new(ApiErrorKind::Parse, &self.target, format!("GET {path} did not return JSON: {e}")))
    }

    /// `GET /agent_info`: version and uuid.
    pub fn agent_info(&mut self, ctx: &mut Context) -> Result<AgentInfo, ApiError> {
        let v = self.get_json(ctx, "/agent_info")?;
        types::parse_agent_info(&v).map_err(|m| ApiError::new(ApiErrorKind::Parse, &self.target, m))
    }

    /// `POST /logout` of the current session, if any: best effort (the
    /// answer is not checked), and the session is forgotten either way.
    pub fn logout(&mut self, ctx: &mut Context) {
        if self.session.is_none() {
            return;
        }
        if let Err(e) = self.send(ctx, Method::Post, "/logout", None, true) {
            ctx.log(2, format!("API {}: logout failed: {e}", self.target));
        }
        self.session = None;
    }

    /// `GET /product`: the metered product servers.
    pub fn products(&mut self, ctx: &mut Context) -> Result<Vec<Product>, ApiError> {
        let v = self.get_json(ctx, "/product")?;
        types::parse_products(&v).map_err(|m| ApiError::new(ApiErrorKind::Parse, &self.target, m))
    }

    /// `GET /user_action`: every pending action.
    pub fn user_actions(&mut self, ctx: &mut Context) -> Result<Vec<UserAction>, ApiError> {
        let v = self.get_json(ctx, "/user_action")?;
        types::parse_user_actions(&v).map_err(|m| ApiError::new(ApiErrorKind::Parse, &self.target, m))
    }

    /// The `Cert` user actions: certificates waiting for acceptance.
    pub fn pending_certificates(&mut self, ctx: &mut Context) -> Result<Vec<PendingCertificate>, ApiError> {
        let actions = self.user_actions(ctx)?;
        types::pending_certificates(&actions).map_err(|m| ApiError::new(ApiErrorKind::Parse, &self.target, m))
    }

    /// `PUT /accept_certificate` for one pending certificate.
    pub fn accept_certificate(&mut self, ctx: &mut Context, cert: &PendingCertificate) -> Result<(), ApiError> {
        let body = json!({
            "certificateId": cert.certificate_id,
            "accepted": true,
            "productType": cert.product_type,
            "productId": cert.product_id,
        });
        self.request(ctx, Method::Put, "/accept_certificate", Some(&body)).map(|_| ())
    }
}

#[cfg(test)]
mod tests;
