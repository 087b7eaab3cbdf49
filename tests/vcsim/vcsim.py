"""govmomi's vCenter simulator (tests/vcsim/main.go) for the snapshot tests.

    with Vcsim.start() as vc:          # builds (cached) and starts on 127.0.0.1:<free port>
        vc.rename_vm("DC0_H0_VM0", "um-appliance-1")
        vc.snapshots("um-appliance-1")  # [(name, description), ...] flattened tree
        vc.ansible_vars()               # usage_meter_vcenter_* variables for a play

The VPX model has one datacenter `DC0`, cluster `DC0_C0`, and VMs `DC0_H0_VM0`,
`DC0_H0_VM1`, `DC0_C0_RP0_VM0`, `DC0_C0_RP0_VM1`, all powered on. Any user name and
password are accepted. Guest operations are not simulated by govmomi 0.24.
"""
from __future__ import annotations

import os
import re
import select
import signal
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATACENTER = "DC0"
USERNAME = "administrator@vsphere.local"
PASSWORD = "vcsim-Passw0rd!"


class VcsimUnavailable(RuntimeError):
    """The simulator cannot be built here (apt packages missing)."""


def build() -> Path:
    """Build (or reuse) the simulator binary; returns its path."""
    proc = subprocess.run([str(REPO / "tests" / "vcsim" / "build.sh")], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode == 2:
        raise VcsimUnavailable(proc.stderr.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"tests/vcsim/build.sh failed:\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


class Vcsim:
    def __init__(self, proc: subprocess.Popen, url: str):
        self.proc = proc
        self.pid = proc.pid
        m = re.match(r"https://(?:[^@/]*@)?([^:/]+):(\d+)/sdk", url)
        if not m:
            raise RuntimeError(f"unexpected simulator URL {url!r}")
        self.host, self.port = m.group(1), int(m.group(2))
        self._si = None

    @classmethod
    def start(cls, timeout: float = 30.0) -> "Vcsim":
        binary = build()
        proc = subprocess.Popen([str(binary), "-l", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            ready = select.select([proc.stdout], [], [], 0.5)[0]
            if ready:
                line = proc.stdout.readline()
                if line.startswith("GOVC_URL="):
                    return cls(proc, line.split("=", 1)[1].strip())
                if not line and proc.poll() is not None:
                    break
        err = proc.stderr.read() if proc.poll() is not None else ""
        _kill(proc)
        raise RuntimeError(f"vcsim did not start (last line {line!r}, rc {proc.poll()}): {err}")

    # context manager -------------------------------------------------------
    def __enter__(self) -> "Vcsim":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the simulator by its PID (SIGTERM, then SIGKILL)."""
        if self._si is not None:
            try:
                from pyVim.connect import Disconnect
                Disconnect(self._si)
            except Exception:  # the server may already be gone
                pass
            self._si = None
        _kill(self.proc)

    # pyvmomi helpers --------------------------------------------------------
    def ansible_vars(self) -> dict[str, Any]:
        return {
            "usage_meter_vcenter_hostname": self.host,
            "usage_meter_vcenter_port": self.port,
            "usage_meter_vcenter_username": USERNAME,
            "usage_meter_vcenter_password": PASSWORD,
            "usage_meter_vcenter_validate_certs": False,
            "usage_meter_vcenter_datacenter": DATACENTER,
        }

    def si(self):
        if self._si is None:
            from pyVim.connect import SmartConnect
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self._si = SmartConnect(host=self.host, port=self.port, user=USERNAME, pwd=PASSWORD, sslContext=ctx)
        return self._si

    def vms(self) -> dict[str, Any]:
        from pyVmomi import vim
        content = self.si().RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            return {vm.name: vm for vm in view.view}
        finally:
            view.Destroy()

    def vm(self, name: str):
        vms = self.vms()
        if name not in vms:
            raise KeyError(f"no VM {name!r} in the simulator; VMs: {sorted(vms)}")
        return vms[name]

    def rename_vm(self, old: str, new: str) -> None:
        """Give a simulated VM the name of a simulated appliance (Rename_Task)."""
        _wait(self.vm(old).Rename_Task(newName=new))

    def snapshot_tree(self, vm_name: str) -> list[dict[str, Any]]:
        """The VM's snapshots, depth first: name, description, moid, and whether it is current."""
        vm = self.vm(vm_name)
        if vm.snapshot is None:
            return []
        current = vm.snapshot.currentSnapshot
        out: list[dict[str, Any]] = []

        def walk(nodes):
            for n in nodes:
                out.append({"name": n.name, "description": n.description, "moid": n.snapshot._moId,
                            "current": current is not None and n.snapshot._moId == current._moId})
                walk(n.childSnapshotList)
        walk(vm.snapshot.rootSnapshotList)
        return out

    def create_snapshot(self, vm_name: str, name: str, description: str = "") -> None:
        _wait(self.vm(vm_name).CreateSnapshot_Task(name=name, description=description, memory=False, quiesce=False))

    def power_off(self, vm_name: str) -> None:
        _wait(self.vm(vm_name).PowerOffVM_Task())

    def power_state(self, vm_name: str) -> str:
        return str(self.vm(vm_name).runtime.powerState)


def _wait(task, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while task.info.state not in ("success", "error"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"vCenter task {task} still {task.info.state}")
        time.sleep(0.05)
    if task.info.state == "error":
        raise RuntimeError(f"vCenter task failed: {task.info.error.msg}")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
