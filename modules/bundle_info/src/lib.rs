//! vcloud.usage_meter.bundle_info: on the controller, before anything touches an
//! appliance, work out the hops from the appliance's version to the target with
//! the bundles given (`rules.rs`, `plan.rs`), and verify the ISOs those hops use
//! (`check.rs`: the `.mf` SHA-1, the certificate, the signature; `cache.rs`).

mod bundle;
mod cache;
mod cert;
mod check;
mod digest;
mod manifest;
mod plan;
pub mod rules;
mod run;

#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use usage_meter::secret::Secret;
use usage_meter::ssh::ConnectionArgs;
use usage_meter::{Context, Failure, Module, ModuleDoc, Outcome, Support};

pub use plan::{plan, Hop, Refusal};

fn default_target() -> String {
    "4.3.0".into()
}
fn default_4_3() -> String {
    "4.3.0".into()
}
fn default_4_8() -> String {
    "4.8.0".into()
}

/// One bundle the operator downloaded.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleSpec {
    /// Path on the controller of the 4.3 shar (C(ums-system-upgrade.shar)) or of an ISO (C(Usage_Meter_Agent-<version>-<build>_Upgrade.iso)).
    #[schemars(length(min = 1), extend("x-ansible-type" = "path"))]
    pub path: PathBuf,
    /// The bundle's version, when its file name does not carry it.
    pub version: Option<String>,
    /// The ISO's manifest (its SHA-1); default the ISO's path with C(.mf).
    #[schemars(extend("x-ansible-type" = "path"))]
    pub mf: Option<PathBuf>,
    /// The certificate that signs the ISO; default the ISO's path with C(.crt).
    #[schemars(extend("x-ansible-type" = "path"))]
    pub crt: Option<PathBuf>,
    /// The ISO's signature; default the ISO's path with C(.sign).
    #[schemars(extend("x-ansible-type" = "path"))]
    pub sign: Option<PathBuf>,
}

/// What to do with an ISO whose signing certificate has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiredCertificate {
    /// Refuse the ISO.
    #[default]
    Fail,
    /// Accept it with a warning (the chain and the signature are still checked).
    Warn,
}

/// The digest the C(.sign) signature is made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureDigest {
    /// As the vendor's command (C(openssl dgst -sha1 -verify)).
    #[default]
    Sha1,
    /// [guess] For an ISO signed with SHA-256.
    Sha256,
}

/// Options of vcloud.usage_meter.bundle_info.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The connection options every module of the collection takes (one action
    /// group, one `module_defaults`). This module opens no connection: it names
    /// C(host) in its messages and ignores the rest.
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// The version the appliance reports (RV(vcloud.usage_meter.appliance_info#module:api.version)), such as C(4.2.0.0 build 18320944) or C(4.2.0).
    #[schemars(length(min = 1))]
    pub current_version: String,
    /// The version to reach. Hops are planned up to its release line (C(4.8) is reached by any 4.8 ISO at or above it).
    #[serde(default = "default_target")]
    #[schemars(length(min = 1))]
    pub target_version: String,
    /// The bundles downloaded: a list of dicts with the keys C(path) (required), C(version), C(mf), C(crt), C(sign) (see the notes).
    ///
    /// Only the bundles the plan uses are verified.
    #[serde(default)]
    pub bundles: Vec<BundleSpec>,
    /// The access token (it starts with C(UMA:)) that a hop from 4.x to 9.x needs. Never shown.
    pub access_token: Option<Secret>,
    /// A PEM file of CA certificates to which the ISOs' signing certificates must chain.
    ///
    /// Default: the controller's system store (E(SSL_CERT_FILE), E(SSL_CERT_DIR), else the distribution's CA bundle).
    #[schemars(extend("x-ansible-type" = "path"))]
    pub ca_path: Option<PathBuf>,
    /// An ISO whose signing certificate has expired since it was signed. The vendor says nothing about it; the default refuses it, as an expired certificate is no longer looked after by its issuer; V(warn) accepts it, the chain and the signature still checked.
    #[serde(default)]
    pub expired_certificate: ExpiredCertificate,
    /// The digest of the C(.sign) signature.
    #[serde(default)]
    pub signature_digest: SignatureDigest,
    /// [guess] The lowest version 4.8 installs on top of (not published; 4.6 and 4.7 say 4.3).
    #[serde(default = "default_4_3")]
    #[schemars(length(min = 1))]
    pub min_source_4_8: String,
    /// [guess] The lowest 4.x version 9.x installs on top of, with the access token (only 4.8 is published).
    #[serde(default = "default_4_8")]
    #[schemars(length(min = 1))]
    pub min_source_9: String,
}

/// The signing certificate of an ISO.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CertInfo {
    /// The certificate's subject.
    #[schemars(extend("x-sample" = "CN=Usage Meter Signing, O=VMware"))]
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// Start of its validity.
    #[schemars(extend("x-sample" = "Jan  1 00:00:00 2025 GMT"))]
    pub not_before: String,
    /// End of its validity.
    #[schemars(extend("x-sample" = "Jan  1 00:00:00 2027 GMT"))]
    pub not_after: String,
    /// Whether it has expired (accepted only with O(expired_certificate=warn)).
    pub expired: bool,
}

/// One bundle and what was checked.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BundleReport {
    /// The bundle's path, as given.
    pub path: String,
    /// C(shar) or C(iso).
    pub kind: String,
    /// The bundle's version (from its name, or as given; C(4.3.0) for the shar).
    #[schemars(extend("x-sample" = "4.8.0"))]
    pub version: String,
    /// The build from the ISO's name; null for the shar.
    #[schemars(extend("x-returned" = "always"))]
    pub build: Option<String>,
    /// The ISO's manifest that was read.
    #[schemars(extend("x-returned" = "always (null for the shar)"))]
    pub mf: Option<String>,
    /// The ISO's signing certificate that was checked.
    #[schemars(extend("x-returned" = "always (null for the shar)"))]
    pub crt: Option<String>,
    /// The ISO's signature that was checked.
    #[schemars(extend("x-returned" = "always (null for the shar)"))]
    pub sign: Option<String>,
    /// The ISO's SHA-1 (it matched the C(.mf)).
    #[schemars(extend("x-returned" = "for a verified ISO"))]
    pub sha1: Option<String>,
    /// The ISO's size in bytes.
    #[schemars(extend("x-returned" = "for a verified ISO"))]
    pub size: Option<u64>,
    /// Whether the C(.mf) SHA-1, the certificate and the signature were all checked and good (false for the shar: M(vcloud.usage_meter.shar_copy) checks its sha256).
    pub verified: bool,
    /// Whether the pass over the ISO (SHA-1, signature) came from the controller's cache, the files unchanged since it was made.
    pub cached: bool,
    /// The signing certificate of the ISO.
    #[schemars(extend("x-returned" = "for an ISO"))]
    pub certificate: Option<CertInfo>,
}

impl BundleReport {
    fn of(b: &bundle::Bundle) -> BundleReport {
        let s = |p: &PathBuf| Some(p.display().to_string());
        let (kind, mf, crt, sign) = match &b.kind {
            bundle::Kind::Shar => ("shar", None, None, None),
            bundle::Kind::Iso { mf, crt, sign } => ("iso", s(mf), s(crt), s(sign)),
        };
        BundleReport {
            path: b.path.display().to_string(),
            kind: kind.into(),
            version: b.version.to_string(),
            build: b.build.clone(),
            mf,
            crt,
            sign,
            sha1: None,
            size: None,
            verified: false,
            cached: false,
            certificate: None,
        }
    }
}

/// One hop of the plan.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HopReport {
    /// The version before the hop.
    #[schemars(extend("x-sample" = "4.2.0"))]
    pub from: String,
    /// The version after the hop.
    #[schemars(extend("x-sample" = "4.3.0"))]
    pub to: String,
    /// Whether the hop needs the access token (4.x to 9.x).
    pub needs_token: bool,
    /// The rule that allows it, with its mark: C(on top of 4.x [doc]).
    pub rule: String,
    /// The bundle that makes the hop, and what was checked.
    pub bundle: BundleReport,
}

/// Result of vcloud.usage_meter.bundle_info.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The appliance's version as planned from (C(major.minor.patch)).
    #[schemars(extend("x-sample" = "4.2.0"))]
    pub current_version: String,
    /// The target version (C(major.minor.patch)).
    #[schemars(extend("x-sample" = "4.3.0"))]
    pub target_version: String,
    /// Whether the appliance is below the target.
    pub upgrade_needed: bool,
    /// The hops, in the order to run them, each bundle verified; empty when no upgrade is needed.
    pub hops: Vec<HopReport>,
    /// The bundles given that the plan does not use (not verified).
    pub unused: Vec<String>,
}

/// The module.
#[derive(Debug)]
pub struct BundleInfo;

impl Module for BundleInfo {
    const NAME: &'static str = "bundle_info";
    const VERSION_ADDED: &'static str = "1.2.0";
    const REACHES_APPLIANCE: bool = false;
    type Params = Params;
    type Output = Output;

    fn doc() -> ModuleDoc {
        ModuleDoc {
            short_description: "Verify upgrade bundles on the controller and plan the upgrade hops",
            description: &[
                "From the version the appliance reports, the target version and the bundles downloaded (the 4.3 shar, an ISO per later release), works out the shortest sequence of in-place upgrades (hops) that the documented rules allow, such as 4.2 to 4.3 to 4.8 to 9.0; refuses a forbidden hop or a missing bundle, saying what to download.",
                "Verifies each ISO the plan uses, on the controller: its SHA-1 against its C(.mf) (a line of the GNU form, hash, two spaces, file name, or of the BSD/OVF form SHA1(file name)= hash), its signing certificate (C(.crt): chain to O(ca_path) or the system store, validity dates), and its signature (C(.sign)) with the certificate's key. A failure names the check and the file.",
                "The pass over an ISO is cached on the controller (keyed on the files' path, inode, size and times), so the task run once per host reads each ISO once.",
                "Read-only: runs in check mode too and never reports a change. Opens no connection to the appliance.",
            ],
            notes: &[
                "Each item of O(bundles) is a dict: C(path) (required), C(version) (when the file name does not carry it), and for an ISO C(mf), C(crt), C(sign) (default: beside the ISO, same name). Relative paths are taken from the directory Ansible runs in: give absolute paths (C({{ playbook_dir }}/files/...)).",
                "The rules: 4.3 from 4.1 or 4.2 (the shar); 4.4 and 4.5 on top of 4.x; 4.6 and 4.7 on top of 4.3 and later; 4.8 not published (O(min_source_4_8)); 9.x from 4.8 with an access token, from 9.0 and later without; other 9.x sources not published (O(min_source_9)).",
            ],
            examples: r#"
- name: Plan the hops to 4.8 and verify the ISOs
  vcloud.usage_meter.bundle_info:
    current_version: "{{ um_api.api.version }}"
    target_version: "4.8"
    bundles:
      - path: "{{ playbook_dir }}/files/ums-system-upgrade.shar"
      - path: "{{ playbook_dir }}/files/Usage_Meter_Agent-4.8.0.0-24087577_Upgrade.iso"
    access_token: "{{ usage_meter_access_token | default(omit) }}"
  delegate_to: localhost
  register: um_bundles

- name: Show the hops
  ansible.builtin.debug:
    msg: "{{ um_bundles.hops | map(attribute='to') | list }}"
"#,
            check_mode: Support::Full,
            diff_mode: Support::None,
        }
    }

    fn run(ctx: &mut Context, p: Params) -> Result<Outcome<Output>, Failure> {
        run::run(ctx, &p).map(|o| Outcome::new(false, o))
    }
}
