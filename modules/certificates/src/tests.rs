//! Unit tests of the pure parts: pins, the decision table, the plan and its reports.

use super::*;
use crate::decide::host_of;
use crate::outcome::refused_text;
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
