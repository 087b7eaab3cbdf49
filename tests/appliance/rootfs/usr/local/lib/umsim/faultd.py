#!/usr/bin/env python3
"""In-appliance fault watcher of the simulated Usage Meter appliance.

Runs inside the appliance (its PID namespace), started by umsim-init at boot.
It implements the two "connection cut" fault switches; both are one-shot: once
fired, the watcher removes the switch (so a retry succeeds) and logs a
`fault-fired` event in the timeline.

cut-copy[=N]     (default N = 1M; suffix K/M/G allowed)
    Armed when the switch is set (the switch file's mtime). Fires as soon as a
    regular file directly inside /opt/vmware/cloudusagemetering (the shar's
    documented destination; any name, `*.part` included) that was modified
    after the switch was armed has reached N bytes. The size is polled every
    20 ms, so the file may grow a little past N before the cut.
cut-upgrade[=S]  (default S = 1 second)
    Fires S seconds after ums-system-upgrade.shar started (its pid file
    /run/ums-upgrade.pid). The shar keeps running if its caller detached it
    (nohup/setsid/systemd-run); a shar run in the foreground of the cut session
    dies of SIGPIPE/SIGHUP at its next progress line.

"Cut" = SIGKILL to every sshd process except the listener, i.e. every SSH
connection of the appliance drops (the client sees the connection closed or
reset, rc 255). The listener keeps running, so a new connection works.
"""
import os
import signal
import time

CTL = "/run/umsim"
FAULTS = os.path.join(CTL, "faults")
UMS = "/opt/vmware/cloudusagemetering"


def parse_size(v, default):
    v = (v or "").strip().upper()
    if not v:
        return default
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    if v[-1] in mult:
        return int(float(v[:-1]) * mult[v[-1]])
    return int(v)


def fault(name):
    p = os.path.join(FAULTS, name)
    try:
        st = os.stat(p)
        with open(p) as f:
            return f.read().strip(), st.st_mtime
    except OSError:
        return None


def event(ev, **kw):
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    fields = " ".join(f"{k}={v}" for k, v in kw.items())
    try:
        with open("/run/umsim-log", "a") as f:
            f.write(f"{ev} {time.time():.6f} boot_id={boot} {fields}\n")
    except OSError:
        pass


def listener_pid():
    try:
        with open("/run/sshd.pid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def kill_sessions():
    master = listener_pid()
    killed = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        if pid == master or pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm == "sshd":
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    return killed


def consume(name):
    try:
        os.unlink(os.path.join(FAULTS, name))
    except OSError:
        pass


def check_cut_copy():
    f = fault("cut-copy")
    if not f:
        return
    value, armed = f
    limit = parse_size(value, 1024 * 1024)
    try:
        entries = list(os.scandir(UMS))
    except OSError:
        return
    for e in entries:
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_mtime >= armed - 0.5 and st.st_size >= limit:
            consume("cut-copy")
            killed = kill_sessions()
            event("fault-fired", fault="cut-copy", file=e.name, size=st.st_size,
                  limit=limit, killed=len(killed))
            return


def upgrade_started():
    try:
        with open("/run/ums-upgrade.pid") as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return os.stat("/run/ums-upgrade.pid").st_mtime
    except (OSError, ValueError):
        return None


def check_cut_upgrade():
    f = fault("cut-upgrade")
    if not f:
        return
    value, _armed = f
    try:
        delay = float(value) if value else 1.0
    except ValueError:
        delay = 1.0
    started = upgrade_started()
    if started is None or time.time() - started < delay:
        return
    consume("cut-upgrade")
    killed = kill_sessions()
    event("fault-fired", fault="cut-upgrade", killed=len(killed))


def main():
    while True:
        active = os.path.exists(os.path.join(FAULTS, "cut-copy")) or \
            os.path.exists(os.path.join(FAULTS, "cut-upgrade"))
        if active:
            check_cut_copy()
            check_cut_upgrade()
            time.sleep(0.02)
        else:
            time.sleep(0.25)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
