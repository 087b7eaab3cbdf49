"""Controller cost per appliance (figure 8 of BENCHMARKS.md), for bench/run.py (`--only cost`).

The installed collection's playbook `vcloud.usage_meter.upgrade` (the whole role, as bench/run.py's
bench_fleet runs it: 64 MiB bundle, the tests' LOADED timings) against 1, 10, 25 and 50 fresh simulated
appliances with forks = appliances, and 50 with forks 10. What is measured is the controller: the kernel's
accounting of `ansible-playbook` and every process under it, daemonized ones included, and none of the
appliances' processes.

- CPU: ansible-playbook is started inside its own cgroup-v1 groups (cpuacct and memory, nested under this
  process's own groups; a `sh` that writes its PID into both `cgroup.procs` and execs ansible-playbook).
  Every process forked under it stays in the groups, so `cpuacct.usage` counts them all. Where the groups
  cannot be made (no writable cgroup v1), the fallback is wait4's rusage of ansible-playbook (itself plus
  the descendants it waited for: RUSAGE_CHILDREN-style; daemonized processes are missed), and the output
  says so.
- Memory: a thread samples, every 150 ms, the processes in the group (`cgroup.procs`; in the fallback, the
  descendants of ansible-playbook): Rss and Pss from `/proc/PID/smaps_rollup`, by kind (ansible-playbook's
  main process, its forked workers, the usage_meter binaries, ssh, other). Peak controller memory is the
  peak of the summed Pss (shared pages counted once, split among their sharers); the split is that
  sample's. `memory.max_usage_in_bytes` of the group is given too: it includes the page cache the run
  touched (the bundle read for hashing and copying).
- The appliances are started (4 at a time) and waited for before the groups exist, by this process, so
  neither their start-up nor their processes are in the groups. The one way an appliance process could
  enter the group is the role's console step (tests/roles/files/umsim_console_sshd.yml, the stand-in for
  VMware Tools: `umsim exec` = nsenter into the appliance + its `systemctl start sshd`, which starts the
  appliance's sshd daemon from there): its command is run through a `sh` that first moves itself into a
  separate "console" group, so the stand-in and the appliance's sshd (and every SSH session it serves until
  the reboot) are not counted. The Ansible task around it (worker and the command module) is counted. The
  sampler also checks every process it sees in the group: one in another PID namespace (an appliance's)
  or an appliance's supervisor would be reported.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import umsim  # bench/run.py puts tests/appliance on sys.path
import yaml
from lib.playbook import VENV_BIN
from lib.timings import LOADED

REPO = Path(__file__).resolve().parents[1]
BUNDLE = "64M"                 # bench_fleet's bundle
# (appliances, forks); $BENCH_COST_RUNS overrides, e.g. "1,3,3/2" (n or n/forks)
RUNS = [(1, 1), (10, 10), (25, 25), (50, 50), (50, 10)]
QUICK_RUNS = [(1, 1), (5, 5), (5, 2)]
# LOADED's poll intervals (they set how much work a good run does), with more room before reboot, verify and
# the SSH logins give up: 50 appliances and their controller on 2 cores. A timeout only matters when reached.
TIMINGS = {**LOADED, "usage_meter_connect_timeout": 20, "usage_meter_reboot_timeout": 240,
           "usage_meter_verify_timeout": 180, "usage_meter_upgrade_timeout": 300}
INTERVAL = 0.15                # memory sampling period, s
KINDS = ("main", "workers", "modules", "ssh", "other")
MiB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] cost: {msg}", file=sys.stderr, flush=True)


def parse_runs(spec: str) -> list:
    runs = []
    for part in spec.split(","):
        n, _, forks = part.strip().partition("/")
        runs.append((int(n), int(forks or n)))
    return runs


def key(n, forks) -> str:
    return str(n) if n == forks else f"{n}/{forks}"


# --------------------------------------------------------------------------- cgroups

class Groups:
    """A pair of nested cgroup-v1 groups (cpuacct + memory) named `<tag>-<name>`, under this process's own
    group in each hierarchy (so whatever accounts for this process still accounts for them)."""
    CONTROLLERS = ("cpuacct", "memory")

    def __init__(self, tag: str, names=("ctl", "console")):
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctls, path = line.split(":", 2)
            for c in ctls.split(","):
                own[c] = path
        self.dirs = {}
        try:
            for c in self.CONTROLLERS:
                base = Path("/sys/fs/cgroup") / c / own[c].lstrip("/")
                for name in names:
                    d = base / f"{tag}-{name}"
                    d.mkdir()
                    self.dirs[(name, c)] = d
        except BaseException:
            self.close()
            raise

    @staticmethod
    def unavailable() -> str | None:
        """Why nested cgroup-v1 groups cannot be used here (None: they can)."""
        if os.geteuid() != 0:
            return "not root"
        try:
            g = Groups(f"probe{os.getpid()}", names=("x",))
        except (OSError, KeyError) as e:
            return f"no writable cgroup v1 cpuacct and memory hierarchies ({e})"
        g.close()
        return None

    def join(self, name: str) -> str:
        """Shell commands that move the shell running them into the group `name`."""
        return " && ".join(f"echo $$ > {shlex.quote(str(self.dirs[(name, c)] / 'cgroup.procs'))}"
                           for c in self.CONTROLLERS)

    def read(self, name, c, f) -> str:
        return (self.dirs[(name, c)] / f).read_text()

    def procs(self, name="ctl") -> list[int]:
        return [int(x) for x in self.read(name, "cpuacct", "cgroup.procs").split()]

    def cpu(self, name="ctl") -> dict:
        hz = os.sysconf("SC_CLK_TCK")
        st = dict(x.split() for x in self.read(name, "cpuacct", "cpuacct.stat").splitlines())
        return {"cpu_s": int(self.read(name, "cpuacct", "cpuacct.usage")) / 1e9,
                "user_s": int(st["user"]) / hz, "system_s": int(st["system"]) / hz}

    def mem_stat(self, name="ctl") -> dict:
        return {k: int(v) for k, v in (x.split() for x in self.read(name, "memory", "memory.stat").splitlines())}

    def close(self) -> list:
        """Move what is left (processes we started: e.g. an ssh ControlPersist master, an appliance's sshd
        started through the console) to the parent group, then remove the groups; returns what was left."""
        left = []
        for (name, c), d in list(self.dirs.items()):
            for _ in range(50):
                pids = (d / "cgroup.procs").read_text().split() if d.exists() else []
                for pid in pids:
                    if c == "cpuacct":
                        left.append((name, int(pid), comm(int(pid))))
                    try:
                        (d.parent / "cgroup.procs").write_text(pid)
                    except OSError:
                        pass        # exited meanwhile
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            self.dirs.pop((name, c), None)
        return left


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def descendants(root: int) -> list[int]:
    """root and the processes under it (by ppid; daemonized ones are lost): the fallback's process set."""
    kids: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


# --------------------------------------------------------------------------- memory sampler

class Sampler(threading.Thread):
    """Every INTERVAL s: Rss of each controller process (/proc/PID/statm: cheap), summed by kind, and the
    group's memory.stat (anon + mapped file: every page counted once). Pss (smaps_rollup, ~2 ms of CPU per
    Python process) only when the summed Rss is within PSS_NEAR of its peak so far, at most every PSS_EVERY
    s: the sample with the highest total Pss and its split by kind is the figure's peak."""
    PSS_NEAR = 0.9
    PSS_EVERY = 1.0

    def __init__(self, procs, main_pid: int, groups: Groups | None, forbidden: set):
        super().__init__(daemon=True)
        self.procs, self.main_pid, self.groups, self.forbidden = procs, main_pid, groups, forbidden
        self.ns = os.readlink("/proc/self/ns/pid")
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.stop_ev = threading.Event()
        self.peak = None                       # the Pss pass with the highest total
        self.rss_peak = 0                      # summed Rss, every sample
        self.kind_peak = {k: 0 for k in KINDS}  # each kind's own peak summed Rss
        self.group_peak = None                 # memory.stat: max of (anon + mapped file), with both parts
        self.max_procs = 0
        self.samples = 0
        self.pss_passes = 0
        self.cpu = 0.0                         # this thread's CPU time
        self.last_pss = 0.0
        self.foreign: dict[int, str] = {}    # pid -> comm: appliance processes (other PID ns) or supervisors
        self.main_comm = None

    def run(self):
        t0 = time.thread_time()
        while not self.stop_ev.wait(INTERVAL):
            self.sample()
        self.sample()
        self.cpu = time.thread_time() - t0

    def stop(self):
        self.stop_ev.set()
        self.join()

    def kind(self, pid, ppid, name) -> str:
        if pid == self.main_pid:
            return "main"
        if name.startswith("usage_meter"):
            return "modules"
        if ppid == self.main_pid and name == self.main_comm:
            return "workers"
        if name in ("ssh", "sshpass"):
            return "ssh"
        return "other"

    def sample(self):
        try:
            pids = self.procs()
        except OSError:
            return
        if self.main_comm is None:
            self.main_comm = comm(self.main_pid)
        seen = []                                  # (pid, kind, comm, rss)
        for pid in pids:
            try:
                st = Path(f"/proc/{pid}/stat").read_text()
                name = st[st.index("(") + 1:st.rindex(")")]
                ppid = int(st.rsplit(")", 1)[1].split()[1])
                ns = os.readlink(f"/proc/{pid}/ns/pid")
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self.page
            except (OSError, ValueError, IndexError):
                continue         # exited meanwhile
            if ns != self.ns or pid in self.forbidden:
                self.foreign[pid] = name
                continue
            seen.append((pid, self.kind(pid, ppid, name), name, rss))
        by_kind = {k: sum(s[3] for s in seen if s[1] == k) for k in KINDS}
        total = sum(by_kind.values())
        for k in KINDS:
            self.kind_peak[k] = max(self.kind_peak[k], by_kind[k])
        self.rss_peak = max(self.rss_peak, total)
        self.max_procs = max(self.max_procs, len(seen))
        if self.groups:
            try:
                ms = self.groups.mem_stat()
                anon, mapped = ms.get("total_rss", 0), ms.get("total_mapped_file", 0)
                if self.group_peak is None or anon + mapped > self.group_peak["total"]:
                    self.group_peak = {"total": anon + mapped, "anon": anon, "mapped_file": mapped}
            except OSError:
                pass
        self.samples += 1
        now = time.monotonic()
        if total >= self.PSS_NEAR * self.rss_peak and now - self.last_pss >= self.PSS_EVERY:
            self.last_pss = now
            self.pss_pass(seen)

    def pss_pass(self, seen):
        tot = {k: {"rss": 0, "pss": 0, "n": 0, "comms": {}} for k in KINDS}
        for pid, kind, name, _ in seen:
            vals = dict.fromkeys(("Rss", "Pss"), 0)
            try:
                roll = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            for line in roll.splitlines():
                f = line.split()
                if f and f[0].rstrip(":") in vals:
                    vals[f[0].rstrip(":")] = int(f[1]) * 1024
            t = tot[kind]
            t["rss"] += vals["Rss"]
            t["pss"] += vals["Pss"]
            t["n"] += 1
            t["comms"][name] = t["comms"].get(name, 0) + 1
        self.pss_passes += 1
        total = sum(t["pss"] for t in tot.values())
        if self.peak is None or total > self.peak["pss"]:
            self.peak = {"pss": total, "rss": sum(t["rss"] for t in tot.values()), "at": time.time(), "kinds": tot}


# --------------------------------------------------------------------------- one run

def console_tasks(path: Path, groups: Groups | None) -> Path:
    """The tests' console stand-in, with its command run from a `sh` that first leaves the controller's
    group for the console group (see the module's docstring)."""
    src = REPO / "tests" / "roles" / "files" / "umsim_console_sshd.yml"
    if groups is None:
        return src
    tasks = yaml.safe_load(src.read_text())
    cmd = [t for t in tasks if "ansible.builtin.command" in t]
    if len(cmd) != 1 or "argv" not in cmd[0]["ansible.builtin.command"]:
        raise RuntimeError(f"{src}: expected one ansible.builtin.command task with argv")
    argv = cmd[0]["ansible.builtin.command"]["argv"]
    cmd[0]["ansible.builtin.command"]["argv"] = ["sh", "-c", groups.join("console") + ' && exec "$@"', "sh", *argv]
    path.write_text(yaml.safe_dump(tasks, sort_keys=False))
    return path


def host_spans(tasks: list, hosts: dict) -> dict:
    """{host: (first task start, last task end)} from the bench_times callback's records."""
    spans = {}
    for t in tasks:
        if t["host"] in hosts and t["start"]:
            s, e = spans.get(t["host"], (t["start"], t["end"]))
            spans[t["host"]] = (min(s, t["start"]), max(e, t["end"]))
    return spans


def running_at(tasks: list, at) -> dict:
    """{task name: hosts running it} at the time `at` (the memory peak)."""
    running = {}
    for t in tasks:
        if at and t["start"] and t["start"] <= at <= t["end"]:
            running[t["task"]] = running.get(t["task"], 0) + 1
    return running


def start_fleet(b, n: int) -> list:
    """n fresh appliances, started 4 at a time: alternating 4.2.0 and 4.1.0, sshd off as shipped."""
    with ThreadPoolExecutor(max_workers=4) as ex:
        return list(ex.map(lambda i: b.start(version="4.2.0" if i % 2 == 0 else "4.1.0", sshd="off"), range(n)))


def fleet_inventory(b, apps: list, shar: Path, sha: str, console: Path, logs: Path, timings=None) -> dict:
    """The playbook's inventory for the appliances (password login; TIMINGS unless given): also
    bench/hash_count.py's and bench/run.py's fleet figure's."""
    hosts = {f"um{i:02d}": {
        "ansible_host": x.host, "ansible_user": "root", "ansible_password": x.root_password,
        "usage_meter_api_password": x.api_password, "usage_meter_api_ca_path": x.api_ca,
        "usage_meter_known_hosts": x.known_hosts, "umsim_name": x.name} for i, x in enumerate(apps)}
    gv = {"usage_meter_bundle": str(shar), "usage_meter_bundle_checksum": f"sha256:{sha}",
          "usage_meter_console_sshd_tasks": str(console), "usage_meter_log_dir": str(logs),
          "umsim_py": str(REPO / "tests" / "appliance" / "umsim.py"), "umsim_python": sys.executable,
          "umsim_root": str(b.root), **(TIMINGS if timings is None else timings)}
    return {"usage_meter": {"hosts": hosts, "vars": gv}}


def run_one(b, n: int, forks: int, shar: Path, sha: str, use_groups: bool) -> dict:
    k = key(n, forks)
    t0 = time.monotonic()
    apps = start_fleet(b, n)   # start-up is not measured: it is over before the groups exist
    startup = time.monotonic() - t0
    log(f"{k}: {n} appliances started in {startup:.1f} s")
    d = Path(tempfile.mkdtemp(prefix=f"cost-{n}-{forks}-", dir=str(b.tmp)))
    groups = Groups(f"bench{os.getpid()}-{n}-{forks}") if use_groups else None
    try:
        inventory = fleet_inventory(b, apps, shar, sha, console_tasks(d / "console_sshd.yml", groups), d / "logs")
        hosts = inventory["usage_meter"]["hosts"]
        inv = d / "inventory.json"
        inv.write_text(json.dumps(inventory))
        times = d / "times.json"
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "vcloud.usage_meter.upgrade"]
        if groups:
            argv = ["sh", "-c", groups.join("ctl") + ' && exec "$@"', "sh", *argv]
        env = b.env({"BENCH_TIMES_FILE": str(times), "ANSIBLE_FORKS": str(forks)})
        supervisors = {x.supervisor_pid for x in apps if x.supervisor_pid}
        with open(d / "out", "wb") as out, open(d / "err", "wb") as err:
            start = time.monotonic()
            p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
            procs = groups.procs if groups else (lambda: descendants(p.pid))
            sampler = Sampler(procs, p.pid, groups, supervisors)
            sampler.start()
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - start
            cpu = groups.cpu() if groups else None
            sampler.stop()
            mem_max = int(groups.read("ctl", "memory", "memory.max_usage_in_bytes")) if groups else None
            console_cpu = groups.cpu("console") if groups else None
        rc = os.waitstatus_to_exitcode(status)
        tasks = json.loads(times.read_text()) if times.exists() else []
        if rc != 0:
            failed = [t for t in tasks if t["status"] in ("failed", "unreachable")]
            raise RuntimeError(f"cost {k}: rc {rc}, failed {failed[:3]}\n{(d / 'out').read_text()[-4000:]}\n"
                               f"{(d / 'err').read_text()[-3000:]}")
        spans = host_spans(tasks, hosts)
        summaries = [t for t in tasks if t["task"].endswith("Put the summary together") and t["host"] in hosts]
        if len(summaries) != n or len(spans) != n:
            raise RuntimeError(f"cost {k}: {len(summaries)} summaries, {len(spans)} hosts with tasks, of {n}")
        span = [e - s for s, e in spans.values()]
        running = running_at(tasks, sampler.peak["at"] if sampler.peak else None)
        ru_cpu = ru.ru_utime + ru.ru_stime
        row = {"n": n, "forks": forks, "wall": wall, "startup_s": startup,
               "span_median": statistics.median(span), "span_max": max(span),
               "accounting": "cgroup" if groups else "rusage",
               "cpu_s": cpu["cpu_s"] if cpu else ru_cpu,
               "user_s": cpu["user_s"] if cpu else ru.ru_utime, "system_s": cpu["system_s"] if cpu else ru.ru_stime,
               "rusage_cpu_s": ru_cpu, "console_cpu_s": console_cpu["cpu_s"] if console_cpu else None,
               "peak_pss": sampler.peak and sampler.peak["pss"], "peak_rss": sampler.peak and sampler.peak["rss"],
               "peak_kinds": sampler.peak and sampler.peak["kinds"], "kind_peak_rss": sampler.kind_peak,
               "rss_peak": sampler.rss_peak, "group_peak": sampler.group_peak, "mem_max_usage": mem_max,
               "max_procs": sampler.max_procs, "samples": sampler.samples, "pss_passes": sampler.pss_passes,
               "sampler_cpu_s": sampler.cpu,
               "foreign": sorted(set(sampler.foreign.values())),
               "peak_tasks": sorted(running.items(), key=lambda x: -x[1])[:3]}
        row["cpu_per_appliance"] = row["cpu_s"] / n
        log(f"{k}: wall {wall:.1f} s, CPU {row['cpu_s']:.1f} s ({row['cpu_per_appliance']:.2f} s/appliance), "
            f"peak Pss {(row['peak_pss'] or 0) / MiB:.0f} MiB, span median {row['span_median']:.1f} s")
        return row
    finally:
        if groups:
            left = groups.close()
            if left:
                log(f"{k}: left in the groups after the run (moved out): {left[:10]}")
        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(b.stop, apps))
        shutil.rmtree(d, ignore_errors=True)


def measure(b, out: dict) -> None:
    """Fill out["cost"] (bench/run.py's Bench b; a run that breaks raises, what finished stays)."""
    env_runs = os.environ.get("BENCH_COST_RUNS")
    runs = parse_runs(env_runs) if env_runs else (QUICK_RUNS if b.quick else RUNS)
    why = Groups.unavailable()
    if why:
        log(f"cgroups not usable ({why}): falling back to wait4's rusage (daemonized processes not counted)")
    shar = umsim.make_shar(size=BUNDLE, seconds=2.0)
    sha = hashlib.sha256(shar.read_bytes()).hexdigest()
    res = {}
    out["cost"] = {"runs": [key(n, f) for n, f in runs], "bundle": BUNDLE, "no_cgroups": why, "raw": res,
                   "timings": TIMINGS, "interval": INTERVAL}
    t0 = time.monotonic()
    for n, forks in runs:
        res[key(n, forks)] = run_one(b, n, forks, shar, sha, why is None)
    out["cost"]["runtime_s"] = round(time.monotonic() - t0, 1)
