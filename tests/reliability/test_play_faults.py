"""Faults at play level (the whole playbooks/upgrade.yml), where the module-level
tests (tests/modules, tests/test_collection.py) and the preflight-only play
(tests/roles/test_inplace_upgrade.py::test_preflight_alone_reports_and_changes_nothing)
stop short: what the appliance is left with, and what the operator reads.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from lib.playbook import WORK
from reliability.rel_lib import (STATE, UMS, Controller, api_version, make_bundle, recap, remote_exists, result,
                                 shar_runs, sshd_state, summary, write_inventory)


@pytest.fixture
def tmp_play():
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="reliability-", dir=WORK / "tmp"))


@pytest.fixture(scope="module")
def bundle():
    return make_bundle("4M", 1.0)


def nothing_copied(app) -> None:
    cp = app.exec(["sh", "-c", f"ls -a {UMS} | grep -F ums-system-upgrade || true"])
    assert cp.stdout.strip() == "", f"something was copied: {cp.stdout}"
    assert shar_runs(app) == 0
    assert not remote_exists(app, f"{STATE}/upgrade.current")
    assert not remote_exists(app, f"{UMS}-old")


def test_disk_too_small_fails_before_anything_is_copied(appliance_factory, umsim_root, bundle, tmp_play):
    """As shipped (sshd stopped): the role opens SSH, checks the free space
    before the copy phase, fails there, and closes SSH again."""
    app = appliance_factory(version="4.2.0", sshd="off", faults={"disk-small": "1M"})
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    res = Controller(tmp_play).run(inv, vf)
    assert res.rc != 0 and recap(res.stdout)["um"]["failed"] == 1, res.output[-4000:]
    s = summary(res, "um")
    assert s["result"] == "failed", s
    assert "copy" not in s["phases"] and "upgrade" not in s["phases"], s
    assert "not enough free space on /opt/vmware" in s["error"] and "needed" in s["error"], s["error"]
    assert "Nothing was changed" in s["error"], s["error"]
    nothing_copied(app)
    assert sshd_state(app) == (False, False), s["sshd"]
    assert api_version(app) == "4.2.0"


def test_expired_root_password_says_so(appliance_factory, umsim_root, bundle, tmp_play):
    """An admin opened SSH; root's password has expired. The play must say that
    the password expired (and what to do), not that authentication failed."""
    app = appliance_factory(version="4.2.0", sshd="running", faults={"password-expired": None})
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    res = Controller(tmp_play).run(inv, vf)
    assert res.rc != 0 and recap(res.stdout)["um"]["failed"] == 1, res.output[-4000:]
    s = summary(res, "um")
    err = s["error"]
    assert "expired" in err and "console" in err, err
    assert "authentication" not in err.lower() and "auth failed" not in err.lower(), err
    assert "failed" in result(res, "Fail the host when the upgrade failed", "um")["msg"]
    nothing_copied(app)
    assert sshd_state(app) == (True, False)     # as the admin left it


def test_host_key_changed_is_refused_naming_known_hosts_and_off_works_only_when_asked(
        appliance_factory, umsim_root, bundle, tmp_play):
    app = appliance_factory(version="4.2.0", sshd="running")
    known = Path(app.known_hosts)
    before = known.read_text()
    app.fault_set("host-key-changed")
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    ctl = Controller(tmp_play)

    refused = ctl.run(inv, vf)
    assert refused.rc != 0 and recap(refused.stdout)["um"]["failed"] == 1, refused.output[-4000:]
    err = summary(refused, "um")["error"]
    assert "differs from the one recorded" in err and str(known) in err and "known_hosts" in err, err
    assert "ssh-keygen -R" in err, err
    assert known.read_text() == before, "the refused run changed known_hosts"
    nothing_copied(app)
    assert "not verified" not in refused.output

    # `off` is an explicit choice: then the play goes through, with a warning
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root,
                              group_vars={"usage_meter_host_key_checking": "off"})
    ok = ctl.run(inv, vf)
    assert ok.rc == 0, ok.output[-4000:]
    assert summary(ok, "um")["result"] == "upgraded"
    assert "[WARNING]" in ok.output and "not verified" in ok.output, ok.output[-3000:]
    assert known.read_text() == before, "off must not record the new key"
    assert api_version(app) == "4.3.0"


def test_shar_fails_no_reboot_is_attempted_and_sshd_is_restored(appliance_factory, umsim_root, bundle, tmp_play):
    """What tests/roles/test_inplace_upgrade.py (shar-fails) does not check: the
    appliance was never rebooted (same boot id, the reboot task never ran), the
    failure names the rc, the output tail and the upgrade log, and the shar ran once."""
    app = appliance_factory(version="4.2.0", sshd="off", faults={"shar-fail": "50"})
    boot = app.boot_id()
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    res = Controller(tmp_play).run(inv, vf)
    assert res.rc != 0 and recap(res.stdout)["um"]["failed"] == 1, res.output[-4000:]
    s = summary(res, "um")
    assert "failed in phase upgrade" in s["error"] and "reboot" not in s["phases"], s
    assert not [r for r in res.records if r["task"].endswith("Reboot | Reboot the appliance and wait for it")
                and r["status"] != "skipped"]
    up = result(res, "Upgrade | Run the upgrade bundle", "um")
    assert up["rc"] == 1 and any("FAILED" in line for line in up["stdout_lines"]), up
    assert up["upgrade_log"].startswith(f"{UMS}/var/logs/inplaceupgradeum-") and up["upgrade_log"] in up["msg"]
    text = (Path(s["logs"]) / "failure.txt").read_text()
    assert "# upgrade rc: 1" in text and up["upgrade_log"] in text and "upgrade FAILED" in text, text
    assert app.boot_id() == boot, "the appliance was rebooted"
    assert shar_runs(app) == 1
    assert sshd_state(app) == (False, False), s["sshd"]
    assert api_version(app) == "4.2.0"
