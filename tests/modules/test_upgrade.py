"""vcloud.usage_meter.upgrade against the simulated appliance.

Every case runs the real module through ansible-playbook (tests/lib/playbook.py)
against a fresh simulated appliance (tests/appliance/umsim.py, fixtures in
tests/conftest.py) whose bundle is put in place with plain OpenSSH scp. How
often the bundle really ran is read on the appliance's console: every run of
the simulated shar writes one "in-place upgrade to" line to the upgrade log.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from lib.playbook import require_module, run_module

REPO = Path(__file__).resolve().parents[2]
MODULE = "upgrade"
UMS = "/opt/vmware/cloudusagemetering"
SHAR = f"{UMS}/ums-system-upgrade.shar"
STATE = "/var/lib/vcloud-usage-meter"


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


def conn(a, **extra):
    return {"host": a.host, "password": a.root_password, "known_hosts": a.known_hosts, **extra}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def put_bundle(a, bundle: Path) -> None:
    cp = a.scp_to(bundle, SHAR)
    assert cp.returncode == 0, cp.stderr


def shar_runs(a) -> int:
    """How many times the bundle started (lines in the upgrade logs)."""
    cp = a.exec(["sh", "-c", f"cat {UMS}/var/logs/inplaceupgradeum-* 2>/dev/null | grep -c 'in-place upgrade to' || true"])
    return int(cp.stdout.strip() or 0)


def remote_exists(a, path: str) -> bool:
    return a.exec(["test", "-e", path]).returncode == 0


@pytest.fixture(scope="module")
def quick(shar_factory):
    """A bundle whose upgrade takes about a second."""
    return shar_factory("4M", 1.0)


@pytest.fixture(scope="module")
def slow(shar_factory):
    """A bundle whose upgrade takes about 4 seconds (room for faults and a second play)."""
    return shar_factory("4M", 4.0)


def test_check_mode_starts_nothing(appliance, quick):
    put_bundle(appliance, quick)
    r = run_module(MODULE, conn(appliance), check=True, diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["status"] == "would_run"
    assert "rc" not in r
    assert shar_runs(appliance) == 0
    assert not remote_exists(appliance, f"{STATE}/upgrade.record")
    assert not remote_exists(appliance, f"{STATE}/upgrade.current")


def test_runs_then_rerun_is_unchanged_until_reboot(appliance, quick):
    put_bundle(appliance, quick)
    r = run_module(MODULE, conn(appliance, checksum=f"sha256:{sha256(quick)}"), diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["status"] == "ran" and r["attached"] is False
    assert r["rc"] == 0
    assert r["reboot_required"] is True
    assert r["upgrade_log"].startswith(f"{UMS}/var/logs/inplaceupgradeum-")
    assert remote_exists(appliance, r["upgrade_log"])
    assert any("staged" in line for line in r["stdout_lines"])
    assert r["checksum"] == f"sha256:{sha256(quick)}"
    assert shar_runs(appliance) == 1

    again = run_module(MODULE, conn(appliance))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["status"] == "already_ran"
    assert again["rc"] == 0 and again["reboot_required"] is True
    assert again["upgrade_log"] == r["upgrade_log"]
    checked = run_module(MODULE, conn(appliance), check=True)
    assert checked["changed"] is False and checked["reboot_required"] is True
    assert shar_runs(appliance) == 1

    # the reboot completes the upgrade: still unchanged, no reboot required any more
    boot = appliance.boot_id()
    appliance.ssh("reboot")
    appliance.wait_new_boot(boot, 60)
    appliance.exec(["systemctl", "start", "sshd"], check=True)
    appliance.wait_ssh(30)
    assert remote_exists(appliance, f"{UMS}-old")
    after = run_module(MODULE, conn(appliance))
    assert after["_status"] == "ok", after["_output"]
    assert after["changed"] is False and after["reboot_required"] is False
    assert after["rc"] == 0


def test_already_upgraded_layout_does_nothing(appliance):
    # 4.3 layout (cloudusagemetering-old) and no record of ours: nothing to do
    assert appliance.exec(["mkdir", "-p", f"{UMS}-old"]).returncode == 0
    r = run_module(MODULE, conn(appliance))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["status"] == "already_upgraded"
    assert r["reboot_required"] is False


def test_wrong_checksum_refused(appliance, quick):
    put_bundle(appliance, quick)
    r = run_module(MODULE, conn(appliance, checksum="sha256:" + "1" * 64))
    assert r["_status"] == "failed"
    assert "not the expected" in r["msg"] and "not run" in r["msg"]
    assert shar_runs(appliance) == 0


def test_missing_bundle_fails_clearly(appliance):
    r = run_module(MODULE, conn(appliance))
    assert r["_status"] == "failed"
    assert "no bundle" in r["msg"] and "shar_copy" in r["msg"]


def test_shar_fails_midway(appliance_factory, quick):
    a = appliance_factory(faults={"shar-fail": "50"})
    put_bundle(a, quick)
    r = run_module(MODULE, conn(a))
    assert r["_status"] == "failed", r["_output"]
    assert r["rc"] == 1
    assert any("FAILED" in line for line in r["stdout_lines"])
    assert r["upgrade_log"].startswith(f"{UMS}/var/logs/inplaceupgradeum-")
    assert "snapshot" in r["msg"] and r["upgrade_log"] in r["msg"]
    assert shar_runs(a) == 1
    # a re-run does not repeat a failed bundle on a half-upgraded appliance
    again = run_module(MODULE, conn(a))
    assert again["_status"] == "failed"
    assert "previous run" in again["msg"] and "force" in again["msg"]
    assert again["rc"] == 1
    assert shar_runs(a) == 1


def test_connection_cut_during_upgrade_reattaches(appliance_factory, slow):
    a = appliance_factory()
    put_bundle(a, slow)
    a.fault_set("cut-upgrade", "1")
    r = run_module(MODULE, conn(a))
    assert [e for e in a.events("fault-fired") if e.get("fault") == "cut-upgrade"], "the cut did not happen"
    assert r["_status"] == "ok", r["_output"]
    assert r["rc"] == 0 and r["reboot_required"] is True
    assert any("staged" in line for line in r["stdout_lines"])
    assert shar_runs(a) == 1
    again = run_module(MODULE, conn(a))
    assert again["changed"] is False and again["reboot_required"] is True
    assert shar_runs(a) == 1


def test_rerun_while_running_attaches(appliance_factory, shar_factory):
    """The controller gave up (timeout) while the upgrade ran; the next run attaches."""
    a = appliance_factory()
    # long enough to outlast three playbook runs on a loaded 2-core machine
    put_bundle(a, shar_factory("4M", 40.0))
    first = run_module(MODULE, conn(a, timeout=1, poll_interval=1))
    assert first["_status"] == "failed"
    assert "still runs" in first["msg"] and "attach" in first["msg"]
    peek = run_module(MODULE, conn(a), check=True)
    assert peek["_status"] == "ok", peek["_output"]
    assert peek["status"] == "would_attach" and peek["changed"] is True
    second = run_module(MODULE, conn(a))
    assert second["_status"] == "ok", second["_output"]
    assert second["attached"] is True and second["status"] == "attached"
    assert second["rc"] == 0 and second["reboot_required"] is True
    assert shar_runs(a) == 1


def test_two_concurrent_runs_run_the_bundle_once(appliance_factory, slow):
    a = appliance_factory()
    put_bundle(a, slow)
    results = [None, None]

    def go(i):
        results[i] = run_module(MODULE, conn(a))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for r in results:
        assert r is not None
        assert r["_status"] == "ok", r["_output"]
        assert r["rc"] == 0 and r["reboot_required"] is True
    # one started it; the other attached to it, or found it done
    assert sorted(r["status"] for r in results) in (["attached", "ran"], ["already_ran", "ran"])
    assert shar_runs(a) == 1
