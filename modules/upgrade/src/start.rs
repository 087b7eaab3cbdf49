//! Start the detached run (`remote/start.sh`, with `remote/runner.sh` in it,
//! or `remote/iso_runner.sh` for an ISO's script).

use crate::status::Status;
use crate::Run;
use std::io::Cursor;
use usage_meter::reply::Reply;
use usage_meter::shell::quote;
use usage_meter::upgrade_state;
use usage_meter::Failure;

const START_SH: &str = include_str!("remote/start.sh");
pub(crate) const RUNNER_SH: &str = include_str!("remote/runner.sh");
pub(crate) const ISO_RUNNER_SH: &str = include_str!("remote/iso_runner.sh");

/// Seconds the start script waits for the upgrade lock (a status probe holds it
/// for a moment) before it answers busy.
const START_LOCK_WAIT_S: u64 = 5;

/// The start script with the runner embedded (the ISO runner with `iso`).
pub fn start_script(iso: bool) -> String {
    let runner = if iso { ISO_RUNNER_SH } else { RUNNER_SH };
    format!("{}\n{}", upgrade_state::SUM_SH, START_SH.replace("@RUNNER@", runner.trim_end()))
}

/// The start command's words after the script: the shar's, or the ISO
/// script's (its directory to run in, no checksum cache, then the ISO runner's
/// own: where the upgrade logs are, token input, prompt, prompt timeout).
fn start_words(p: &crate::Params, sha: Option<&str>, expect: &str) -> Vec<String> {
    let sd = p.state_dir.trim_end_matches('/');
    let ch = p.chdir.trim_end_matches('/');
    let mut w = vec![sd.to_string()];
    match &p.script {
        None => w.extend([p.shar.clone(), ch.to_string()]),
        Some(s) => w.extend([s.clone(), s.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }).to_string()]),
    }
    w.extend([sha.unwrap_or("-").to_string(), expect.to_string(), START_LOCK_WAIT_S.to_string()]);
    match &p.script {
        None => w.push(upgrade_state::cache_file(sd, &p.shar)),
        Some(_) => w.extend([
            String::new(),
            ch.to_string(),
            p.token_input.as_str().to_string(),
            p.token_prompt.clone(),
            p.prompt_timeout.to_string(),
        ]),
    }
    w
}

/// What the start script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Started {
    /// Started: the run's id.
    Running(String),
    /// A run holds the lock: attach to it.
    Busy,
    /// The record, or the bundle, changed since the look: look again.
    Raced,
    /// The connection dropped while starting: the run may have started; look again.
    Dropped,
}

/// Start `bash <shar>` detached, under the lock, unless the record moved on
/// from `expect` (the record id seen). `retry`: a race or a dropped
/// connection is answered with `Raced`/`Dropped` (else it fails).
pub(crate) fn start(run: &mut Run<'_>, st: &Status, sha: Option<&str>, expect: &str, retry: bool) -> Result<Started, Failure> {
    let p = run.p;
    let (ch, sd) = (p.chdir.trim_end_matches('/'), p.state_dir.trim_end_matches('/'));
    let words: Vec<String> = start_words(p, sha, expect).iter().map(|w| quote(w)).collect();
    if !st.flock {
        return Err(Failure::new("start upgrade", "flock (util-linux) is not available on the appliance")
            .hint("the lock that keeps the upgrade from running twice needs flock; install util-linux"));
    }
    if !st.chdir_exists && p.script.is_none() {
        return Err(Failure::new("start upgrade", format!("chdir {ch} does not exist on the appliance")));
    }
    let cmd = format!("bash -s -- {}", words.join(" "));
    // an ISO run's token comes first on stdin, read into a shell variable
    let script = match &p.script {
        Some(_) => format!("{}{}", crate::iso::token_prefix(p.access_token.as_ref().map(|t| t.expose()))?, start_script(true)),
        None => start_script(false),
    };
    let mut src = Cursor::new(script.as_bytes());
    let mut noop = |_: u64, _: &[u8]| {};
    let io_t = run.io_t;
    let out = match run.conn.get().and_then(|s| s.exec_with_stdin(&cmd, &mut src, &mut noop, io_t)) {
        Ok((out, _)) if out.rc.is_some() => out,
        Ok(_) if retry => {
            run.conn.forget();
            return Ok(Started::Dropped);
        }
        Err(e) if e.is_transient() && retry => {
            run.conn.forget();
            return Ok(Started::Dropped);
        }
        Ok((out, _)) => out,
        Err(e) => return Err(e.into_failure("start upgrade")),
    };
    let r = Reply::parse(&out.stdout);
    match (r.get("state").map(str::trim), r.get("id").map(|id| id.trim().to_string())) {
        (Some("started"), Some(id)) => Ok(Started::Running(id)),
        (Some("busy"), _) => Ok(Started::Busy),
        (Some("raced"), _) if retry => Ok(Started::Raced),
        (Some("noflock"), _) => Err(Failure::new("start upgrade", "flock (util-linux) is not available on the appliance")),
        _ => Err(Failure::new("start upgrade", format!("could not start the upgrade (rc {:?}): {}", out.rc, out.tail(5).join(" | ")))
            .hint(format!("check that {sd} can be created on the appliance (disk space, permissions)"))),
    }
}
