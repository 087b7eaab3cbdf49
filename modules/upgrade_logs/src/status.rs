//! The output of the status command (`remote/status.sh`), and how it compares
//! with the `status.txt` saved in `dest` before.

use crate::{Params, STATUS_FILE};
use std::path::{Path, PathBuf};
use std::time::Duration;
use usage_meter::shell::Script;
use usage_meter::ssh::Ssh;
use usage_meter::Context;

const STATUS_SH: &str = include_str!("remote/status.sh");

/// The status output, and how it compares with the one saved before.
pub(crate) struct Status {
    pub(crate) rc: Option<i32>,
    pub(crate) text: Option<String>,
    /// `<dest>/status.txt`.
    pub(crate) path: PathBuf,
    /// It differs from the saved one (or none is saved).
    pub(crate) changed: bool,
    /// None was saved before. status.sh's output varies from run to run
    /// (times, uptimes): saving a newer one refreshes a snapshot and is no
    /// change; a first one is.
    pub(crate) new: bool,
}

pub(crate) fn read_status(ctx: &mut Context, ssh: &Ssh, p: &Params, dest: &Path) -> Status {
    let mut rc = None;
    let mut text = None;
    if p.status {
        let cmd = Script::new(&[STATUS_SH]).env("UM_DIR", p.install_dir.as_str()).env("UM_COMMAND", p.status_command.as_str()).command();
        match ssh.exec(&cmd, Duration::from_secs(120)) {
            Ok(o) => {
                rc = o.rc;
                text = Some(format!("{}{}", o.stdout, o.stderr));
            }
            Err(e) => ctx.warn(format!("the status command could not run: {e}")),
        }
    }
    let path = dest.join(STATUS_FILE);
    let changed = text.as_ref().is_some_and(|t| std::fs::read(&path).map_or(true, |old| old != t.as_bytes()));
    let new = text.is_some() && !path.exists();
    Status { rc, text, path, changed, new }
}
