"""Controller hashes of the bundle for a fleet (figure 13), for bench/run.py (`--only hashes`).

Bar: "Controller hashes of the bundle for 50 appliances: 1 per file." Counted from the kernel's side, not
from what the modules say they did: the installed playbook `vcloud.usage_meter.upgrade` runs once against 50
fresh simulated appliances (forks 50; 5 with --quick), a 16 MiB bundle (the count does not depend on the size)
and figure 8's timings (fleet_cost.TIMINGS), with ansible-playbook under

    strace -D -f -qq -e signal=none --seccomp-bpf -Y -y -s 256
           -e trace=execve,open,openat,openat2,<the reads>,<the other ways in> -P <bundle> -P <each program> -o <file>

-P keeps only the system calls on those paths; strace matches fd-based calls by the path behind the fd, so
every read of the bundle is kept, whichever name it was opened by (checked by hand on strace 6.1). The
reads: read, pread64, readv, preadv and preadv2 (Python's os.preadv is preadv2); their byte counts are the
return values. The other ways in, mmap, sendfile, copy_file_range and splice, are also counted apart
("other_calls"; none is expected): what the last three take from the bundle counts as read (Python's
shutil.copyfile is sendfile); an mmap's reads cannot be counted. -y names the file behind each fd, so only
calls on the bundle count (a read of a program's own file, which -P of the programs lets through, goes to
"other_reads").

-P of the programs (the installed binary, the pinned Python under each of its names) keeps their execve,
with its argv: a tid's program is its last execve (`usage_meter-linux-x86_64 shar_copy`,
`python3.12 AnsiballZ_stat.py`). A tid with no execve is a thread, or a process forked without an exec (an
ansible-playbook worker): "thread (<comm>)", from -Y. -D makes ansible-playbook this process's child (its
exit code and time are its own) and the tracer a detached grandchild, ended by its PID once
ansible-playbook has exited: daemons the play leaves (an appliance's sshd started through the console, an
ssh master) would otherwise keep it running. Those are in an appliance, purged with it, or name the run's
private folder (ControlPath) and are ended by PID.

From the trace: bytes read from the bundle, passes = bytes / size, per program and per tid. From the
bench_times records: Σ `transferred` of the shar_copy copy tasks (the bytes each copy sent: a full copy is
one pass). Hashes = passes − copy passes. The modules' controller-side caches (TMPDIR) start empty. The run
counts only if ansible-playbook exited 0 with one summary per appliance and every appliance is at 4.3.0.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fleet_cost  # starting the fleet, its inventory, the console tasks, TIMINGS (figure 8)
import umsim  # bench/run.py puts tests/appliance on sys.path
from lib.playbook import VENV_BIN

N, QUICK_N = 50, 5
MiB = 1024 * 1024
BUNDLE = 16 * MiB
TARGET = umsim.TARGET_VERSION
OPENS = ("open", "openat", "openat2")      # musl's open() is the open syscall on x86_64
READS = ("read", "pread64", "readv", "preadv", "preadv2")
OTHER = ("mmap", "sendfile", "copy_file_range", "splice")
SOURCE = {"read": 0, "pread64": 0, "readv": 0, "preadv": 0, "preadv2": 0, "sendfile": 1, "copy_file_range": 0,
          "splice": 0}                 # which fd argument is read from
COPY_TASK = "Put the upgrade bundle on the appliance"
SUMMARY_TASK = "Put the summary together"
LINE = re.compile(r"^(\d+)(?:<([^>]*)>)? (.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\) += (-?\d+|\?)(.*)$")
FDS = re.compile(r"(?:^|, )-?\d+<(.*?)>(?=,|$)")     # fd arguments with their paths (-y)
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] hashes: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the trace

def programs(b) -> list[str]:
    """Paths whose execve the trace keeps: the installed binary, and the pinned Python under every name
    Ansible may run it by (the venv's python*, the interpreter of ansible-playbook's shebang, their targets)."""
    paths = {str(b.bin)}
    shebang = (VENV_BIN / "ansible-playbook").read_text().splitlines()[0][2:].split()
    if shebang:
        paths.add(shebang[0])
    for d in {VENV_BIN, Path(os.path.realpath(VENV_BIN))}:
        paths.update(str(p) for p in d.glob("python*"))
    return sorted(paths | {os.path.realpath(p) for p in paths})


def strace_argv(bundle: Path, progs: list[str], out: Path) -> list[str]:
    argv = ["strace", "-D", "-f", "-qq", "-e", "signal=none", "--seccomp-bpf", "-Y", "-y", "-s", "256",
            "-e", "trace=" + ",".join(("execve", *OPENS, *READS, *OTHER)),
            "-P", str(bundle)]
    for p in progs:
        argv += ["-P", p]
    return [*argv, "-o", str(out), "--"]


def calls(lines):
    """(tid, comm, name, args, ret, rest) of each finished call (rest: what follows the return value, e.g. the
    path of an fd returned), an <unfinished ...> one joined to its resumption."""
    pending: dict[str, str] = {}
    for line in lines:
        m = LINE.match(line.rstrip("\n"))
        if not m:
            continue
        tid, comm, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest[: -len("<unfinished ...>")]
            continue
        r = RESUMED.match(rest)
        if r:
            rest = pending.pop(tid, r.group(1) + "(") + r.group(2)
        c = CALL.match(rest)
        if c:
            ret = c.group(3)
            yield int(tid), comm or "?", c.group(1), c.group(2), -1 if ret == "?" else int(ret), c.group(4)


def label(args: str) -> str:
    """`prog arg1` of an execve's arguments (both basenames): `usage_meter-linux-x86_64 shar_copy`."""
    strings = [s.encode().decode("unicode_escape") for s in QUOTED.findall(args)]
    argv = strings[1:] or strings[:1] or ["?"]
    words = [os.path.basename(argv[0])] + ([os.path.basename(argv[1].rstrip("/"))] if len(argv) > 1 else [])
    return " ".join(w for w in words if w)


def tally(trace: Path, bundle: Path, size: int) -> dict:
    """Bytes read from the bundle in the trace, by program and by tid; what else the trace holds, apart."""
    real = os.path.realpath(bundle)
    on_bundle = f"<{real}>"
    prog: dict[int, str] = {}
    tids: dict[tuple, int] = {}         # (tid, program) -> bytes
    opens, other, other_reads = 0, {}, 0
    with open(trace, encoding="utf-8", errors="replace") as f:
        for tid, comm, name, args, ret, rest in calls(f):
            if name == "execve" and ret == 0:
                prog[tid] = label(args)
            elif name in OPENS and ret >= 0:
                opens += rest.startswith(on_bundle)
            elif name in OTHER and ret >= 0 and on_bundle in args:
                other[name] = other.get(name, 0) + 1
            if name in SOURCE and ret > 0:
                fds = FDS.findall(args)
                if len(fds) <= SOURCE[name] or fds[SOURCE[name]] != real:
                    other_reads += ret * (name in READS)
                    continue
                k = (tid, prog.get(tid) or f"thread ({comm})")
                tids[k] = tids.get(k, 0) + ret
    return {"bytes_read": sum(tids.values()), "by_program": by_program(tids, size), "opens": opens,
            "other_calls": other, "other_reads": other_reads,
            "by_tid": sorted(([t, p, n] for (t, p), n in tids.items()), key=lambda x: -x[2])}


def by_program(tids: dict, size: int) -> dict:
    """{program: {tids, bytes, passes}} from {(tid, program): bytes}."""
    out: dict[str, dict] = {}
    for (_, p), n in tids.items():
        e = out.setdefault(p, {"tids": 0, "bytes": 0, "passes": 0.0})
        e["tids"] += 1
        e["bytes"] += n
    for e in out.values():
        e["passes"] = round(e["bytes"] / size, 3)
    return out


def tracer_pids(trace: Path) -> list[int]:
    """The detached strace (-D) writing `trace`: started here, found by its unique output path."""
    found = []
    for d in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if d.isdigit() and argv and argv[0].endswith(b"strace") and str(trace).encode() in argv:
            found.append(int(d))
    return found


def gone(pid: int, seconds: float) -> bool:
    """Whether the process has exited (a zombie counts) within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def end_tracer(trace: Path) -> None:
    """Give the tracer a moment to finish by itself, then end it by PID: on SIGTERM it detaches and writes
    out what it has."""
    for pid in tracer_pids(trace):
        if not gone(pid, 3):
            os.kill(pid, signal.SIGTERM)
            if not gone(pid, 30):
                os.kill(pid, signal.SIGKILL)
                gone(pid, 5)


def end_leftovers(d: Path) -> list:
    """Processes of the run still alive that name its private folder (an ssh ControlPersist master):
    ended by PID. Under the seccomp filter left by the detached tracer they could no longer read."""
    left = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if str(d).encode() in argv:
            left.append((int(p), argv.split(b"\0")[0].decode(errors="replace")))
            try:
                os.kill(int(p), signal.SIGTERM)
            except OSError:
                pass
    return left


# --------------------------------------------------------------------------- the run

def play(b, d: Path, inventory: dict, trace: Path, shar: Path, forks: int) -> dict:
    """ansible-playbook under strace; returns its exit code, wall time and the bench_times records."""
    inv = d / "inventory.json"
    inv.write_text(json.dumps(inventory))
    times = d / "times.json"
    (d / "tmp").mkdir()
    env = b.env({"BENCH_TIMES_FILE": str(times), "ANSIBLE_FORKS": str(forks), "TMPDIR": str(d / "tmp"),
                 "ANSIBLE_SSH_CONTROL_PATH_DIR": str(d / "cp")})
    argv = [*strace_argv(shar, programs(b), trace), str(VENV_BIN / "ansible-playbook"), "-i", str(inv),
            "vcloud.usage_meter.upgrade"]
    with open(d / "out", "wb") as out, open(d / "err", "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        rc = p.wait()
        wall = time.monotonic() - start
    end_tracer(trace)
    left = end_leftovers(d)
    if left:
        log(f"ended what the play left running: {left[:5]}")
    tasks = json.loads(times.read_text()) if times.exists() else []
    return {"rc": rc, "wall": wall, "tasks": tasks}


def check(r: dict, d: Path, hosts: dict, apps: list) -> None:
    """The run counts only if it did the whole job: rc 0, a summary per appliance, every one at TARGET."""
    if r["rc"] != 0:
        failed = [t for t in r["tasks"] if t["status"] in ("failed", "unreachable")]
        raise RuntimeError(f"hashes: rc {r['rc']}, failed {failed[:3]}\n{(d / 'out').read_text()[-4000:]}\n"
                           f"{(d / 'err').read_text()[-3000:]}")
    summaries = {t["host"] for t in r["tasks"] if t["task"].endswith(SUMMARY_TASK) and t["host"] in hosts}
    if len(summaries) != len(hosts):
        raise RuntimeError(f"hashes: {len(summaries)} summaries of {len(hosts)}")
    with ThreadPoolExecutor(max_workers=4) as ex:
        versions = list(ex.map(lambda a: a.status()["installed_version"], apps))
    wrong = [(a.name, v) for a, v in zip(apps, versions, strict=True) if v != TARGET]
    if wrong:
        raise RuntimeError(f"hashes: {len(wrong)} appliances not at {TARGET}: {wrong[:5]}")


def copies(tasks: list, hosts: dict) -> dict:
    """Σ transferred of the play's shar_copy copy tasks, and how many there were."""
    rows = [t for t in tasks if t["task"].endswith(COPY_TASK) and t["host"] in hosts and "transferred" in t["result"]]
    return {"copy_bytes": sum(int(t["result"]["transferred"]) for t in rows), "copy_tasks": len(rows)}


def strace_version() -> str:
    return subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout.splitlines()[0]


def measure(b, out: dict) -> None:
    """Fill out["hashes"] (bench/run.py's Bench b)."""
    n = QUICK_N if b.quick else N
    t0 = time.monotonic()
    d = Path(tempfile.mkdtemp(prefix="hashes-", dir=str(b.tmp)))
    shar = umsim.make_shar(out=d / "ums-system-upgrade.shar", size=BUNDLE, seconds=2.0)
    size = shar.stat().st_size
    sha = hashlib.sha256(shar.read_bytes()).hexdigest()
    apps = fleet_cost.start_fleet(b, n)
    log(f"{n} appliances started in {time.monotonic() - t0:.1f} s")
    try:
        inventory = fleet_cost.fleet_inventory(b, apps, shar, sha, fleet_cost.console_tasks(d, None), d / "logs")
        hosts = inventory["usage_meter"]["hosts"]
        trace = d / "trace"
        r = play(b, d, inventory, trace, shar, n)
        check(r, d, hosts, apps)
        t = tally(trace, shar, size)
        c = copies(r["tasks"], hosts)
        passes = t["bytes_read"] / size
        res = {"appliances": n, "forks": n, "bundle_bytes": size, "bytes_read": t["bytes_read"],
               "passes": round(passes, 3), **c, "copy_passes": round(c["copy_bytes"] / size, 3),
               "hashes": round(passes - c["copy_bytes"] / size, 2), "by_program": t["by_program"],
               "wall": round(r["wall"], 1), "strace": strace_version(), "opens": t["opens"],
               "other_calls": t["other_calls"], "other_reads": t["other_reads"], "by_tid": t["by_tid"], "trace_bytes": trace.stat().st_size}
        res["runtime_s"] = round(time.monotonic() - t0, 1)
        out["hashes"] = res
        log(f"{n} appliances: {res['passes']} passes over the bundle, {res['copy_passes']} of them copies: "
            f"{res['hashes']} hashes; wall {res['wall']} s")
        log(json.dumps({k: v for k, v in res.items() if k != "by_tid"}))
    finally:
        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(b.stop, apps))
        shutil.rmtree(d, ignore_errors=True)
