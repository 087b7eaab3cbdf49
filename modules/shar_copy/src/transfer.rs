//! The transfer: send from an offset, verify on the appliance and rename,
//! resume after a dropped connection, start over once when the copy does not verify.

use crate::lock::REMOVE_PART_SH;
use crate::lock::{guarded, lock_paths, take_lock_retrying, CopyLock, RunId};
use crate::remote::{dest_dir, finish_cmd, gather_cmd, parse_finished, parse_gather, part_path, receive_cmd, resume_offset, Finished};
use crate::{wrong_src, LocalSum, Params};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};
use usage_meter::reply::Reply;
use usage_meter::shell::Script;
use usage_meter::ssh::{ExecOutput, Reconnecting};
use usage_meter::upgrade_state;
use usage_meter::{Context, Failure};

/// One copy's run: its options, connection, identity and lock, and how many
/// dropped connections it has survived.
pub(crate) struct CopyRun<'a> {
    pub(crate) p: &'a Params,
    pub(crate) conn: Reconnecting<'a>,
    pub(crate) id: RunId,
    /// The source, as named in the lock's owner file.
    pub(crate) src: &'a Path,
    /// Held from before the first look at dest until the copy ends (none in check mode).
    pub(crate) lock: Option<CopyLock>,
    pub(crate) drops: u32,
    /// Reconnecting gives up after this.
    pub(crate) deadline: Instant,
    /// Timeout of one remote command.
    pub(crate) io_t: Duration,
}

/// The local file being sent.
pub(crate) struct Source<'s> {
    pub(crate) path: &'s Path,
    /// Its identity for the local checksum cache.
    pub(crate) key: &'s str,
    pub(crate) size: u64,
    /// The checksum the copy is verified against is the local file's own (else
    /// it is the published one, and the local file is hashed after a mismatch).
    pub(crate) checked: bool,
}

/// What [`transfer`] did.
#[derive(Debug)]
pub(crate) struct Sent {
    /// The bundle's sha256 (hex), on both sides now.
    pub(crate) sum: String,
    pub(crate) transferred: u64,
    pub(crate) resumed: bool,
    /// Another copy put the same bundle in place while this one reconnected.
    pub(crate) by_other: bool,
    /// What was put in place was written by one stream of this run, from byte 0.
    pub(crate) one_stream: bool,
}

/// Send `source` from `offset` and put it in place, verified.
pub(crate) fn transfer(
    ctx: &mut Context,
    cr: &mut CopyRun<'_>,
    source: &Source<'_>,
    local: &mut LocalSum,
    known_sum: Option<String>,
    offset: u64,
) -> Result<Sent, Failure> {
    let p = cr.p;
    let (src, size) = (source.path, source.size);
    let part = part_path(&p.dest);
    let io_t = cr.io_t;
    let hash_t = Duration::from_secs(3600);
    let mut offset = offset;
    let mut known_sum = known_sum;
    let mut transferred = 0u64;
    let mut resumed = false;
    let mut one_stream = false;
    let mut restarted = false;
    let mut checked = source.checked;
    loop {
        if offset > 0 {
            resumed = true;
        }
        let cmd = guarded(&p.state_dir, &cr.id.token, receive_cmd(&part, offset));
        ctx.log(2, format!("sending {} from byte {offset} to {part}", src.display()));
        let mut file = File::open(src).map_err(|e| Failure::new("read src", format!("{}: {e}", src.display())))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| Failure::new("read src", format!("{}: {e}", src.display())))?;
        let mut noop = |_: u64, _: &[u8]| {};
        let sent = match cr.conn.get() {
            // after the last byte the receiver only closes the file and stats it
            Ok(s) => s.exec_with_stdin(&cmd, &mut file, &mut noop, io_t),
            Err(e) => Err(e),
        };
        let sum = match &known_sum {
            Some(s) => s.clone(),
            None => known_sum.insert(local.get(src, source.key)?).clone(),
        };
        let checksum = format!("sha256:{sum}");
        let (rout, n) = match sent {
            Ok(v) => v,
            Err(e) if e.is_transient() && cr.drops < p.retries => {
                cr.drops += 1;
                ctx.warn(format!("the connection dropped during the copy ({}); resuming (retry {} of {})", e.detail, cr.drops, p.retries));
                match resume_after_drop(ctx, cr, &sum, size)? {
                    Some(o) => offset = o,
                    None => return Ok(Sent { sum, transferred, resumed, by_other: true, one_stream: false }),
                }
                continue;
            }
            Err(e) => {
                return Err(e
                    .hint("run the task again: it resumes from the partial copy (.part file) on the appliance")
                    .into_failure("copy"));
            }
        };
        transferred += n;
        if rout.stdout.contains("UMLOSTLOCK") {
            return Err(lost_lock(p, "copy"));
        }
        let Some(rsize) = Reply::parse(&rout.stdout).num::<u64>("size").flatten() else {
            if rout.rc.is_none() && cr.drops < p.retries {
                // Closed without a result: the connection went away at the end.
                cr.drops += 1;
                match resume_after_drop(ctx, cr, &sum, size)? {
                    Some(o) => offset = o,
                    None => return Ok(Sent { sum, transferred, resumed, by_other: true, one_stream: false }),
                }
                continue;
            }
            return Err(Failure::new("copy", format!("the appliance did not confirm the copy: {}", rout.tail(5).join(" | ")))
                .hint("check free space and permissions in the destination directory; run again to resume"));
        };
        if rout.stderr.contains("UMWRITEFAIL") || rsize < size {
            return Err(Failure::new(
                "copy",
                format!("writing {part} on the appliance failed after {rsize} of {size} bytes: {}", rout.tail(3).join(" | ")),
            )
            .hint("free space on the appliance (the disk may be full) and run again; the partial copy is kept and resumed"));
        }

        // Verified on disk and into place in one command, under the lock;
        // the checksum is remembered.
        let fin = guarded(&p.state_dir, &cr.id.token, finish_cmd(&part, &p.dest, &p.state_dir, &sum, size));
        let fout = match cr.conn.get().and_then(|s| s.exec(&fin, hash_t)) {
            Ok(o) if o.rc.is_some() || cr.drops >= p.retries => o,
            Err(e) if !e.is_transient() || cr.drops >= p.retries => {
                return Err(e
                    .hint("run the task again: the partial copy is kept, then checked and renamed")
                    .into_failure("rename into place"));
            }
            // The connection dropped at the very end: look again (the rename may have happened).
            _ => {
                cr.drops += 1;
                match resume_after_drop(ctx, cr, &sum, size)? {
                    Some(o) => offset = o,
                    None => break,
                }
                continue;
            }
        };
        let Some((rsize, rsha)) = finished(&fout, p)? else {
            one_stream = offset == 0;
            break;
        };
        if !checked {
            // Verified against the published checksum: is the local file that bundle?
            let have = local.get(src, source.key)?;
            if have != sum {
                let rm = guarded(&p.state_dir, &cr.id.token, Script::new(&[REMOVE_PART_SH]).env("UM_PART", part.as_str()));
                let removed =
                    cr.conn.get().and_then(|s| s.exec(&rm, io_t)).is_ok_and(|o| o.rc == Some(0) && !o.stdout.contains("UMLOSTLOCK"));
                let then = if removed {
                    "its copy on the appliance was not put in place and was removed"
                } else {
                    "its copy on the appliance was not put in place"
                };
                return Err(wrong_src(src, &have, &sum, size, then));
            }
            checked = true;
        }
        if !restarted {
            // A resumed (or stale) partial file that does not verify: start over once.
            restarted = true;
            ctx.warn(format!("the copy on the appliance did not verify (size {rsize}, sha256:{rsha}); copying again from the start"));
            offset = 0;
            resumed = false;
            continue;
        }
        return Err(Failure::new(
            "verify copy",
            format!("the copy on the appliance has size {rsize} and sha256:{rsha}, the source has size {size} and {checksum}"),
        )
        .hint("the source file may have changed during the copy, or the link corrupts data; run again"));
    }

    // the loop ends only after a send, which made the checksum known
    let sum = known_sum.ok_or_else(|| Failure::new("copy", "internal error: no checksum after the copy").hint("run again"))?;
    Ok(Sent { sum, transferred, resumed, by_other: false, one_stream })
}

/// This copy lost its lock.
fn lost_lock(p: &Params, step: &str) -> Failure {
    Failure::new(step, format!("this copy no longer holds the copy lock ({}); nothing was renamed", lock_paths(&p.state_dir).0))
        .hint("another copy to this appliance took over (or the lock holder was killed); run the task again once it has finished")
}

/// What the finish script found: `None` when it renamed the partial file
/// into place, `Some((size, sha256))` when that file is not the source's bytes.
fn finished(fout: &ExecOutput, p: &Params) -> Result<Option<(String, String)>, Failure> {
    let (part, dir) = (part_path(&p.dest), dest_dir(&p.dest));
    if fout.stdout.contains("UMLOSTLOCK") {
        return Err(lost_lock(p, "rename into place"));
    }
    match parse_finished(&fout.stdout) {
        Some(Finished::Renamed) => Ok(None),
        Some(Finished::Mismatch(z, h)) => Ok(Some((z.map_or_else(|| "?".to_string(), |z| z.to_string()), h))),
        None => Err(Failure::new(
            "rename into place",
            format!("checking {part} on the appliance gave no result (rc {:?}): {}", fout.rc, fout.tail(3).join(" | ")),
        )
        .hint(format!(
            "check that sha256sum or openssl works on the appliance and {dir} is readable; run again (the partial copy is kept)"
        ))),
        Some(Finished::RenameFailed) => Err(Failure::new(
            "rename into place",
            format!("renaming {part} to {} failed (rc {:?}): {}", p.dest, fout.rc, fout.tail(3).join(" | ")),
        )
        .hint(format!("check permissions and free space in {dir}; run again (the partial copy is kept)"))),
    }
}

/// After a dropped connection: connect again, take the lock again (the old
/// holder ends with its connection; another copy may have taken its turn
/// meanwhile), and see how much of the partial file is there: the offset to
/// resume at, or `None` when another copy has put the same bundle in place.
fn resume_after_drop(ctx: &mut Context, cr: &mut CopyRun<'_>, sum: &str, size: u64) -> Result<Option<u64>, Failure> {
    let p = cr.p;
    // Let go of the old connection's holder first: it keeps that connection open.
    cr.lock = None;
    cr.conn.reconnect(Duration::from_millis(300 * u64::from(cr.drops.max(1))), cr.deadline).map_err(|e| e.into_failure("reconnect"))?;
    cr.conn.flush_warnings(ctx);
    take_lock_retrying(ctx, cr, true)?;
    let s = cr.conn.get().map_err(|e| e.into_failure("reconnect"))?;
    let g = s.exec(&gather_cmd(&p.dest), cr.io_t).map_err(|e| e.into_failure("inspect partial copy"))?;
    let r = parse_gather(&g.stdout)
        .ok_or_else(|| Failure::new("inspect partial copy", format!("unexpected output: {}", g.tail(3).join(" | "))))?;
    if r.part_size.is_none() && r.dest_size == Some(size) && !p.force {
        let rs = upgrade_state::remote_sha256(s, &p.state_dir, &p.dest, true, Duration::from_secs(3600))
            .map_err(|e| e.into_failure("checksum dest"))?;
        if rs.is_some_and(|r| r.sha256 == sum) {
            return Ok(None);
        }
    }
    Ok(Some(resume_offset(r.part_size, size)))
}
