#!/usr/bin/env python3
"""Benchmarks of vcloud.usage_meter against what users would do instead: the measuring half.

    bench/run.sh [--no-build] [--quick] [--only NAME]     # builds the release tarball first
    .venv/bin/python bench/run.py [--quick] [--only NAME] [--tarball PATH]

NAME: copy (1, 2 and 6: full copy, re-copy, peak RSS), overhead (3), reboot (4),
fleet (5, and 7: the full role on one appliance against 1.0.0's figure), cost (8:
bench/fleet_cost.py), hashes (13: bench/hash_count.py), distance (9, 11 and 12: the whole
play and the window on a staged appliance against the hand procedure, bench/distance.py),
physical_limit (10: bench/physical_limit.py). The raw results go to bench/results.json; bench/render.py
writes BENCHMARKS.md from them (--render: only that). bench/README.md: how each
figure is taken.
Everything runs against simulated appliances (tests/appliance/umsim.py) under a
private state root; every appliance started here is stopped and purged, and the
temporary files are removed, pass or fail. Results are ratios against baselines
measured in the same run (medians of the repetitions). Nothing here asserts on time:
the table says MET / NOT MET and the exit code is 0 unless a measurement broke.

The collection under test is the release tarball (tools/build-collection.sh:
dist/vcloud-usage_meter-<version>.tar.gz, both static multicall binaries, or
--tarball / $BENCH_TARBALL), copied and installed with `ansible-galaxy collection
install` into a private collections path: the playbooks, roles, action plugins and
the binary plugins/bin/usage_meter-linux-<arch> are exactly what users install.
Direct runs call that binary as `usage_meter-linux-<arch> <module> <args file>`.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO / "tests" / "appliance"))
sys.path.insert(0, str(REPO / "tests"))

import umsim  # noqa: E402
import copy_ab  # noqa: E402  (figure 1's streams: shar_copy streams 1 and 2 vs scp, here and 50 ms away)
import distance  # noqa: E402  (figure 9: a site 50 ms away, role vs by hand)
import physical_limit  # noqa: E402  (figure 10: the play against its physical limit)
import yaml  # noqa: E402  (PyYAML: ansible-core's own dependency, in .venv)
from lib.playbook import VENV_BIN, ansible_env  # noqa: E402  (the tests' Ansible environment)
from lib.timings import LOADED  # noqa: E402  (short role timeouts, with room for fleets of 10 on 2 cores)
import fleet_cost  # noqa: E402  (figure 8: controller cost per appliance)
import hash_count  # noqa: E402  (figure 13: the controller's passes over the bundle, counted by strace)
import render  # noqa: E402  (BENCHMARKS.md from the results: bench/render.py)

# One run's raw results (committed): BENCHMARKS.md is rendered from them (bench/render.py).
RESULTS = render.RESULTS
MODULES: list[str] = []          # from the installed collection's plugins/modules/*.py
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
DEST = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
STATE_DIR = "/var/lib/vcloud-usage-meter"
MB = 1_000_000
MiB = 1024 * 1024

def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------- environment

class Bench:
    def __init__(self, quick: bool, tarball: Path, fleet_sizes=None):
        self.quick = quick
        self.fleet_sizes = fleet_sizes
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-", dir=str(REPO / ".work")))
        self.root = self.tmp / "appliances"          # private umsim state root
        self.root.mkdir()
        self.apps: list[umsim.Appliance] = []
        self.started: list[str] = []       # every name ever started, for the safety net in close()
        self.n = 0
        self.ansible_home = self.tmp / "ansible-home"
        self.ansible_home.mkdir()
        self.controller_tmp = self.tmp / "controller-tmp"   # TMPDIR of the modules (shar_copy's local cache)
        self.controller_tmp.mkdir()
        self.coll = self.tmp / "collections"
        self._make_collection(tarball)

    # A private install of the release tarball, as users install it. The tarball is copied
    # first: dist/ may be rebuilt (make test) while this runs.
    def _make_collection(self, tarball: Path):
        global MODULES
        if not tarball.is_file():
            sys.exit(f"no collection tarball at {tarball} (run bench/run.sh, which builds it with "
                     f"tools/build-collection.sh, or pass --tarball)")
        snap = self.tmp / tarball.name
        shutil.copy2(tarball, snap)
        self.tarball = {"path": rel(tarball), "bytes": snap.stat().st_size,
                        "sha256": hashlib.sha256(snap.read_bytes()).hexdigest(),
                        "mtime": utc(tarball.stat().st_mtime), "host_only": "host-only" in tarball.name}
        r = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--offline",
                            "-p", str(self.coll), str(snap)], capture_output=True, text=True, env=self.env())
        if r.returncode != 0:
            sys.exit(f"ansible-galaxy collection install {snap} failed:\n{r.stdout}{r.stderr}")
        snap.unlink()
        self.dst = self.coll / "ansible_collections" / "vcloud" / "usage_meter"
        info = json.loads((self.dst / "MANIFEST.json").read_text())["collection_info"]
        self.version = info["version"]
        arch = ARCHES.get(platform.machine().lower())
        self.bin = self.dst / "plugins" / "bin" / f"usage_meter-linux-{arch}"
        if arch is None or not os.access(self.bin, os.X_OK):
            sys.exit(f"{tarball} has no executable binary for this machine ({platform.machine()}): {self.bin}")
        MODULES = sorted(p.stem for p in (self.dst / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
        if "shar_copy" not in MODULES:
            sys.exit(f"{tarball}: no plugins/modules/shar_copy.py (not a 1.1.0+ collection?)")
        self.commit = git("rev-parse", "--short", "HEAD")
        self.dirty = bool(git("status", "--porcelain", "--untracked-files=no"))

    def env(self, extra=None) -> dict:
        """The tests' Ansible environment (tests/lib/playbook.py) with this run's private Ansible home and
        collection, the bench_times callback instead of the tests' one, and the modules' TMPDIR. The
        results carry `invocation` (ansible-core 2.21 leaves it out unless asked), from which the callback
        checks that each module got its connection from the inventory host."""
        env = {"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_INJECT_INVOCATION": "True", "TMPDIR": str(self.controller_tmp)}
        return ansible_env({**env, **(extra or {})},
                           home=self.ansible_home, collections=self.coll,
                           callbacks={"bench_times": BENCH / "callback_plugins"})

    def start(self, **kw) -> umsim.Appliance:
        self.n += 1
        name = f"b{os.getpid()}-{self.n}"
        self.started.append(name)
        a = umsim.start_appliance(name, root=str(self.root), **kw)
        self.apps.append(a)
        return a

    def stop(self, a):
        try:
            a.stop(purge=True)
        finally:
            if a in self.apps:
                self.apps.remove(a)

    def close(self):
        for a in list(self.apps):
            try:
                self.stop(a)
            except Exception as e:  # keep going: stop the others
                log(f"stop {a.name}: {e}")
        for name in self.started:          # also any whose start() failed half-way
            try:
                umsim.stop(name, str(self.root), purge=True)
            except Exception as e:
                log(f"stop {name}: {e}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- running things
    def run_proc(self, argv, env=None, timeout=1800):
        """Run a process; returns dict(wall, end (epoch at exit), rc, out, err, maxrss_kib)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env or self.env())
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.002)
            end = time.time()
            wall = time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            return {"wall": wall, "end": end, "rc": p.returncode, "out": out.read().decode(errors="replace"),
                    "err": err.read().decode(errors="replace"), "maxrss_kib": ru.ru_maxrss}

    def module(self, name, args, check=False, rss=False):
        """Run a module directly with an args file: `usage_meter-linux-<arch> <module> <args file>`
        (the action plugin runs the same binary with `<module> /dev/stdin` and the JSON on stdin).

        rss: run it under GNU time (`/usr/bin/time -f %M`) and return its peak RSS in KiB as
        r["maxrss_kib"]. (wait4's ru_maxrss of a child forked from this Python process is not
        usable: the kernel carries the forking process's high-water RSS over into the child
        across exec, so it reports this Python's size, not the module's.)"""
        f = self.tmp / f"args-{name}-{time.monotonic_ns()}.json"
        a = dict(args)
        if check:
            a["_ansible_check_mode"] = True
        f.write_text(json.dumps(a))
        argv = [str(self.bin), name, str(f)]
        rf = self.tmp / f"rss-{time.monotonic_ns()}"
        if rss:
            argv = ["/usr/bin/time", "-f", "%M", "-o", str(rf), *argv]
        r = self.run_proc(argv)
        f.unlink()
        if rss:
            r["maxrss_kib"] = int(rf.read_text().split()[-1])
            rf.unlink()
        try:
            r["result"] = json.loads(r["out"])
        except ValueError:
            r["result"] = {"failed": True, "msg": f"unparsable output: {r['out'][-500:]} {r['err'][-500:]}"}
        return r

    def playbook(self, plays, inventory: dict, extra_args=(), env=None, trace=False):
        """plays: a list of plays, YAML text, a Path, or ("fqcn", "<collection playbook name>").
        trace: also record the worker-side events (bench_times.py) in r["trace"]."""
        d = Path(tempfile.mkdtemp(prefix="play-", dir=str(self.tmp)))
        if isinstance(plays, Path):
            pb = plays
        elif isinstance(plays, tuple) and plays[0] == "fqcn":
            pb = plays[1]
        else:
            pb = d / "play.yml"
            pb.write_text(plays if isinstance(plays, str) else json.dumps(plays, indent=1))
        inv = d / "inventory.json"
        inv.write_text(json.dumps(inventory))
        times = d / "times.json"
        tracef = d / "trace.jsonl"
        extra_env = {"BENCH_TIMES_FILE": str(times), **({"BENCH_TRACE_FILE": str(tracef)} if trace else {})}
        r = self.run_proc([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(pb), *extra_args],
                          env=self.env({**extra_env, **(env or {})}))
        r["tasks"] = json.loads(times.read_text()) if times.exists() else []
        if trace:
            r["trace"] = [json.loads(x) for x in tracef.read_text().splitlines()] if tracef.exists() else []
        shutil.rmtree(d, ignore_errors=True)
        return r


def conn_args(a) -> dict:
    return {"host": a.host, "private_key": a.client_key, "known_hosts": a.known_hosts,
            "host_key_checking": "strict", "connect_timeout": 10}


def ssh_inventory(a, name="app") -> dict:
    """The appliance as an Ansible host over OpenSSH with key auth (python3 from the lower layer)."""
    return {"all": {"hosts": {name: {
        "ansible_host": a.host, "ansible_user": "root", "ansible_connection": "ssh",
        "ansible_ssh_private_key_file": a.client_key,
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={a.known_hosts} -o StrictHostKeyChecking=yes",
        "ansible_python_interpreter": "/usr/bin/python3", "ansible_remote_tmp": "/root/.ansible/tmp"}}}}


def app_inventory(a, name="app") -> dict:
    """The appliance as a 1.1.0 user's inventory host: the action plugin takes host, user and key from
    here (no delegate_to, no connection option in the task); ansible_host_key_checking true = strict
    (the task names the known_hosts file). The host's ansible_connection stays Ansible's default
    (ssh): nothing connects through it, the action runs on the controller."""
    hv = {"ansible_host": a.host, "ansible_user": "root", "ansible_ssh_private_key_file": a.client_key,
          "ansible_host_key_checking": True}
    if a.ssh_port != 22:
        hv["ansible_port"] = a.ssh_port
    return {"all": {"hosts": {name: hv}}}


def task_args(a) -> dict:
    """What a 1.1.0 task still names itself: the known_hosts file and a timeout."""
    return {"known_hosts": a.known_hosts, "connect_timeout": 10}


def check_inventory_conn(row, a):
    """The module really got its connection from the inventory host."""
    c = row.get("conn", {})
    want = {"host": a.host, "username": "root", "private_key": a.client_key, "host_key_checking": "strict"}
    if any(c.get(k) != v for k, v in want.items()):
        raise RuntimeError(f"connection from the inventory: got {c}, expected {want}")


LOCAL_INV = {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}


def git(*args) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()


def rel(p: Path) -> str:
    p = Path(p).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def utc(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def task_time(r, name):
    rows = [t for t in r["tasks"] if t["task"] == name]
    if not rows or r["rc"] != 0 or any(t["status"] not in ("ok",) for t in rows):
        raise RuntimeError(f"task {name!r} failed (rc {r['rc']}): {rows}\n{r['out'][-3000:]}\n{r['err'][-2000:]}")
    return rows[-1]


# --------------------------------------------------------------------------- 1, 2, 6: copy

class CopyRun:
    """Figures 1, 2 and 6 against one appliance: the bundle, the appliance, the calls, the raw times."""

    KEYS = ("direct", "direct_warm", "direct_mod", "play_task", "play_wall", "scp", "acopy_task", "acopy_wall",
            "recopy", "recopy_play_task", "rss", "acopy_recopy_task")

    def __init__(self, b: Bench, shar: Path, checksum: str):
        self.b, self.shar, self.nbytes = b, shar, shar.stat().st_size
        self.a = a = b.start(version="4.2.0", sshd="running")
        self.sc_args = {**conn_args(a), "src": str(shar), "dest": DEST, "checksum": checksum}
        self.copy_task = {"name": "copy", "ansible.builtin.copy": {"src": str(shar), "dest": DEST, "mode": "0644"}}
        # the task in 1.1.0's form: the connection from the inventory host, no delegate_to
        self.sc_task = {"name": "shar_copy", "vcloud.usage_meter.shar_copy": {
            **task_args(a), "src": str(shar), "dest": DEST, "checksum": checksum}}
        self.inv = app_inventory(a)
        self.res = {k: [] for k in self.KEYS}

    def clean(self, controller=True):
        # Cold start for every full copy: no bundle, no partial, no checksum cache on
        # either side (appliance state_dir, controller TMPDIR), no Ansible remote tmp.
        part = "/opt/vmware/cloudusagemetering/.ums-system-upgrade.shar.part"
        self.a.ssh(f"rm -rf {DEST} {part} {part}.2 {STATE_DIR} "
                   "/root/.ansible/tmp", check=True)
        for p in (self.b.controller_tmp.iterdir() if controller else []):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        os.sync()

    def remote_ok(self):
        cp = self.a.ssh(f"stat -c %s {DEST}", check=True)
        if int(cp.stdout.strip()) != self.nbytes:
            raise RuntimeError(f"size on appliance {cp.stdout.strip()} != {self.nbytes}")

    def full_copy(self, key: str, what: str):
        """shar_copy, the binary run directly with an args file, as Ansible runs it: a full copy."""
        r = self.b.module("shar_copy", self.sc_args, rss=True)
        if r["rc"] != 0 or r["result"].get("failed") or r["result"].get("transferred") != self.nbytes:
            raise RuntimeError(f"shar_copy {what}failed: {r['result']} {r['err'][-2000:]}")
        self.remote_ok()
        self.res[key].append(r["wall"])
        self.res["rss"].append(r["maxrss_kib"])
        return r

    def direct(self, i: int):
        self.clean()
        r = self.full_copy("direct", "")
        self.res["direct_mod"].append(r["result"].get("seconds"))
        log(f"copy[{i}] shar_copy direct {r['wall']:.2f}s rss {r['maxrss_kib'] // 1024} MiB")
        # 2: the same again, unchanged file: the idempotent path
        r2 = self.b.module("shar_copy", self.sc_args, rss=True)
        if r2["rc"] != 0 or r2["result"].get("changed") or r2["result"].get("transferred") != 0:
            raise RuntimeError(f"shar_copy re-copy: {r2['result']}")
        self.res["recopy"].append(r2["wall"])
        self.res["rss"].append(r2["maxrss_kib"])
        log(f"copy[{i}] shar_copy re-copy {r2['wall']:.3f}s")
        # the same full copy with the controller's checksum cache warm (the 2nd..Nth appliance of a fleet)
        self.clean(controller=False)
        r3 = self.full_copy("direct_warm", "(warm controller cache) ")
        log(f"copy[{i}] shar_copy direct, controller cache warm {r3['wall']:.2f}s")

    def as_task(self, i: int):
        """shar_copy as an ansible-playbook task, then the same task again (nothing to copy)."""
        self.clean()
        play = [{"hosts": "all", "gather_facts": False, "tasks": [self.sc_task]}]
        r = self.b.playbook(play, self.inv)
        t = task_time(r, "shar_copy")
        if t["result"].get("transferred") != self.nbytes:
            raise RuntimeError(f"shar_copy task did not copy: {t}")
        check_inventory_conn(t, self.a)
        self.remote_ok()
        self.res["play_task"].append(t["end"] - t["start"])
        self.res["play_wall"].append(r["wall"])
        log(f"copy[{i}] shar_copy task {t['end'] - t['start']:.2f}s (playbook {r['wall']:.2f}s)")
        t = task_time(self.b.playbook(play, self.inv), "shar_copy")
        self.res["recopy_play_task"].append(t["end"] - t["start"])

    def scp(self, i: int):
        """OpenSSH scp, key auth, no verification."""
        self.clean()
        t0 = time.monotonic()
        cp = self.a.scp_to(self.shar, DEST, timeout=1800)
        dt = time.monotonic() - t0
        if cp.returncode != 0:
            raise RuntimeError(f"scp failed: {cp.stderr}")
        self.remote_ok()
        self.res["scp"].append(dt)
        log(f"copy[{i}] scp {dt:.2f}s (shar_copy direct / scp: {dt / self.res['direct'][-1]:.2f}x)")

    def ansible_copy(self, i: int):
        """ansible.builtin.copy over Ansible's ssh connection (defaults: sftp, -C, ControlPersist)."""
        self.clean()
        play = [{"hosts": "all", "gather_facts": False, "tasks": [self.copy_task]}]
        r = self.b.playbook(play, ssh_inventory(self.a))
        t = task_time(r, "copy")
        self.remote_ok()
        self.res["acopy_task"].append(t["end"] - t["start"])
        self.res["acopy_wall"].append(r["wall"])
        log(f"copy[{i}] ansible.builtin.copy task {t['end'] - t['start']:.2f}s (playbook {r['wall']:.2f}s)")
        if i == 0:
            t = task_time(self.b.playbook(play, ssh_inventory(self.a)), "copy")
            self.res["acopy_recopy_task"].append(t["end"] - t["start"])


def bench_copy(b: Bench, out: dict):
    size = "256M" if b.quick else "1G"
    reps = 2 if b.quick else 5              # every figure is the median of the repetitions
    log(f"copy: building/reusing a {size} bundle")
    shar = umsim.make_shar(size=size, seconds=2.0)
    with open(shar, "rb") as f:             # the published checksum, given as the role gives it
        checksum = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    c = CopyRun(b, shar, checksum)
    a = c.a
    free = a.ssh("df -Pk /opt/vmware | tail -1", check=True).stdout.split()
    log(f"copy: appliance {a.name} at {a.host}, /opt/vmware free {int(free[3]) // 1024} MiB, bundle {c.nbytes} bytes")
    py = a.ssh("/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'")
    out["appliance_python"] = py.stdout.strip() or f"none ({py.stderr.strip()})"
    for i in range(reps):
        c.direct(i)
        c.as_task(i)
        c.scp(i)
        # at most 2 repetitions of ansible.builtin.copy (it is by far the slowest, and the bar has room)
        if i < 2:
            c.ansible_copy(i)
    c.clean()
    b.stop(a)
    out["copy"] = {"bytes": c.nbytes, "reps": reps, "raw": c.res,
                   "median": {k: med(v) for k, v in c.res.items()}}
    # streams 1 and 2 against scp, interleaved, on loopback and 50 ms away
    out["copy"]["streams"] = {str(d): copy_ab.measure(b.bin, str(b.root), shar, checksum, d, reps, log) for d in (0, 50)}


# --------------------------------------------------------------------------- 3: per-task overhead

def elf_stripped(path: Path) -> bool:
    import struct
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shnum == 0:
        return True
    stro = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
    names = set()
    for i in range(shnum):
        nameoff, = struct.unpack_from("<I", data, shoff + i * shentsize)
        end = data.index(b"\0", stro + nameoff)
        names.add(data[stro + nameoff:end].decode())
    return ".symtab" not in names and not any(n.startswith(".debug") for n in names)


def release_sizes(b: Bench) -> dict:
    """The multicall binary per architecture (from the installed tarball, else build/<arch>/usage_meter)
    and the tarball(s)."""
    bins = {}
    for arch in ("x86_64", "aarch64"):
        p, src = b.dst / "plugins" / "bin" / f"usage_meter-linux-{arch}", "tarball"
        if not p.is_file():
            p, src = REPO / "build" / arch / "usage_meter", rel(REPO / "build" / arch / "usage_meter")
        if p.is_file():
            bins[arch] = {"bytes": p.stat().st_size, "stripped": elf_stripped(p), "from": src}
    tarballs = {"under test": {k: b.tarball[k] for k in ("path", "bytes", "host_only")}}
    if b.tarball["host_only"]:
        for t in sorted((REPO / "dist").glob(f"vcloud-usage_meter-{b.version}.tar.gz")):
            tarballs["universal"] = {"path": rel(t), "bytes": t.stat().st_size, "host_only": False}
    return {"binaries": bins, "tarballs": tarballs}


def breakdown(r, name: str) -> dict:
    """Where each task of `name` spent its time, from the callback's rows (main process) and the
    worker trace (bench_times.py with BENCH_TRACE_FILE). Every figure is a sum over the tasks / their
    number, so the parts add up to the per-task figure (first start -> last end, over n)."""
    rows = sorted((t for t in r["tasks"] if t["task"] == name), key=lambda t: t["start"])
    te, procs = {}, []
    for ev in r.get("trace", []):
        if ev["k"] == "te_start":
            te.setdefault(ev["task"], {})["start"] = ev["t"]
            te[ev["task"]]["pid"] = ev["pid"]
        elif ev["k"] == "te_end":
            te.setdefault(ev["task"], {})["end"] = ev["t"]
        elif ev["k"] == "proc":
            procs.append(ev)
    n = len(rows)
    parts = {"between": 0.0, "fork": 0.0, "worker": 0.0, "subprocesses": 0.0, "result": 0.0}
    nproc, longest, matched = 0, {}, 0
    for i, t in enumerate(rows):
        if i:
            parts["between"] += t["start"] - rows[i - 1]["end"]
        e = te.get(t["uuid"])
        if not e or "end" not in e:
            continue
        matched += 1
        mine = [p for p in procs if p["pid"] == e["pid"] and e["start"] <= p["t0"] <= e["end"]]
        sub = sum(p["t"] - p["t0"] for p in mine)
        parts["fork"] += e["start"] - t["start"]
        parts["worker"] += (e["end"] - e["start"]) - sub
        parts["subprocesses"] += sub
        parts["result"] += t["end"] - e["end"]
        nproc += len(mine)
        if mine:
            p = max(mine, key=lambda p: p["t"] - p["t0"])
            key = p["cmd"].split()[0].rsplit("/", 1)[-1] if "AnsiballZ" not in p["cmd"] else "python AnsiballZ module"
            longest.setdefault(key, []).append(p["t"] - p["t0"])
    if not n or matched != n:
        return {"matched": matched, "n": n}
    top = max(longest.items(), key=lambda kv: sum(kv[1]), default=(None, []))
    return {"n": n, "matched": matched, **{k: v / n for k, v in parts.items()},
            "per_task": (rows[-1]["end"] - rows[0]["start"]) / n, "procs_per_task": nproc / n,
            "longest_proc": top[0], "longest_proc_s": sum(top[1]) / n if top[1] else None}


def bench_overhead(b: Bench, out: dict):
    n = 50
    reps = 1 if b.quick else 2
    a = b.start(version="4.2.0", sshd="running")
    # ours, 1.1.0's form: on the inventory host (no delegate_to), the connection from the inventory
    new_task = {"name": "ours", "vcloud.usage_meter.sshd": {**task_args(a), "state": "started"}, "check_mode": True}
    # ours, 1.0.0's form: on localhost, delegated, every connection option in the task
    old_task = {"name": "ours", "vcloud.usage_meter.sshd": {**conn_args(a), "state": "started"},
                "delegate_to": "localhost", "check_mode": True}
    ping_task = {"name": "ping", "ansible.builtin.ping": {}}
    debug_task = {"name": "debug", "ansible.builtin.debug": {"msg": "x"}}
    variants = (("ours", new_task, app_inventory(a)), ("ours_old", old_task, LOCAL_INV),
                ("ping", ping_task, LOCAL_INV), ("debug", debug_task, LOCAL_INV))
    res = {f"{k}_{x}": [] for k, _, _ in variants for x in ("task", "wall")}
    res["empty_wall"] = []
    parts = {k: [] for k, _, _ in variants}
    for i in range(reps):
        for key, task, inv in variants:    # interleaved, so a change of load hits every variant alike
            r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [task] * n}], inv, trace=True)
            rows = [t for t in r["tasks"] if t["task"] == task["name"]]
            if r["rc"] != 0 or len(rows) != n or any(t["status"] != "ok" for t in rows):
                raise RuntimeError(f"{key}: rc {r['rc']} {rows[-1:]}\n{r['out'][-2000:]}")
            if key.startswith("ours") and rows[0]["result"].get("changed"):
                raise RuntimeError(f"sshd check mode reported a change: {rows[0]}")
            if key == "ours":
                check_inventory_conn(rows[0], a)
            # per task: first task start -> last task end, over n
            res[f"{key}_task"].append((rows[-1]["end"] - rows[0]["start"]) / n)
            res[f"{key}_wall"].append(r["wall"])
            parts[key].append(breakdown(r, task["name"]))
            log(f"overhead[{i}] {key}: {res[f'{key}_task'][-1] * 1000:.0f} ms/task, playbook {r['wall']:.1f}s")
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": []}], LOCAL_INV)
        res["empty_wall"].append(r["wall"])
    # the binary alone, no Ansible: one check-mode call (connect, systemctl is-active, exit) ...
    k = 2 if b.quick else 5
    direct = [b.module("sshd", {**conn_args(a), "state": "started"}, check=True) for _ in range(k)]
    if any(d["rc"] != 0 or d["result"].get("failed") for d in direct):
        raise RuntimeError(f"sshd direct: {direct[0]['result']}")
    res["ours_direct"] = [d["wall"] for d in direct]
    # ... its start-up floor (arguments refused before any connection; a blocking wait, since
    # run_proc's 2 ms polling would dominate a figure this small) ...
    bad = b.tmp / "args-bad.json"
    bad.write_text(json.dumps({"no_such_option": 1}))
    res["binary_floor"] = []
    for _ in range(k):
        t0 = time.perf_counter()
        cp = subprocess.run([str(b.bin), "sshd", str(bad)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        res["binary_floor"].append(time.perf_counter() - t0)
        if "no_such_option" not in cp.stdout:
            raise RuntimeError(f"sshd with an unknown option: {cp.stdout[-500:]} {cp.stderr[-500:]}")
    bad.unlink()
    # ... and OpenSSH doing the same on the appliance: log in with the key, run the query
    ssh = []
    for _ in range(k):
        t0 = time.monotonic()
        a.ssh("systemctl is-active sshd", check=True)
        ssh.append(time.monotonic() - t0)
    res["openssh"] = ssh
    b.stop(a)
    merged = {}
    for key, runs in parts.items():
        good = [p for p in runs if "per_task" in p]
        if not good:
            merged[key] = runs[0] if runs else {}
            continue
        merged[key] = {f: (med([p[f] for p in good]) if isinstance(v, (int, float)) else v) for f, v in good[0].items()}
    out["overhead"] = {"n": n, "reps": reps, "raw": res, "median": {k: med(v) for k, v in res.items()},
                       "breakdown": merged}


# --------------------------------------------------------------------------- 4: reboot detection lag

def bench_reboot(b: Bench, out: dict):
    reps = 2 if b.quick else 5
    a = b.start(version="4.2.0", sshd="enabled")
    res = {"ours_direct": [], "ours_task": [], "builtin": [], "ours_elapsed": [], "builtin_total": []}
    failures = {"ours_direct": [], "ours_task": [], "builtin": []}   # counted and reported, never hidden

    def lag(end, boot_id):
        t = a.sshd_listening_times(boot_id=boot_id, first_per_boot=True)
        if not t:
            raise RuntimeError(f"no sshd-listening event for boot {boot_id}")
        return end - t[0]

    def settle():
        a.wait_ssh(60)
        a.wait_ready(60)
        time.sleep(0.5)

    def failed(key, i, msg, before):
        after = a.boot_id()
        failures[key].append(f"repetition {i + 1}: {msg} (appliance rebooted: {after != before})")
        log(f"reboot[{i}] {key} FAILED: {failures[key][-1]}")

    ours_task = {"name": "reboot", "vcloud.usage_meter.reboot": {**task_args(a), "reboot_timeout": 120}}
    builtin_task = {"name": "reboot", "ansible.builtin.reboot": {
        "reboot_command": "systemctl reboot", "test_command": "whoami", "reboot_timeout": 120}}
    for i in range(reps):
        settle()
        before = a.boot_id()
        r = b.module("reboot", {**conn_args(a), "reboot_timeout": 120})
        if r["rc"] != 0 or not r["result"].get("rebooted"):
            failed("ours_direct", i, (r["result"].get("msg") or r["err"])[-600:], before)
        else:
            res["ours_direct"].append(lag(r["end"], r["result"]["boot_id_after"]))
            res["ours_elapsed"].append(r["result"].get("elapsed"))
            log(f"reboot[{i}] ours direct: lag {res['ours_direct'][-1]:.3f}s (elapsed {r['result'].get('elapsed')})")

        settle()
        before = a.boot_id()
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [ours_task]}], app_inventory(a))
        try:
            t = task_time(r, "reboot")
        except RuntimeError:
            rows = [x for x in r["tasks"] if x["task"] == "reboot"]
            failed("ours_task", i, rows[-1]["result"].get("msg") if rows else r["err"][-500:], before)
        else:
            check_inventory_conn(t, a)
            res["ours_task"].append(lag(t["end"], t["result"]["boot_id_after"]))
            log(f"reboot[{i}] ours task: lag {res['ours_task'][-1]:.3f}s")

        settle()
        before = a.boot_id()
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [builtin_task]}], ssh_inventory(a))
        try:
            t = task_time(r, "reboot")
        except RuntimeError:
            rows = [x for x in r["tasks"] if x["task"] == "reboot"]
            failed("builtin", i, rows[-1]["result"].get("msg") if rows else r["err"][-500:], before)
            continue
        after = a.boot_id()
        if after == before:
            raise RuntimeError("ansible.builtin.reboot: no new boot")
        res["builtin"].append(lag(t["end"], after))
        res["builtin_total"].append(t["end"] - t["start"])
        log(f"reboot[{i}] ansible.builtin.reboot: lag {res['builtin'][-1]:.3f}s (task {t['end'] - t['start']:.1f}s)")
    b.stop(a)
    median = {k: med(v) for k, v in res.items()}
    for key, fails in failures.items():
        # a failed repetition detected nothing: it counts as an infinite lag in the median
        m = statistics.median(res[key] + [float("inf")] * len(fails)) if res[key] or fails else None
        median[key] = None if m == float("inf") else m
    out["reboot"] = {"reps": reps, "raw": res, "failures": failures, "median": median}


# --------------------------------------------------------------------------- 5: fleet scaling

VERIFY_TASK = "Verify | Wait for every service to be Running"


def bench_fleet(b: Bench, out: dict):
    sizes = b.fleet_sizes or ([1, 3] if b.quick else [1, 5, 10])
    shar = umsim.make_shar(size="64M", seconds=2.0)
    sha = hashlib.sha256(shar.read_bytes()).hexdigest()
    console = REPO / "tests" / "roles" / "files" / "umsim_console_sshd.yml"
    res = {}
    out["fleet"] = {"sizes": sizes, "raw": res}      # filled as each size finishes
    # Figure 7's second run: the same playbook, but verify without 1.1.0's settle window (it passes at
    # the first all-Running check, as 1.0.0's verify did), to measure what that window costs.
    plays = yaml.safe_load((b.dst / "playbooks" / "upgrade.yml").read_text())
    plays[0]["module_defaults"] = {"vcloud.usage_meter.verify": {"settle_polls": 1, "settle_seconds": 0}}
    runs = [(n, n, ("fqcn", "vcloud.usage_meter.upgrade")) for n in sizes]
    if 1 in sizes:
        runs.insert(sizes.index(1) + 1, ("1_no_settle", 1, json.dumps(plays, indent=1)))
    for key, n, playbook in runs:
        t0 = time.monotonic()
        apps = fleet_cost.start_fleet(b, n)         # started 4 at a time (boot time only, not measured)
        log(f"fleet {key}: {n} appliances started in {time.monotonic() - t0:.1f}s")
        inv = fleet_cost.fleet_inventory(b, apps, shar, sha, console, b.tmp / f"fleet-logs-{key}", LOADED)
        hosts = inv["usage_meter"]["hosts"]
        # the installed collection's playbook, run by name as the README says
        r = b.playbook(playbook, inv, env={"ANSIBLE_FORKS": str(n)})
        summaries = [t for t in r["tasks"] if t["task"].endswith("Put the summary together")]
        failed = [t for t in r["tasks"] if t["status"] in ("failed", "unreachable")]
        if r["rc"] != 0:
            raise RuntimeError(f"fleet {key}: rc {r['rc']}, failed {failed[:3]}\n{r['out'][-4000:]}\n{r['err'][-3000:]}")
        # per-host span: first task start -> last task end of that host
        spans = {}
        for t in r["tasks"]:
            if t["host"] in hosts and t["start"]:
                s, e = spans.get(t["host"], (t["start"], t["end"]))
                spans[t["host"]] = (min(s, t["start"]), max(e, t["end"]))
        row = {"wall": r["wall"], "host_span_median": med([e - s for s, e in spans.values()]),
               "summaries": len(summaries)}
        if n == 1:
            # where one appliance's run goes: the longest tasks, and all the short ones together
            mine = [dict(task=t["task"], s=t["end"] - t["start"]) for t in r["tasks"] if t["host"] in hosts and t["start"]]
            row["tasks"] = len(mine)
            row["top_tasks"] = sorted(mine, key=lambda t: -t["s"])[:6]
            short = [t["s"] for t in mine if t["s"] < 0.5]
            row["short_tasks"] = {"count": len(short), "seconds": sum(short)}
            row["all_tasks_s"] = sum(t["s"] for t in mine)
            v = [t for t in r["tasks"] if t["task"].endswith(VERIFY_TASK) and t["host"] in hosts]
            if v:
                row["verify"] = {"s": v[0]["end"] - v[0]["start"], "attempts": v[0]["result"].get("attempts"),
                                 "waited": v[0]["result"].get("waited")}
        res[key] = row
        log(f"fleet {key}: playbook {r['wall']:.1f}s")
        for x in apps:
            b.stop(x)


# --------------------------------------------------------------------------- report

def machine() -> dict:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"nproc": os.cpu_count(), "mem_gib": round(int(mem) / 1024 / 1024, 1), "cpu": cpu,
            "kernel": platform.release(), "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller: 256 MiB, fewer repetitions, fleet of 1 and 3")
    ap.add_argument("--only", choices=["copy", "overhead", "reboot", "fleet", "cost", "hashes", "distance", "physical_limit"])
    ap.add_argument("--no-write", action="store_true", help="do not rewrite bench/results.json and BENCHMARKS.md")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where to write the raw results")
    ap.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md", help="where to write the report")
    ap.add_argument("--tarball", type=Path, default=os.environ.get("BENCH_TARBALL"),
                    help="the collection tarball to install (default: dist/vcloud-usage_meter-<galaxy.yml version>.tar.gz)")
    ap.add_argument("--fleet-sizes", type=lambda v: sorted({int(x) for x in v.split(",")}),
                    help="fleet sizes to run, comma-separated (default 1,5,10; --quick 1,3); bar 5 needs 1 and 10")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: write the report again from the results (= bench/render.py)")
    args = ap.parse_args()
    if args.render:
        return render.main(["--results", str(args.results), "--output", str(args.output)])
    if args.tarball is None:
        version = re.search(r"^version:\s*['\"]?([^'\"\s#]+)", (REPO / "galaxy.yml").read_text(), re.M).group(1)
        args.tarball = REPO / "dist" / f"vcloud-usage_meter-{version}.tar.gz"
    if os.geteuid() != 0:
        sys.exit("the simulated appliances need root")
    out = {"machine": machine(), "errors": {}}
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    b = Bench(args.quick, Path(args.tarball), args.fleet_sizes)
    out["commit"] = b.commit
    out["dirty"] = b.dirty
    out["commits_since_1_0_0"] = git("rev-list", "--count", f"{render.HISTORY_1_0_0['commit']}..HEAD") or None
    out["tarball"] = b.tarball
    out["sizes"] = release_sizes(b)
    if os.environ.get("BENCH_BUILD_SECONDS", "").isdigit():
        out["build_s"] = int(os.environ["BENCH_BUILD_SECONDS"])
    t0 = time.monotonic()
    try:
        for name, fn in (("copy", bench_copy), ("overhead", bench_overhead), ("reboot", bench_reboot),
                         ("fleet", bench_fleet), ("cost", fleet_cost.measure), ("hashes", hash_count.measure),
                         ("distance", distance.measure),
                         ("physical_limit", physical_limit.measure)):
            if args.only and args.only != name:
                continue
            log(f"== {name}")
            try:
                fn(b, out)
            except Exception as e:
                traceback.print_exc()
                out["errors"][name] = str(e)[:2000]
                for a in list(b.apps):
                    b.stop(a)
    finally:
        b.close()
    out["runtime_s"] = round(time.monotonic() - t0, 1)
    out["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    opts = (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    # JSON keys are strings: the fleet sizes become "1", "5", ... as the renderer reads them back
    saved = json.loads(json.dumps({"started": started, "finished": finished, "options": opts.strip(), "out": out},
                                  default=str))
    return report(saved, args)


def report(saved: dict, args) -> int:
    """Write the raw results (unless --no-write), then BENCHMARKS.md rendered from them."""
    out = saved["out"]
    md = render.render(saved)
    print(md.split("## Bars not met")[0])
    if not args.no_write:
        args.results.write_text(json.dumps(saved, indent=1, ensure_ascii=False, default=str) + "\n")
        args.output.write_text(md)
        log(f"wrote {args.results} and {args.output} (runtime {out.get('runtime_s')} s)")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
