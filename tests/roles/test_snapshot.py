"""Snapshot, revert and VMware Tools phases of vcloud.usage_meter.inplace_upgrade
against govmomi's vCenter simulator (tests/vcsim/), through real ansible-playbook
runs of community.vmware (tools/install-vmware-deps.sh).

What the simulator cannot do: guest operations (govmomi 0.24 reports VMware Tools
as not running and has no StartProgramInGuest), so vmware_tools_sshd.yml is covered
by argument checks, by check mode, and by a run that reaches vCenter, finds the VM
and stops at the Tools check with a clear message. The sshd start itself and the
wait for the SSH port are not exercised here.
"""
from __future__ import annotations

import calendar
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from lib.playbook import REPO, collections_path, run_playbook
from vcsim.vcsim import USERNAME, PASSWORD, Vcsim, VcsimUnavailable

VM = "um-appliance-1"           # the simulated appliance's inventory name = its VM name
SNAP = "usage-meter-4.3-upgrade"
ROOT_PASSWORD = "R00t-Secret-Tools!"


@pytest.fixture(scope="module")
def vmware_collections() -> Path:
    proc = subprocess.run([str(REPO / "tools" / "install-vmware-deps.sh")], capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, f"tools/install-vmware-deps.sh failed:\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def vc(vmware_collections):
    try:
        sim = Vcsim.start()
    except VcsimUnavailable as exc:
        pytest.fail(f"vCenter simulator unavailable: {exc}")
    try:
        sim.rename_vm("DC0_H0_VM0", VM)
        yield sim
    finally:
        sim.stop()


def play(vc: Vcsim, tasks_from: str, vmware_collections: Path, *, check: bool = False, verbosity: int = 0,
         hostvars: dict | None = None, drop: tuple[str, ...] = ()):
    """Run one task file of the role for host VM, the way the role's own main.yml includes it."""
    hv = {"ansible_connection": "local", "ansible_host": "127.0.0.1",
          **vc.ansible_vars(), "usage_meter_snapshot_name": SNAP,
          "usage_meter_root_password": ROOT_PASSWORD, **(hostvars or {})}
    for k in drop:
        hv.pop(k, None)
    playbook = json.dumps([{
        "name": "phase under test", "hosts": "all", "gather_facts": False,
        "tasks": [
            {"name": "Run the phase", "ansible.builtin.include_role": {
                "name": "vcloud.usage_meter.inplace_upgrade", "tasks_from": tasks_from}},
            {"name": "Facts after the phase", "ansible.builtin.debug": {"msg": {
                "taken": "{{ usage_meter_snapshot_taken | default('unset') }}",
                "rolled_back": "{{ usage_meter_rolled_back | default('unset') }}",
                "tools": "{{ usage_meter_sshd_started_by_vmware_tools | default('unset') }}"}}},
        ]}])
    # ANSIBLE_INJECT_FACT_VARS off, as ansible-core 2.24 has it: the role must not need injected facts
    env = {"ANSIBLE_COLLECTIONS_PATH": f"{collections_path()}:{vmware_collections}", "ANSIBLE_INJECT_FACT_VARS": "False"}
    res = run_playbook(playbook, {VM: hv}, check=check, verbosity=verbosity, env=env, timeout=300)
    for r in res.records:  # "vcloud.usage_meter.inplace_upgrade : Snapshot | ..." -> "Snapshot | ..."
        r["task"] = r["task"].split(" : ", 1)[-1]
    return res


def facts(res) -> dict:
    return res.result("Facts after the phase")["msg"]


def failure(res) -> str:
    msgs = [r["result"].get("msg", "") for r in res.records if r["status"] == "failed"]
    assert msgs, f"no failed task\n{res.output[-3000:]}"
    return str(msgs[-1])


def ours(vc: Vcsim) -> list[dict]:
    return [s for s in vc.snapshot_tree(VM) if s["name"] == SNAP]


def test_snapshot_taken_then_reused(vc, vmware_collections):
    t0 = time.time()
    res = play(vc, "snapshot", vmware_collections, verbosity=3)
    assert res.rc == 0, res.output[-4000:]
    snaps = ours(vc)
    assert len(snaps) == 1, vc.snapshot_tree(VM)
    assert "4.3" in snaps[0]["description"] and VM in snaps[0]["description"]
    stamp = re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", snaps[0]["description"])
    assert stamp, snaps[0]["description"]
    taken_at = calendar.timegm(time.strptime(stamp.group(0), "%Y-%m-%dT%H:%M:%SZ"))   # a UTC stamp
    assert t0 - 120 < taken_at < time.time() + 120
    assert snaps[0]["current"]
    assert res.status("Snapshot | Take the VM snapshot") == "ok"
    assert res.result("Snapshot | Take the VM snapshot")["changed"] is True
    assert facts(res)["taken"] is True
    assert PASSWORD not in res.output          # -vvv, vCenter password never shown
    assert "Took snapshot" in res.output

    again = play(vc, "snapshot", vmware_collections)
    assert again.rc == 0, again.output[-4000:]
    assert len(ours(vc)) == 1, vc.snapshot_tree(VM)
    assert again.status("Snapshot | Take the VM snapshot") == "skipped"
    assert not any(r["result"].get("changed") for r in again.records), again.output[-3000:]
    assert facts(again)["taken"] is True
    assert "Reusing the existing snapshot" in again.output


def test_existing_snapshot_of_that_name_is_reused(vc, vmware_collections):
    vc.create_snapshot(VM, "before-something-else")
    vc.create_snapshot(VM, SNAP, "taken by hand")
    res = play(vc, "snapshot", vmware_collections)
    assert res.rc == 0, res.output[-4000:]
    snaps = ours(vc)
    assert len(snaps) == 1 and snaps[0]["description"] == "taken by hand"
    assert len(vc.snapshot_tree(VM)) == 2


def test_check_mode_takes_no_snapshot(vc, vmware_collections):
    res = play(vc, "snapshot", vmware_collections, check=True)
    assert res.rc == 0, res.output[-4000:]
    assert vc.snapshot_tree(VM) == []
    assert res.status("Snapshot | Look for an existing snapshot of the VM") == "ok"
    assert "Would take snapshot" in res.output
    assert facts(res)["taken"] is False


def test_unknown_vm_fails_clearly(vc, vmware_collections):
    res = play(vc, "snapshot", vmware_collections, hostvars={"usage_meter_vm_name": "no-such-vm"})
    assert res.rc != 0
    msg = failure(res)
    assert "Snapshot phase failed" in msg and "no-such-vm" in msg, msg
    assert vc.snapshot_tree(VM) == []
    assert PASSWORD not in res.output


def test_wrong_vcenter_port_fails_clearly(vc, vmware_collections):
    res = play(vc, "snapshot", vmware_collections, hostvars={"usage_meter_vcenter_port": 1})
    assert res.rc != 0
    msg = failure(res)
    assert "Snapshot phase failed" in msg and "127.0.0.1" in msg, msg


@pytest.mark.parametrize("missing", ["usage_meter_vcenter_hostname", "usage_meter_vcenter_password",
                                     "usage_meter_vcenter_datacenter", "usage_meter_snapshot_name"])
def test_snapshot_missing_variable(vc, vmware_collections, missing):
    res = play(vc, "snapshot", vmware_collections, hostvars={missing: ""})
    assert res.rc != 0
    assert res.status("Snapshot | Check the vCenter variables") == "failed"
    out = json.dumps(res.result("Snapshot | Check the vCenter variables"))
    assert missing in out, out
    assert vc.snapshot_tree(VM) == []


def test_revert_to_the_snapshot(vc, vmware_collections):
    assert play(vc, "snapshot", vmware_collections).rc == 0
    vc.create_snapshot(VM, "after-a-failed-upgrade")
    vc.power_off(VM)
    assert not ours(vc)[0]["current"]

    res = play(vc, "snapshot_revert", vmware_collections, verbosity=3)
    assert res.rc == 0, res.output[-4000:]
    assert ours(vc)[0]["current"], vc.snapshot_tree(VM)
    assert res.result("Snapshot revert | Revert the VM to the snapshot")["changed"] is True
    assert vc.power_state(VM) == "poweredOn"
    assert facts(res)["rolled_back"] is True
    assert PASSWORD not in res.output


def test_revert_without_the_snapshot_fails_clearly(vc, vmware_collections):
    vc.create_snapshot(VM, "some-other-snapshot")
    res = play(vc, "snapshot_revert", vmware_collections)
    assert res.rc != 0
    msg = failure(res)
    assert "Rollback failed" in msg and SNAP in msg, msg
    assert facts_missing(res)


def test_revert_without_any_snapshot_fails_clearly(vc, vmware_collections):
    res = play(vc, "snapshot_revert", vmware_collections)
    assert res.rc != 0
    msg = failure(res)
    assert "Rollback failed" in msg and "snapshots" in msg, msg


def test_revert_in_check_mode_changes_nothing(vc, vmware_collections):
    assert play(vc, "snapshot", vmware_collections).rc == 0
    vc.create_snapshot(VM, "later")
    res = play(vc, "snapshot_revert", vmware_collections, check=True)
    assert res.rc == 0, res.output[-4000:]
    assert not ours(vc)[0]["current"]
    assert facts(res)["rolled_back"] is False


def facts_missing(res) -> bool:
    """The play stopped before the facts task (the host failed)."""
    return not any(r["task"] == "Facts after the phase" for r in res.records)


# vmware_tools_sshd.yml: guest operations are not simulated (see the module docstring).

def test_tools_sshd_needs_root_password(vc, vmware_collections):
    res = play(vc, "vmware_tools_sshd", vmware_collections, drop=("usage_meter_root_password",),
               hostvars={"ansible_password": None})  # the role's default is the SSH password
    assert res.rc != 0
    assert res.status("Tools sshd | Check the variables") == "failed"
    out = json.dumps(res.result("Tools sshd | Check the variables"))
    assert "usage_meter_root_password" in out
    assert facts_missing(res)


def test_tools_sshd_needs_vcenter(vc, vmware_collections):
    res = play(vc, "vmware_tools_sshd", vmware_collections, drop=("usage_meter_vcenter_hostname",))
    assert res.rc != 0
    assert "usage_meter_vcenter_hostname" in json.dumps(res.result("Tools sshd | Check the variables"))


def test_tools_sshd_reaches_the_vm_and_reports_tools_not_running(vc, vmware_collections):
    """The real module runs against vCenter, finds the VM by name and stops at the
    VMware Tools check (the simulator's VMs never run Tools). Secrets stay hidden at -vvv."""
    res = play(vc, "vmware_tools_sshd", vmware_collections, verbosity=3)
    assert res.rc != 0
    msg = failure(res)
    assert "Could not start sshd through VMware Tools" in msg and VM in msg, msg
    assert "VMwareTools are not running" in msg, msg
    assert ROOT_PASSWORD not in res.output and PASSWORD not in res.output
    assert not any(r["task"] == "Tools sshd | Wait for the SSH port" for r in res.records)


def test_tools_sshd_unknown_vm(vc, vmware_collections):
    res = play(vc, "vmware_tools_sshd", vmware_collections, hostvars={"usage_meter_vm_name": "no-such-vm"})
    assert res.rc != 0
    msg = failure(res)
    assert "Unable to find virtual machine" in msg and "no-such-vm" in msg, msg


def test_tools_sshd_check_mode_starts_nothing(vc, vmware_collections):
    res = play(vc, "vmware_tools_sshd", vmware_collections, check=True)
    assert res.rc == 0, res.output[-4000:]
    assert res.status("Tools sshd | Start sshd through VMware Tools") == "skipped"
    assert res.status("Tools sshd | Wait for the SSH port") == "skipped"
    assert facts(res)["tools"] is False


def test_simulator_has_no_guest_operations(vc):
    """Documents the limit the tests above work around (docs/vmware.md)."""
    vm = vc.vm(VM)
    assert vm.guest.toolsRunningStatus == "guestToolsNotRunning"
    assert USERNAME  # any credentials are accepted by the simulator
