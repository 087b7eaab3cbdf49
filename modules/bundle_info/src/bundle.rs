//! A bundle as given (its path, optional overrides) resolved to its kind, its
//! version and build, and the paths of its `.mf`, `.crt` and `.sign`.

use crate::rules::Ver;
use crate::BundleSpec;
use std::path::{Path, PathBuf};
use usage_meter::Failure;

/// The 4.3 bundle's version (it has no other).
pub const SHAR_VERSION: Ver = Ver::new(4, 3, 0);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Shar,
    Iso { mf: PathBuf, crt: PathBuf, sign: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub path: PathBuf,
    pub version: Ver,
    pub build: Option<String>,
    pub kind: Kind,
}

/// `Usage_Meter_Agent-<version>-<build>_Upgrade.iso` → (version, build).
pub fn parse_iso_name(name: &str) -> Option<(Ver, String)> {
    let rest = name.strip_prefix("Usage_Meter_Agent-")?.strip_suffix("_Upgrade.iso")?;
    let (ver, build) = rest.rsplit_once('-')?;
    let v = Ver::parse(ver).filter(|_| ver.bytes().all(|b| b.is_ascii_digit() || b == b'.'))?;
    (!build.is_empty() && build.bytes().all(|b| b.is_ascii_digit())).then(|| (v, build.to_string()))
}

/// The sidecar with the same stem: `..._Upgrade.iso` → `..._Upgrade.mf`.
fn beside(iso: &Path, ext: &str) -> PathBuf {
    iso.with_extension(ext)
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Resolve one bundle, or say what is wrong with how it was given.
pub fn resolve(spec: &BundleSpec) -> Result<Bundle, Failure> {
    let path = spec.path.clone();
    let name = file_name(&path);
    let given = match spec.version.as_deref() {
        Some(v) => Some(Ver::parse(v).ok_or_else(|| {
            Failure::new("bundles", format!("version '{v}' of bundle {} is not a version", path.display()))
                .hint("give the release as major.minor.patch, such as 4.8.0")
        })?),
        None => None,
    };
    if name.ends_with(".shar") {
        let version = given.unwrap_or(SHAR_VERSION);
        return Ok(Bundle { path, version, build: None, kind: Kind::Shar });
    }
    let parsed = parse_iso_name(&name);
    let version = given.or(parsed.as_ref().map(|p| p.0)).ok_or_else(|| {
        Failure::new("bundles", format!("the version of {} cannot be read from its name", path.display()))
            .hint("keep the vendor's file name Usage_Meter_Agent-<version>-<build>_Upgrade.iso, or give the bundle's version")
    })?;
    let kind = Kind::Iso {
        mf: spec.mf.clone().unwrap_or_else(|| beside(&path, "mf")),
        crt: spec.crt.clone().unwrap_or_else(|| beside(&path, "crt")),
        sign: spec.sign.clone().unwrap_or_else(|| beside(&path, "sign")),
    };
    Ok(Bundle { path, version, build: parsed.map(|p| p.1), kind })
}

/// The ISO's file name as the `.mf` names it.
pub fn name_of(p: &Path) -> String {
    file_name(p)
}
