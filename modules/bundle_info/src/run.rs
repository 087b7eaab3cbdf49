//! The module's flow: read the options, plan, check the token, verify the ISOs used.

use crate::bundle::{self, Bundle};
use crate::check::{self, Policy};
use crate::digest::SigDigest;
use crate::plan::{plan, Hop};
use crate::rules::{table, Guesses, Ver};
use crate::{cert, HopReport, Output, Params, SignatureDigest};
use usage_meter::{Context, Failure};

fn version(option: &str, s: &str) -> Result<Ver, Failure> {
    Ver::parse(s).ok_or_else(|| {
        Failure::new(option, format!("'{s}' is not a version")).hint(format!("give {option} as major.minor.patch, such as 4.3.0"))
    })
}

fn guesses(p: &Params) -> Result<Guesses, Failure> {
    Ok(Guesses { min_source_4_8: version("min_source_4_8", &p.min_source_4_8)?, min_source_9: version("min_source_9", &p.min_source_9)? })
}

pub fn run(ctx: &mut Context, p: &Params) -> Result<Output, Failure> {
    let current = version("current_version", &p.current_version)?;
    let target = version("target_version", &p.target_version)?;
    let rules = table(guesses(p)?);
    let bundles: Vec<Bundle> = p.bundles.iter().map(bundle::resolve).collect::<Result<_, _>>()?;
    let versions: Vec<Ver> = bundles.iter().map(|b| b.version).collect();
    let hops = plan(&rules, current, target, &versions).map_err(|r| {
        Failure::new("plan hops", r.message)
            .hint("download what is named and add it to bundles, or set target_version")
            .with("missing", r.missing.iter().map(|v| v.short()).collect::<Vec<_>>())
    })?;
    check_token(p, &hops)?;
    let reports = verify_all(ctx, p, &bundles, &hops)?;
    let used: Vec<usize> = hops.iter().map(|h| h.bundle).collect();
    Ok(Output {
        current_version: current.to_string(),
        target_version: target.to_string(),
        upgrade_needed: current < target,
        hops: reports,
        unused: (0..bundles.len()).filter(|i| !used.contains(i)).map(|i| bundles[i].path.display().to_string()).collect(),
    })
}

/// A hop from 4.x to 9.x needs the access token; it starts with `UMA:` (never shown).
fn check_token(p: &Params, hops: &[Hop]) -> Result<(), Failure> {
    let Some(h) = hops.iter().find(|h| h.rule.token) else { return Ok(()) };
    let todo = "give access_token: the VCF Usage Meter access token (it starts with UMA:) from the vendor portal";
    match &p.access_token {
        None => {
            Err(Failure::new("access token", format!("the hop {} → {} needs the access token and none is given", h.from, h.to)).hint(todo))
        }
        Some(t) if !t.expose().trim().starts_with("UMA:") => {
            Err(Failure::new("access token", "the access_token given does not start with UMA:").hint(todo))
        }
        Some(_) => Ok(()),
    }
}

fn verify_all(ctx: &mut Context, p: &Params, bundles: &[Bundle], hops: &[Hop]) -> Result<Vec<HopReport>, Failure> {
    let needs_store = hops.iter().any(|h| matches!(bundles[h.bundle].kind, bundle::Kind::Iso { .. }));
    let anchors = p.ca_path.as_deref().map_or(cert::Anchors::System, cert::Anchors::File);
    let store = if needs_store {
        let file = p.ca_path.as_ref().map_or_else(|| "the system store".to_string(), |c| c.display().to_string());
        Some(cert::store(&anchors).map_err(|m| {
            Failure::new("certificate", m)
                .hint("give ca_path, a PEM file with the CA that signs the vendor's certificate")
                .with("file", file)
        })?)
    } else {
        None
    };
    let digest = match p.signature_digest {
        SignatureDigest::Sha1 => SigDigest::Sha1,
        SignatureDigest::Sha256 => SigDigest::Sha256,
    };
    let mut out = Vec::new();
    for h in hops {
        let b = &bundles[h.bundle];
        let report = match &store {
            Some(s) => check::verify(ctx, b, &Policy { store: s, expired: p.expired_certificate, digest })?,
            None => check::verify_shar(b)?,
        };
        out.push(HopReport {
            from: h.from.to_string(),
            to: h.to.to_string(),
            needs_token: h.rule.token,
            rule: h.rule.describe(),
            bundle: report,
        });
    }
    Ok(out)
}
