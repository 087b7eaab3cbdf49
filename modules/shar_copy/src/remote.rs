//! The commands the copy runs on the appliance (`remote/*.sh`) and their replies.

use usage_meter::reply::Reply;
use usage_meter::shell::{script, Script};
use usage_meter::upgrade_state::{self, SUM_SH};

pub(crate) const RECEIVE_SH: &str = include_str!("remote/receive.sh");
const GATHER_SH: &str = include_str!("remote/gather.sh");
const FINISH_SH: &str = include_str!("remote/finish.sh");

/// The temporary name next to `dest`: `<dir>/.<name>.part`.
pub fn part_path(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.part"),
        None => format!(".{dest}.part"),
    }
}

/// Directory of `dest` (`/` for a top-level file).
pub fn dest_dir(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.into(),
        None => ".".into(),
    }
}

/// What the appliance has at `dest` before the copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub dir_exists: bool,
    pub dest_size: Option<u64>,
    pub part_size: Option<u64>,
    /// The upper half of a copy sent in two streams (`<part>.2`).
    pub part2_size: Option<u64>,
    /// The staging record of dest (its JSON), when asked for and there.
    pub record: Option<String>,
}

pub fn gather_cmd(dest: &str) -> String {
    gather_record_cmd(dest, "")
}

/// [`gather_cmd`], also reading the staging record `record` (none when empty).
pub fn gather_record_cmd(dest: &str, record: &str) -> String {
    script(&[GATHER_SH], &[("UM_DIR", &dest_dir(dest)), ("UM_DEST", dest), ("UM_PART", &part_path(dest)), ("UM_RECORD", record)])
}

pub fn parse_gather(stdout: &str) -> Option<Remote> {
    let r = Reply::parse(stdout);
    let remote = Remote {
        dir_exists: r.flag("dir"),
        dest_size: r.num("dest")?,
        part_size: r.num("part")?,
        part2_size: r.num("part2").flatten(),
        record: r.get("record").filter(|s| !s.trim().is_empty()).map(str::to_string),
    };
    (r.complete && r.get("dir").is_some()).then_some(remote)
}

/// The upper half of a copy sent in two streams: `<part>.2`.
pub fn upper_path(part: &str) -> String {
    format!("{part}.2")
}

/// Where to start sending: resume a partial no longer than the source, else start over.
pub fn resume_offset(part: Option<u64>, size: u64) -> u64 {
    match part {
        Some(n) if n <= size => n,
        _ => 0,
    }
}

/// The receiving command: a fresh copy starts a new file (a new inode, so
/// nothing a cut connection left running can still write into it), a resume
/// appends. A failed write drains the rest of the stream, so the controller
/// gets the result rather than a broken pipe. Prints `size=<bytes of the part file>`.
pub fn receive_cmd(part: &str, offset: u64) -> Script {
    Script::new(&[RECEIVE_SH]).env("UM_PART", part).env("UM_OFFSET", offset.to_string())
}

/// The last step, in one command under the lock: hash the partial file as it
/// is on disk now and rename exactly those bytes into place when size and
/// sha256 are the source's, then record the checksum (see `remote/finish.sh`).
/// A `split` copy's upper half is appended to the partial file first.
pub fn finish_cmd(part: &str, dest: &str, state_dir: &str, sha256: &str, size: u64, split: bool) -> Script {
    Script::new(&[SUM_SH, FINISH_SH])
        .env("UM_PART", part)
        .env("UM_SPLIT", if split { "1" } else { "0" })
        .env("UM_DEST", dest)
        .env("UM_SHA", sha256)
        .env("UM_SIZE", size.to_string())
        .env("UM_CACHE", upgrade_state::cache_file(state_dir, dest))
}

/// What [`finish_cmd`] reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Verified and renamed into place.
    Renamed,
    /// The partial file is not the source (size, sha256 as found); nothing was renamed.
    Mismatch(Option<u64>, String),
    /// Verified, but the rename failed.
    RenameFailed,
}

pub fn parse_finished(stdout: &str) -> Option<Finished> {
    let r = Reply::parse(stdout);
    match r.get("result")? {
        "renamed" => Some(Finished::Renamed),
        "renamefail" => Some(Finished::RenameFailed),
        "bad" => Some(Finished::Mismatch(r.num("size").flatten(), r.get("sha256").unwrap_or_default().trim().to_string())),
        _ => None,
    }
}
