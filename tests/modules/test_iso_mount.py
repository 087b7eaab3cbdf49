"""vcloud.usage_meter.iso_mount against the simulated appliance.

One appliance for the file (the tests use different ISOs and mount points and
clean up after themselves); the ISOs are real ISO 9660 images built here with
xorriso (tests/lib/iso_images.py, which also makes loop mounts work inside the
simulated appliance). What is mounted is read on the appliance's console.
"""
from __future__ import annotations

import os

import pytest

from lib.iso_images import make_iso, put
from lib.playbook import require_module, run_module

MODULE = "iso_mount"
DIR = "/opt/vmware/upgrade"
SCRIPT = "#!/bin/bash\necho upgrading\n"
REPO_FILES = {"repo/repodata/repomd.xml": "<repomd/>\n"}


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


@pytest.fixture(scope="module")
def appl(umsim, umsim_root):
    name = f"isom{os.getpid()}"
    a = umsim.start_appliance(name, sshd="running")
    try:
        a.exec(["mkdir", "-p", DIR], check=True)
        yield a
    finally:
        umsim.stop(name, purge=os.environ.get("UMSIM_KEEP") != "1")


def conn(a, **extra):
    return {"host": a.host, "password": a.root_password, "known_hosts": a.known_hosts, **extra}


def upload(a, files: dict[str, str], name: str) -> str:
    iso = make_iso(files, name)
    put(a, iso, f"{DIR}/{name}")
    return f"{DIR}/{name}"


def source_at(a, path: str) -> str:
    """What /proc/self/mountinfo says is mounted at path ("" when nothing)."""
    cp = a.exec(["findmnt", "-n", "-o", "SOURCE,OPTIONS", "--mountpoint", path])
    return cp.stdout.strip()


def exists(a, path: str) -> bool:
    return a.exec(["test", "-e", path]).returncode == 0


def test_mount_check_then_mount_then_unchanged_then_absent(appl):
    iso = upload(appl, {"upgrade-um.sh": SCRIPT, **REPO_FILES}, "Usage_Meter_Agent-4.8.0.0-1_Upgrade.iso")
    path = "/root/upgrade"
    r = run_module(MODULE, conn(appl, iso=iso), check=True, diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["mount_point"] == path
    assert "mounted read-only" in r["diff"]["after"]
    assert source_at(appl, path) == "" and not exists(appl, path)

    r = run_module(MODULE, conn(appl, iso=iso), diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True
    assert r["script"] == f"{path}/upgrade-um.sh" and r["script_source"] == "known"
    src = source_at(appl, path).split()
    assert len(src) == 2 and "ro" in src[1].split(","), src
    # read-only, private
    assert appl.exec(["touch", f"{path}/x"]).returncode != 0
    # the mounted ISO shows its own root's mode (0555 here): privacy is that no other user reaches it
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    assert appl.exec([*nobody, "cat", r["script"]]).returncode != 0
    assert appl.exec([*nobody, "true"]).returncode == 0          # setpriv itself works
    assert appl.exec(["cat", r["script"]]).stdout == SCRIPT

    again = run_module(MODULE, conn(appl, iso=iso))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["script"] == r["script"]

    gone = run_module(MODULE, conn(appl, iso=iso, state="absent"), diff=True)
    assert gone["_status"] == "ok", gone["_output"]
    assert gone["changed"] is True and gone["lazy"] is False and gone["removed_iso"] is False
    assert source_at(appl, path) == "" and not exists(appl, path)
    assert exists(appl, iso)
    assert run_module(MODULE, conn(appl, iso=iso, state="absent"))["changed"] is False
    # remove_iso: check mode says so and deletes nothing, then it is deleted
    chk = run_module(MODULE, conn(appl, iso=iso, state="absent", remove_iso=True), check=True)
    assert chk["changed"] is True and exists(appl, iso)
    rm = run_module(MODULE, conn(appl, iso=iso, state="absent", remove_iso=True))
    assert rm["changed"] is True and rm["removed_iso"] is True and not exists(appl, iso)


def test_a_mount_point_in_use_is_left_alone(appl):
    a_iso = upload(appl, {"upgrade-um.sh": SCRIPT}, "Usage_Meter_Agent-4.7.0.0-1_Upgrade.iso")
    b_iso = upload(appl, {"upgrade-um.sh": SCRIPT + "# b\n"}, "Usage_Meter_Agent-4.8.0.0-2_Upgrade.iso")
    path = "/root/inuse"
    assert run_module(MODULE, conn(appl, iso=a_iso, path=path))["changed"] is True
    try:
        other = run_module(MODULE, conn(appl, iso=b_iso, path=path))
        assert other["_status"] == "failed"
        assert "in use" in other["msg"] and path in other["msg"]
        assert a_iso in other["msg"] or "/dev/loop" in other["msg"], other["msg"]
        # state=absent for the other ISO does not unmount this one
        wrong = run_module(MODULE, conn(appl, iso=b_iso, path=path, state="absent", remove_iso=True))
        assert wrong["_status"] == "failed" and "left alone" in wrong["msg"]
        assert source_at(appl, path) != "" and exists(appl, b_iso)
    finally:
        assert run_module(MODULE, conn(appl, iso=a_iso, path=path, state="absent"))["_status"] == "ok"
    assert source_at(appl, path) == ""


def test_script_found_given_or_missing(appl):
    found = upload(appl, {"UM-upgrade-4.6.sh": SCRIPT, "install.sh": SCRIPT, **REPO_FILES},
                   "Usage_Meter_Agent-4.6.0.0-1_Upgrade.iso")
    r = run_module(MODULE, conn(appl, iso=found, path="/root/found"))
    assert r["_status"] == "ok", r["_output"]
    assert r["script"] == "/root/found/UM-upgrade-4.6.sh" and r["script_source"] == "found"
    run_module(MODULE, conn(appl, iso=found, path="/root/found", state="absent"))

    given = run_module(MODULE, conn(appl, iso=found, path="/root/found", script="install.sh"))
    assert given["script"] == "/root/found/install.sh" and given["script_source"] == "given"
    run_module(MODULE, conn(appl, iso=found, path="/root/found", state="absent"))

    none = upload(appl, {"install.sh": SCRIPT, **REPO_FILES}, "Usage_Meter_Agent-4.5.0.0-1_Upgrade.iso")
    r = run_module(MODULE, conn(appl, iso=none, path="/root/none"))
    assert r["_status"] == "failed"
    assert "install.sh" in r["msg"] and "repo/" in r["msg"] and "script option" in r["msg"]
    # an ISO without an upgrade script is not left mounted
    assert source_at(appl, "/root/none") == ""

    missing = run_module(MODULE, conn(appl, iso=f"{DIR}/nothing.iso", path="/root/none"))
    assert missing["_status"] == "failed" and "no ISO" in missing["msg"]


def test_busy_mount_point_is_unmounted_lazily_with_a_warning(appl):
    iso = upload(appl, {"upgrade-um.sh": SCRIPT}, "Usage_Meter_Agent-4.4.0.0-1_Upgrade.iso")
    path = "/root/busy"
    assert run_module(MODULE, conn(appl, iso=iso, path=path))["changed"] is True
    # a process whose working directory is on the ISO keeps it busy
    cp = appl.exec(["sh", "-c", f"cd {path} && {{ sleep 120 < /dev/null > /dev/null 2>&1 & echo $!; }}"], check=True)
    pid = cp.stdout.strip()
    try:
        r = run_module(MODULE, conn(appl, iso=iso, path=path, state="absent"))
        assert r["_status"] == "ok", r["_output"]
        assert r["changed"] is True and r["lazy"] is True
        assert any("lazily" in w for w in r.get("warnings", [])), r.get("warnings")
        assert source_at(appl, path) == "" and not exists(appl, path)
    finally:
        appl.exec(["kill", pid])
