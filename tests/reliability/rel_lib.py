"""Shared helpers of the reliability suite (tests/reliability): whole-play runs of
playbooks/upgrade.yml against simulated appliances, with a controller temp area
of their own (so leftovers can be counted), and read-only probes of what the
appliance did, always through its console (never through a module under test).

Imported as `reliability.rel_lib` (pytest.ini puts tests/ on sys.path).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

from lib.playbook import REPO, VENV_BIN, WORK, PlayResult, ansible_env
from lib.appliance_checks import Throttle, api_version, sshd_state  # noqa: F401  (re-exported to the reliability tests)
from lib.timings import LOADED as FAST

UPGRADE = REPO / "playbooks" / "upgrade.yml"
PREFLIGHT = REPO / "playbooks" / "preflight.yml"
CONSOLE = REPO / "tests" / "roles" / "files" / "umsim_console_sshd.yml"
UMSIM_PY = REPO / "tests" / "appliance" / "umsim.py"
VAULT_PASSWORD = "reliability-vault-password-8c1f"
UMS = "/opt/vmware/cloudusagemetering"
SHAR = f"{UMS}/ums-system-upgrade.shar"
PART = f"{UMS}/.ums-system-upgrade.shar.part"
STATE = "/var/lib/vcloud-usage-meter"

# The simulator's API session ids are secrets.token_hex(16) (ums_api.py).
SESSION_ID_RE = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{32}(?![0-9a-fA-F])")


# --------------------------------------------------------------------------- inventory

class _Vault(str):
    """A value written as `!vault |` ciphertext in the YAML inventory."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Vault, lambda d, data: d.represent_scalar("!vault", str(data), style="|"))


def vault(secret: str) -> _Vault:
    from ansible.parsing.vault import VaultLib, VaultSecret
    lib = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    return _Vault(lib.encrypt(secret).decode())


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_bundle(size: str, seconds: float) -> tuple[Path, str]:
    if str(UMSIM_PY.parent) not in sys.path:
        sys.path.insert(0, str(UMSIM_PY.parent))
    import umsim  # noqa: PLC0415
    path = umsim.make_shar(size=size, seconds=seconds)
    return path, sha256(path)


def write_inventory(tmp: Path, apps: dict, bundle: tuple[Path, str], umsim_root: Path,
                    group_vars: dict | None = None, host_vars: dict | None = None,
                    encrypt: bool = True) -> tuple[Path, Path]:
    """YAML inventory (group usage_meter), passwords vault-encrypted; returns (inventory, vault file)."""
    enc = vault if encrypt else (lambda s: s)
    hosts = {}
    for name, app in apps.items():
        hosts[name] = {
            "ansible_host": app.host,
            "ansible_user": "root",
            "ansible_password": enc(app.root_password),
            "usage_meter_api_password": enc(app.api_password),
            "usage_meter_api_ca_path": app.api_ca,
            "usage_meter_known_hosts": app.known_hosts,
            "umsim_name": app.name,
            **((host_vars or {}).get(name, {})),
        }
    shar, sha = bundle
    gv = {
        "usage_meter_bundle": str(shar),
        "usage_meter_bundle_checksum": f"sha256:{sha}",
        "usage_meter_console_sshd_tasks": str(CONSOLE),
        "usage_meter_log_dir": str(tmp / "logs"),
        "umsim_py": str(UMSIM_PY),
        "umsim_python": sys.executable,
        "umsim_root": str(umsim_root),
        **FAST,
        **(group_vars or {}),
    }
    inv = tmp / "inventory.yml"
    inv.write_text(yaml.dump({"usage_meter": {"hosts": hosts, "vars": gv}}, Dumper=_Dumper, sort_keys=False))
    vf = tmp / "vault-password"
    vf.write_text(VAULT_PASSWORD + "\n")
    vf.chmod(0o600)
    return inv, vf


# --------------------------------------------------------------------------- running plays

class Controller:
    """One private Ansible temp area under .work/ansible-home (the suite's
    ANSIBLE_HOME), so that what a play leaves behind can be listed without
    seeing other people's concurrent runs in the shared .work/ansible-home/tmp."""

    created: list[Path] = []      # removed after each test (tests/reliability/conftest.py)

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.home = WORK / "ansible-home" / f"reliability-{uuid.uuid4().hex[:8]}"
        Controller.created.append(self.home)
        self.local_tmp = self.home / "tmp"
        self.remote_tmp = self.home / "remote-tmp"
        self.async_dir = self.home / "async"
        for d in (self.local_tmp, self.remote_tmp, self.async_dir):
            d.mkdir(parents=True, exist_ok=True)

    def env(self, extra: dict | None = None) -> dict[str, str]:
        return {"ANSIBLE_LOCAL_TEMP": str(self.local_tmp), "ANSIBLE_REMOTE_TMP": str(self.remote_tmp),
                "ANSIBLE_ASYNC_DIR": str(self.async_dir), **(extra or {})}

    def leftovers(self) -> list[Path]:
        """Every file or directory left in the temp areas."""
        return sorted(p for d in (self.local_tmp, self.remote_tmp, self.async_dir) for p in d.rglob("*"))

    def cmd(self, inv: Path, vf: Path, playbook: Path, verbosity: int, results: Path,
            extra_args: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(playbook),
               "--vault-password-file", str(vf)]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        cmd += extra_args or []
        return cmd, ansible_env({"UM_RESULTS_FILE": str(results), **self.env()})

    def run(self, inv: Path, vf: Path, playbook: Path = UPGRADE, verbosity: int = 0,
            extra_args: list[str] | None = None, timeout: int = 600) -> PlayResult:
        proc = self.start(inv, vf, playbook, verbosity, extra_args)
        return proc.wait_result(timeout)

    def start(self, inv: Path, vf: Path, playbook: Path = UPGRADE, verbosity: int = 0,
              extra_args: list[str] | None = None) -> "Play":
        return Play(self, inv, vf, playbook, verbosity, extra_args)


class Play:
    """ansible-playbook in a process group of its own (so it can be killed whole)."""

    def __init__(self, ctl: Controller, inv, vf, playbook, verbosity, extra_args):
        self.dir = Path(tempfile.mkdtemp(prefix="play-", dir=ctl.tmp))
        self.results = self.dir / "results.json"
        self.out = open(self.dir / "stdout", "w+")
        self.err = open(self.dir / "stderr", "w+")
        cmd, env = ctl.cmd(inv, vf, playbook, verbosity, self.results, extra_args)
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL,
                                     env=env, cwd=str(self.dir), start_new_session=True)

    def kill(self) -> None:
        """The controller dies: SIGKILL ansible-playbook's process group and every
        process descended from it. Ansible's workers call setsid(), so the modules
        they run are in sessions of their own and would outlive a kill of the
        group alone; a crashed controller takes them down too. Every process of
        the tree is stopped first (no new children slip through), then killed."""
        stopped: set[int] = set()
        while True:
            new = [p for p in descendants(self.proc.pid) if p not in stopped]
            if not new:
                break
            for p in new:
                with _suppress():
                    os.kill(p, signal.SIGSTOP)
                stopped.add(p)
        with _suppress():
            os.killpg(self.proc.pid, signal.SIGKILL)
        for p in stopped:
            with _suppress():
                os.kill(p, signal.SIGKILL)
        self.proc.wait(30)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_result(self, timeout: float = 600) -> PlayResult:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.result(rc)

    def result(self, rc: int | None = None) -> PlayResult:
        self.out.flush(), self.err.flush()
        stdout = (self.dir / "stdout").read_text(errors="replace")
        stderr = (self.dir / "stderr").read_text(errors="replace")
        records = json.loads(self.results.read_text()) if self.results.exists() else []
        return PlayResult(self.proc.returncode if rc is None else rc, stdout, stderr, records)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        return et is not None and issubclass(et, (ProcessLookupError, PermissionError))


def descendants(pid: int) -> list[int]:
    """pid and every process descended from it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def wait_until(pred, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --------------------------------------------------------------------------- play results

def recap(output: str) -> dict[str, dict[str, int]]:
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def records(res: PlayResult, task: str, host: str) -> list[dict]:
    return [r for r in res.records if r["host"] == host and (r["task"] == task or r["task"].endswith(" : " + task))]


def result(res: PlayResult, task: str, host: str) -> dict:
    found = records(res, task, host)
    assert found, f"task {task!r} did not run on {host}\n{res.output[-3000:]}"
    return found[-1]["result"]


def summary(res: PlayResult, host: str) -> dict:
    return result(res, "Report | Put the summary together", host)["ansible_facts"]["usage_meter_summary"]


# --------------------------------------------------------------------------- the appliance, read on its console

def shar_runs(app) -> int:
    """How many times the bundle started: each run of the simulated shar writes
    one "in-place upgrade to" line to its upgrade log (kept across the upgrade)."""
    cp = app.exec(["sh", "-c", f"cat {UMS}/var/logs/inplaceupgradeum-* 2>/dev/null | grep -c 'in-place upgrade to' || true"])
    return int(cp.stdout.strip() or 0)


def runner_runs(app) -> list[str]:
    """Run logs of the upgrade module's detached runner (one per started run)."""
    cp = app.exec(["sh", "-c", f"ls -1 {STATE}/runs/ 2>/dev/null || true"])
    return [x for x in cp.stdout.split() if x.endswith(".log")]


def remote_exists(app, path: str) -> bool:
    return app.exec(["test", "-e", path]).returncode == 0


def remote_sha(app, path: str = SHAR) -> str | None:
    cp = app.exec(["sh", "-c", f"[ -f {path} ] && sha256sum {path} | cut -d' ' -f1 || echo ABSENT"])
    out = cp.stdout.strip()
    return None if out == "ABSENT" else out


class Sampler(threading.Thread):
    """Samples a command on the appliance console over and over in the background
    (e.g. `ps -eo args`), keeping every distinct output line."""

    def __init__(self, app, argv, interval: float = 0.05):
        super().__init__(daemon=True)
        self.app, self.argv, self.interval = app, argv, interval
        self.lines: set[str] = set()
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                cp = self.app.exec(self.argv, timeout=10, wait=1)
                if cp.returncode == 0:
                    self.lines.update(cp.stdout.splitlines())
                    self.samples += 1
            except Exception:   # the appliance is rebooting: no console for a moment
                time.sleep(0.2)
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(30)
