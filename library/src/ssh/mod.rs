//! SSH to the appliance (libssh2 through the `ssh2` crate): the shared
//! connection options, host key checking, commands and uploads.

mod args;
pub mod banner;
pub mod download;
mod error;
mod exec;
mod held;
pub mod knownhosts;
mod pump;
mod reconnect;
mod session;
mod upload;

pub use args::{expand_tilde, ConnectionArgs, HostKeyChecking};
pub use banner::sshd_answers;
pub use error::{SshError, SshErrorKind};
pub use exec::{df_data_free, parse_df_free, ExecOutput};
pub use held::Held;
pub use reconnect::Reconnecting;
pub use session::{warn_once, Ssh};
pub use upload::UploadProgress;
