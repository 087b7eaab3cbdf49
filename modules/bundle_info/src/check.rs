//! The controller-side checks of one ISO: its `.mf` SHA-1, its certificate
//! (chain, dates) and its `.sign` signature. Each failure names the check and
//! the file, and what to do.

use crate::bundle::{name_of, Bundle, Kind};
use crate::cert::{self, SigningCert};
use crate::digest::{self, Pass, SigDigest};
use crate::{cache, manifest, BundleReport, CertInfo, ExpiredCertificate};
use openssl::x509::store::X509Store;
use std::path::Path;
use usage_meter::{Context, Failure};

/// What the checks need besides the bundle.
pub struct Policy<'a> {
    pub store: &'a X509Store,
    pub expired: ExpiredCertificate,
    pub digest: SigDigest,
}

impl std::fmt::Debug for Policy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("expired", &self.expired).field("digest", &self.digest).finish_non_exhaustive()
    }
}

fn fail(check: &str, file: &Path, what: String, todo: &str) -> Failure {
    Failure::new(check, format!("{}: {what}", file.display())).hint(todo).with("check", check).with("file", file.display().to_string())
}

const REDOWNLOAD: &str = "download the ISO and its .mf, .crt and .sign again from the vendor portal";

/// The shar: only that it is there (shar_copy checks its sha256 when it copies it).
pub fn verify_shar(b: &Bundle) -> Result<BundleReport, Failure> {
    if !b.path.is_file() {
        return Err(fail("read bundle", &b.path, "no such file".into(), "give the path of the 4.3 shar on the controller"));
    }
    Ok(BundleReport::of(b))
}

/// Verify `b`: an ISO's three checks, or the shar's presence.
pub fn verify(ctx: &mut Context, b: &Bundle, p: &Policy<'_>) -> Result<BundleReport, Failure> {
    let mut report = BundleReport::of(b);
    let Kind::Iso { mf, crt, sign } = &b.kind else {
        return verify_shar(b);
    };
    for f in [&b.path, mf, crt, sign] {
        if !f.is_file() {
            return Err(fail(
                "read bundle",
                f,
                "no such file".into(),
                "put the ISO's .mf, .crt and .sign beside it (same name), or give their paths",
            ));
        }
    }
    let mf_text = std::fs::read_to_string(mf).map_err(|e| fail("manifest", mf, e.to_string(), REDOWNLOAD))?;
    let expected = manifest::sha1_for(&mf_text, &name_of(&b.path)).map_err(|m| fail("manifest", mf, m, REDOWNLOAD))?;
    let signing = check_certificate(ctx, crt, p)?;
    report.certificate = Some(cert_info(&signing)?);
    let pass = digest_pass(b, crt, sign, &signing, p.digest, &mut report.cached)?;
    if pass.sha1 != expected {
        let what = format!("SHA-1 {} differs from {} given for it in {}", pass.sha1, expected, mf.display());
        return Err(fail("sha1", &b.path, what, "the ISO is damaged or altered: download it again and compare with the vendor portal"));
    }
    if !pass.signature_ok {
        let what = format!("the signature {} does not match the ISO with the key of {}", sign.display(), crt.display());
        return Err(fail("signature", sign, what, "do not use this ISO: download the ISO, its .crt and .sign again"));
    }
    report.sha1 = Some(pass.sha1);
    report.size = Some(pass.size);
    report.verified = true;
    Ok(report)
}

fn check_certificate(ctx: &mut Context, crt: &Path, p: &Policy<'_>) -> Result<SigningCert, Failure> {
    let todo_chain =
        "the signing certificate must chain to the system trust store or to ca_path: check ca_path, or download the .crt again";
    let signing = cert::load(crt).map_err(|m| fail("certificate", crt, m, REDOWNLOAD))?;
    cert::chains(p.store, &signing).map_err(|m| fail("certificate", crt, format!("does not chain to a trusted CA ({m})"), todo_chain))?;
    let d = cert::dates(&signing.leaf).map_err(|m| fail("certificate dates", crt, m, REDOWNLOAD))?;
    if d.not_yet_valid {
        return Err(fail("certificate dates", crt, format!("not valid before {}", d.not_before), "check the controller's clock"));
    }
    if d.expired {
        let what = format!("expired on {}", d.not_after);
        match p.expired {
            ExpiredCertificate::Fail => {
                return Err(fail(
                    "certificate dates",
                    crt,
                    what,
                    "an ISO signed with a certificate that has since expired can be accepted with expired_certificate: warn, once its SHA-1 is checked against the vendor portal",
                ));
            }
            ExpiredCertificate::Warn => {
                ctx.warn(format!("certificate dates: {}: {what} (accepted: expired_certificate is warn)", crt.display()))
            }
        }
    }
    Ok(signing)
}

fn cert_info(c: &SigningCert) -> Result<CertInfo, Failure> {
    let d = cert::dates(&c.leaf).map_err(|m| Failure::new("certificate dates", m))?;
    Ok(CertInfo {
        subject: cert::name(c.leaf.subject_name()),
        issuer: cert::name(c.leaf.issuer_name()),
        not_before: d.not_before,
        not_after: d.not_after,
        expired: d.expired,
    })
}

/// The pass over the ISO, from the cache when none of its inputs changed.
fn digest_pass(b: &Bundle, crt: &Path, sign: &Path, c: &SigningCert, dg: SigDigest, cached: &mut bool) -> Result<Pass, Failure> {
    let make = || {
        let sig = std::fs::read(sign).map_err(|e| fail("signature", sign, e.to_string(), REDOWNLOAD))?;
        let key = c.leaf.public_key().map_err(|e| fail("certificate", crt, format!("no usable public key ({e})"), REDOWNLOAD))?;
        digest::pass(&b.path, &key, dg, &sig).map_err(|m| fail("read bundle", &b.path, m, "check that the ISO is readable"))
    };
    let ids: Option<Vec<String>> = [b.path.as_path(), crt, sign].into_iter().map(cache::identity).collect();
    let Some(ids) = ids else { return make() };
    let (pass, hit) = cache::once(&format!("{}|{dg:?}", ids.join("|")), make)?;
    *cached = hit;
    Ok(pass)
}
