//! vcloud.usage_meter.certificates: after an upgrade, the appliance waits for
//! a person to accept the certificate of every metered product server again.
//! This module does it through the appliance REST API, optionally only for
//! certificates whose SHA-256 fingerprint the user pinned.

mod decide;
mod outcome;

pub use decide::{decide, normalize_key, plan, Pins, Plan, Refusal};
pub use outcome::report;

use outcome::{finish, ids, list, output_value, same};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use usage_meter::api::{ApiArgs, ApiUsed, Client, PendingCertificate};
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
    /// The appliance API spoken: its generation (C(4) or C(9), see O(api_generation)) and port.
    pub api: ApiUsed,
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
                "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as options. The session id (4.x) or bearer token (9.x) is never shown, and a session that expires mid-run is renewed once.",
                "Speaks both generations of the appliance API: 4.x (port 8443, a session id) and 9.x (port 443, a bearer token), told from the login answer unless O(api_generation) forces one; RV(api) says which.",
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
            let out = Output { accepted: vec![], refused, pending: before.iter().map(|c| report(c, None)).collect(), api: api.used() };
            let msg = if before.is_empty() {
                "no certificate is waiting for acceptance".to_string()
            } else {
                "no pending certificate may be accepted".to_string()
            };
            return finish(ctx, &p, &todo, false, out, None, msg);
        }
        if ctx.check_mode {
            let accepted: Vec<CertReport> = todo.accept.iter().map(|c| report(c, None)).collect();
            let out = Output { accepted, refused, pending: predicted.iter().map(|c| report(c, None)).collect(), api: api.used() };
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
        let out = Output { accepted, refused, pending: after.iter().map(|c| report(c, None)).collect(), api: api.used() };
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

#[cfg(test)]
mod tests;
