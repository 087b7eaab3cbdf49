//! The upgrade log and the old install: the info command (one round trip,
//! with the log's last lines when failing) and its parsing.

use crate::{status, Params};
use std::time::Duration;
use usage_meter::shell::quote;
use usage_meter::ssh::{Ssh, SshError, SshErrorKind};
use usage_meter::{Context, Failure};

const TAIL_MARK: &str = "--- um-verify log tail ---";

/// The remote command that finds the upgrade log, checks the old install and, if asked, tails the log.
pub fn info_cmd(chdir: &str, old: &str, tail: Option<u64>) -> String {
    let glob = "var/logs/inplaceupgradeum-*";
    let (c, o) = (quote(chdir), quote(old));
    let mut cmd = format!(
        "if [ -e {o} ]; then echo old=1; else echo old=0; fi; \
         log=$(ls -1td -- {c}/{glob} {o}/{glob} 2>/dev/null | head -n 1); echo \"log=$log\""
    );
    if let Some(n) = tail {
        cmd.push_str(&format!("; if [ -n \"$log\" ]; then echo '{TAIL_MARK}'; tail -n {n} -- \"$log\" 2>&1; fi"));
    }
    cmd
}

/// What the info command reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub old_install_present: bool,
    pub upgrade_log: Option<String>,
    pub tail: Vec<String>,
}

pub fn parse_info(out: &str) -> Info {
    let mut info = Info::default();
    let mut in_tail = false;
    for line in out.lines() {
        if in_tail {
            info.tail.push(status::strip_ansi(line));
            continue;
        }
        if line == TAIL_MARK {
            in_tail = true;
        } else if let Some(v) = line.strip_prefix("old=") {
            info.old_install_present = v.trim() == "1";
        } else if let Some(v) = line.strip_prefix("log=") {
            info.upgrade_log = Some(v.trim().to_string()).filter(|s| !s.is_empty());
        }
    }
    info
}

/// The log and the old install: one more round trip (with the log tail when
/// failing, where a read error is only a warning).
pub(crate) fn read_info(ctx: &mut Context, p: &Params, ssh: Option<&Ssh>, ok: bool) -> Result<Info, Failure> {
    let info_out = match ssh {
        Some(s) => {
            s.exec(&info_cmd(&p.chdir, &p.old_install_dir, (!ok).then_some(p.log_tail_lines)), Duration::from_secs(p.command_timeout))
        }
        None => Err(SshError::new(SshErrorKind::Dropped, &p.connection.label(), "the connection was lost")),
    };
    match info_out {
        Ok(o) => Ok(parse_info(&o.stdout)),
        Err(e) if !ok => {
            ctx.warn(format!("could not read the upgrade log: {e}"));
            Ok(Info::default())
        }
        Err(e) => Err(e.into_failure("read upgrade log")),
    }
}
