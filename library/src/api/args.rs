//! The options to reach the appliance's REST API (flattened into a module's
//! Params, documented once as the doc fragment `vcloud.usage_meter.api`).

use crate::secret::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The port of the 4.x API.
pub const PORT_4X: u16 = 8443;
/// The port of the 9.x API.
pub const PORT_9X: u16 = 443;

fn default_api_username() -> String {
    "usagemeter".into()
}
fn default_true() -> bool {
    true
}
fn default_api_timeout() -> u64 {
    30
}

/// Which generation of the appliance API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
pub enum ApiGeneration {
    /// Told from the login answer: a C(sessionid) is the 4.x API, an C(accessToken) the 9.x API.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// The 4.x API (Usage Meter 4.1 to 4.8): port 8443, the C(sessionid) header.
    #[serde(rename = "4")]
    V4,
    /// The 9.x API (VCF Usage Meter 9): port 443, a bearer token.
    #[serde(rename = "9")]
    V9,
}

/// Options to reach the appliance's REST API over HTTPS (flatten into a module's Params).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ApiArgs {
    /// The generation of the appliance API: V(4) (Usage Meter 4.x: port 8443,
    /// a session id), V(9) (VCF Usage Meter 9.x: port 443, a bearer token), or
    /// V(auto): told from the login answer, which differs between the two.
    ///
    /// A forced generation that the appliance's login answer contradicts is an
    /// error naming both.
    #[serde(default)]
    pub api_generation: ApiGeneration,

    /// HTTPS port of the appliance API. Unset: C(8443) for O(api_generation=4),
    /// C(443) for O(api_generation=9); with O(api_generation=auto) C(8443),
    /// then C(443) when nothing accepts connections on 8443 (a 9.x appliance).
    /// Some public scripts reach the 4.x API on C(443) too.
    #[schemars(range(min = 1))]
    pub api_port: Option<u16>,

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

impl ApiArgs {
    /// The ports to try, in order: the given one, else the generation's, else
    /// (auto) 8443 and then 443.
    pub fn ports(&self) -> Vec<u16> {
        match (self.api_port, self.api_generation) {
            (Some(p), _) => vec![p],
            (None, ApiGeneration::V4) => vec![PORT_4X],
            (None, ApiGeneration::V9) => vec![PORT_9X],
            (None, ApiGeneration::Auto) => vec![PORT_4X, PORT_9X],
        }
    }
}

impl Default for ApiArgs {
    fn default() -> Self {
        ApiArgs {
            api_generation: ApiGeneration::Auto,
            api_port: None,
            api_username: default_api_username(),
            api_password: None,
            validate_certs: true,
            ca_path: None,
            api_timeout: default_api_timeout(),
        }
    }
}
