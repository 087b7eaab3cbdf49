//! The options to reach the appliance's REST API (flattened into a module's
//! Params, documented once as the doc fragment `vcloud.usage_meter.api`).

use crate::secret::Secret;
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;

fn default_api_port() -> u16 {
    8443
}
fn default_api_username() -> String {
    "usagemeter".into()
}
fn default_true() -> bool {
    true
}
fn default_api_timeout() -> u64 {
    30
}

/// Options to reach the appliance's REST API over HTTPS (flatten into a module's Params).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ApiArgs {
    /// HTTPS port of the appliance API. Some public scripts reach it on C(443).
    #[serde(default = "default_api_port")]
    #[schemars(range(min = 1))]
    pub api_port: u16,

    /// Account of the appliance's web UI and API (not root).
    #[serde(default = "default_api_username")]
    #[schemars(length(min = 1))]
    pub api_username: String,

    /// Password of O(api_username). Never shown in output or logs.
    pub api_password: Option<Secret>,

    /// Whether to check the appliance's TLS certificate against O(ca_path), or
    /// the controller's system CA store when O(ca_path) is not set.
    ///
    /// V(false) accepts any certificate and returns a warning; use it only in labs.
    #[serde(default = "default_true")]
    pub validate_certs: bool,

    /// PEM file on the controller with the CA certificates to trust for the
    /// appliance API, instead of the system store. It may hold the appliance's
    /// own self-signed certificate, which is then trusted exactly.
    #[schemars(extend("x-ansible-type" = "path"))]
    pub ca_path: Option<PathBuf>,

    /// Seconds to wait for each API request (connect, TLS, response) before giving up.
    #[serde(default = "default_api_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub api_timeout: u64,
}

impl Default for ApiArgs {
    fn default() -> Self {
        ApiArgs {
            api_port: default_api_port(),
            api_username: default_api_username(),
            api_password: None,
            validate_certs: true,
            ca_path: None,
            api_timeout: default_api_timeout(),
        }
    }
}
