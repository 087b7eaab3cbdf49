//! Which pending certificates may be accepted: the pins of
//! `expected_fingerprints`, the decision for each certificate, and the plan
//! that splits them into accepted and refused.

use std::collections::BTreeMap;
use usage_meter::api::types::{colon_hex, normalize_fingerprint};
use usage_meter::api::PendingCertificate;

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
pub(crate) fn host_of(id: &str) -> &str {
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
