//! Checks before a byte is sent: what dest holds, room on the appliance, and
//! what check mode says it would do.

use crate::lock::{lock_busy_cmd, lock_paths};
use crate::plan::{split_point, Plan};
use crate::remote::{dest_dir, Remote};
use crate::remote::{gather_record_cmd, parse_gather};
use crate::stage::record_path;
use crate::transfer::CopyRun;
use std::time::Duration;
use usage_meter::upgrade_state;
use usage_meter::{Context, Failure};

/// Fail unless the filesystem of dest has room for what is still to be sent,
/// and for a second copy of the upper half while a split copy is joined (a
/// partial copy that cannot be resumed is deleted first: its space counts as free).
pub(crate) fn check_free_space(cr: &mut CopyRun<'_>, remote: &Remote, size: u64, plan: &Plan) -> Result<(), Failure> {
    // A folder still to be made (create_dir, check mode): its parent's filesystem.
    let dir = if remote.dir_exists { dest_dir(&cr.p.dest) } else { dest_dir(&dest_dir(&cr.p.dest)) };
    let need = plan.bytes() + if plan.split { size - split_point(size) } else { 0 };
    let free = cr.conn.get().and_then(|s| s.free_bytes(&dir)).map_err(|e| e.into_failure("check free space"))?;
    let reclaim = if plan.from_zero() { remote.part_size.unwrap_or(0) + remote.part2_size.unwrap_or(0) } else { 0 };
    let free = free.saturating_add(reclaim);
    if need > free {
        return Err(Failure::new(
            "check free space",
            format!(
                "the copy needs {need} bytes ({}) on the filesystem of {dir}, but only {} bytes ({}) are free; nothing was sent",
                mib(need),
                free,
                mib(free)
            ),
        )
        .hint(format!("free space under {dir} on the appliance (old bundles, var/logs), then run again"))
        .with("needed", need)
        .with("free", free));
    }
    Ok(())
}

/// What the copy would do (check mode, which takes no lock; but it says so
/// when another copy holds it: its partial file is not ours to resume).
pub(crate) fn check_mode_msg(cr: &mut CopyRun<'_>, offset: u64) -> String {
    let state_dir = &cr.p.state_dir;
    let busy = cr.conn.get().and_then(|s| s.exec(&lock_busy_cmd(state_dir), cr.io_t)).is_ok_and(|o| o.stdout.contains("UMBUSY"));
    if busy {
        format!(
            "another copy to this appliance is running (it holds {}): the task would wait for it (lock_timeout), then copy the bundle unless that copy puts the same file in place",
            lock_paths(state_dir).0
        )
    } else if offset > 0 {
        format!("would resume the copy ({offset} bytes there)")
    } else {
        "would copy the bundle".into()
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

/// What dest holds: the gathered facts and, when it has the source's size,
/// its sha256 (from the appliance's cache when unchanged).
pub(crate) fn inspect(ctx: &Context, cr: &mut CopyRun<'_>, size: u64) -> Result<(Remote, Option<String>), Failure> {
    let p = cr.p;
    let cmd = gather_record_cmd(&p.dest, &record_path(&p.state_dir, &p.dest));
    let g = cr.conn.get().and_then(|s| s.exec(&cmd, cr.io_t)).map_err(|e| e.into_failure("inspect dest"))?;
    let remote =
        parse_gather(&g.stdout).ok_or_else(|| Failure::new("inspect dest", format!("unexpected output: {}", g.tail(3).join(" | "))))?;
    if !remote.dir_exists && p.create_dir {
        // Root-only, as the state dir: only the upgrade reads what lands there.
        let dir = dest_dir(&p.dest);
        if !ctx.check_mode {
            let mk = format!("umask 077 && mkdir -p {}", usage_meter::shell::quote(&dir));
            cr.conn.get().and_then(|s| s.exec_ok(&mk, cr.io_t)).map_err(|e| e.into_failure("create dest dir"))?;
        }
        return Ok((Remote { dir_exists: !ctx.check_mode, ..remote }, None));
    }
    if !remote.dir_exists {
        return Err(Failure::new("inspect dest", format!("the directory {} does not exist on the appliance", dest_dir(&p.dest))).hint(
            format!("check dest (the shar belongs in {}), or set create_dir: true to make the folder", usage_meter::appliance::INSTALL_DIR),
        ));
    }
    if remote.dest_size != Some(size) {
        return Ok((remote, None));
    }
    let s = cr.conn.get().map_err(|e| e.into_failure("checksum dest"))?;
    let rs = upgrade_state::remote_sha256(s, &p.state_dir, &p.dest, !ctx.check_mode, Duration::from_secs(3600))
        .map_err(|e| e.into_failure("checksum dest"))?;
    Ok((remote, rs.map(|r| r.sha256)))
}
