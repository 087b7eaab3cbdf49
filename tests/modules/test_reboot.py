"""vcloud.usage_meter.reboot against simulated appliances (tests/appliance/umsim.py),
through real ansible-playbook (tests/lib/playbook.py). Waits are kept short with
small reboot_timeout values; nothing asserts on timings."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lib.playbook import require_module, run_module, ssh_args
from simtest import SshdLog, until

REPO = Path(__file__).resolve().parents[2]
MODULE = "reboot"


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


conn = ssh_args


def reboots(a) -> int:
    return a.status()["boot_count"]


def test_reboots_and_waits_for_the_new_boot(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    before = a.boot_id()
    count = reboots(a)
    log = SshdLog(a)
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=120), diff=True)
    assert r["_status"] == "ok", r["_output"]
    # one login before the reboot, one after; the wait in between costs sshd no
    # login (the old boot's session is watched, the new one probed on the
    # connection that then logs in)
    assert log.counts() == {"connections": 2, "logins": 2}, "\n".join(log.new_lines())
    assert r["changed"] is True and r["rebooted"] is True
    assert r["diff"] == {"before": f"boot_id: {before}\n", "after": f"boot_id: {r['boot_id_after']}\n"}
    assert r["boot_id_before"] == before
    assert r["boot_id_after"] not in (None, "", before)
    assert r["boot_id_after"] == a.boot_id()
    assert r["elapsed"] > 0
    assert reboots(a) == count + 1
    # sshd came back by itself (enabled) and answers
    assert a.ssh("true").returncode == 0


def test_runs_the_test_command_after_the_delay(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=120, post_reboot_delay=1,
                                test_command="test -x /opt/vmware/cloudusagemetering/scripts/status.sh",
                                reboot_command="reboot"))
    assert r["_status"] == "ok", r["_output"]
    assert r["rebooted"] is True and r["boot_id_after"] != r["boot_id_before"]


def test_check_mode_reboots_nothing(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    before, count = a.boot_id(), reboots(a)
    r = run_module(MODULE, conn(a, tmp_path), check=True, diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["rebooted"] is False
    assert r["boot_id_before"] == before and r["boot_id_after"] is None
    assert "check mode" in r["msg"] and before in r["diff"]["before"]
    assert a.boot_id() == before and reboots(a) == count


def test_never_comes_back_fails_at_its_timeout_with_the_last_error(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    a.fault_set("reboot-hang")
    before = a.boot_id()
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=6, connect_timeout=2))
    assert r["_status"] == "failed", r["_output"]
    msg = r["msg"]
    assert "did not come back within 6 s" in msg, msg
    assert "last connection error" in msg, msg
    assert r["last_error"] and a.host in r["last_error"]
    assert r["rebooted"] is False and r["boot_id_before"] == before
    assert "console" in msg and "snapshot" in msg, msg
    # the switch off, the appliance finishes its boot (left as it was: up, sshd enabled)
    a.fault_clear("reboot-hang")
    a.wait_new_boot(before, 60)
    a.wait_ssh(30)


def test_sshd_not_enabled_warns_then_fails_with_refused(appliance_factory, tmp_path):
    a = appliance_factory(sshd="running")      # started by hand, not enabled: gone after the reboot
    before = a.boot_id()
    # long enough for the reboot to finish on a loaded machine, so the last error is "refused"
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=30, connect_timeout=2))
    assert r["_status"] == "failed", r["_output"]
    assert any("not enabled at boot" in w for w in r.get("warnings", [])), r.get("warnings")
    msg = r["msg"]
    assert "refused" in msg and "not enabled at boot" in msg, msg
    assert "service sshd start" in msg, msg
    # the appliance did reboot: a new boot, nothing listening on 22
    until("the new boot", lambda: a.boot_id() != before, 30)
    assert not a.status()["sshd_listening"]


def test_failing_reboot_command_fails_fast(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    before, count = a.boot_id(), reboots(a)
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=300, reboot_command="echo no way >&2; exit 3"))
    assert r["_status"] == "failed", r["_output"]
    assert "failed with rc=3" in r["msg"] and "no way" in r["msg"], r["msg"]
    assert r["rc"] == 3 and r["rebooted"] is False
    assert a.boot_id() == before and reboots(a) == count


def test_failing_test_command_fails_after_the_reboot(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=15, test_command="echo not ready; false"))
    assert r["_status"] == "failed", r["_output"]
    assert r["rebooted"] is True and r["boot_id_after"] != r["boot_id_before"]
    assert "test command did not succeed" in r["msg"] and "not ready" in r["msg"], r["msg"]


@pytest.mark.parametrize("fault,expect", [("host-key-changed", ["differs from the one recorded", "known_hosts"]),
                                          ("password-expired", ["expired", "console"])])
def test_back_but_refusing_us_is_a_real_error_not_a_wait(appliance_factory, tmp_path, fault, expect):
    """The appliance comes back with a new host key (or an expired root password):
    the module fails at once with that reason instead of waiting for reboot_timeout."""
    a = appliance_factory(sshd="enabled")
    a.fault_set("reboot-hang")
    result = {}

    def run():
        result.update(run_module(MODULE, conn(a, tmp_path, reboot_timeout=300, connect_timeout=2)))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    until("the appliance going down", lambda: a.status()["phase"] == "hang", 60)
    a.fault_set(fault)                         # applied to the disk while it is down
    a.fault_clear("reboot-hang")
    t.join(240)
    assert not t.is_alive(), "the module kept waiting"
    r = result
    assert r["_status"] == "failed", r["_output"]
    for word in expect:
        assert word in r["msg"], r["msg"]
    assert "did not come back" not in r["msg"]
    assert r["rebooted"] is True


def test_refuses_while_an_upgrade_run_holds_its_lock(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    lock = "/var/lib/vcloud-usage-meter/upgrade.lock"
    cp = a.exec(["sh", "-c", f"mkdir -p /var/lib/vcloud-usage-meter && setsid -f sh -c "
                             f"'echo $$ > /tmp/lock-holder.pid; exec flock {lock} sleep 120' >/dev/null 2>&1 </dev/null"])
    assert cp.returncode == 0, cp.stderr
    until("the lock held", lambda: a.exec(["sh", "-c", f"! flock -n {lock} true"]).returncode == 0, 30)
    before, count = a.boot_id(), reboots(a)
    r = run_module(MODULE, conn(a, tmp_path, reboot_timeout=60))
    assert r["_status"] == "failed", r["_output"]
    assert "upgrade run is in progress" in r["msg"] and "nothing was done" in r["msg"], r["msg"]
    assert r["rebooted"] is False
    assert a.boot_id() == before and reboots(a) == count
    a.exec(["sh", "-c", "kill $(cat /tmp/lock-holder.pid)"])


def test_unreachable_before_the_reboot_fails_clearly(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    before, count = a.boot_id(), reboots(a)
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "failed", r["_output"]
    assert "refused" in r["msg"] and "service sshd start" in r["msg"], r["msg"]
    assert a.boot_id() == before and reboots(a) == count
