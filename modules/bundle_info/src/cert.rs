//! The `.crt` that signs an ISO: its chain to the trust store (the controller's
//! system store, found as rustls-native-certs finds it, or a given CA file) and
//! its validity dates.
//!
//! OpenSSL's built-in default paths point into the build tree of the vendored,
//! static OpenSSL, not at the controller's store, so the store is loaded here.

use openssl::asn1::Asn1Time;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509StoreContext, X509};
use std::path::Path;

/// The signing certificate and any intermediates shipped with it.
#[derive(Debug)]
pub struct SigningCert {
    pub leaf: X509,
    pub chain: Vec<X509>,
}

/// Read a PEM file (leaf first, then intermediates) or one DER certificate.
pub fn load(path: &Path) -> Result<SigningCert, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certs = X509::stack_from_pem(&bytes).unwrap_or_default();
    if certs.is_empty() {
        certs = X509::from_der(&bytes).map(|c| vec![c]).map_err(|_| format!("{} holds no PEM or DER certificate", path.display()))?;
    }
    let leaf = certs.remove(0);
    Ok(SigningCert { leaf, chain: certs })
}

/// Where the trust anchors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchors<'a> {
    /// The controller's system store (E(SSL_CERT_FILE), E(SSL_CERT_DIR), then the distribution's bundle).
    System,
    /// A PEM file of CA certificates.
    File(&'a Path),
}

/// The trust store, or why it could not be built.
pub fn store(anchors: &Anchors<'_>) -> Result<X509Store, String> {
    let mut b = X509StoreBuilder::new().map_err(|e| e.to_string())?;
    let mut n = 0usize;
    match anchors {
        Anchors::File(p) => {
            let bytes = std::fs::read(p).map_err(|e| format!("cannot read the CA file {}: {e}", p.display()))?;
            for c in X509::stack_from_pem(&bytes).map_err(|_| format!("{} holds no PEM certificate", p.display()))? {
                n += usize::from(b.add_cert(c).is_ok());
            }
        }
        Anchors::System => {
            for der in rustls_native_certs::load_native_certs().certs {
                if let Ok(c) = X509::from_der(der.as_ref()) {
                    n += usize::from(b.add_cert(c).is_ok());
                }
            }
        }
    }
    if n == 0 {
        return Err(match anchors {
            Anchors::File(p) => format!("{} holds no CA certificate", p.display()),
            Anchors::System => "no CA certificate was found in the controller's system store".into(),
        });
    }
    // The dates are judged on their own (expired_certificate), not here.
    b.set_flags(X509VerifyFlags::NO_CHECK_TIME).map_err(|e| e.to_string())?;
    Ok(b.build())
}

/// Whether the certificate chains to `store`, dates aside.
pub fn chains(store: &X509Store, cert: &SigningCert) -> Result<(), String> {
    let mut untrusted = Stack::new().map_err(|e| e.to_string())?;
    for c in &cert.chain {
        untrusted.push(c.clone()).map_err(|e| e.to_string())?;
    }
    let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
    let (ok, why) = ctx
        .init(store, &cert.leaf, &untrusted, |c| Ok((c.verify_cert()?, c.error().error_string().to_string())))
        .map_err(|e| e.to_string())?;
    if ok {
        Ok(())
    } else {
        Err(why)
    }
}

/// The validity dates as the module returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dates {
    pub not_before: String,
    pub not_after: String,
    pub not_yet_valid: bool,
    pub expired: bool,
}

pub fn dates(cert: &X509) -> Result<Dates, String> {
    let now = Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
    let nb = cert.not_before();
    let na = cert.not_after();
    Ok(Dates { not_before: nb.to_string(), not_after: na.to_string(), not_yet_valid: nb > now, expired: na < now })
}

/// `CN=..., O=...` of a name, for messages and the result.
pub fn name(n: &openssl::x509::X509NameRef) -> String {
    n.entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let val = e.data().to_string().ok()?;
            Some(format!("{key}={val}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
