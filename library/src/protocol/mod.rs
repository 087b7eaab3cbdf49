//! Ansible's binary-module protocol: argv[1] is a JSON args file; exactly one
//! JSON object goes to stdout. `docs/ansible-protocol.md` has the facts this
//! follows (measured on ansible-core 2.15-2.19).

pub mod args;
pub mod coerce;
pub mod internal;
pub mod multicall;
pub mod nolog;
pub mod output;
pub mod runner;
pub mod schema;

use crate::error::Failure;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use internal::Internal;

/// How fully a module supports check or diff mode (the docs' `attributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Full,
    Partial(&'static str),
    None,
}

/// Prose documentation that cannot come from types.
#[derive(Debug, Clone)]
pub struct ModuleDoc {
    pub short_description: &'static str,
    pub description: &'static [&'static str],
    pub notes: &'static [&'static str],
    pub examples: &'static str,
    pub check_mode: Support,
    pub diff_mode: Support,
}

/// One Ansible module: typed parameters in, typed result out.
pub trait Module {
    /// The short name, as in `plugins/modules/<NAME>`.
    const NAME: &'static str;
    /// The collection release that added the module (the docs' `version_added`).
    const VERSION_ADDED: &'static str = "1.0.0";
    /// Whether the module connects to the appliance (SSH or its API); a
    /// controller-only module (bundle_info) says so in its `platform` attribute.
    const REACHES_APPLIANCE: bool = true;
    /// Parameters; their JSON schema drives validation and the docs.
    type Params: DeserializeOwned + JsonSchema;
    /// Result fields on success; their JSON schema is the docs' RETURN.
    type Output: Serialize + JsonSchema;

    fn doc() -> ModuleDoc;

    /// Gather, plan, return early when unchanged or in check mode, apply.
    fn run(ctx: &mut Context, params: Self::Params) -> Result<Outcome<Self::Output>, Failure>;
}

/// A state change shown with `--diff`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diff {
    pub before: String,
    pub after: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_header: Option<String>,
}

impl Diff {
    pub fn new(before: impl Into<String>, after: impl Into<String>) -> Self {
        Diff { before: before.into(), after: after.into(), before_header: None, after_header: None }
    }
}

/// What a successful run returns.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub changed: bool,
    pub data: T,
    pub diff: Option<Diff>,
    pub msg: Option<String>,
}

impl<T> Outcome<T> {
    pub fn new(changed: bool, data: T) -> Self {
        Outcome { changed, data, diff: None, msg: None }
    }
    #[must_use]
    pub fn diff(mut self, diff: Diff) -> Self {
        self.diff = Some(diff);
        self
    }
    #[must_use]
    pub fn msg(mut self, msg: impl Into<String>) -> Self {
        self.msg = Some(msg.into());
        self
    }
}

/// What a module knows about this invocation besides its parameters.
#[derive(Debug, Default)]
pub struct Context {
    /// `--check`: make no change on the appliance.
    pub check_mode: bool,
    /// `--diff`: return before/after.
    pub diff: bool,
    /// `-v` count.
    pub verbosity: u8,
    /// The module name as the task wrote it (FQCN or short).
    pub module_name: String,
    /// The appliance this run talks to, for error messages.
    pub target: Option<String>,
    warnings: Vec<String>,
}

impl Context {
    pub fn new(internal: &Internal, default_name: &str) -> Self {
        Context {
            check_mode: internal.check_mode,
            diff: internal.diff,
            verbosity: internal.verbosity,
            module_name: internal.module_name.clone().unwrap_or_else(|| default_name.to_string()),
            target: None,
            warnings: Vec::new(),
        }
    }

    /// Name the appliance so every error message can say which one.
    pub fn set_target(&mut self, host: &str) {
        self.target = Some(host.to_string());
    }

    /// A `[WARNING]` shown by ansible-playbook.
    pub fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }

    /// A value discovered at run time (a session id, say) that must be
    /// scrubbed from the output like a no_log option.
    pub fn register_secret(&mut self, value: &str) {
        nolog::register(value);
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Debug detail for stderr (Ansible ignores stderr when stdout parses).
    pub fn log(&self, level: u8, msg: impl AsRef<str>) {
        if self.verbosity >= level {
            eprintln!("[{}] {}", self.module_name, nolog::scrub_str(msg.as_ref()));
        }
    }
}
