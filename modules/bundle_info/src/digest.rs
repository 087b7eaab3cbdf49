//! One pass over the ISO (read 4 MiB at a time): its SHA-1 for the `.mf`, and the
//! check of the `.sign` signature with the certificate's public key.

use openssl::hash::{Hasher, MessageDigest};
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use std::io::Read;
use std::path::Path;

/// The digest the `.sign` signature was made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigDigest {
    Sha1,
    Sha256,
}

impl SigDigest {
    fn md(self) -> MessageDigest {
        match self {
            SigDigest::Sha1 => MessageDigest::sha1(),
            SigDigest::Sha256 => MessageDigest::sha256(),
        }
    }
}

/// What one pass found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub size: u64,
    pub sha1: String,
    pub signature_ok: bool,
}

/// Hash `iso` and check `signature` over it with `key`.
pub fn pass(iso: &Path, key: &PKey<Public>, digest: SigDigest, signature: &[u8]) -> Result<Pass, String> {
    let err = |e: openssl::error::ErrorStack| e.to_string();
    let mut f = std::fs::File::open(iso).map_err(|e| format!("cannot read {}: {e}", iso.display()))?;
    let mut sha1 = Hasher::new(MessageDigest::sha1()).map_err(err)?;
    let mut verifier = Verifier::new(digest.md(), key).map_err(err)?;
    let mut buf = vec![0u8; 4 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("reading {}: {e}", iso.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        sha1.update(&buf[..n]).map_err(err)?;
        verifier.update(&buf[..n]).map_err(err)?;
    }
    let sum = sha1.finish().map_err(err)?;
    // A malformed signature is an error inside OpenSSL: it is a bad signature here.
    let signature_ok = verifier.verify(signature).unwrap_or(false);
    Ok(Pass { size, sha1: usage_meter::checksum::hex(&sum), signature_ok })
}
