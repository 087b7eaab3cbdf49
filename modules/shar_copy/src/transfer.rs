//! The transfer: send from an offset, verify on the appliance and rename,
//! resume after a dropped connection, start over once when the copy does not verify.

use crate::lock::REMOVE_PART_SH;
use crate::lock::{guarded, lock_paths, take_lock_retrying, CopyLock, RunId};
use crate::plan::{plan, Layout};
use crate::remote::{dest_dir, finish_cmd, gather_cmd, parse_finished, parse_gather, part_path, Finished};
use crate::send::{send_plan, Sent as Ended};
use crate::{wrong_src, LocalSum, Params};
use std::path::Path;
use std::time::{Duration, Instant};
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
    /// What was put in place was written by this run from byte 0 (in one or two streams).
    pub(crate) one_stream: bool,
}

/// Send what `have` lacks of `source` and put it in place, verified.
pub(crate) fn transfer(
    ctx: &mut Context,
    cr: &mut CopyRun<'_>,
    source: &Source<'_>,
    local: &mut LocalSum,
    known_sum: Option<String>,
    have: Layout,
) -> Result<Sent, Failure> {
    let p = cr.p;
    let (src, size) = (source.path, source.size);
    let part = part_path(&p.dest);
    let io_t = cr.io_t;
    let hash_t = Duration::from_secs(3600);
    let mut have = have;
    let mut known_sum = known_sum;
    let mut transferred = 0u64;
    let mut resumed = false;
    let mut one_stream = false;
    let mut restarted = false;
    let mut checked = source.checked;
    loop {
        let plan = plan(have, size, p.streams);
        resumed |= plan.resumed();
        ctx.log(2, format!("sending {} to {part}: {:?}", src.display(), plan.segments));
        let end = send_plan(ctx, cr, &plan, src)?;
        let sum = match &known_sum {
            Some(s) => s.clone(),
            None => known_sum.insert(local.get(src, source.key)?).clone(),
        };
        let checksum = format!("sha256:{sum}");
        match end {
            Ended::Done(n) => transferred += n,
            Ended::Dropped(e, n) if cr.drops < p.retries => {
                transferred += n;
                cr.drops += 1;
                let why = e.map_or_else(|| "no result from the appliance".to_string(), |e| e.detail);
                ctx.warn(format!("the connection dropped during the copy ({why}); resuming (retry {} of {})", cr.drops, p.retries));
                match resume_after_drop(ctx, cr, &sum, size)? {
                    Some(l) => have = l,
                    None => return Ok(Sent { sum, transferred, resumed, by_other: true, one_stream: false }),
                }
                continue;
            }
            Ended::Dropped(Some(e), _) => {
                return Err(e
                    .hint("run the task again: it resumes from the partial copy (.part file) on the appliance")
                    .into_failure("copy"));
            }
            Ended::Dropped(None, _) => {
                return Err(Failure::new("copy", "the appliance did not confirm the copy (the connection closed at the end)")
                    .hint("check free space and permissions in the destination directory; run the task again: it resumes"));
            }
        }

        // Verified on disk and into place in one command, under the lock;
        // the checksum is remembered.
        let fin = guarded(&p.state_dir, &cr.id.token, finish_cmd(&part, &p.dest, &p.state_dir, &sum, size, plan.split));
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
                    Some(l) => have = l,
                    None => break,
                }
                continue;
            }
        };
        let Some((rsize, rsha)) = finished(&fout, p)? else {
            one_stream = plan.from_zero();
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
            have = Layout { part: None, part2: None, fresh: true };
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
pub(crate) fn lost_lock(p: &Params, step: &str) -> Failure {
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
/// meanwhile), and see how much of the partial files is there: what to
/// resume from, or `None` when another copy has put the same bundle in place.
fn resume_after_drop(ctx: &mut Context, cr: &mut CopyRun<'_>, sum: &str, size: u64) -> Result<Option<Layout>, Failure> {
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
    if r.part_size.is_none() && r.part2_size.is_none() && r.dest_size == Some(size) && !p.force {
        let rs = upgrade_state::remote_sha256(s, &p.state_dir, &p.dest, true, Duration::from_secs(3600))
            .map_err(|e| e.into_failure("checksum dest"))?;
        if rs.is_some_and(|r| r.sha256 == sum) {
            return Ok(None);
        }
    }
    Ok(Some(Layout { part: r.part_size, part2: r.part2_size, fresh: false }))
}
