//! Staging (`record`, `staged`): a record on the appliance of a bundle put in
//! place ahead of the maintenance window, and the check that it is still
//! there, unchanged, when the window comes.
//!
//! The record is `<state_dir>/staged/<basename of dest>.json`, root's only
//! (directory 0700, file 0600), replaced atomically (`mv`): one line of JSON,
//! [`StageRecord`]. It is written only after the bytes at dest were verified
//! (the copy's own check, or the unchanged check), and a record that already
//! says the same keeps its time.

use crate::lock::guarded;
use crate::transfer::{lost_lock, CopyRun};
use crate::{Output, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use std::time::Instant;
use usage_meter::checksum::checksum_option;
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::ssh::Ssh;
use usage_meter::upgrade_state::{self, SUM_SH};
use usage_meter::{Context, Failure, Outcome};

const STAGE_SH: &str = include_str!("remote/stage.sh");
pub(crate) const VERIFY_SH: &str = include_str!("remote/verify.sh");

/// Option `staged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StagedMode {
    #[default]
    Ignore,
    Verify,
}

/// What a staging record says (the JSON file on the appliance).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StageRecord {
    pub dest: String,
    /// Basename of the controller's file that was staged.
    #[serde(default)]
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// SHA-1 (hex), when the copy was checked against one (an ISO's C(.mf)).
    #[serde(default)]
    pub sha1: Option<String>,
    /// UTC, C(YYYY-MM-DDTHH:MM:SSZ).
    pub staged_at: String,
}

impl StageRecord {
    pub fn parse(json: &str) -> Option<StageRecord> {
        serde_json::from_str(json.trim()).ok()
    }
    /// The record is of `dest` holding these bytes.
    pub fn matches(&self, dest: &str, size: u64, sha256: &str) -> bool {
        self.dest == dest && self.size == size && self.sha256.eq_ignore_ascii_case(sha256)
    }
}

/// The record's fields before `sha1` and `staged_at`, in the order written.
#[derive(Serialize)]
struct Body<'a> {
    format: u32,
    dest: &'a str,
    name: &'a str,
    size: u64,
    sha256: &'a str,
}

/// The record's JSON up to (not including) its optional `sha1` field and
/// `staged_at`: the part a re-run compares to keep the time of a record that
/// says the same.
pub fn record_body(dest: &str, name: &str, size: u64, sha256: &str) -> String {
    let full = serde_json::to_string(&Body { format: 1, dest, name, size, sha256 }).unwrap_or_default();
    full.strip_suffix('}').unwrap_or(&full).to_string()
}

/// Where the record of `dest` lives.
pub fn record_path(state_dir: &str, dest: &str) -> String {
    let base = dest.rsplit('/').next().unwrap_or(dest);
    upgrade_state::path_in(state_dir, &format!("staged/{base}.json"))
}

/// The `checksum` option: `sha256:<hex>`, or `sha1:<hex>` (an ISO's C(.mf)),
/// as (sha256, sha1) lower-case hex.
pub fn checksum_wanted(value: Option<&str>) -> Result<(Option<String>, Option<String>), Failure> {
    let t = value.map(str::trim).unwrap_or_default();
    match t.split_once(':') {
        Some((algo, hex)) if algo.eq_ignore_ascii_case("sha1") => {
            if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok((None, Some(hex.to_ascii_lowercase())));
            }
            Err(Failure::new("check checksum", format!("checksum '{t}' is not in the form sha1:<40 hex digits>"))
                .hint("give the SHA-1 of the ISO's .mf as sha1:<40 hex digits>, or the bundle's sha256:<64 hex digits>"))
        }
        _ => Ok((checksum_option(value)?, None)),
    }
}

/// How a run ended up staged: whether a record of dest holding the bundle
/// exists now (or would, in check mode: `wrote`), and its time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Staging {
    pub(crate) staged: bool,
    pub(crate) staged_at: Option<String>,
    /// The record was (or, in check mode, would be) written.
    pub(crate) wrote: bool,
}

/// What the bundle verified at dest (`sha256`, hex, and `size`) needs after
/// the copy or the unchanged check: its sha1 checked on the appliance when
/// `sha1` is given, and its record written when the `record` option is set;
/// else only what the record read before (`before`) says. One command on the
/// same connection; under the copy lock unless `check` (which writes nothing).
pub(crate) fn settle(
    cr: &mut CopyRun<'_>,
    before: Option<&str>,
    sha256: &str,
    size: u64,
    sha1: Option<&str>,
    check: bool,
) -> Result<Staging, Failure> {
    let p = cr.p;
    let old = before.and_then(StageRecord::parse);
    let from_old = |wrote: bool| Staging {
        staged: !wrote && old.as_ref().is_some_and(|r| r.matches(&p.dest, size, sha256)),
        staged_at: old.as_ref().map(|r| r.staged_at.clone()),
        wrote,
    };
    if !p.record && sha1.is_none() {
        return Ok(from_old(false));
    }
    let cmd = stage_cmd(p, cr, sha256, size, sha1, check);
    let out = cr.conn.get().and_then(|s| s.exec(&cmd, Duration::from_secs(3600))).map_err(|e| e.into_failure("record staging"))?;
    if out.stdout.contains("UMLOSTLOCK") {
        return Err(lost_lock(p, "record staging"));
    }
    let r = Reply::parse(&out.stdout);
    if let (Some(have), Some(want)) = (r.get("sha1bad"), sha1) {
        return Err(Failure::new(
            "verify sha1",
            format!("{} on the appliance has sha1:{}, not the expected sha1:{want}", p.dest, have.trim()),
        )
        .hint("the local file is not the bundle its .mf names: download it again, or fix the checksum option")
        .with("sha256", sha256));
    }
    if !r.complete {
        return Err(Failure::new("record staging", format!("no result from the appliance (rc {:?}): {}", out.rc, out.tail(3).join(" | ")))
            .hint(format!("check that {} is writable by the SSH user on the appliance; run again", p.state_dir)));
    }
    let at = r.get("staged_at").map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    match r.get("record") {
        None => Ok(from_old(false)),
        Some("same") => Ok(Staging { staged: true, staged_at: at, wrote: false }),
        Some("written") => Ok(Staging { staged: true, staged_at: at, wrote: true }),
        Some("would") => Ok(from_old(true)),
        Some(other) => Err(Failure::new(
            "record staging",
            format!("writing {} on the appliance failed ({other}); the bundle itself is in place", record_path(&p.state_dir, &p.dest)),
        )
        .hint(format!("check free space and permissions under {} on the appliance; run again", p.state_dir))),
    }
}

fn stage_cmd(p: &Params, cr: &CopyRun<'_>, sha256: &str, size: u64, sha1: Option<&str>, check: bool) -> String {
    let name = cr.src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut s = Script::new(&[SUM_SH, STAGE_SH]).env("UM_DEST", p.dest.as_str()).env("UM_WRITE", if check { "0" } else { "1" });
    if let Some(h) = sha1 {
        s = s.env("UM_SHA1", h).env("UM_SHA1PART", format!(",\"sha1\":\"{h}\""));
    }
    if p.record {
        s = s.env("UM_RECORD", record_path(&p.state_dir, &p.dest)).env("UM_BODY", record_body(&p.dest, &name, size, sha256));
    }
    if check {
        s.command()
    } else {
        guarded(&p.state_dir, &cr.id.token, s)
    }
}

/// The command of `staged: verify`: the record and the hashes of dest.
pub(crate) fn verify_cmd(p: &Params, sha1: bool) -> String {
    Script::new(&[SUM_SH, VERIFY_SH])
        .env("UM_DEST", p.dest.as_str())
        .env("UM_RECORD", record_path(&p.state_dir, &p.dest))
        .env("UM_SHA1", if sha1 { "1" } else { "0" })
        .command()
}

/// What `verify.sh` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) record: Option<StageRecord>,
    /// Size of dest; `None`: no such file.
    pub(crate) size: Option<u64>,
    pub(crate) sha256: Option<String>,
    pub(crate) sha1: Option<String>,
}

pub(crate) fn parse_found(stdout: &str) -> Option<Found> {
    let r = Reply::parse(stdout);
    let hex = |k: &str| r.get(k).map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let found =
        Found { record: r.get("record").and_then(StageRecord::parse), size: r.num("dest")?, sha256: hex("sha256"), sha1: hex("sha1") };
    r.complete.then_some(found)
}

/// The checksums the `checksum` option asks for: (sha256, sha1), hex.
pub(crate) type Wanted = (Option<String>, Option<String>);

/// `staged: verify`: one login, one command that reads the record and hashes
/// dest (sha256; sha1 too when the checksum option is one); nothing is
/// written or sent. Fails naming dest and the staging time when the bundle
/// is gone or changed, or is not the one `src` and `checksum` say.
pub(crate) fn verify(
    ctx: &mut Context,
    p: &Params,
    src: &Path,
    size: u64,
    want: &Wanted,
    local: Option<&str>,
) -> Result<StageRecord, Failure> {
    let ssh = Ssh::connect(&p.connection, ctx).map_err(|e| e.into_failure("connect"))?;
    let out = ssh.exec(&verify_cmd(p, want.1.is_some()), Duration::from_secs(3600)).map_err(|e| e.into_failure("verify staged"))?;
    let f = parse_found(&out.stdout).ok_or_else(|| {
        Failure::new("verify staged", format!("unexpected output (rc {:?}): {}", out.rc, out.tail(3).join(" | ")))
            .hint("check that sha256sum or openssl works on the appliance and the SSH user can read the state dir; run with -vvv")
    })?;
    let rec = match f.record.clone().filter(|r| r.dest == p.dest) {
        Some(r) => r,
        None => {
            return Err(Failure::new(
                "verify staged",
                format!("{} has no staging record on the appliance ({})", p.dest, record_path(&p.state_dir, &p.dest)),
            )
            .hint("stage the bundle first (the stage playbook, or shar_copy with record: true), or copy it with staged: ignore"))
        }
    };
    check_found(p, &rec, &f)?;
    let named = |algo: &str, have: &str, want: &str| {
        Failure::new(
            "verify staged",
            format!("the bundle staged at {} on {} has {algo}:{have}, not the expected {algo}:{want}", p.dest, rec.staged_at),
        )
        .hint("stage the expected bundle again (the stage playbook, or shar_copy with record: true), or fix the checksum option")
        .with("staged_at", rec.staged_at.clone())
    };
    if let Some(w) = want.0.as_deref().filter(|w| *w != rec.sha256) {
        return Err(named("sha256", &rec.sha256, w));
    }
    if let (Some(w), Some(h)) = (want.1.as_deref(), f.sha1.as_deref()) {
        if w != h {
            return Err(named("sha1", h, w));
        }
    }
    let local_differs = local.is_some_and(|l| !l.eq_ignore_ascii_case(&rec.sha256));
    if size != rec.size || local_differs {
        return Err(Failure::new(
            "verify staged",
            format!(
                "src {} ({size} bytes) is not the bundle staged at {} on {} ({} bytes, sha256:{})",
                src.display(),
                p.dest,
                rec.staged_at,
                rec.size,
                rec.sha256
            ),
        )
        .hint("stage this bundle (the stage playbook, or shar_copy with record: true), or give src the staged one")
        .with("staged_at", rec.staged_at.clone()));
    }
    Ok(rec)
}

/// Dest is still what the record says.
fn check_found(p: &Params, rec: &StageRecord, f: &Found) -> Result<(), Failure> {
    let what = match (f.size, f.sha256.as_deref()) {
        (None, _) => format!("{} is gone", p.dest),
        (Some(z), Some(h)) if rec.matches(&p.dest, z, h) => return Ok(()),
        (Some(z), h) => format!(
            "{} has size {z} and sha256:{}, it was staged with size {} and sha256:{}",
            p.dest,
            h.unwrap_or("?"),
            rec.size,
            rec.sha256
        ),
    };
    Err(Failure::new("verify staged", format!("staged bundle changed on the appliance since {}: {what}; stage it again", rec.staged_at))
        .hint(format!(
            "stage {} again (the stage playbook, or shar_copy with record: true), or copy it in the window with staged: ignore",
            p.dest
        ))
        .with("staged_at", rec.staged_at.clone()))
}

/// What the message adds about the staging record.
pub(crate) fn recorded(st: &Staging) -> String {
    match (&st.staged_at, st.wrote, st.staged) {
        (Some(t), true, true) => format!("; recorded as staged at {t}"),
        (_, true, _) => "; would record it as staged".into(),
        (Some(t), false, true) => format!("; staged at {t}"),
        _ => String::new(),
    }
}

/// The result of `staged: verify` that passed: nothing sent, nothing changed.
pub(crate) fn staged_outcome(p: &Params, rec: StageRecord, t0: Instant) -> Outcome<Output> {
    let msg = format!("{} is staged since {} and unchanged (sha256:{}); nothing was sent", p.dest, rec.staged_at, rec.sha256);
    Outcome::new(
        false,
        Output {
            dest: p.dest.clone(),
            checksum: format!("sha256:{}", rec.sha256),
            size: rec.size,
            transferred: 0,
            seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            resumed: false,
            staged: true,
            staged_at: Some(rec.staged_at),
        },
    )
    .msg(msg)
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
