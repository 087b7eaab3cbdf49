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

#[test]
fn ports_follow_the_generation_unless_given() {
    let with = |g, p| ApiArgs { api_generation: g, api_port: p, ..ApiArgs::default() }.ports();
    assert_eq!(with(ApiGeneration::Auto, None), vec![8443, 443]);
    assert_eq!(with(ApiGeneration::V4, None), vec![8443]);
    assert_eq!(with(ApiGeneration::V9, None), vec![443]);
    assert_eq!(with(ApiGeneration::Auto, Some(9443)), vec![9443]);
    assert_eq!(with(ApiGeneration::V9, Some(8443)), vec![8443]);
}

#[test]
fn generation_option_reads_strings_and_numbers_as_ansible_passes_them() {
    for (text, want) in [("auto", ApiGeneration::Auto), ("4", ApiGeneration::V4), ("9", ApiGeneration::V9)] {
        let g: ApiGeneration = serde_json::from_value(json!(text)).unwrap();
        assert_eq!(g, want);
    }
    assert!(serde_json::from_value::<ApiGeneration>(json!("5")).is_err());
    let args: ApiArgs = serde_json::from_value(json!({})).unwrap();
    assert_eq!((args.api_generation, args.api_port), (ApiGeneration::Auto, None));
}

#[test]
fn a_client_starts_on_the_first_port_and_knows_no_generation() {
    let mut ctx = Context::default();
    let c = Client::new("192.0.2.1", &ApiArgs { validate_certs: false, ..ApiArgs::default() }, &mut ctx).unwrap();
    assert_eq!((c.port(), c.target(), c.generation()), (8443, "192.0.2.1:8443", None));
    let nine = ApiArgs { validate_certs: false, api_generation: ApiGeneration::V9, ..ApiArgs::default() };
    assert_eq!(Client::new("fd00::1", &nine, &mut ctx).unwrap().target(), "[fd00::1]:443");
}

#[test]
fn refusals_are_no_answer_and_http_answers_are_not() {
    assert!(ApiError::new(ApiErrorKind::Refused, "h:8443", "x").is_refusal());
    assert!(ApiError::new(ApiErrorKind::Connect, "h:8443", "reset").is_refusal());
    assert!(!ApiError::new(ApiErrorKind::Timeout, "h:8443", "x").is_refusal());
    assert!(!ApiError::new(ApiErrorKind::Http, "h:8443", "x").status(502).is_refusal());
    assert!(!ApiError::new(ApiErrorKind::Tls, "h:8443", "x").is_refusal());
}
