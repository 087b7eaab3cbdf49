"""Figure 9 ("Distance"): the full role against one appliance 50 ms away, against the
same procedure done by hand with OpenSSH over one multiplexed connection.

This kernel has no sch_netem, so the delay is made in userspace: the appliance runs in umsim's net
mode `forward` with `delay_ms` (tests/appliance/umsim_forward.py: every chunk is released half the
round-trip time after it arrived, in each direction, bandwidth not limited; the connection to the
appliance is opened 1.5 round trips after the client's, when a real handshake would complete).

The maintenance window (figures 11, 11b, 12): the stage play (vcloud.usage_meter.stage) on a fresh appliance,
then the upgrade play on the same appliance, which finds the bundle staged and copies nothing; against
the hand procedure on an appliance where the bundle was put with scp beforehand (not timed).

measure(b, out) fills out["distance"]; bench/render.py reports it, bench/README.md says how it is
taken. Called by bench/run.py (--only distance).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import umsim
from lib.timings import LOADED

REPO = Path(__file__).resolve().parents[1]
KEY = "distance"
DELAY_MS = 50                 # the added round-trip time
BUNDLE = ("64M", 2.0)         # figure 5's bundle: size, run time of the upgrade script (s)
UMS = "/opt/vmware/cloudusagemetering"
DEST = f"{UMS}/ums-system-upgrade.shar"

def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def role_inventory(b, a, shar: Path, sha: str, logs: Path, timings: dict) -> dict:
    """The appliance as figure 5's inventory host: root's password, the API password and CA,
    the console stand-in that starts sshd."""
    host = {"ansible_host": a.host, "ansible_user": "root", "ansible_password": a.root_password,
            "usage_meter_api_password": a.api_password, "usage_meter_api_ca_path": a.api_ca,
            "usage_meter_known_hosts": a.known_hosts, "umsim_name": a.name}
    gv = {"usage_meter_bundle": str(shar), "usage_meter_bundle_checksum": f"sha256:{sha}",
          "usage_meter_console_sshd_tasks": str(REPO / "tests" / "roles" / "files" / "umsim_console_sshd.yml"),
          "usage_meter_log_dir": str(logs), "umsim_py": str(REPO / "tests" / "appliance" / "umsim.py"),
          "umsim_python": sys.executable, "umsim_root": str(b.root), **timings}
    return {"usage_meter": {"hosts": {"um00": host}, "vars": gv}}


def run_role(b, a, shar: Path, sha: str, timings: dict, tag: str, playbook: str = "upgrade") -> dict:
    """The installed collection's playbook `vcloud.usage_meter.<playbook>` (upgrade or stage)."""
    inv = role_inventory(b, a, shar, sha, b.tmp / f"logs-{tag}", timings)
    r = b.playbook(("fqcn", f"vcloud.usage_meter.{playbook}"), inv, env={"ANSIBLE_FORKS": "1"})
    if r["rc"] != 0:
        failed = [t for t in r["tasks"] if t["status"] in ("failed", "unreachable")]
        raise RuntimeError(f"{tag}: the {playbook} play failed, rc {r['rc']}: {failed[:3]}\n{r['out'][-3000:]}\n"
                           f"{r['err'][-2000:]}")
    summary = [t for t in r["tasks"] if t["task"].endswith("Put the summary together")]
    return r | {"summaries": len(summary)}


# --------------------------------------------------------------------------- counting at the appliance

def appliance_logs(a) -> dict:
    """sshd's log and the API's access log, read through the console (no SSH login)."""
    out = {}
    for key, path in (("sshd", "/var/log/sshd.log"), ("api", "/var/log/ums-api/access.log")):
        cp = a.exec(["cat", path])
        out[key] = cp.stdout.splitlines() if cp.returncode == 0 else []
    return out


LOGIN = re.compile(r"^Accepted (\S+) for \S+ from \S+ port (\d+)")
CONNECTION = re.compile(r"^Connection from \S+ port (\d+) on ")


def counts(before: dict, after: dict, events=None, tasks=None) -> dict:
    """What the appliance logged between two appliance_logs() snapshots (the logs only grow)."""
    ssh = after["sshd"][len(before["sshd"]):]
    api = after["api"][len(before["api"]):]
    conns = [int(m.group(1)) for m in map(CONNECTION.match, ssh) if m]
    logins = [(m.group(1), int(m.group(2))) for m in map(LOGIN.match, ssh) if m]
    c = {"ssh_connections": len(conns), "ssh_logins": len(logins),
         "login_methods": sorted({m for m, _ in logins}), "api_requests": len(api)}
    if events is not None and tasks is not None:
        c["per_task"] = per_task(events, tasks, {p for _, p in logins}, set(conns))
    return c


def per_task(events, tasks, login_ports: set, conn_ports: set) -> list:
    """SSH connections and logins per task: each forward-connect event (its time, its `via` port)
    ties an sshd line to the task that ran then."""
    rows = {}
    for e in events:
        if e.get("port") != "22" or int(e.get("via", 0)) not in conn_ports:
            continue
        t = e["time"]
        name = next((x["task"] for x in tasks if x["start"] and x["start"] <= t <= x["end"]), "(between tasks)")
        r = rows.setdefault(name, {"task": name, "connections": 0, "logins": 0})
        r["connections"] += 1
        r["logins"] += int(e["via"]) in login_ports
    return sorted(rows.values(), key=lambda r: -r["logins"])


# --------------------------------------------------------------------------- by hand

class Hand:
    """The procedure an operator types, with OpenSSH over one multiplexed connection. staged: the
    bundle is on the appliance already (stage(), before the window): no scp in the window."""

    def __init__(self, b, a, shar: Path, sha: str, staged: bool = False):
        self.a, self.shar, self.sha, self.staged = a, shar, sha, staged
        # a short ControlPath: a Unix socket path has at most 108 bytes, and ssh adds a suffix to it
        self.ctl_dir = tempfile.mkdtemp(prefix="bench-cm-", dir="/tmp")
        self.ctl = f"{self.ctl_dir}/%C"
        self.steps: list[tuple[str, float]] = []
        self.t = time.monotonic()

    def step(self, name: str):
        now = time.monotonic()
        self.steps.append((name, now - self.t))
        self.t = now

    def opts(self) -> list[str]:
        return ["-o", f"UserKnownHostsFile={self.a.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "ControlMaster=auto", "-o", f"ControlPath={self.ctl}", "-o", "ControlPersist=600",
                "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no",
                "-o", "PreferredAuthentications=password"]

    def ssh(self, command: str, timeout: float = 300) -> str:
        cp = subprocess.run(["ssh", *self.opts(), f"root@{self.a.host}", command], capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise RuntimeError(f"hand: ssh {command!r}: rc {cp.returncode}: {cp.stderr[-500:]} {cp.stdout[-500:]}")
        return cp.stdout

    def login(self):
        """The master connection: the one password login, which stays in the background. The password
        comes from SSH_ASKPASS (forced; an sshpass'd master was seen to die when sshpass exits)."""
        askpass = Path(self.ctl_dir) / "askpass"
        if not askpass.exists():
            askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$BENCH_HAND_PASSWORD"\n')
            askpass.chmod(0o700)
        env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
               "BENCH_HAND_PASSWORD": self.a.root_password}
        cp = subprocess.run(["ssh", *self.opts(), "-f", "-N", f"root@{self.a.host}"], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL, env=env)
        check = subprocess.run(["ssh", *self.opts(), "-O", "check", f"root@{self.a.host}"], capture_output=True,
                               text=True, timeout=30)
        if cp.returncode != 0 or check.returncode != 0:
            raise RuntimeError(f"hand: master login: rc {cp.returncode}: {cp.stderr[-500:]} {check.stderr[-300:]}")

    def logout(self):
        subprocess.run(["ssh", *self.opts(), "-O", "exit", f"root@{self.a.host}"], capture_output=True, timeout=30)

    def api(self) -> str:
        """The version, over one HTTPS connection (as `curl` with several URLs): login, agent_info,
        logout, as the role's preflight and verify do. Tried again every second for 30 s while the
        API does not answer yet (after the reboot), as the role does (every 3 s). No certificates:
        the role accepts them only when asked (usage_meter_certificates, off by default and here)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return self._api()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def _api(self) -> str:
        a = self.a
        conn = http.client.HTTPSConnection(a.host, a.api_port, context=a.api_context(), timeout=30)
        try:
            def call(method, path, body=None, sid=None):
                headers = {"Content-Type": "application/json", **({"sessionid": sid} if sid else {})}
                conn.request(method, f"/api/v1{path}", json.dumps(body) if body is not None else None, headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status >= 300:
                    raise RuntimeError(f"hand: API {method} {path}: {resp.status} {data[:300]!r}")
                return json.loads(data or b"null")
            sid = call("POST", "/login", {"user": a.api_user, "password": a.api_password})["sessionid"]
            version = call("GET", "/agent_info", sid=sid)
            call("POST", "/logout", {}, sid=sid)
            return json.dumps(version)
        finally:
            conn.close()

    def console(self, *argv: str):
        """A command on the appliance's console (umsim's stand-in: no SSH)."""
        cp = subprocess.run([sys.executable, str(REPO / "tests" / "appliance" / "umsim.py"), "--root", str(self.a.root),
                             "exec", "--name", self.a.name, "--", *argv], capture_output=True, text=True, timeout=60)
        if cp.returncode != 0:
            raise RuntimeError(f"hand: console {' '.join(argv)}: {cp.stderr}")

    def put_bundle(self):
        cp = subprocess.run(["scp", "-q", *self.opts(), str(self.shar), f"root@{self.a.host}:{DEST}"],
                            capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise RuntimeError(f"hand: scp: {cp.stderr}")

    def stage(self):
        """Not timed: the bundle put in place with scp days before the window, sshd started on the
        console for it and stopped again (as shipped)."""
        self.console("systemctl", "start", "sshd")
        self.wait_banner(True)
        self.login()
        self.put_bundle()
        self.logout()
        self.console("service", "sshd", "stop")
        self.wait_banner(False)

    def wait_banner(self, present: bool, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while (umsim.ssh_banner(self.a.host, timeout=2.0) is not None) != present:
            if time.monotonic() > deadline:
                raise RuntimeError(f"hand: SSH banner {'never came' if present else 'never went'}")
            time.sleep(0.2)

    def run(self) -> dict:
        a = self.a
        t0 = time.monotonic()
        self.t = t0
        before = self.api()
        self.step("API: version")
        self.console("systemctl", "start", "sshd")
        self.step("console: start sshd")
        self.wait_banner(True)
        self.step("wait for the banner")
        self.login()
        self.step("login (ControlMaster)")
        boot = self.ssh("df -Pk /opt/vmware && chage -l root && cat /proc/sys/kernel/random/boot_id"
                        " && systemctl enable sshd").split()
        self.step("checks, enable sshd")
        if not self.staged:
            self.put_bundle()
            self.step("scp the bundle")
        self.ssh(f"cd {UMS} && echo '{self.sha}  ums-system-upgrade.shar' | sha256sum -c - "
                 f"&& bash ums-system-upgrade.shar")
        self.step("sha256sum -c, run the bundle")
        subprocess.run(["ssh", *self.opts(), f"root@{a.host}", "reboot"], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
        self.logout()
        self.step("reboot")
        self.wait_banner(False)
        self.wait_banner(True)
        self.step("wait for the banner to go and come back")
        self.login()
        self.step("login (ControlMaster)")
        new_boot = self.ssh("cat /proc/sys/kernel/random/boot_id").strip()
        if new_boot in boot:
            raise RuntimeError("hand: no new boot")
        status = self.ssh(f"cd {UMS} && for i in $(seq 1 60); do out=$(./scripts/status.sh 2>&1); "
                          "if echo \"$out\" | grep -q Running && ! echo \"$out\" | grep -qi offline; then "
                          "echo \"$out\"; exit 0; fi; sleep 1; done; echo \"$out\"; exit 1")
        self.step("boot id, status.sh until Running")
        after = self.api()
        self.step("API: version")
        self.ssh("systemctl disable sshd; service sshd stop", timeout=60)
        self.logout()
        self.step("disable and stop sshd")
        wall = time.monotonic() - t0
        v = json.loads(after)
        if (v.get("major_version"), v.get("minor_version")) != (4, 3):
            raise RuntimeError(f"hand: version after the upgrade: {after}")
        return {"wall": wall, "steps": self.steps, "version_before": before, "version_after": after,
                "status_lines": len(status.splitlines())}


# --------------------------------------------------------------------------- the figure

def start(b, delay_ms: int):
    a = b.start(version="4.2.0", sshd="off", net="forward", delay_ms=delay_ms)
    # the RTT, measured with sshd started for it on the console (and stopped again: shipped off)
    a.exec(["systemctl", "start", "sshd"], check=True)
    a.wait_ssh(30)
    rtt = umsim.measure_rtt(a.host, a.address)
    a.exec(["service", "sshd", "stop"], check=True)
    return a, rtt


def play(b, a, rtt: dict, shar, sha, tag: str, playbook: str = "upgrade") -> tuple[dict, list]:
    """One play against appliance a, timed and counted at the appliance; also its tasks on um00."""
    logs0, ev0 = appliance_logs(a), len(a.events())
    r = run_role(b, a, shar, sha, LOADED, tag, playbook)
    events = [e for e in a.events()[ev0:] if e["event"] == "forward-connect"]
    mine = [t for t in r["tasks"] if t["host"] == "um00" and t["start"]]
    res = {"wall": r["wall"], "rtt": rtt, "tasks": len(mine), **counts(logs0, appliance_logs(a), events, mine),
           "task_times": sorted(({"task": t["task"], "s": t["end"] - t["start"]} for t in mine),
                                key=lambda x: -x["s"])}
    log(f"distance: {tag} ({playbook} play) {r['wall']:.1f}s, {res['ssh_logins']} logins, "
        f"{res['ssh_connections']} connections, {res['api_requests']} API requests")
    return res, mine


def role(b, shar, sha, delay_ms: int) -> dict:
    """The whole upgrade play on a fresh appliance (sshd off as shipped)."""
    a, rtt = start(b, delay_ms)
    try:
        log(f"distance: appliance {a.name} behind {a.host}, {delay_ms} ms added, RTT {rtt['rtt_s'] * 1000:.1f} ms "
            f"measured")
        return play(b, a, rtt, shar, sha, f"role-{delay_ms}ms")[0]
    finally:
        b.stop(a)


COPY_TASK = "Copy | Put the upgrade bundle on the appliance"


def copy_rows(tasks: list) -> list:
    return [t for t in tasks if t["task"].endswith(COPY_TASK)]


def staged_seen(tasks: list) -> bool:
    """The upgrade play's copy task (one per hop) found every bundle staged and sent nothing."""
    rows = copy_rows(tasks)
    return bool(rows) and all(t["status"] == "ok" and t["result"].get("staged") is True
                              and t["result"].get("transferred") == 0 for t in rows)


def window_role(b, shar, sha, delay_ms: int) -> dict:
    """The stage play on a fresh appliance (sshd off as shipped), then the upgrade play on the same
    appliance: the maintenance window, which must find the bundle staged."""
    a, rtt = start(b, delay_ms)
    try:
        stage, _ = play(b, a, rtt, shar, sha, f"window-stage-{delay_ms}ms", "stage")
        res, mine = play(b, a, rtt, shar, sha, f"window-{delay_ms}ms")
        res["staged_seen"] = staged_seen(mine)
        if not res["staged_seen"]:
            raise RuntimeError(f"window ({delay_ms} ms): the upgrade play did not find the bundle staged (or sent "
                               f"bytes): its copy task {copy_rows(mine)}")
        return {"stage": stage, "role": res}
    finally:
        b.stop(a)


def by_hand(b, shar, sha, delay_ms: int, staged: bool = False) -> dict:
    """The hand procedure on a fresh appliance; staged: the bundle put there with scp first (not timed)."""
    a, rtt = start(b, delay_ms)
    try:
        hand = Hand(b, a, shar, sha, staged=staged)
        try:
            if staged:
                hand.stage()
            logs0 = appliance_logs(a)
            h = hand.run()
        finally:
            hand.logout()
            shutil.rmtree(hand.ctl_dir, ignore_errors=True)
        res = {**h, "rtt": rtt, **counts(logs0, appliance_logs(a))}
        log(f"distance: hand{' on a staged appliance' if staged else ''} ({delay_ms} ms) {h['wall']:.1f}s, "
            f"{res['ssh_logins']} logins, {res['ssh_connections']} connections")
        return res
    finally:
        b.stop(a)


def summary(res: dict, sfx: str):
    """Figures 9, 11 and 12 of one distance, in the log as they are measured."""
    role, hand, w = res[f"role{sfx}"], res[f"hand{sfx}"], res[f"window{sfx}"]
    log(f"distance{sfx or ' 50 ms'}: role {role['wall']:.1f}s / hand {hand['wall']:.1f}s = "
        f"{role['wall'] / hand['wall']:.2f}x; window {w['role']['wall']:.1f}s / hand on a staged appliance "
        f"{w['hand']['wall']:.1f}s = {w['role']['wall'] / w['hand']['wall']:.2f}x; whole play unstaged "
        f"{role['wall']:.1f}s, stage {w['stage']['wall']:.1f}s + window {w['role']['wall']:.1f}s = "
        f"{w['stage']['wall'] + w['role']['wall']:.1f}s")


def measure(b, out: dict):
    """At 50 ms, then through the same forwarder with no delay (what the distance adds to each), each
    run on a fresh appliance: the role and the hand procedure, then the window (stage play, upgrade
    play) and the hand procedure on a staged appliance; role and hand one after the other, so a load
    change on the shared machine hits both alike."""
    shar = umsim.make_shar(size=BUNDLE[0], seconds=BUNDLE[1])
    sha = hashlib.sha256(shar.read_bytes()).hexdigest()
    res = {"delay_ms": DELAY_MS, "bytes": shar.stat().st_size}
    out[KEY] = res
    for delay, sfx in ((DELAY_MS, ""), (0, "_local")):
        res[f"role{sfx}"] = role(b, shar, sha, delay)
        res[f"hand{sfx}"] = by_hand(b, shar, sha, delay)
        res[f"window{sfx}"] = window_role(b, shar, sha, delay)
        res[f"window{sfx}"]["hand"] = by_hand(b, shar, sha, delay, staged=True)
        summary(res, sfx)
