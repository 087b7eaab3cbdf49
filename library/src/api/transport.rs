//! The HTTPS transport of the API client: the agent (trust as the options
//! say, one fresh connection per request) and the classification of its errors.

use super::{tls, ApiArgs, ApiError, ApiErrorKind};
use crate::protocol::Context;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

/// The agent for `target` (`host:port`, for messages) and what its verifier saw. Warns when
/// `validate_certs` is false.
pub(super) fn agent(args: &ApiArgs, ctx: &mut Context, target: &str) -> Result<(ureq::Agent, Arc<Mutex<tls::Seen>>), ApiError> {
    let cfg_err = |m: String| ApiError::new(ApiErrorKind::Config, target, m);
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
    Ok((agent, seen))
}

/// A transport error as an [`ApiError`] of `t` (`host:port`), with what the TLS verifier saw.
pub(super) fn classify(e: ureq::Error, t: &str, seen: &Mutex<tls::Seen>) -> ApiError {
    let tls_err = |detail: String| {
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
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
