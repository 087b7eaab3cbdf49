//! Unit tests of the API client that need no server: URL hosts, error bodies, configuration errors.

use super::*;

#[test]
fn ipv6_hosts_are_bracketed() {
    assert_eq!(url_host("10.0.0.1"), "10.0.0.1");
    assert_eq!(url_host("fd00::1"), "[fd00::1]");
    assert_eq!(url_host("[fd00::1]"), "[fd00::1]");
}

#[test]
fn error_bodies() {
    assert_eq!(
        api_error_text(r#"{"errCode":"GW_LOGIN_REQUIRED","errMsg":"login"}"#),
        (Some("GW_LOGIN_REQUIRED".into()), Some("login".into()))
    );
    assert_eq!(api_error_text("<html>"), (None, None));
}

#[test]
fn client_needs_a_password_before_any_request() {
    let mut ctx = Context::default();
    let args = ApiArgs { validate_certs: false, ..ApiArgs::default() };
    let mut c = Client::new("192.0.2.1", &args, &mut ctx).unwrap();
    assert_eq!(ctx.warnings().len(), 1);
    let e = c.login(&mut ctx).unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::Config);
    assert!(e.to_string().contains("api_password is not set"));
}

#[test]
fn unreadable_ca_path_is_a_config_error() {
    let mut ctx = Context::default();
    let args = ApiArgs { ca_path: Some("/nonexistent/ca.pem".into()), ..ApiArgs::default() };
    let e = Client::new("h", &args, &mut ctx).unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::Config);
    assert!(e.into_failure("connect").render(None).contains("ca_path"));
}
