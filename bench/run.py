#!/usr/bin/env python3
"""Benchmarks of vcloud.usage_meter against what users would do instead (issue 7).

    bench/run.sh [--quick] [--only NAME]          # builds the release binaries first
    .venv/bin/python bench/run.py [--quick] [--only NAME]

NAME: copy (1, 2 and 6: full copy, re-copy, peak RSS), overhead (3), reboot (4), fleet (5).
Everything runs against simulated appliances (tests/appliance/umsim.py) under a
private state root; every appliance started here is stopped and purged, and the
temporary files are removed, pass or fail. Results are ratios against baselines
measured in the same run (medians of the repetitions). Nothing here asserts on time:
the table says MET / NOT MET and the exit code is 0 unless a measurement broke.

Module binaries: the static release build (tools/build-binaries.sh, musl) from
$BENCH_BIN_DIR (bench/run.sh puts them in .work/bench/release-bin), installed into a
private collection copy, so the playbooks run exactly those binaries.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
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

VENV_BIN = REPO / ".venv" / "bin"
BIN_DIR = Path(os.environ.get("BENCH_BIN_DIR", REPO / ".work" / "bench" / "release-bin"))
MODULES = ["appliance_info", "certificates", "reboot", "shar_copy", "sshd", "upgrade", "verify"]
DEST = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
STATE_DIR = "/var/lib/vcloud-usage-meter"
MB = 1_000_000
MiB = 1024 * 1024

# Short role timeouts (as tests/roles uses), so nothing waits for production timeouts.
FAST = {
    "usage_meter_connect_timeout": 5,
    "usage_meter_rescue_connect_timeout": 3,
    "usage_meter_ssh_probe_timeout": 2,
    "usage_meter_reboot_timeout": 60,
    "usage_meter_verify_timeout": 30,
    "usage_meter_verify_interval": 1,
    "usage_meter_upgrade_timeout": 180,
    "usage_meter_upgrade_poll_interval": 1,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------- environment

class Bench:
    def __init__(self, quick: bool):
        self.quick = quick
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
        self._make_collection()

    # A private collection: the committed roles/playbooks/docs (git archive HEAD; other
    # engineers edit the working tree while this runs) + the release binaries.
    def _make_collection(self):
        global MODULES
        MODULES = sorted(p.name for p in BIN_DIR.iterdir() if p.is_file() and "." not in p.name) \
            if BIN_DIR.is_dir() else []
        if "shar_copy" not in MODULES:
            sys.exit(f"no release binaries in {BIN_DIR} (run bench/run.sh, which builds them)")
        dst = self.coll / "ansible_collections" / "vcloud" / "usage_meter"
        dst.mkdir(parents=True)
        self.commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True, check=True).stdout.strip()
        arch = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "HEAD", "galaxy.yml", "README.md",
                               "meta", "roles", "playbooks", "plugins"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dst)], input=arch, check=True)
        for m in MODULES:
            shutil.copy2(BIN_DIR / m, dst / "plugins" / "modules" / m)
        self.bin = dst / "plugins" / "modules"

    def env(self, extra=None) -> dict:
        env = dict(os.environ)
        env.update({
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "ANSIBLE_HOME": str(self.ansible_home),
            "ANSIBLE_LOCAL_TEMP": str(self.ansible_home / "tmp"),
            "ANSIBLE_REMOTE_TMP": str(self.ansible_home / "remote-tmp"),   # localhost tasks: not in $HOME
            "ANSIBLE_COLLECTIONS_PATH": str(self.coll),
            "ANSIBLE_CALLBACK_PLUGINS": str(BENCH / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_times",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python"),
            "TMPDIR": str(self.controller_tmp),
        })
        env.update(extra or {})
        return env

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
        """Run a module binary directly, as Ansible does: `<binary> <args file>`.

        rss: run it under GNU time (`/usr/bin/time -f %M`) and return its peak RSS in KiB as
        r["maxrss_kib"]. (wait4's ru_maxrss of a child forked from this Python process is not
        usable: the kernel carries the forking process's high-water RSS over into the child
        across exec, so it reports this Python's size, not the module's.)"""
        f = self.tmp / f"args-{name}-{time.monotonic_ns()}.json"
        a = dict(args)
        if check:
            a["_ansible_check_mode"] = True
        f.write_text(json.dumps(a))
        argv = [str(self.bin / name), str(f)]
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

    def playbook(self, plays, inventory: dict, extra_args=(), env=None):
        d = Path(tempfile.mkdtemp(prefix="play-", dir=str(self.tmp)))
        if isinstance(plays, Path):
            pb = plays
        else:
            pb = d / "play.yml"
            pb.write_text(plays if isinstance(plays, str) else json.dumps(plays, indent=1))
        inv = d / "inventory.json"
        inv.write_text(json.dumps(inventory))
        times = d / "times.json"
        r = self.run_proc([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(pb), *extra_args],
                          env=self.env({"BENCH_TIMES_FILE": str(times), **(env or {})}))
        r["tasks"] = json.loads(times.read_text()) if times.exists() else []
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


LOCAL_INV = {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}


def task_time(r, name):
    rows = [t for t in r["tasks"] if t["task"] == name]
    if not rows or r["rc"] != 0 or any(t["status"] not in ("ok",) for t in rows):
        raise RuntimeError(f"task {name!r} failed (rc {r['rc']}): {rows}\n{r['out'][-3000:]}\n{r['err'][-2000:]}")
    return rows[-1]


# --------------------------------------------------------------------------- 1, 2, 6: copy

def bench_copy(b: Bench, out: dict):
    size = "256M" if b.quick else "1G"
    reps = 2 if b.quick else 3
    log(f"copy: building/reusing a {size} bundle")
    shar = umsim.make_shar(size=size, seconds=2.0)
    nbytes = shar.stat().st_size
    a = b.start(version="4.2.0", sshd="running")
    free = a.ssh("df -Pk /opt/vmware | tail -1", check=True).stdout.split()
    log(f"copy: appliance {a.name} at {a.host}, /opt/vmware free {int(free[3]) // 1024} MiB, bundle {nbytes} bytes")
    py = a.ssh("/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'")
    out["appliance_python"] = py.stdout.strip() or f"none ({py.stderr.strip()})"

    def clean(controller=True):
        # Cold start for every full copy: no bundle, no partial, no checksum cache on
        # either side (appliance state_dir, controller TMPDIR), no Ansible remote tmp.
        a.ssh(f"rm -rf {DEST} /opt/vmware/cloudusagemetering/.ums-system-upgrade.shar.part {STATE_DIR} /root/.ansible/tmp",
              check=True)
        for p in (b.controller_tmp.iterdir() if controller else []):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        os.sync()

    def remote_ok():
        cp = a.ssh(f"stat -c %s {DEST}", check=True)
        if int(cp.stdout.strip()) != nbytes:
            raise RuntimeError(f"size on appliance {cp.stdout.strip()} != {nbytes}")

    sc_args = {**conn_args(a), "src": str(shar), "dest": DEST}
    copy_task = {"name": "copy", "ansible.builtin.copy": {"src": str(shar), "dest": DEST, "mode": "0644"}}
    sc_task = {"name": "shar_copy", "vcloud.usage_meter.shar_copy": sc_args, "delegate_to": "localhost"}

    res = {k: [] for k in ("direct", "direct_warm", "direct_mod", "play_task", "play_wall", "scp", "acopy_task", "acopy_wall",
                           "recopy", "recopy_play_task", "rss", "acopy_recopy_task")}
    for i in range(reps):
        # shar_copy, the binary run directly with an args file, as Ansible runs it
        clean()
        r = b.module("shar_copy", sc_args, rss=True)
        if r["rc"] != 0 or r["result"].get("failed") or r["result"].get("transferred") != nbytes:
            raise RuntimeError(f"shar_copy failed: {r['result']} {r['err'][-2000:]}")
        remote_ok()
        res["direct"].append(r["wall"])
        res["direct_mod"].append(r["result"].get("seconds"))
        res["rss"].append(r["maxrss_kib"])
        log(f"copy[{i}] shar_copy direct {r['wall']:.2f}s rss {r['maxrss_kib'] // 1024} MiB")
        # 2: the same again, unchanged file: the idempotent path
        r2 = b.module("shar_copy", sc_args, rss=True)
        if r2["rc"] != 0 or r2["result"].get("changed") or r2["result"].get("transferred") != 0:
            raise RuntimeError(f"shar_copy re-copy: {r2['result']}")
        res["recopy"].append(r2["wall"])
        res["rss"].append(r2["maxrss_kib"])
        log(f"copy[{i}] shar_copy re-copy {r2['wall']:.3f}s")
        # the same full copy with the controller's checksum cache warm (the 2nd..Nth appliance of a fleet)
        clean(controller=False)
        r3 = b.module("shar_copy", sc_args, rss=True)
        if r3["rc"] != 0 or r3["result"].get("failed") or r3["result"].get("transferred") != nbytes:
            raise RuntimeError(f"shar_copy (warm controller cache) failed: {r3['result']} {r3['err'][-2000:]}")
        remote_ok()
        res["direct_warm"].append(r3["wall"])
        res["rss"].append(r3["maxrss_kib"])
        log(f"copy[{i}] shar_copy direct, controller cache warm {r3['wall']:.2f}s")

        # shar_copy as an ansible-playbook task (delegate_to localhost)
        clean()
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [sc_task]}], LOCAL_INV)
        t = task_time(r, "shar_copy")
        if t["result"].get("transferred") != nbytes:
            raise RuntimeError(f"shar_copy task did not copy: {t}")
        remote_ok()
        res["play_task"].append(t["end"] - t["start"])
        res["play_wall"].append(r["wall"])
        log(f"copy[{i}] shar_copy task {t['end'] - t['start']:.2f}s (playbook {r['wall']:.2f}s)")
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [sc_task]}], LOCAL_INV)
        t = task_time(r, "shar_copy")
        res["recopy_play_task"].append(t["end"] - t["start"])

        # OpenSSH scp, key auth, no verification
        clean()
        t0 = time.monotonic()
        cp = a.scp_to(shar, DEST, timeout=1800)
        dt = time.monotonic() - t0
        if cp.returncode != 0:
            raise RuntimeError(f"scp failed: {cp.stderr}")
        remote_ok()
        res["scp"].append(dt)
        log(f"copy[{i}] scp {dt:.2f}s")

        # ansible.builtin.copy over Ansible's ssh connection (defaults: sftp, -C, ControlPersist);
        # at most 2 repetitions (it is by far the slowest, and the bar has room)
        if i >= 2:
            continue
        clean()
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [copy_task]}], ssh_inventory(a))
        t = task_time(r, "copy")
        remote_ok()
        res["acopy_task"].append(t["end"] - t["start"])
        res["acopy_wall"].append(r["wall"])
        log(f"copy[{i}] ansible.builtin.copy task {t['end'] - t['start']:.2f}s (playbook {r['wall']:.2f}s)")
        if i == 0:
            r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [copy_task]}], ssh_inventory(a))
            t = task_time(r, "copy")
            res["acopy_recopy_task"].append(t["end"] - t["start"])
    clean()
    b.stop(a)
    out["copy"] = {"bytes": nbytes, "reps": reps, "raw": res,
                   "median": {k: med(v) for k, v in res.items()}}


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


def bench_overhead(b: Bench, out: dict):
    n = 50
    reps = 1 if b.quick else 2
    a = b.start(version="4.2.0", sshd="running")
    sshd_task = {"name": "ours", "vcloud.usage_meter.sshd": {**conn_args(a), "state": "started"},
                 "delegate_to": "localhost", "check_mode": True}
    ping_task = {"name": "ping", "ansible.builtin.ping": {}, "delegate_to": "localhost"}
    empty = [{"hosts": "all", "gather_facts": False, "tasks": []}]
    res = {"ours_task": [], "ping_task": [], "ours_wall": [], "ping_wall": [], "empty_wall": []}
    for i in range(reps):
        for key, task in (("ours", sshd_task), ("ping", ping_task)):
            r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [task] * n}], LOCAL_INV)
            rows = [t for t in r["tasks"] if t["task"] == task["name"]]
            if r["rc"] != 0 or len(rows) != n or any(t["status"] != "ok" for t in rows):
                raise RuntimeError(f"{key}: rc {r['rc']} {rows[-1:]}\n{r['out'][-2000:]}")
            if key == "ours" and rows[0]["result"].get("changed"):
                raise RuntimeError(f"sshd check mode reported a change: {rows[0]}")
            # per task: first task start -> last task end, over n
            res[f"{key}_task"].append((rows[-1]["end"] - rows[0]["start"]) / n)
            res[f"{key}_wall"].append(r["wall"])
            log(f"overhead[{i}] {key}: {res[f'{key}_task'][-1] * 1000:.0f} ms/task, playbook {r['wall']:.1f}s")
        r = b.playbook(empty, LOCAL_INV)
        res["empty_wall"].append(r["wall"])
    # the binary alone, no Ansible: one check-mode call (connect, systemctl is-active, exit)
    direct = [b.module("sshd", {**conn_args(a), "state": "started"}, check=True) for _ in range(5 if not b.quick else 2)]
    if any(d["rc"] != 0 for d in direct):
        raise RuntimeError(f"sshd direct: {direct[0]['result']}")
    res["ours_direct"] = [d["wall"] for d in direct]
    b.stop(a)
    sizes = {m: {"bytes": (b.bin / m).stat().st_size, "stripped": elf_stripped(b.bin / m)} for m in MODULES}
    out["overhead"] = {"n": n, "reps": reps, "raw": res, "median": {k: med(v) for k, v in res.items()},
                       "sizes": sizes}


# --------------------------------------------------------------------------- 4: reboot detection lag

def bench_reboot(b: Bench, out: dict):
    reps = 2 if b.quick else 5
    a = b.start(version="4.2.0", sshd="enabled")
    res = {"ours_direct": [], "ours_task": [], "builtin": [], "ours_elapsed": [], "builtin_total": []}

    def lag(end, boot_id):
        t = a.sshd_listening_times(boot_id=boot_id, first_per_boot=True)
        if not t:
            raise RuntimeError(f"no sshd-listening event for boot {boot_id}")
        return end - t[0]

    def settle():
        a.wait_ssh(60)
        a.wait_ready(60)
        time.sleep(0.5)

    ours_task = {"name": "reboot", "vcloud.usage_meter.reboot": {**conn_args(a), "reboot_timeout": 120},
                 "delegate_to": "localhost"}
    builtin_task = {"name": "reboot", "ansible.builtin.reboot": {
        "reboot_command": "systemctl reboot", "test_command": "whoami", "reboot_timeout": 120}}
    for i in range(reps):
        settle()
        r = b.module("reboot", {**conn_args(a), "reboot_timeout": 120})
        if r["rc"] != 0 or not r["result"].get("rebooted"):
            raise RuntimeError(f"reboot module: {r['result']} {r['err'][-1500:]}")
        res["ours_direct"].append(lag(r["end"], r["result"]["boot_id_after"]))
        res["ours_elapsed"].append(r["result"].get("elapsed"))
        log(f"reboot[{i}] ours direct: lag {res['ours_direct'][-1]:.3f}s (elapsed {r['result'].get('elapsed')})")

        settle()
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [ours_task]}], LOCAL_INV)
        t = task_time(r, "reboot")
        res["ours_task"].append(lag(t["end"], t["result"]["boot_id_after"]))
        log(f"reboot[{i}] ours task: lag {res['ours_task'][-1]:.3f}s")

        settle()
        before = a.boot_id()
        r = b.playbook([{"hosts": "all", "gather_facts": False, "tasks": [builtin_task]}], ssh_inventory(a))
        after = a.boot_id()
        try:
            t = task_time(r, "reboot")
        except RuntimeError:
            # counted and reported, not hidden; the run goes on with the next repetition
            rows = [x for x in r["tasks"] if x["task"] == "reboot"]
            msg = rows[-1]["result"].get("msg") if rows else r["err"][-300:]
            res.setdefault("builtin_failures", []).append(
                f"{msg} (appliance rebooted: {after != before}; boots since: "
                f"{len(a.sshd_listening_times(first_per_boot=True))})")
            log(f"reboot[{i}] ansible.builtin.reboot FAILED: {res['builtin_failures'][-1]}")
            continue
        if after == before:
            raise RuntimeError("ansible.builtin.reboot: no new boot")
        res["builtin"].append(lag(t["end"], after))
        res["builtin_total"].append(t["end"] - t["start"])
        log(f"reboot[{i}] ansible.builtin.reboot: lag {res['builtin'][-1]:.3f}s (task {t['end'] - t['start']:.1f}s)")
    b.stop(a)
    out["reboot"] = {"reps": reps, "raw": res,
                     "median": {k: med(v) for k, v in res.items() if k != "builtin_failures"}}


# --------------------------------------------------------------------------- 5: fleet scaling

def bench_fleet(b: Bench, out: dict):
    import hashlib
    sizes = [1, 3] if b.quick else [1, 5, 10]
    shar = umsim.make_shar(size="64M", seconds=2.0)
    sha = hashlib.sha256(shar.read_bytes()).hexdigest()
    console = REPO / "tests" / "roles" / "files" / "umsim_console_sshd.yml"
    res = {}
    for n in sizes:
        t0 = time.monotonic()
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=4) as ex:   # started 4 at a time (boot time only, not measured)
            apps = list(ex.map(lambda i: b.start(version="4.2.0" if i % 2 == 0 else "4.1.0", sshd="off"), range(n)))
        log(f"fleet {n}: {n} appliances started in {time.monotonic() - t0:.1f}s")
        logs = b.tmp / f"fleet-logs-{n}"
        hosts = {f"um{i:02d}": {
            "ansible_host": x.host, "ansible_user": "root", "ansible_password": x.root_password,
            "usage_meter_api_password": x.api_password, "usage_meter_api_ca_path": x.api_ca,
            "usage_meter_known_hosts": x.known_hosts, "umsim_name": x.name} for i, x in enumerate(apps)}
        gv = {"usage_meter_bundle": str(shar), "usage_meter_bundle_checksum": f"sha256:{sha}",
              "usage_meter_console_sshd_tasks": str(console), "usage_meter_log_dir": str(logs),
              "umsim_py": str(REPO / "tests" / "appliance" / "umsim.py"), "umsim_python": sys.executable,
              "umsim_root": str(b.root), **FAST}
        inv = {"usage_meter": {"hosts": hosts, "vars": gv}}
        r = b.playbook(REPO / "playbooks" / "upgrade.yml", inv, env={"ANSIBLE_FORKS": str(n)})
        summaries = [t for t in r["tasks"] if t["task"].endswith("Put the summary together")]
        failed = [t for t in r["tasks"] if t["status"] in ("failed", "unreachable")]
        if r["rc"] != 0:
            raise RuntimeError(f"fleet {n}: rc {r['rc']}, failed {failed[:3]}\n{r['out'][-4000:]}\n{r['err'][-3000:]}")
        # per-host span: first task start -> last task end of that host
        spans = {}
        for t in r["tasks"]:
            if t["host"] in hosts and t["start"]:
                s, e = spans.get(t["host"], (t["start"], t["end"]))
                spans[t["host"]] = (min(s, t["start"]), max(e, t["end"]))
        res[n] = {"wall": r["wall"], "host_span_median": med([e - s for s, e in spans.values()]),
                  "summaries": len(summaries)}
        log(f"fleet {n}: playbook {r['wall']:.1f}s")
        for x in apps:
            b.stop(x)
    out["fleet"] = {"sizes": sizes, "raw": res, "load_note": ""}


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


def ratio(x, y):
    return x / y if x and y else None


def fmt(x, spec=".2f", unit=""):
    return "n/a" if x is None else f"{x:{spec}}{unit}"


def verdict(ok):
    return "n/a" if ok is None else ("MET" if ok else "NOT MET")


def rows_and_notes(out: dict):
    """[(measurement, figures, baseline, ratio, bar, verdict)], notes"""
    rows, notes = [], []
    if "copy" in out:
        c = out["copy"]
        m = c["median"]
        nb = c["bytes"]
        tp = {k: nb / MB / m[k] if m.get(k) else None for k in
              ("direct", "direct_warm", "play_task", "play_wall", "scp", "acopy_task", "acopy_wall")}
        r_scp = ratio(tp["direct"], tp["scp"])
        r_scp_play = ratio(tp["play_task"], tp["scp"])
        r_ac = ratio(tp["direct"], tp["acopy_task"])
        r_ac_play = ratio(tp["play_task"], tp["acopy_task"])
        ok1 = None if r_scp is None else (r_scp >= 1.0 and r_ac >= 2.0)
        rows.append(("1. Bundle copy, %d MiB, verified" % (nb // MiB),
                     f"shar_copy direct {fmt(tp['direct'], '.0f')} MB/s ({fmt(m['direct'])} s; with the controller's "
                     f"checksum cache warm {fmt(tp['direct_warm'], '.0f')} MB/s, {fmt(ratio(tp['direct_warm'], tp['scp']))}× scp); "
                     f"as ansible task {fmt(tp['play_task'], '.0f')} MB/s ({fmt(m['play_task'])} s; whole playbook "
                     f"{fmt(m['play_wall'])} s)",
                     f"scp {fmt(tp['scp'], '.0f')} MB/s ({fmt(m['scp'])} s); ansible.builtin.copy task "
                     f"{fmt(tp['acopy_task'], '.0f')} MB/s ({fmt(m['acopy_task'])} s)",
                     f"vs scp {fmt(r_scp)}× (task {fmt(r_scp_play)}×); vs copy {fmt(r_ac)}× (task {fmt(r_ac_play)}×)",
                     "≥ 1.0× scp and ≥ 2× copy", verdict(ok1)))
        if ok1 is False:
            if r_scp < 1.0:
                notes.append(
                    f"1 (vs scp): shar_copy reached {r_scp:.2f}× scp's throughput (as an Ansible task "
                    f"{fmt(r_scp_play)}×). It does more work per byte than scp: the controller hashes the file "
                    f"(sha256, on a second thread while libssh2 encrypts and sends; every full copy here starts with "
                    f"the controller's checksum cache empty), and before the rename the appliance hashes the written "
                    f"file from disk (openssl, SHA-NI: about 0.7 s per GiB) under the copy lock, so that exactly the "
                    f"verified bytes are renamed. scp only decrypts and writes. On this machine the client, sshd and "
                    f"both hashes share 2 cores, so the extra CPU shows up directly as lost throughput; with the "
                    f"controller's cache warm (the 2nd to 50th appliance of a fleet) it reached "
                    f"{fmt(ratio(tp['direct_warm'], tp['scp']))}× scp.")
            if r_ac < 2.0:
                notes.append(f"1 (vs ansible.builtin.copy): {r_ac:.2f}×.")
        rr = ratio(m["recopy"], m["direct"])
        ok2 = None if rr is None else rr <= 0.3
        rows.append(("2. Re-copy of an identical file", f"{fmt(m['recopy'], '.3f')} s direct "
                     f"(as ansible task {fmt(m['recopy_play_task'], '.3f')} s); ansible.builtin.copy re-run "
                     f"{fmt(m['acopy_recopy_task'])} s", f"full copy {fmt(m['direct'])} s", f"{fmt(rr, '.3f')}",
                     "≤ 0.3", verdict(ok2)))
        if ok2 is False:
            notes.append(f"2: re-copy took {rr:.2f}× a full copy.")
        rss = max(c["raw"]["rss"]) / 1024 if c["raw"]["rss"] else None
        ok6 = None if rss is None else rss <= 32
        out["_rss"] = (rss, ok6)
        if ok6 is False:
            notes.append(f"6: peak RSS {rss:.1f} MiB exceeds 32 MiB.")
    if "overhead" in out:
        o = out["overhead"]
        m = o["median"]
        r3 = ratio(m["ours_task"], m["ping_task"])
        ok3 = None if r3 is None else r3 <= 0.5
        rows.append((f"3. Per-task overhead, {o['n']} tasks",
                     f"vcloud.usage_meter.sshd (check mode, SSH to the appliance) {fmt(m['ours_task'] * 1000, '.0f')} "
                     f"ms/task; the binary alone {fmt(m['ours_direct'] * 1000, '.0f')} ms",
                     f"ansible.builtin.ping {fmt(m['ping_task'] * 1000, '.0f')} ms/task", fmt(r3, '.3f'), "≤ 0.5",
                     verdict(ok3)))
        if ok3 is False:
            notes.append(
                f"3: {r3:.3f}×. Per task, Ansible's own work (templating, the action plugin, a worker fork, the "
                f"args file, `/bin/sh -c` around the module, the callbacks) is the same for both and dominates: "
                f"ping costs {m['ping_task'] * 1000:.0f} ms per task in all, while our binary alone, outside "
                f"Ansible, takes {m['ours_direct'] * 1000:.0f} ms *including* an SSH login to the appliance and a "
                f"service query there, which ping does not do. Being a static binary saves Python's start and the "
                f"AnsiballZ unpacking, but not Ansible's fixed per-task cost. The ratio moves with the load: ping "
                f"is CPU-bound and gains most from an idle machine, our task mostly waits on the network (runs "
                f"on this machine gave 0.39-1.08 in smoke runs, 0.505 at load 7, 0.64 near idle). On the module side only the binary's own time is left "
                f"to cut, most of it the SSH login (key exchange and authentication).")
        sz = ", ".join(f"{k} {v['bytes'] / MiB:.1f} MiB" + ("" if v["stripped"] else " (NOT stripped)")
                       for k, v in o["sizes"].items())
        rows.append(("3b. Release binary sizes (static musl, stripped)", sz, "", "", "report", "—"))
    if "reboot" in out:
        r = out["reboot"]
        m = r["median"]
        ok4 = None if m["ours_direct"] is None else (m["ours_direct"] <= 1.0 and (m["ours_task"] or 0) <= 1.0)
        rows.append((f"4. Reboot detection lag (median of {r['reps']})",
                     f"reboot module direct {fmt(m['ours_direct'], '.3f')} s; as ansible task "
                     f"{fmt(m['ours_task'], '.3f')} s (reboot issued → back: {fmt(m['ours_elapsed'])} s)",
                     f"ansible.builtin.reboot {fmt(m['builtin'], '.3f')} s (whole task {fmt(m['builtin_total'])} s)",
                     f"{fmt(ratio(m['ours_direct'], m['builtin']))}× of builtin", "median ≤ 1 s", verdict(ok4)))
        if ok4 is False:
            notes.append(f"4: median lag {m['ours_direct']:.2f} s (task {m['ours_task']:.2f} s).")
        for f in r["raw"].get("builtin_failures", []):
            notes.append(f"4 (baseline, not a bar): an ansible.builtin.reboot repetition failed and is left out of "
                         f"its median: {f}")
    if "fleet" in out:
        f = out["fleet"]
        raw = f["raw"]
        s = f["sizes"]
        base = raw[s[0]]["wall"]
        curve = "; ".join(f"{n}: {raw[n]['wall']:.1f} s ({raw[n]['wall'] / base:.2f}×, median host span "
                          f"{fmt(raw[n]['host_span_median'], '.1f')} s)" for n in s)
        last = s[-1]
        r5 = raw[last]["wall"] / base
        ok5 = r5 <= 1.5 if last == 10 else None
        rows.append((f"5. Fleet scaling, full role, forks = appliances, 64 MiB bundle", curve,
                     f"1 appliance {base:.1f} s", f"{last} vs 1: {r5:.2f}×", "10 ≤ 1.5× of 1",
                     verdict(ok5) if last == 10 else f"n/a (quick: {last})"))
        if ok5 is False:
            notes.append(
                f"5: {r5:.2f}×. The appliances are real sshd + init + services + API processes in namespaces on "
                f"this same 2-core machine, as are the {last} ansible-playbook forks and the module processes: "
                f"10 appliances means ~10× the CPU work (SSH crypto and hashing of {last}×64 MiB, {last} shar "
                f"extractions, {last} reboots and service start-ups) on the same 2 cores, so the wall time cannot "
                f"stay flat here. The per-host span and the wall time of 1 are the figures to compare on real "
                f"appliances, where each appliance brings its own CPU.")
    if "_rss" in out:
        rss, ok6 = out["_rss"]
        rows.append((f"6. Peak RSS of shar_copy copying {out['copy']['bytes'] // MiB} MiB", f"{fmt(rss, '.1f')} MiB "
                     "(max over all direct runs, GNU time %M)", "", "", "≤ 32 MiB", verdict(ok6)))
    return rows, notes


def render(out, rows, notes, args, started, finished) -> str:
    mc = out["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Produced by:",
        "",
        "```sh",
        f"bench/run.sh{' --quick' if args.quick else ''}{' --only ' + args.only if args.only else ''}"
        "   # = tools/bootstrap.sh (as make test) + tools/build-binaries.sh --arch x86_64 --out .work/bench/release-bin,"
        " then .venv/bin/python bench/run.py" + (" --quick" if args.quick else "") +
        (f" --only {args.only}" if args.only else ""),
        "```",
        "",
        f"- Date: {started} → {finished} (UTC)",
        f"- Machine: nproc {mc['nproc']}, {mc['mem_gib']} GiB RAM, {mc['cpu']}, kernel {mc['kernel']}",
        f"- Load average before the run: {' '.join(mc['loadavg'])}; after: {' '.join(out.get('load_after', []))} "
        f"(1, 5, 15 min); total runtime {out.get('runtime_s')} s",
        f"- Collection under test: roles, playbooks and docs of commit {out.get('commit')} (`git archive HEAD`) with "
        f"the static musl **release** binaries from `tools/build-binaries.sh` (what users get; built from "
        f"{out.get('bin_dir')}, mtime {out.get('bin_mtime')}), in a private collections path.",
        f"- Appliances: `tests/appliance/umsim.py` with its default (short) timings: reboot_delay_s 0.5, down_s 1.5, "
        f"boot_s 1, services_up_s 2; bundles built by `make_shar` (random filler, incompressible), upgrade "
        f"runs 2 s. Appliance python3 (for ansible.builtin.*): {out.get('appliance_python', 'n/a')}.",
        f"- Ratios are between figures measured in this same run; figures are medians of the repetitions.",
    ]
    if mc["loadavg"] and float(mc["loadavg"][0]) > 1.5:
        lines.append(f"- **The machine was loaded** (load {mc['loadavg'][0]} on {mc['nproc']} cores before the run, "
                     f"{out.get('load_after', ['?'])[0]} after; other engineers' builds and tests ran alongside): "
                     f"absolute times are inflated and noisy; ratios are less affected but not immune. In smoke "
                     f"runs (--quick) at different loads the same day, bar 3's ratio ranged 0.39–1.08 and "
                     f"shar_copy/scp 0.52–0.61.")
    lines += ["", "| measurement | ours | baseline | ratio | bar | verdict |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(str(x).replace("|", "/") for x in r) + " |")
    lines += ["", "## Bars not met", ""]
    lines += [f"- {n}" for n in notes] or ["- none"]
    lines += ["", "## How each figure is taken", "",
              "1. Every full copy starts cold: the bundle, its `.part`, the appliance-side checksum cache "
              "(`/var/lib/vcloud-usage-meter`) and the controller-side one (the module's `TMPDIR`) are removed "
              "first, then `sync`. `shar_copy` direct = the release binary run with a JSON args file "
              "(`shar_copy args.json`, as Ansible runs binary modules), key auth, strict host key; wall time of "
              "the process, which includes hashing on both sides and the verification. \"Cache warm\" = the "
              "same, with only the controller-side cache kept (the local file is not hashed again). Task = the task's start "
              "to end in ansible-playbook (a callback, bench/callback_plugins). scp = `scp -q` with key auth "
              "(OpenSSH defaults, no compression). ansible.builtin.copy = a play over `ansible_connection: ssh` "
              "with key auth and Ansible's defaults (`-C`, ControlPersist, sftp transfer); it sha1-checks the "
              "file on both sides; the appliance runs it with the host's python3 from the overlay's lower layer. "
              "Throughput is bytes / time in MB/s (10^6).",
              "2. Right after each direct full copy, the same call again (no `force`): time of that process / "
              "time of the full copy.",
              "3. 50 identical tasks in one play on localhost; per-task = (end of the last task − start of the "
              "first) / 50. Ours: `vcloud.usage_meter.sshd` state=started, check_mode, delegate_to localhost, "
              "against a running appliance (it logs in over SSH and queries the service). Baseline: "
              "`ansible.builtin.ping` delegated to localhost.",
              "4. Lag = the time the module process exited (direct; the parent reaps it with wait4 and takes "
              "`time.time()`), or the task's end in the callback, minus the first `sshd-listening` timestamp of "
              "the new boot in the appliance's supervisor log (ns resolution, same clock). The appliance has "
              "sshd enabled. ansible.builtin.reboot: `reboot_command: systemctl reboot`, `test_command: whoami`, "
              "over ssh with key auth, measured the same way against the same appliance.",
              "5. `playbooks/upgrade.yml` (the whole role: preflight, sshd through the appliance console, copy, "
              "upgrade, reboot, verify, restore sshd, report) against N fresh appliances (alternating 4.2.0 "
              "and 4.1.0, shipped with sshd off), `ANSIBLE_FORKS=N`; wall time of ansible-playbook.",
              "6. Peak RSS (`/usr/bin/time -f %M`, i.e. ru_maxrss of the module process exec'd from the small `time` process) of every direct shar_copy run, full copies and re-copies; the maximum is reported. Not Python's `wait4`/`RUSAGE_CHILDREN` on a child forked from the benchmark itself: Linux carries the forking process's RSS high-water mark across exec, so that reports the benchmark's own ~130 MiB (a first version of this script fell into that).",
              ""]
    lines += ["## Raw figures (seconds)", "", "```json", json.dumps(
        {k: v for k, v in out.items() if not k.startswith("_")}, indent=1, default=str), "```", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller: 256 MiB, fewer repetitions, fleet of 1 and 3")
    ap.add_argument("--only", choices=["copy", "overhead", "reboot", "fleet"])
    ap.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("the simulated appliances need root")
    out = {"machine": machine(), "errors": {}}
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    b = Bench(args.quick)
    out["commit"] = b.commit
    out["bin_dir"] = str(BIN_DIR.relative_to(REPO)) if BIN_DIR.is_relative_to(REPO) else str(BIN_DIR)
    out["bin_mtime"] = datetime.datetime.fromtimestamp((BIN_DIR / "shar_copy").stat().st_mtime,
                                                       datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.monotonic()
    try:
        for name, fn in (("copy", bench_copy), ("overhead", bench_overhead), ("reboot", bench_reboot),
                         ("fleet", bench_fleet)):
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
    rows, notes = rows_and_notes(out)
    for name, err in out["errors"].items():
        notes.append(f"{name}: the measurement broke: {err[:500]}")
    md = render(out, rows, notes, args, started, finished)
    print("\n".join(md.split("## How each figure")[0].splitlines()))
    if not args.no_write:
        (REPO / "BENCHMARKS.md").write_text(md)
        log(f"wrote {REPO / 'BENCHMARKS.md'} (runtime {out['runtime_s']} s)")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
