//! ISO mode (option `script`): the run's key, the token's way in, what a
//! stopped run means, and a run that ended in a reboot.

use crate::status::{CurrentRun, Status};
use crate::{Params, Run};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use usage_meter::checksum::is_sha256_hex;
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::upgrade_state::{self, path_in, CURRENT_FILE, RECORD_FILE};
use usage_meter::{Context, Failure};

const SETTLE_REBOOT_SH: &str = include_str!("remote/settle_reboot.sh");

/// How the ISO's script reads the access token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenInput {
    /// From its standard input (C(read -r)).
    #[default]
    Stdin,
    /// From its terminal (C(/dev/tty)): the script runs under util-linux C(script), with echo off.
    Pty,
}

impl TokenInput {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenInput::Stdin => "stdin",
            TokenInput::Pty => "pty",
        }
    }
}

/// The record key of an ISO run from the `checksum` option: the sha256 hex
/// (as for a shar), or `sha1:<hex>`.
pub fn iso_key(checksum: Option<&str>) -> Result<String, Failure> {
    let hint = "give the ISO's checksum as sha1:<40 hex digits> (its .mf) or sha256:<64 hex digits>: it names the ISO in the run record, so that it never runs twice";
    let Some(c) = checksum.map(str::trim) else {
        return Err(Failure::new("check options", "script needs checksum").hint(hint));
    };
    let (algo, hex) = c.split_once(':').unwrap_or(("", c));
    let hex = hex.to_ascii_lowercase();
    let is_hex = |n: usize| hex.len() == n && hex.bytes().all(|b| b.is_ascii_hexdigit());
    match algo.to_ascii_lowercase().as_str() {
        "sha256" if is_sha256_hex(&hex) => Ok(hex),
        "sha1" if is_hex(40) => Ok(format!("sha1:{hex}")),
        _ => {
            Err(Failure::new("check checksum", format!("checksum '{c}' is not sha1:<40 hex digits> or sha256:<64 hex digits>")).hint(hint))
        }
    }
}

/// The `checksum` value to return for a record key.
pub fn key_checksum(key: &str) -> String {
    if key.starts_with("sha1:") {
        key.to_string()
    } else {
        format!("sha256:{key}")
    }
}

/// What goes to the start script's stdin before the script itself: a line
/// that reads the next one (the token, or nothing) into a shell variable.
pub fn token_prefix(token: Option<&str>) -> Result<String, Failure> {
    let t = token.unwrap_or("");
    if t.contains(['\n', '\r', '\0']) {
        return Err(Failure::new("check options", "access_token must be one line"));
    }
    Ok(format!("IFS= read -r UM_TOK || UM_TOK=\n{t}\n"))
}

/// Extra fields of a record written by the ISO runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordExtra {
    /// Why the runner stopped the script: `unexpected_prompt`, `missing_token`, `token_again`.
    pub stopped: Option<String>,
    /// The partial line it stopped at.
    pub prompt: Option<String>,
    /// The run ended with the appliance rebooting.
    pub rebooted: bool,
    /// The first 16 hex digits of the sha256 of the token the run was given, if any.
    pub token_id: Option<String>,
}

/// What the runner records of a token ([`RecordExtra::token_id`]).
pub fn token_id(token: &str) -> String {
    let (_, hex) = usage_meter::checksum::hash_reader(token.as_bytes()).unwrap_or_default();
    hex.chars().take(16).collect()
}

/// Whether the failed run on record was given another token than `token`: a new
/// attempt, not the same run twice (a refused token changes nothing [guess]).
pub fn token_changed(extra: &RecordExtra, token: Option<&str>) -> bool {
    matches!((extra.token_id.as_deref(), token), (Some(old), Some(t)) if old != token_id(t))
}

pub fn parse_extra(record: &str) -> RecordExtra {
    let r = Reply::parse(record);
    let text = |k: &str| r.get(k).map(str::to_string).filter(|v| !v.trim().is_empty());
    RecordExtra {
        stopped: text("stopped").map(|s| s.trim().to_string()),
        prompt: text("prompt"),
        rebooted: r.flag("rebooted"),
        token_id: text("token_id").map(|s| s.trim().to_string()),
    }
}

/// The failure of a run the runner stopped at a prompt.
pub fn stopped_failure(p: &Params, extra: &RecordExtra) -> Option<Failure> {
    let prompt = extra.prompt.clone().unwrap_or_default();
    let f = match extra.stopped.as_deref()? {
        "missing_token" => Failure::new("upgrade", format!("the script asks for the access token ({prompt:?}) but none was given; it was stopped"))
            .hint("give usage_meter_access_token (the access_token option), then run again"),
        "token_again" => Failure::new("upgrade", format!("the script asked for the access token a second time ({prompt:?}): it did not take the token; it was stopped"))
            .hint("check usage_meter_access_token (it starts with UMA:), restore the snapshot and run again"),
        _ => Failure::new(
            "upgrade",
            format!("the script stopped at a prompt nobody expected: {prompt:?} (no output for {} s); it was stopped", p.prompt_timeout),
        )
        .hint("answer it by hand on the console, or if it is the token prompt set token_prompt to match it; if the script was only slow, raise prompt_timeout. Restore the snapshot before running again"),
    };
    Some(f.with("prompt", prompt))
}

/// A run of ours that is not recorded while the appliance booted since it
/// started: the script rebooted the appliance (or something else did). Record
/// it as done (`rebooted=1`, rc 0 as far as anyone knows) under the lock.
pub(crate) fn record_reboot(ctx: &mut Context, run: &mut Run<'_>, st: &Status, key: &str) -> Result<bool, Failure> {
    let Some(c) = unrecorded_reboot(st, key) else { return Ok(false) };
    let sd = &run.p.state_dir;
    let cmd = Script::new(&[SETTLE_REBOOT_SH])
        .env("UM_LOCK", path_in(sd, upgrade_state::LOCK_FILE))
        .env("UM_RECORD", path_in(sd, RECORD_FILE))
        .env("UM_CURRENT", path_in(sd, CURRENT_FILE))
        .env("UM_ID", c.id.as_str())
        .command();
    let deadline = run.deadline + run.io_t;
    let out = run.conn.exec_retry(ctx, &cmd, run.io_t, deadline).map_err(|e| e.into_failure("record the reboot"))?;
    let state = Reply::parse(&out.stdout).get("state").map(|s| s.trim().to_string());
    ctx.warn(format!(
        "the appliance rebooted during the upgrade run {} (boot {} then {}); its exit code is unknown: verify the version",
        c.id, c.boot_id, st.boot_id
    ));
    Ok(state.as_deref() == Some("recorded"))
}

/// The current run, when it is this ISO's, not running, not recorded, and
/// started in another boot.
pub fn unrecorded_reboot<'a>(st: &'a Status, key: &str) -> Option<&'a CurrentRun> {
    let c = st.current.as_ref()?;
    let recorded = st.record.as_ref().is_some_and(|r| r.id == c.id);
    let booted = !c.boot_id.is_empty() && c.boot_id.trim() != st.boot_id.trim();
    (!st.running && !recorded && booted && c.sha256 == key).then_some(c)
}
