//! Sending a [`Plan`]'s segments: one after the other on the run's
//! connection, or two at once, the second on its own connection (a second
//! login) and thread, since one libssh2 session encrypts on one thread only.

use crate::lock::guarded;
use crate::plan::{Plan, Segment};
use crate::remote::{part_path, receive_cmd, upper_path};
use crate::transfer::{lost_lock, CopyRun};
use crate::Params;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;
use usage_meter::reply::Reply;
use usage_meter::ssh::{ExecOutput, Ssh, SshError, SshErrorKind};
use usage_meter::{Context, Failure};

/// How the sending ended (unless it failed for good).
pub(crate) enum Sent {
    /// Every segment confirmed; bytes sent.
    Done(u64),
    /// A connection dropped (the error, when there was one) or a receiver
    /// closed without a result; bytes confirmed by the other segments.
    Dropped(Option<SshError>, u64),
}

type Reply1 = Result<(ExecOutput, u64), SshError>;

/// Send every segment of `plan`; in parallel when it says so and a second
/// connection can be had (else in turn, on the run's connection).
pub(crate) fn send_plan(ctx: &mut Context, cr: &mut CopyRun<'_>, plan: &Plan, src: &Path) -> Result<Sent, Failure> {
    let (p, io_t) = (cr.p, cr.io_t);
    let cmds: Vec<String> = plan.segments.iter().map(|s| command(p, &cr.id.token, s, plan.split)).collect();
    let second = if plan.parallel {
        match Ssh::connect(&p.connection, ctx) {
            Ok(s) => Some(s),
            Err(e) => {
                ctx.log(1, format!("no second connection ({}); sending in one stream", e.detail));
                None
            }
        }
    } else {
        None
    };
    let replies: Vec<Reply1> = match (second, cr.conn.get()) {
        (Some(two), Ok(one)) => std::thread::scope(|sc| {
            let upper = sc.spawn(|| send_segment(&two, &cmds[1], src, &plan.segments[1], io_t));
            let lower = send_segment(one, &cmds[0], src, &plan.segments[0], io_t);
            let upper =
                upper.join().unwrap_or_else(|_| Err(SshError::new(SshErrorKind::Other, &two.target, "the second stream's thread failed")));
            vec![lower, upper]
        }),
        (_, Ok(one)) => plan.segments.iter().zip(&cmds).map(|(s, c)| send_segment(one, c, src, s, io_t)).collect(),
        (_, Err(e)) => vec![Err(e)],
    };
    let mut bytes = 0;
    let mut dropped: Option<Option<SshError>> = None;
    for (seg, r) in plan.segments.iter().zip(replies) {
        match r {
            Ok((out, n)) if confirmed(p, seg, &out)? => bytes += n,
            Ok(_) => dropped = dropped.or(Some(None)),
            Err(e) if e.is_transient() => dropped = Some(Some(e)),
            Err(e) => {
                return Err(e
                    .hint("run the task again: it resumes from the partial copy (.part file) on the appliance")
                    .into_failure("copy"))
            }
        }
    }
    Ok(dropped.map_or(Sent::Done(bytes), |e| Sent::Dropped(e, bytes)))
}

/// The receiving command of one segment (a copy sent in one stream from
/// byte 0 also removes an upper half left by an earlier one).
fn command(p: &Params, token: &str, s: &Segment, split: bool) -> String {
    let part = part_path(&p.dest);
    let file = if s.upper { upper_path(&part) } else { part.clone() };
    let mut cmd = receive_cmd(&file, s.at());
    if !split {
        cmd = cmd.env("UM_DROP", upper_path(&part));
    }
    guarded(&p.state_dir, token, cmd)
}

fn send_segment(s: &Ssh, cmd: &str, src: &Path, seg: &Segment, io_t: Duration) -> Reply1 {
    let read_err = |e: std::io::Error| SshError::new(SshErrorKind::Other, &s.target, format!("reading {}: {e}", src.display()));
    let mut file = File::open(src).map_err(read_err)?;
    file.seek(SeekFrom::Start(seg.from)).map_err(read_err)?;
    let mut part = file.take(seg.to - seg.from);
    let mut noop = |_: u64, _: &[u8]| {};
    // after the last byte the receiver only closes the file and stats it
    s.exec_with_stdin(cmd, &mut part, &mut noop, io_t)
}

/// Whether the receiver confirmed its whole segment on disk; false when it
/// closed without a result (the connection went away at the end).
fn confirmed(p: &Params, seg: &Segment, out: &ExecOutput) -> Result<bool, Failure> {
    if out.stdout.contains("UMLOSTLOCK") {
        return Err(lost_lock(p, "copy"));
    }
    let part = part_path(&p.dest);
    let file = if seg.upper { upper_path(&part) } else { part };
    let Some(rsize) = Reply::parse(&out.stdout).num::<u64>("size").flatten() else {
        if out.rc.is_none() {
            return Ok(false);
        }
        return Err(Failure::new("copy", format!("the appliance did not confirm the copy: {}", out.tail(5).join(" | ")))
            .hint("check free space and permissions in the destination directory; run again to resume"));
    };
    if out.stderr.contains("UMWRITEFAIL") || rsize < seg.end_len() {
        return Err(Failure::new(
            "copy",
            format!("writing {file} on the appliance failed after {rsize} of {} bytes: {}", seg.end_len(), out.tail(3).join(" | ")),
        )
        .hint("free space on the appliance (the disk may be full) and run again; the partial copy is kept and resumed"));
    }
    Ok(true)
}
