"""Small helpers for the appliance tests (bounded waits, plain OpenSSH command lines)."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import umsim

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
            "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"]
UMS = "/opt/vmware/cloudusagemetering"


def until(what: str, fn, timeout: float = 30.0, interval: float = 0.1):
    """Poll fn() until it returns a truthy value; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Exception as e:   # keep polling; report the last error
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def pw_ssh(a, command: str, timeout: float = 60, extra=()):
    """sshpass + ssh with the root password, as an operator would type it."""
    argv = ["sshpass", "-e", "ssh", *SSH_OPTS, "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password", *extra, f"root@{a.host}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, SSHPASS=a.root_password))


def pw_scp(a, local, remote: str, timeout: float = 300):
    argv = ["sshpass", "-e", "scp", "-q", *SSH_OPTS, "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password", str(local), f"root@{a.host}:{remote}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, SSHPASS=a.root_password))


def key_ssh_argv(a, command: str, extra=()):
    return ["ssh", *SSH_OPTS, "-i", a.client_key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            *extra, f"root@{a.host}", command]


def upgrade(a, shar_path, reboot: bool = True) -> str:
    """scp the shar, run it, optionally reboot and wait for the new boot (console-started
    sshd afterwards). Returns the boot id in force at the end."""
    cp = a.scp_to(shar_path, f"{UMS}/", check=True)
    cp = a.ssh(f"cd {UMS} && bash ums-system-upgrade.shar", timeout=120)
    assert cp.returncode == 0, f"shar failed: rc={cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    if not reboot:
        return a.boot_id()
    old = a.boot_id()
    a.ssh("reboot", timeout=30)
    new = a.wait_new_boot(old, 60)
    a.exec(["systemctl", "start", "sshd"], check=True)
    a.wait_ssh(30)
    return new


class SshdLog:
    """sshd's TCP connections and logins since this object was made, read from the
    appliance's /var/log/sshd.log (LogLevel VERBOSE) through the console, so
    reading them costs no SSH connection. The log is on the appliance's disk and
    survives its reboots.

    sshd logs a connection from the process it forks for it, so a bare TCP
    connect made just before (the harness's `status()`) can be logged late. The
    start is therefore a marker: a connection made here that reads sshd's banner
    (sshd logs `Connection from` before it sends the banner), found in the log
    by its source port (direct net mode; elsewhere the log as it is now)."""

    CONNECTION = re.compile(r"\bConnection from \S+ port (\d+) on (\S+) port ")
    LOGIN = re.compile(r"\bAccepted \S+ for \S+ from ")

    def __init__(self, a):
        self.a = a
        direct = getattr(a, "address", a.host) == a.host     # sshd sees our own source port
        marker = self._marker() if direct else None
        lines = self._lines()
        if marker is not None:
            lines = until("sshd logging the marker connection",
                          lambda: self._upto(marker), 10)
        self.start = len(lines)

    def _marker(self):
        try:
            with socket.create_connection((self.a.host, 22), timeout=2) as s:
                s.settimeout(2)
                if not s.recv(64).startswith(b"SSH-"):
                    return None
                return s.getsockname()[1]
        except OSError:
            return None

    def _upto(self, port: int):
        lines = self._lines()
        for i, x in enumerate(lines):
            m = self.CONNECTION.search(x)
            if m and int(m.group(1)) == port:
                return lines[:i + 1]
        return None

    def _lines(self) -> list[str]:
        cp = self.a.exec(["cat", "/var/log/sshd.log"])
        return cp.stdout.splitlines() if cp.returncode == 0 else []

    def new_lines(self) -> list[str]:
        return self._lines()[self.start:]

    def counts(self) -> dict:
        """Connections and logins since the start, but not the harness's own probes (umsim.PROBES):
        sshd may log a probe made before the marker after it (OpenSSH's per-connection process
        hands its log lines to the listener, so two connections' lines can come out of order)."""
        new = self.new_lines()
        probes = set(umsim.PROBES)
        mine = [m for m in map(self.CONNECTION.search, new) if m]
        return {"connections": sum(1 for m in mine if (m.group(2), int(m.group(1))) not in probes),
                "logins": sum(1 for x in new if self.LOGIN.search(x))}
