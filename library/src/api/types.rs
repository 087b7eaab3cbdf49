//! What the appliance API returns, parsed leniently: numbers may come as
//! strings, lists may come wrapped in an object, and unknown fields are kept
//! out of the way rather than refused.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// `GET /agent_info`: the appliance's version, the documented way to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub hotfix: u32,
    /// The build number, as the API gave it.
    pub build: Option<String>,
}

impl Version {
    /// `4.3.0.0` (no build).
    pub fn short(&self) -> String {
        format!("{}.{}.{}.{}", self.major, self.minor, self.patch, self.hotfix)
    }

    /// True for `major.minor` at least `(major, minor)`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    /// `4.3.0.0 build 12345`, or `4.3.0.0` without a build number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())?;
        if let Some(b) = &self.build {
            write!(f, " build {b}")?;
        }
        Ok(())
    }
}

/// All of `GET /agent_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentInfo {
    pub version: Version,
    pub uuid: Option<String>,
}

/// A number that may be sent as a JSON number or a numeric string.
fn as_u32(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A scalar rendered as text (`12345` and `"12345"` alike); null/absent → None.
pub fn as_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse `GET /agent_info`.
pub fn parse_agent_info(body: &Value) -> Result<AgentInfo, String> {
    let major = as_u32(body.get("major_version")).ok_or_else(|| "agent_info has no numeric major_version".to_string())?;
    let version = Version {
        major,
        minor: as_u32(body.get("minor_version")).unwrap_or(0),
        patch: as_u32(body.get("patch_version")).unwrap_or(0),
        hotfix: as_u32(body.get("hotfix_version")).unwrap_or(0),
        build: as_text(body.get("build_number")),
    };
    Ok(AgentInfo { version, uuid: as_text(body.get("uuid")) })
}

/// The list in a response: a bare array, or the first array inside an object
/// (`{"items": [...]}`, `{"data": [...]}`, ...).
pub fn list_of(body: &Value) -> Option<&Vec<Value>> {
    match body {
        Value::Array(a) => Some(a),
        Value::Object(o) => ["items", "data", "content", "results", "list"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_array))
            .or_else(|| o.values().find_map(Value::as_array)),
        _ => None,
    }
}

/// One metered product server of `GET /product`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Product {
    /// The product's id, as the API gave it.
    pub id: Value,
    pub product_type: Option<String>,
    pub host: Option<String>,
    pub port: Option<u32>,
    pub active: Option<bool>,
    pub metered: Option<bool>,
    pub status_code: Option<String>,
    pub status_text: Option<String>,
}

/// Parse `GET /product`.
pub fn parse_products(body: &Value) -> Result<Vec<Product>, String> {
    let list = list_of(body).ok_or_else(|| "the product list is not a JSON list".to_string())?;
    Ok(list
        .iter()
        .map(|p| Product {
            id: p.get("id").cloned().unwrap_or(Value::Null),
            product_type: as_text(p.get("productType")),
            host: as_text(p.get("host")),
            port: as_u32(p.get("port")),
            active: p.get("active").and_then(Value::as_bool),
            metered: p.get("metered").and_then(Value::as_bool),
            status_code: as_text(p.pointer("/status/code")),
            status_text: as_text(p.pointer("/status/text")),
        })
        .collect())
}

/// One pending action of `GET /user_action`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserAction {
    /// `Cert` for a certificate waiting for acceptance.
    pub code: String,
    /// The action's `data`, decoded when it came as a JSON string.
    pub data: Value,
}

impl UserAction {
    pub fn is_cert(&self) -> bool {
        self.code.eq_ignore_ascii_case("cert")
    }
}

/// A product server certificate waiting for acceptance.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCertificate {
    /// Sent back as is in `PUT /accept_certificate`.
    pub product_id: Value,
    pub product_type: String,
    /// `<host>:<port>` of the product server.
    pub certificate_id: String,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub not_before: Option<String>,
    /// Expiry (`notAfter`), ISO 8601 when the API sent epoch time.
    pub not_after: Option<String>,
    /// SHA-256 as upper-case colon-separated hex, when the API sent a valid one.
    pub fingerprint: Option<String>,
}

/// Parse `GET /user_action`.
pub fn parse_user_actions(body: &Value) -> Result<Vec<UserAction>, String> {
    // An empty body or null means "nothing pending".
    if body.is_null() {
        return Ok(Vec::new());
    }
    let list = list_of(body).ok_or_else(|| "the user_action list is not a JSON list".to_string())?;
    Ok(list
        .iter()
        .map(|a| {
            let data = match a.get("data") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                Some(v) => v.clone(),
                None => Value::Null,
            };
            UserAction { code: as_text(a.get("code")).unwrap_or_default(), data }
        })
        .collect())
}

/// The pending certificates among `actions`; a `Cert` action without a
/// certificateId cannot be accepted and is an error.
pub fn pending_certificates(actions: &[UserAction]) -> Result<Vec<PendingCertificate>, String> {
    actions
        .iter()
        .filter(|a| a.is_cert())
        .map(|a| {
            let d = &a.data;
            let certificate_id =
                as_text(d.get("certificateId")).ok_or_else(|| "a Cert user action has no data.certificateId".to_string())?;
            let cd = d.get("certData").cloned().unwrap_or(Value::Null);
            let cd = match cd {
                Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
                v => v,
            };
            let fp =
                ["fingerprint_sha256", "fingerprintSha256", "sha256Fingerprint", "fingerprint"].iter().find_map(|k| as_text(cd.get(*k)));
            Ok(PendingCertificate {
                product_id: d.get("productId").cloned().unwrap_or(Value::Null),
                product_type: as_text(d.get("productType")).unwrap_or_default(),
                certificate_id,
                subject: as_text(cd.get("subjectDN")),
                issuer: as_text(cd.get("issuerDN")),
                not_before: timestamp(cd.get("notBefore")),
                not_after: timestamp(cd.get("notAfter")),
                fingerprint: fp.as_deref().and_then(|f| normalize_fingerprint(f).ok()).map(|h| colon_hex(&h)),
            })
        })
        .collect()
}

/// A certificate date: epoch seconds or milliseconds become ISO 8601 UTC;
/// text is kept as the API gave it.
pub fn timestamp(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => {
            let n = n.as_i64()?;
            // Milliseconds after 1973 are > 1e11; seconds will not be for millennia.
            let secs = if n.unsigned_abs() > 100_000_000_000 { n.div_euclid(1000) } else { n };
            Some(iso8601(secs))
        }
        Value::String(s) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            timestamp(Some(&Value::Number(s.parse::<i64>().ok()?.into())))
        }
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A SHA-256 fingerprint in any usual spelling (`AB:CD:..`, `abcd..`,
/// `sha256:AB..`, `SHA256 Fingerprint=AB:..`, with spaces or dashes) as 64
/// lower-case hex digits.
pub fn normalize_fingerprint(raw: &str) -> Result<String, String> {
    let mut s = raw.trim();
    if let Some((prefix, rest)) = s.split_once('=') {
        if prefix.to_ascii_lowercase().contains("sha256") || prefix.to_ascii_lowercase().contains("fingerprint") {
            s = rest;
        }
    }
    let lower = s.to_ascii_lowercase();
    let s = lower.strip_prefix("sha256:").or_else(|| lower.strip_prefix("sha-256:")).unwrap_or(&lower);
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | ' ' | '-' | '\t')).collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{raw:?} is not a SHA-256 fingerprint (64 hex digits, colons optional; got {} characters after removing separators)",
            hex.len()
        ));
    }
    Ok(hex)
}

/// 64 hex digits as `AB:CD:...`.
pub fn colon_hex(hex: &str) -> String {
    hex.as_bytes().chunks(2).map(|p| String::from_utf8_lossy(p).to_ascii_uppercase()).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_display() {
        let info = parse_agent_info(&json!({
            "major_version": 4, "minor_version": "3", "patch_version": 0, "hotfix_version": 0,
            "build_number": 12345, "uuid": "u-1"
        }))
        .unwrap();
        assert_eq!(info.version.to_string(), "4.3.0.0 build 12345");
        assert_eq!(info.version.short(), "4.3.0.0");
        assert!(info.version.at_least(4, 3));
        assert!(!info.version.at_least(4, 4));
        assert_eq!(info.uuid.as_deref(), Some("u-1"));
        let v = parse_agent_info(&json!({"major_version": "4", "minor_version": 2})).unwrap().version;
        assert_eq!(v.to_string(), "4.2.0.0");
        assert!(parse_agent_info(&json!({"minor_version": 2})).is_err());
    }

    const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    #[test]
    fn fingerprints_normalise() {
        let want = "abcdef0123456789".repeat(4);
        assert_eq!(normalize_fingerprint(FP).unwrap(), want);
        assert_eq!(normalize_fingerprint(&want.to_uppercase()).unwrap(), want);
        assert_eq!(normalize_fingerprint(&format!("sha256:{want}")).unwrap(), want);
        assert_eq!(normalize_fingerprint(&format!("SHA256 Fingerprint={FP}")).unwrap(), want);
        assert_eq!(normalize_fingerprint(&format!(" {} ", FP.replace(':', " "))).unwrap(), want);
        assert!(normalize_fingerprint("AB:CD").unwrap_err().contains("not a SHA-256 fingerprint"));
        assert!(normalize_fingerprint(&"zz".repeat(32)).is_err());
        assert_eq!(colon_hex(&want), FP);
    }

    #[test]
    fn parses_user_actions() {
        let body = json!([
            {"code": "Cert", "data": {"productId": 7, "productType": "VC", "certificateId": "vc1.lab:443",
             "certData": {"subjectDN": "CN=vc1.lab", "issuerDN": "CN=CA", "notBefore": 1700000000000i64,
                          "notAfter": "2030-01-01T00:00:00Z", "fingerprint_sha256": FP.to_lowercase()}}},
            {"code": "Other", "data": {"x": 1}},
            {"code": "cert", "data": "{\"productId\":\"8\",\"productType\":\"VCD\",\"certificateId\":\"vcd:443\",\"certData\":{}}"}
        ]);
        let actions = parse_user_actions(&body).unwrap();
        assert_eq!(actions.len(), 3);
        let certs = pending_certificates(&actions).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].product_id, json!(7));
        assert_eq!(certs[0].product_type, "VC");
        assert_eq!(certs[0].certificate_id, "vc1.lab:443");
        assert_eq!(certs[0].subject.as_deref(), Some("CN=vc1.lab"));
        assert_eq!(certs[0].not_before.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(certs[0].not_after.as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(certs[0].fingerprint.as_deref(), Some(FP));
        assert_eq!(certs[1].product_id, json!("8"));
        assert_eq!(certs[1].fingerprint, None);
        // wrapped lists and "nothing pending"
        assert_eq!(parse_user_actions(&json!({"items": []})).unwrap(), vec![]);
        assert_eq!(parse_user_actions(&Value::Null).unwrap(), vec![]);
        assert!(parse_user_actions(&json!("x")).is_err());
        let bad = parse_user_actions(&json!([{"code": "Cert", "data": {}}])).unwrap();
        assert!(pending_certificates(&bad).is_err());
    }

    #[test]
    fn parses_products() {
        let p = parse_products(&json!([{"id": 1, "productType": "VC", "host": "vc1", "port": 443, "active": true,
            "metered": true, "status": {"code": "OK", "text": "fine", "lastChanged": 1}}]))
        .unwrap();
        assert_eq!(p[0].port, Some(443));
        assert_eq!(p[0].status_code.as_deref(), Some("OK"));
    }

    #[test]
    fn epoch_to_iso() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(Some(&json!("1893456000"))).as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(timestamp(Some(&json!(null))), None);
    }
}
