#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! Shared crate of the `vcloud.usage_meter` Ansible collection.
//!
//! Every module binary is `usage_meter::module_main!(Type);` plus a type that
//! implements [`Module`]. Everything about Ansible's binary-module protocol
//! (argument parsing, check mode, no_log, the one JSON object on stdout) lives
//! in [`protocol`]; everything about talking to the appliance over SSH lives in
//! [`ssh`]; [`docs`] turns the typed parameters into Ansible documentation.

pub mod api;
pub mod appliance;
pub mod checksum;
pub mod docs;
pub mod error;
pub mod local_cache;
pub mod protocol;
pub mod reply;
pub mod secret;
pub mod service;
pub mod shell;
pub mod ssh;
pub mod upgrade_state;

pub use error::Failure;
pub use protocol::{Context, Diff, Module, ModuleDoc, Outcome, Support};
pub use secret::Secret;

/// The whole `main.rs` of a module binary: `usage_meter::module_main!(um_sshd::Sshd);`
#[macro_export]
macro_rules! module_main {
    ($module:ty) => {
        fn main() {
            $crate::protocol::runner::main::<$module>()
        }
    };
}

/// The whole `main.rs` of the multicall binary: every module by type.
#[macro_export]
macro_rules! multicall_main {
    ($($module:ty),+ $(,)?) => {
        fn main() {
            $crate::protocol::multicall::main(&[$($crate::protocol::multicall::Entry::of::<$module>()),+])
        }
    };
}
