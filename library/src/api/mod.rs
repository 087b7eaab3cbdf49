//! HTTPS client of the Usage Meter appliance API (login, agent_info, product,
//! user_action, accept_certificate), both generations: 4.x (port 8443, a
//! `sessionid` header) and 9.x (port 443, a bearer token), told apart by the
//! login answer ([`login`]).
//!
//! ```ignore
//! let mut api = Client::new(&p.connection.host, &p.api, ctx).map_err(|e| e.into_failure("connect to the API"))?;
//! let version = api.agent_info(ctx).map_err(|e| e.into_failure("read version"))?.version;
//! ```
//!
//! The session id or bearer token is registered as a secret the moment it is
//! received, so it is scrubbed from every output; it is sent only in its
//! header. A session refused mid-run (401, errCode `GW_LOGIN_REQUIRED`) is
//! renewed once: the request is retried once after a fresh login, and a
//! refusal of that retry is an error (at most [`MAX_RENEWALS`] renewals per client).
//! Without `api_port` and with `api_generation: auto`, a login that nothing
//! accepts on 8443 is tried on 443; the port that answered is kept.

mod args;
pub mod error;
pub mod login;
pub mod tls;
mod transport;
pub mod types;
pub mod version;

pub use args::{ApiArgs, ApiGeneration, PORT_4X, PORT_9X};
pub use error::{ApiError, ApiErrorKind};
pub use login::Auth;
pub use types::{AgentInfo, PendingCertificate, Product, UserAction, Version};
pub use version::{read_version, with_retries, ApiRead, ApiUsed, RetryArgs};

use crate::protocol::Context;
use crate::secret::Secret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

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
    host: String,
    /// Ports still to try; only the one that answered once a login did.
    ports: Vec<u16>,
    /// The port of `target` and `base`.
    port: u16,
    base: String,
    target: String,
    wanted: ApiGeneration,
    username: String,
    password: Option<Secret>,
    session: Option<Auth>,
    /// The generation of the last login answer (kept after logout).
    generation: Option<u8>,
    renewals: u32,
    seen: Arc<Mutex<tls::Seen>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("username", &self.username)
            .field("generation", &self.generation)
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
        let ports = args.ports();
        let host = url_host(host);
        let port = ports.first().copied().unwrap_or(PORT_4X);
        let target = format!("{host}:{port}");
        let (agent, seen) = transport::agent(args, ctx, &target)?;
        Ok(Client {
            agent,
            base: format!("https://{target}/api/v1"),
            target,
            host,
            ports,
            port,
            wanted: args.api_generation,
            username: args.api_username.clone(),
            password: args.api_password.clone(),
            session: None,
            generation: None,
            renewals: 0,
            seen,
        })
    }

    /// `host:port` of the API, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The port requests go to (the one that answered, once a login did).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// 4 or 9: the API generation the last login answered as; None before any login answered.
    pub fn generation(&self) -> Option<u8> {
        self.generation
    }

    fn use_port(&mut self, port: u16) {
        self.port = port;
        self.target = format!("{}:{port}", self.host);
        self.base = format!("https://{}/api/v1", self.target);
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
        transport::classify(e, &self.target, &self.seen)
    }

    /// One HTTP exchange; returns status and body text. Never logs headers or bodies.
    /// `auth`: the header that proves the login (a session, a bearer token, or
    /// the login's own Basic credentials).
    fn send(
        &self,
        ctx: &Context,
        method: Method,
        path: &str,
        body: Option<&Value>,
        auth: Option<(&str, String)>,
    ) -> Result<(u16, String), ApiError> {
        let url = format!("{}{}", self.base, path);
        ctx.log(3, format!("API {method:?} {url}"));
        let result = match (method, body) {
            (Method::Get, _) => {
                let mut r = self.agent.get(&url).header("Accept", "application/json");
                if let Some((name, value)) = &auth {
                    r = r.header(*name, value);
                }
                r.call()
            }
            (m, b) => {
                let text = b.map(Value::to_string).unwrap_or_default();
                let mut r = if m == Method::Post { self.agent.post(&url) } else { self.agent.put(&url) };
                r = r.header("Accept", "application/json").header("Content-Type", "application/json");
                if let Some((name, value)) = &auth {
                    r = r.header(*name, value);
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

    /// The session's header, if logged in.
    fn auth_header(&self) -> Option<(&'static str, String)> {
        self.session.as_ref().map(Auth::header)
    }

    /// `POST /login` on the port that answered, or on each candidate in turn
    /// while nothing accepts connections (auto: 8443, then 443).
    fn post_login(&mut self, ctx: &Context, password: &Secret) -> Result<(u16, String), ApiError> {
        let body = json!({ "user": self.username, "password": password.expose() });
        // 4.x reads the JSON body, 9.x lists HTTP Basic as its login method: both
        // go, so the answer tells the generation even when a forced one is wrong.
        let basic = Some(("Authorization", login::basic_auth(&self.username, password.expose())));
        let mut first: Option<ApiError> = None;
        for port in self.ports.clone() {
            self.use_port(port);
            match self.send(ctx, Method::Post, "/login", Some(&body), basic.clone()) {
                Err(e) if e.is_refusal() => {
                    ctx.log(2, format!("API {}: {}", e.target, e.detail));
                    first = Some(match first {
                        None => e,
                        Some(f) => ApiError { detail: format!("{}; and on port {port}: {}", f.detail, e.detail), ..f },
                    });
                }
                answer => {
                    if answer.is_ok() {
                        self.ports = vec![port];
                    }
                    return answer;
                }
            }
        }
        let first_port = self.ports.first().copied().unwrap_or(PORT_4X);
        self.use_port(first_port);
        Err(first.unwrap_or_else(|| ApiError::new(ApiErrorKind::Config, &self.target, "no API port to try")))
    }

    /// `POST /login`; the session id or bearer token is registered as a secret at once.
    pub fn login(&mut self, ctx: &mut Context) -> Result<(), ApiError> {
        let Some(password) = self.password.clone() else {
            return Err(ApiError::new(ApiErrorKind::Config, &self.target, "api_password is not set")
                .hint("give the password of the appliance's usagemeter account in api_password (for example from Ansible Vault)"));
        };
        let (status, text) = self.post_login(ctx, &password)?;
        let t = self.target.clone();
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
        let answer = login::parse_login(&text);
        // Registered before anything else can show them, even on a mismatch.
        for s in answer.iter().flat_map(|a| a.secrets.iter()) {
            ctx.register_secret(s);
        }
        let answer = answer.map_err(|m| ApiError::new(ApiErrorKind::Parse, &t, format!("login answered HTTP {status} with {m}")))?;
        let generation = answer.auth.generation();
        self.generation = Some(generation);
        login::check_generation(self.wanted, generation).map_err(|m| ApiError::new(ApiErrorKind::Generation, &t, m))?;
        self.session = Some(answer.auth);
        let until = answer.expires_at.map(|e| format!(", token valid until {e}")).unwrap_or_default();
        ctx.log(2, format!("API {t}: logged in as {} (the {generation}.x API{until})", self.username));
        Ok(())
    }

    /// An authenticated request: logs in first if needed, renews an expired
    /// session once, and fails on any non-2xx status.
    pub fn request(&mut self, ctx: &mut Context, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, String), ApiError> {
        if self.session.is_none() {
            self.login(ctx)?;
        }
        let (mut status, mut text) = self.send(ctx, method, path, body, self.auth_header())?;
        if status == 401 {
            let (code, _) = api_error_text(&text);
            if self.renewals < MAX_RENEWALS {
                ctx.log(2, format!("API session refused ({}); logging in again", code.as_deref().unwrap_or("401")));
                self.renewals += 1;
                self.session = None;
                self.login(ctx)?;
                (status, text) = self.send(ctx, method, path, body, self.auth_header())?;
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

    /// `POST /logout` of the current 4.x session, if any: best effort (the
    /// answer is not checked), and the session is forgotten either way. The
    /// 9.x API publishes no logout [guess]: its token is only forgotten.
    pub fn logout(&mut self, ctx: &mut Context) {
        let Some(Auth::Session(_)) = &self.session else {
            self.session = None;
            return;
        };
        if let Err(e) = self.send(ctx, Method::Post, "/logout", None, self.auth_header()) {
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
