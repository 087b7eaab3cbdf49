"""vcloud.usage_meter.upgrade_logs against the simulated appliance.

Every case runs the real module through ansible-playbook (tests/lib/playbook.py)
against a fresh simulated appliance (tests/appliance/umsim.py, fixtures in
tests/conftest.py). The logs come from a real run of the simulated bundle
(started with vcloud.usage_meter.upgrade, as the role does); what the
appliance holds is read on its console, not through the module under test.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from lib.playbook import WORK, require_module, run_module

REPO = Path(__file__).resolve().parents[2]
MODULE = "upgrade_logs"
UMS = "/opt/vmware/cloudusagemetering"
SHAR = f"{UMS}/ums-system-upgrade.shar"
STATE = "/var/lib/vcloud-usage-meter"


@pytest.fixture(autouse=True)
def _built():
    for m in (MODULE, "upgrade"):
        require_module(m)


@pytest.fixture
def dest_root():
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upgrade-logs-", dir=WORK / "tmp"))


@pytest.fixture(scope="module")
def quick(shar_factory):
    return shar_factory("4M", 1.0)


def conn(a, **extra):
    return {"host": a.host, "password": a.root_password, "known_hosts": a.known_hosts, **extra}


def remote_sha(a, path: str) -> tuple[int, str]:
    cp = a.exec(["sh", "-c", f"stat -c %s '{path}' && sha256sum < '{path}'"], check=True)
    size, sha = cp.stdout.split()[:2]
    return int(size), sha


def remote_bytes(a, path: str) -> bytes:
    """The file's bytes as read on the console (binary-safe: base64 over the text pipe)."""
    import base64
    cp = a.exec(["sh", "-c", f"base64 -w0 < '{path}'"], check=True)
    return base64.b64decode(cp.stdout)


def upgraded(a, bundle: Path) -> dict:
    """Put the bundle on the appliance and run it with vcloud.usage_meter.upgrade."""
    cp = a.scp_to(bundle, SHAR)
    assert cp.returncode == 0, cp.stderr
    r = run_module("upgrade", conn(a))
    assert r["_status"] == "ok" and r["rc"] == 0, r["_output"]
    return r


def files_by_remote(r: dict) -> dict[str, dict]:
    return {f["remote"]: f for f in r["files"]}


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_fetch_after_upgrade_rerun_then_after_reboot(appliance, quick, dest_root):
    up = upgraded(appliance, quick)
    log = up["upgrade_log"]
    dest = dest_root / "um01"

    r = run_module(MODULE, conn(appliance, dest=str(dest)))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["dest"] == str(dest)
    by = files_by_remote(r)
    run_log = up["log"]
    expected = [log, run_log, f"{STATE}/upgrade.record", f"{STATE}/upgrade.current"]
    assert list(by) == expected, by
    assert r["fetched"] == 4
    assert (dest.stat().st_mode & 0o777) == 0o700
    for remote, f in by.items():
        local = Path(f["local"])
        assert local == dest / remote.lstrip("/")
        size, sha = remote_sha(appliance, remote)
        data = local.read_bytes()
        assert data == remote_bytes(appliance, remote), remote   # byte for byte
        assert (f["size"], f["sha256"], f["truncated"], f["fetched"]) == (size, sha, False, True)
        assert hashlib.sha256(data).hexdigest() == sha
    assert "staged" in Path(by[log]["local"]).read_text()
    # the status output, as the console sees it
    status = (dest / "status.txt").read_text()
    assert r["status_file"] == str(dest / "status.txt")
    console = appliance.exec([f"{UMS}/scripts/status.sh"])
    assert status == console.stdout + console.stderr and r["status_rc"] == console.returncode
    # no temporary file left behind
    assert not [p for p in tree(dest) if ".part-" in p], tree(dest)

    # unchanged: nothing fetched again, files untouched
    mtimes = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    again = run_module(MODULE, conn(appliance, dest=str(dest)))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["fetched"] == 0, again
    assert all(f["fetched"] is False for f in again["files"])
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == mtimes

    # a status output that differs from the saved one (it varies with time) is
    # saved again, but is no change: a re-run stays changed=false
    (dest / "status.txt").write_text("Running as of an earlier run\n")
    refreshed = run_module(MODULE, conn(appliance, dest=str(dest)))
    assert refreshed["changed"] is False and refreshed["fetched"] == 0, refreshed
    assert (dest / "status.txt").read_text() == status

    # a local copy that differs is fetched again
    Path(by[log]["local"]).write_text("tampered\n")
    fixed = run_module(MODULE, conn(appliance, dest=str(dest)))
    assert fixed["changed"] is True and fixed["fetched"] == 1, fixed
    assert Path(by[log]["local"]).read_bytes() == remote_bytes(appliance, log)

    # after the reboot that completes 4.3 the log is in the old installation
    boot = appliance.boot_id()
    appliance.ssh("reboot")
    appliance.wait_new_boot(boot, 60)
    appliance.exec(["systemctl", "start", "sshd"], check=True)
    appliance.wait_ssh(30)
    old_log = log.replace(UMS + "/", UMS + "-old/", 1)
    assert appliance.exec(["test", "-f", old_log]).returncode == 0
    after = run_module(MODULE, conn(appliance, dest=str(dest), status=False))
    assert after["_status"] == "ok", after["_output"]
    by_after = files_by_remote(after)
    assert old_log in by_after and by_after[old_log]["fetched"] is True, by_after
    assert Path(by_after[old_log]["local"]).read_bytes() == remote_bytes(appliance, old_log)
    assert after["status_file"] is None and after["status_rc"] is None


def test_check_mode_writes_nothing(appliance, quick, dest_root):
    upgraded(appliance, quick)
    dest = dest_root / "sub" / "um01"
    r = run_module(MODULE, conn(appliance, dest=str(dest)), check=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["fetched"] == 4, r
    assert all(f["fetched"] is True for f in r["files"])
    assert not (dest_root / "sub").exists()
    # with everything already saved, check mode predicts no change
    real = run_module(MODULE, conn(appliance, dest=str(dest)))
    assert real["_status"] == "ok" and real["fetched"] == 4, real["_output"]
    before = tree(dest)
    again = run_module(MODULE, conn(appliance, dest=str(dest)), check=True)
    assert again["changed"] is False and again["fetched"] == 0, again
    assert tree(dest) == before


def test_max_bytes_keeps_the_tail_and_large_files_stream(appliance, dest_root):
    logs = f"{UMS}/var/logs"
    small = f"{logs}/inplaceupgradeum-2026-01-01-1"
    big = f"{logs}/inplaceupgradeum-2026-01-02-2"
    appliance.exec(["sh", "-c", f"mkdir -p {logs} && seq 1 5000 > {small} && head -c 3145728 /dev/urandom > {big}"],
                   check=True)
    dest = dest_root / "um01"
    pats = {"patterns": [f"{logs}/inplaceupgradeum-*"], "status": False}

    r = run_module(MODULE, conn(appliance, dest=str(dest), max_bytes=1000, **pats))
    assert r["_status"] == "ok", r["_output"]
    by = files_by_remote(r)
    assert list(by) == [small, big]
    for remote in (small, big):
        full = remote_bytes(appliance, remote)
        f = by[remote]
        data = Path(f["local"]).read_bytes()
        assert data == full[-1000:], remote
        assert f["truncated"] is True and f["size"] == len(full)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert Path(by[small]["local"]).read_text().endswith("4999\n5000\n")
    # the truncated copies are recognised as up to date
    again = run_module(MODULE, conn(appliance, dest=str(dest), max_bytes=1000, **pats))
    assert again["changed"] is False and again["fetched"] == 0, again

    # no limit: the 3 MiB file whole, byte for byte
    whole = run_module(MODULE, conn(appliance, dest=str(dest), max_bytes=0, **pats))
    assert whole["_status"] == "ok" and whole["fetched"] == 2, whole["_output"]
    f = files_by_remote(whole)[big]
    assert f["truncated"] is False and f["size"] == 3145728
    assert Path(f["local"]).read_bytes() == remote_bytes(appliance, big)


def test_missing_logs_is_ok_with_an_empty_list(appliance, dest_root):
    dest = dest_root / "um01"
    r = run_module(MODULE, conn(appliance, dest=str(dest), status=False))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["files"] == [] and r["fetched"] == 0, r
    assert not dest.exists()


def test_dest_not_writable_fails_clearly(appliance, quick, dest_root):
    upgraded(appliance, quick)
    # tests run as root, which ignores permission bits: an immutable folder
    dest = dest_root / "locked"
    dest.mkdir()
    if subprocess.run(["chattr", "+i", str(dest)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        r = run_module(MODULE, conn(appliance, dest=str(dest)))
    finally:
        subprocess.run(["chattr", "-i", str(dest)], check=True)
    assert r["_status"] == "failed", r
    assert "cannot create" in r["msg"] and str(dest) in r["msg"], r["msg"]
    assert "Operation not permitted" in r["msg"], r["msg"]
    assert os.listdir(dest) == []

    # a dest that is a file
    f = dest_root / "a-file"
    f.write_text("x")
    r = run_module(MODULE, conn(appliance, dest=str(f)))
    assert r["_status"] == "failed" and "is not a directory" in r["msg"], r


def test_unreachable_appliance_fails_with_the_connect_message(appliance, dest_root):
    dest = dest_root / "um01"
    r = run_module(MODULE, conn(appliance, dest=str(dest), port=2, connect_timeout=3))
    assert r["_status"] == "failed", r
    assert "connect" in r["msg"] and "refused" in r["msg"], r["msg"]
    assert not dest.exists()
