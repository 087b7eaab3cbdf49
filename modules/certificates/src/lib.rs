//! vcloud.usage_meter.certificates: after an upgrade, the appliance waits for
//! a person to accept the certificate of every metered product server again.
//! This module does it through the appliance REST API, optionally only for
//! certificates whose SHA-256 fingerprint the user pinned.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use usage_meter::api::types::{colon_hex, normalize_fingerprint};
use usage_meter::api::{ApiArgs, Client, PendingCertificate};
use usage_meter::ssh::ConnectionArgs;
use usage_meter::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Every allowed pending certificate is accepted.
    #[default]
    Accepted,
}

fn default_true() -> bool {
    true
}
fn default_confirm_timeout() -> u64 {
    30
}

/// Options of vcloud.usage_meter.certificates.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Only O(host) is used: this module talks to the appliance API over HTTPS,
    /// not SSH. The other connection options are accepted (and ignored) so one
    /// C(module_defaults) group can serve every module of the collection.
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    #[serde(flatten)]
    pub api: ApiArgs,
    /// What to do with the pending certificates.
    #[serde(default)]
    pub state: State,
    /// SHA-256 fingerprints of the product servers' certificates, keyed by
    /// C(<host>:<port>) as the appliance names them (for example
    /// C(vc01.example.com:443)). A key without a port matches that host on any port.
    ///
    /// Case, colons, spaces and a C(sha256:) or C(SHA256 Fingerprint=) prefix
    /// are ignored, so the output of C(openssl x509 -noout -fingerprint -sha256) can be pasted.
    ///
    /// A pending certificate whose pin differs is refused (reason C(fingerprint mismatch))
    /// and never accepted.
    #[serde(default)]
    pub expected_fingerprints: BTreeMap<String, String>,
    /// Whether to accept a pending certificate that has no pin in O(expected_fingerprints).
    ///
    /// Defaults to V(true) when O(expected_fingerprints) is empty (accept everything
    /// pending, as the web UI's "accept" does) and to V(false) when pins are given
    /// (refused with reason C(not pinned)).
    pub accept_unpinned: Option<bool>,
    /// Whether the task fails when any pending certificate was refused.
    ///
    /// The allowed certificates are accepted first either way; with V(false) the
    /// task succeeds and returns a warning listing the refused ones.
    #[serde(default = "default_true")]
    pub fail_on_refused: bool,
    /// Seconds to wait, after accepting, for the accepted certificates to leave
    /// the appliance's pending list. [guess] The API answers 202 and may apply
    /// the acceptance shortly afterwards.
    #[serde(default = "default_confirm_timeout")]
    #[schemars(range(min = 0, max = 3600))]
    pub confirm_timeout: u64,
}

/// One certificate in the result.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CertReport {
    /// Product type as the appliance names it (for example C(VCENTER), C(VCD)).
    #[schemars(extend("x-sample" = "VCENTER"))]
    pub product_type: String,
    /// The appliance's id of the product server.
    #[schemars(extend("x-sample" = 1))]
    pub product_id: Value,
    /// C(<host>:<port>) of the product server.
    #[schemars(extend("x-sample" = "vc01.example.com:443"))]
    pub certificate_id: String,
    /// Subject DN of the certificate.
    #[schemars(extend("x-sample" = "CN=vc01.example.com, OU=VCENTER, O=VMware, C=US"))]
    pub subject: Option<String>,
    /// Issuer DN of the certificate.
    pub issuer: Option<String>,
    /// Expiry of the certificate (notAfter), ISO 8601 UTC when the appliance gave epoch time.
    #[schemars(extend("x-sample" = "2027-11-25T06:00:00Z"))]
    pub expiry: Option<String>,
    /// SHA-256 fingerprint reported by the appliance, upper-case colon-separated hex.
    pub fingerprint: Option<String>,
    /// Only in RV(refused): C(fingerprint mismatch) or C(not pinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Only in RV(refused) with reason C(fingerprint mismatch): the pinned fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_fingerprint: Option<String>,
}

/// Result of vcloud.usage_meter.certificates.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Certificates accepted by this task (in check mode: that would be accepted).
    pub accepted: Vec<CertReport>,
    /// Pending certificates that were not accepted, with the reason.
    pub refused: Vec<CertReport>,
    /// Certificates still waiting for acceptance after the task (in check mode: predicted).
    pub pending: Vec<CertReport>,
}

/// Why a pending certificate is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The pin differs from the fingerprint the appliance reports (or it reports none).
    Mismatch { expected: String },
    /// No pin, and unpinned certificates are not accepted.
    NotPinned,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Mismatch { .. } => "fingerprint mismatch",
            Refusal::NotPinned => "not pinned",
        }
    }
}

/// Pins, keys and fingerprints normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins(BTreeMap<String, String>);

/// `HTTPS://VC01.Example.com:443/` → `vc01.example.com:443`.
pub fn normalize_key(key: &str) -> String {
    let k = key.trim().to_ascii_lowercase();
    let k = k.strip_prefix("https://").unwrap_or(&k);
    k.trim_end_matches('/').to_string()
}

/// The host part of `host:port` (or of a key without a port).
fn host_of(id: &str) -> &str {
    match id.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => id,
    }
}

impl Pins {
    /// Validate and normalise `expected_fingerprints`.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Pins, String> {
        let mut out = BTreeMap::new();
        for (k, v) in raw {
            let key = normalize_key(k);
            if key.is_empty() {
                return Err("expected_fingerprints has an empty key; use <host>:<port>".into());
            }
            let fp = normalize_fingerprint(v).map_err(|e| format!("expected_fingerprints[{k:?}]: {e}"))?;
            if let Some(prev) = out.insert(key.clone(), fp.clone()) {
                if prev != fp {
                    return Err(format!("expected_fingerprints pins {key} twice with different fingerprints"));
                }
            }
        }
        Ok(Pins(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pin for a certificate id: exact `host:port`, else a port-less key for the host.
    pub fn get(&self, certificate_id: &str) -> Option<&String> {
        let id = normalize_key(certificate_id);
        self.0.get(&id).or_else(|| {
            let host = host_of(&id);
            self.0.get(host).filter(|_| host != id)
        })
    }
}

/// The decision for one pending certificate.
pub fn decide(cert: &PendingCertificate, pins: &Pins, accept_unpinned: bool) -> Result<(), Refusal> {
    match pins.get(&cert.certificate_id) {
        Some(pin) => {
            let seen = cert.fingerprint.as_deref().and_then(|f| normalize_fingerprint(f).ok());
            if seen.as_deref() == Some(pin.as_str()) {
                Ok(())
            } else {
                Err(Refusal::Mismatch { expected: colon_hex(pin) })
            }
        }
        None if accept_unpinned => Ok(()),
        None => Err(Refusal::NotPinned),
    }
}

pub fn report(cert: &PendingCertificate, refusal: Option<&Refusal>) -> CertReport {
    CertReport {
        product_type: cert.product_type.clone(),
        product_id: cert.product_id.clone(),
        certificate_id: cert.certificate_id.clone(),
        subject: cert.subject.clone(),
        issuer: cert.issuer.clone(),
        expiry: cert.not_after.clone(),
        fingerprint: cert.fingerprint.clone(),
        reason: refusal.map(|r| r.reason().to_string()),
        expected_fingerprint: match refusal {
            Some(Refusal::Mismatch { expected }) => Some(expected.clone()),
            _ => None,
        },
    }
}

/// What to do with the pending certificates.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub accept: Vec<PendingCertificate>,
    pub refuse: Vec<(PendingCertificate, Refusal)>,
}

pub fn plan(pending: &[PendingCertificate], pins: &Pins, accept_unpinned: bool) -> Plan {
    let mut p = Plan::default();
    for c in pending {
        match decide(c, pins, accept_unpinned) {
            Ok(()) => p.accept.push(c.clone()),
            Err(r) => p.refuse.push((c.clone(), r)),
        }
    }
    p
}

/// Identity of a pending action (the same server may be listed for two products).
fn same(a: &PendingCertificate, b: &PendingCertificate) -> bool {
    a.certificate_id == b.certificate_id && a.product_id == b.product_id && a.product_type == b.product_type
}

fn ids(certs: &[PendingCertificate]) -> String {
    certs.iter().map(|c| format!("{} ({})\n", c.certificate_id, c.product_type)).collect()
}

fn list(certs: &[&PendingCertificate]) -> String {
    certs.iter().map(|c| c.certificate_id.as_str()).collect::<Vec<_>>().join(", ")
}

fn refused_text(refuse: &[(PendingCertificate, Refusal)]) -> String {
    refuse
        .iter()
        .map(|(c, r)| match r {
            Refusal::Mismatch { expected } => format!(
                "{} ({}): fingerprint mismatch, pinned {expected}, the appliance reports {}",
                c.certificate_id,
                c.product_type,
                c.fingerprint.as_deref().unwrap_or("none")
            ),
            Refusal::NotPinned => format!("{} ({}): not pinned in expected_fingerprints", c.certificate_id, c.product_type),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn output_value(out: &Output) -> serde_json::Map<String, Value> {
    match serde_json::to_value(out) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

#[derive(Debug)]
pub struct Certificates;

impl Module for Certificates {
    const NAME: &'static str = "certificates";
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Accept the pending product-server certificates of a Usage Meter appliance",
            description: &[
                "After an in-place upgrade, vCloud Usage Meter waits until the certificate of every metered product server (vCenter, vCloud Director, NSX, ...) is accepted again; the documented way is to click through the web UI.",
                "This module does it through the appliance REST API: it logs in as O(api_username), lists the pending C(Cert) user actions, accepts those allowed by O(expected_fingerprints) and O(accept_unpinned), and lists again to confirm.",
                "With O(expected_fingerprints), a certificate is accepted only when the appliance reports exactly the pinned SHA-256 fingerprint; others are refused, reported in RV(refused) and left pending.",
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options. The session id is never shown, and a session that expires mid-run is renewed once.",
            ],
            notes: &[
                "The API works only after the appliance's initial setup is done, and it serves a self-signed certificate by default: give that certificate (PEM) in O(ca_path), or set O(validate_certs=false) in a lab.",
                "When any certificate is refused and O(fail_on_refused=true) (the default), the task fails after accepting the allowed ones; RV(accepted), RV(refused) and RV(pending) are still returned.",
                "In check mode nothing is accepted; RV(accepted) lists what would be accepted, and refusals fail the task as they would in a real run.",
                "The SSH options of the connection fragment are accepted so that C(module_defaults) for the C(group/vcloud.usage_meter.usage_meter) group works, but only O(host) is used.",
            ],
            examples: r#"
- name: Accept every pending product-server certificate (lab)
  vcloud.usage_meter.certificates:
    api_password: "{{ um_api_password }}"
    ca_path: files/um01-api.pem

- name: Accept only the certificates we expect, report the rest
  vcloud.usage_meter.certificates:
    api_password: "{{ um_api_password }}"
    ca_path: files/um01-api.pem
    expected_fingerprints:
      "vc01.example.com:443": "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
      "vcd01.example.com:443": "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
    fail_on_refused: false
  register: certs

- name: Tell a person what still needs them
  ansible.builtin.debug:
    msg: "Still pending: {{ certs.pending | map(attribute='certificate_id') | list }}"
  when: certs.pending | length > 0
"#,
            check_mode: Support::Full,
            diff_mode: Support::Full,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        let pins = Pins::parse(&p.expected_fingerprints).map_err(|m| {
            Failure::new("validate expected_fingerprints", m)
                .hint("give <host>:<port> keys and SHA-256 fingerprints (64 hex digits, colons optional)")
        })?;
        let accept_unpinned = p.accept_unpinned.unwrap_or(pins.is_empty());
        let mut api = Client::new(&p.connection.host, &p.api, ctx).map_err(|e| e.into_failure("connect to the API"))?;
        api.login(ctx).map_err(|e| e.into_failure("log in to the API"))?;
        let before = api.pending_certificates(ctx).map_err(|e| e.into_failure("list pending certificates"))?;
        ctx.log(2, format!("{} certificate(s) pending", before.len()));
        let todo = plan(&before, &pins, accept_unpinned);
        let refused: Vec<CertReport> = todo.refuse.iter().map(|(c, r)| report(c, Some(r))).collect();
        let predicted: Vec<PendingCertificate> = before.iter().filter(|c| !todo.accept.iter().any(|a| same(a, c))).cloned().collect();
        let diff = Diff::new(ids(&before), ids(&predicted));

        if todo.accept.is_empty() {
            let out = Output { accepted: vec![], refused, pending: before.iter().map(|c| report(c, None)).collect() };
            let msg = if before.is_empty() {
                "no certificate is waiting for acceptance".to_string()
            } else {
                "no pending certificate may be accepted".to_string()
            };
            return finish(ctx, &p, &todo, false, out, None, msg);
        }
        if ctx.check_mode {
            let accepted: Vec<CertReport> = todo.accept.iter().map(|c| report(c, None)).collect();
            let out = Output { accepted, refused, pending: predicted.iter().map(|c| report(c, None)).collect() };
            let msg = format!("would accept {}", list(&todo.accept.iter().collect::<Vec<_>>()));
            return finish(ctx, &p, &todo, true, out, Some(diff), msg);
        }

        let mut done: Vec<&PendingCertificate> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        let mut unknown_product = false;
        for c in &todo.accept {
            match api.accept_certificate(ctx, c) {
                Ok(()) => {
                    ctx.log(1, format!("accepted {} ({})", c.certificate_id, c.product_type));
                    done.push(c);
                }
                Err(e) if e.kind == usage_meter::api::ApiErrorKind::Http => {
                    unknown_product |= e.status == Some(502);
                    errors.push(format!("{} ({}): {}", c.certificate_id, c.product_type, e.detail));
                }
                // Transport, TLS or session trouble affects every call: stop here.
                Err(e) => {
                    let mut f = e.into_failure("accept certificates");
                    if !done.is_empty() {
                        f = f.with("changed", true).with(
                            "accepted",
                            serde_json::to_value(done.iter().map(|c| report(c, None)).collect::<Vec<_>>()).unwrap_or(Value::Null),
                        );
                    }
                    return Err(f);
                }
            }
        }

        // Confirm: the accepted ones leave the pending list (202 may mean "soon").
        let deadline = Instant::now() + Duration::from_secs(p.confirm_timeout);
        let after = loop {
            let now =
                api.pending_certificates(ctx).map_err(|e| e.into_failure("confirm the acceptance").with("changed", !done.is_empty()))?;
            let lingering = done.iter().any(|d| now.iter().any(|c| same(c, d)));
            if !lingering || Instant::now() >= deadline {
                break now;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let still: Vec<&PendingCertificate> = done.iter().copied().filter(|d| after.iter().any(|c| same(c, d))).collect();
        let accepted: Vec<CertReport> = done.iter().filter(|d| !still.iter().any(|s| same(s, d))).map(|c| report(c, None)).collect();
        let changed = !done.is_empty();
        let out = Output { accepted, refused, pending: after.iter().map(|c| report(c, None)).collect() };
        let diff = Diff::new(ids(&before), ids(&after));
        if !errors.is_empty() || !still.is_empty() {
            let mut what = Vec::new();
            if !errors.is_empty() {
                what.push(format!("the appliance refused to accept {}", errors.join("; ")));
            }
            if !still.is_empty() {
                what.push(format!("{} still pending {} s after being accepted", list(&still), p.confirm_timeout));
            }
            let hint = if unknown_product {
                "HTTP 502 means the appliance no longer knows the product: check it in the web UI (Products) and run the task again"
            } else if errors.is_empty() {
                "the appliance took the acceptance but still lists the certificate: raise confirm_timeout if it is slow, or check the web UI"
            } else {
                "check the appliance's API log and the product in the web UI (Products), then run the task again"
            };
            let mut f = Failure::new("accept certificates", what.join("; ")).hint(hint).with("changed", changed);
            for (k, v) in output_value(&out) {
                f = f.with(&k, v);
            }
            if ctx.diff {
                f = f.with("diff", serde_json::to_value(&diff).unwrap_or(Value::Null));
            }
            return Err(f);
        }
        let msg = format!("accepted {}", list(&done));
        finish(ctx, &p, &todo, changed, out, Some(diff), msg)
    }
}

/// Success, or the documented failure when something was refused.
fn finish(
    ctx: &mut Context,
    p: &Params,
    todo: &Plan,
    changed: bool,
    out: Output,
    diff: Option<Diff>,
    msg: String,
) -> Result<Outcome<Output>, Failure> {
    if !todo.refuse.is_empty() {
        let text = refused_text(&todo.refuse);
        if p.fail_on_refused {
            let prefix = if ctx.check_mode { "would refuse" } else { "refused" };
            let mut f = Failure::new(
                "check fingerprints",
                format!(
                    "{prefix} {} certificate(s): {text}{}",
                    todo.refuse.len(),
                    if todo.accept.is_empty() { String::new() } else { format!("; {msg}") }
                ),
            )
            .hint(
                "compare each fingerprint with the product server's real certificate (openssl s_client -connect <host>:<port> | \
                 openssl x509 -noout -fingerprint -sha256); fix expected_fingerprints, accept it in the web UI, or set \
                 fail_on_refused: false to only warn",
            )
            .with("changed", changed);
            for (k, v) in output_value(&out) {
                f = f.with(&k, v);
            }
            if let (true, Some(d)) = (ctx.diff, &diff) {
                f = f.with("diff", serde_json::to_value(d).unwrap_or(Value::Null));
            }
            return Err(f);
        }
        ctx.warn(format!("left pending, not accepted: {text}"));
    }
    let mut o = Outcome::new(changed, out).msg(msg);
    if let Some(d) = diff {
        o = o.diff(d);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
    const B: &str = "11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF:11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF";

    fn cert(id: &str, fp: Option<&str>) -> PendingCertificate {
        PendingCertificate {
            product_id: json!(1),
            product_type: "VCENTER".into(),
            certificate_id: id.into(),
            subject: Some(format!("CN={id}")),
            issuer: None,
            not_before: None,
            not_after: Some("2030-01-01T00:00:00Z".into()),
            fingerprint: fp.map(String::from),
        }
    }

    fn pins(p: &[(&str, &str)]) -> Pins {
        Pins::parse(&p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
    }

    #[test]
    fn no_pins_accepts_all_by_default() {
        let none = Pins::default();
        assert_eq!(decide(&cert("vc:443", Some(A)), &none, true), Ok(()));
        assert_eq!(decide(&cert("vc:443", None), &none, true), Ok(()));
        assert_eq!(decide(&cert("vc:443", Some(A)), &none, false), Err(Refusal::NotPinned));
    }

    #[test]
    fn pin_decision_table() {
        let p = pins(&[("VC:443", &A.to_lowercase().replace(':', "")), ("vcd", B)]);
        // matching pin, case and colons ignored, key case ignored
        assert_eq!(decide(&cert("vc:443", Some(A)), &p, false), Ok(()));
        // mismatching pin: refused even with accept_unpinned
        assert_eq!(decide(&cert("vc:443", Some(B)), &p, true), Err(Refusal::Mismatch { expected: A.into() }));
        // pinned but no fingerprint reported: mismatch
        assert_eq!(decide(&cert("vc:443", None), &p, true), Err(Refusal::Mismatch { expected: A.into() }));
        // port-less key pins the host on any port
        assert_eq!(decide(&cert("vcd:8443", Some(B)), &p, false), Ok(()));
        // unpinned: depends on accept_unpinned
        assert_eq!(decide(&cert("nsx:443", Some(A)), &p, false), Err(Refusal::NotPinned));
        assert_eq!(decide(&cert("nsx:443", Some(A)), &p, true), Ok(()));
        // a different port of a host pinned with a port is not pinned
        assert_eq!(decide(&cert("vc:8443", Some(A)), &p, false), Err(Refusal::NotPinned));
    }

    #[test]
    fn bad_pins_are_refused_before_any_request() {
        let raw: BTreeMap<String, String> = [("vc:443".to_string(), "abc".to_string())].into();
        assert!(Pins::parse(&raw).unwrap_err().contains("expected_fingerprints[\"vc:443\"]"));
        let raw: BTreeMap<String, String> = [(" ".to_string(), A.to_string())].into();
        assert!(Pins::parse(&raw).unwrap_err().contains("empty key"));
        let raw: BTreeMap<String, String> = [("VC:443".to_string(), A.to_string()), ("vc:443".to_string(), B.to_string())].into();
        assert!(Pins::parse(&raw).unwrap_err().contains("twice"));
    }

    #[test]
    fn plan_splits_and_reports() {
        let p = pins(&[("vc:443", A), ("vcd:443", A)]);
        let pending = vec![cert("vc:443", Some(A)), cert("vcd:443", Some(B)), cert("nsx:443", Some(A))];
        let todo = plan(&pending, &p, false);
        assert_eq!(todo.accept.len(), 1);
        assert_eq!(todo.refuse.len(), 2);
        let r = report(&todo.refuse[0].0, Some(&todo.refuse[0].1));
        assert_eq!(r.reason.as_deref(), Some("fingerprint mismatch"));
        assert_eq!(r.expected_fingerprint.as_deref(), Some(A));
        assert_eq!(r.expiry.as_deref(), Some("2030-01-01T00:00:00Z"));
        let r = report(&todo.refuse[1].0, Some(&todo.refuse[1].1));
        assert_eq!(r.reason.as_deref(), Some("not pinned"));
        assert_eq!(r.expected_fingerprint, None);
        let text = refused_text(&todo.refuse);
        assert!(text.contains("vcd:443 (VCENTER): fingerprint mismatch"), "{text}");
        assert!(text.contains("nsx:443 (VCENTER): not pinned"), "{text}");
        // serialised without the refusal-only fields
        let v = serde_json::to_value(report(&pending[0], None)).unwrap();
        assert!(v.get("reason").is_none());
    }

    #[test]
    fn keys_normalise() {
        assert_eq!(normalize_key(" HTTPS://VC01.Example.com:443/ "), "vc01.example.com:443");
        assert_eq!(host_of("vc01:443"), "vc01");
        assert_eq!(host_of("vc01"), "vc01");
    }
}
