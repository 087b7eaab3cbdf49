//! The login answer of both API generations, told apart by its shape:
//!
//! - 4.x: `{"sessionid": "..."}`, sent back in the `sessionid` header;
//! - 9.x: `{"accessToken": {"tokenValue": "...", "expiresAt": ...}, "refreshToken": ...}`,
//!   sent back as `Authorization: Bearer <tokenValue>`.
//!
//! The login request carries the credentials both ways the generations read
//! them: the 4.x JSON body and HTTP Basic (the 9.x reference lists Basic and
//! bearer as its authentication methods and no login body).

use super::args::ApiGeneration;
use super::types::as_text;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

/// How later requests prove the login.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// 4.x: the `sessionid` header.
    Session(String),
    /// 9.x: `Authorization: Bearer`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Session(_) => "Session(..)",
            Auth::Bearer(_) => "Bearer(..)",
        })
    }
}

impl Auth {
    /// 4 or 9.
    pub fn generation(&self) -> u8 {
        match self {
            Auth::Session(_) => 4,
            Auth::Bearer(_) => 9,
        }
    }

    /// The header that carries it: (name, value).
    pub fn header(&self) -> (&'static str, String) {
        match self {
            Auth::Session(s) => ("sessionid", s.clone()),
            Auth::Bearer(t) => ("Authorization", format!("Bearer {t}")),
        }
    }
}

/// A login answer: how to authenticate, and every secret value it held (the
/// token itself, a refresh token) to register before anything is logged.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginAnswer {
    pub auth: Auth,
    pub secrets: Vec<String>,
    /// When the 9.x token expires, as the appliance wrote it.
    pub expires_at: Option<String>,
}

impl std::fmt::Debug for LoginAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAnswer").field("auth", &self.auth).field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A token that may come as a string or as an object with `tokenValue`.
fn token(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Object(o) => as_text(o.get("tokenValue")),
        other => as_text(Some(other)),
    }
}

/// Parse the body of a 2xx login answer.
pub fn parse_login(body: &str) -> Result<LoginAnswer, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(t) = token(v.get("accessToken")) {
        let mut secrets = vec![t.clone()];
        secrets.extend(token(v.get("refreshToken")));
        let expires_at = v.pointer("/accessToken/expiresAt").and_then(|e| as_text(Some(e)));
        return Ok(LoginAnswer { auth: Auth::Bearer(t), secrets, expires_at });
    }
    let sid = ["sessionid", "sessionId", "session_id"].iter().find_map(|k| as_text(v.get(*k)));
    match sid {
        Some(s) => Ok(LoginAnswer { auth: Auth::Session(s.clone()), secrets: vec![s], expires_at: None }),
        None => Err("neither a sessionid (the 4.x API) nor an accessToken (the 9.x API)".into()),
    }
}

/// The generation the task asked for against the one the appliance answered as.
pub fn check_generation(wanted: ApiGeneration, got: u8) -> Result<(), String> {
    let want = match wanted {
        ApiGeneration::Auto => return Ok(()),
        ApiGeneration::V4 => 4,
        ApiGeneration::V9 => 9,
    };
    if want == got {
        return Ok(());
    }
    let seen = if got == 9 { "a bearer token (accessToken): the 9.x API" } else { "a sessionid: the 4.x API" };
    Err(format!("api_generation is {want}, but the login answered with {seen}"))
}

/// The value of an HTTP Basic `Authorization` header.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_id_is_the_4x_api() {
        let a = parse_login(r#"{"sessionid":"abc123","data_usage_acceptance":true}"#).unwrap();
        assert_eq!(a.auth, Auth::Session("abc123".into()));
        assert_eq!(a.auth.generation(), 4);
        assert_eq!(a.auth.header(), ("sessionid", "abc123".to_string()));
        assert_eq!(a.secrets, vec!["abc123".to_string()]);
    }

    #[test]
    fn an_access_token_is_the_9x_api() {
        let body = r#"{"accessToken":{"tokenValue":"eyJ.x.y","issuedAt":"2026-12-07T08:00:00Z",
            "expiresAt":"2026-12-07T09:00:00Z","tokenType":{"value":"Bearer"},"scopes":[]},
            "refreshToken":"r-1","additionalParameters":{}}"#;
        let a = parse_login(body).unwrap();
        assert_eq!(a.auth, Auth::Bearer("eyJ.x.y".into()));
        assert_eq!(a.auth.generation(), 9);
        assert_eq!(a.auth.header(), ("Authorization", "Bearer eyJ.x.y".to_string()));
        // the refresh token is never used, but is a secret all the same
        assert_eq!(a.secrets, vec!["eyJ.x.y".to_string(), "r-1".to_string()]);
        assert_eq!(a.expires_at.as_deref(), Some("2026-12-07T09:00:00Z"));
        // the reference's table also types accessToken as a plain string
        let flat = parse_login(r#"{"accessToken":"t-2","refreshToken":{"tokenValue":"r-2"}}"#).unwrap();
        assert_eq!((flat.auth, flat.secrets), (Auth::Bearer("t-2".into()), vec!["t-2".into(), "r-2".into()]));
    }

    #[test]
    fn neither_is_an_error_naming_both() {
        for body in ["{}", "", "<html>", r#"{"accessToken":{}}"#, r#"{"sessionid":""}"#] {
            let e = parse_login(body).unwrap_err();
            assert!(e.contains("sessionid") && e.contains("accessToken"), "{body}: {e}");
        }
    }

    #[test]
    fn a_forced_generation_must_match_the_answer() {
        assert!(check_generation(ApiGeneration::Auto, 4).is_ok());
        assert!(check_generation(ApiGeneration::Auto, 9).is_ok());
        assert!(check_generation(ApiGeneration::V4, 4).is_ok());
        assert!(check_generation(ApiGeneration::V9, 9).is_ok());
        let e = check_generation(ApiGeneration::V4, 9).unwrap_err();
        assert!(e.contains("api_generation is 4") && e.contains("9.x"), "{e}");
        let e = check_generation(ApiGeneration::V9, 4).unwrap_err();
        assert!(e.contains("api_generation is 9") && e.contains("4.x"), "{e}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        assert_eq!(format!("{:?}", Auth::Bearer("tok".into())), "Bearer(..)");
        assert!(!format!("{:?}", parse_login(r#"{"sessionid":"s3cr3t"}"#).unwrap().auth).contains("s3cr3t"));
    }

    #[test]
    fn basic_auth_header() {
        assert_eq!(basic_auth("usagemeter", "pw"), "Basic dXNhZ2VtZXRlcjpwdw==");
    }
}
