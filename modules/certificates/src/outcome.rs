//! What the task returns: the report of each certificate, the lists and texts
//! of the diff and the messages, and the end of a run (success, or the
//! documented failure when a certificate was refused).

use crate::decide::{Plan, Refusal};
use crate::{CertReport, Output, Params};
use serde_json::Value;
use usage_meter::api::PendingCertificate;
use usage_meter::{Context, Diff, Failure, Outcome};

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

/// Identity of a pending action (the same server may be listed for two products).
pub(crate) fn same(a: &PendingCertificate, b: &PendingCertificate) -> bool {
    a.certificate_id == b.certificate_id && a.product_id == b.product_id && a.product_type == b.product_type
}

pub(crate) fn ids(certs: &[PendingCertificate]) -> String {
    certs.iter().map(|c| format!("{} ({})\n", c.certificate_id, c.product_type)).collect()
}

pub(crate) fn list(certs: &[&PendingCertificate]) -> String {
    certs.iter().map(|c| c.certificate_id.as_str()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn refused_text(refuse: &[(PendingCertificate, Refusal)]) -> String {
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

pub(crate) fn output_value(out: &Output) -> serde_json::Map<String, Value> {
    match serde_json::to_value(out) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Success, or the documented failure when something was refused.
pub(crate) fn finish(
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
