"""vcloud.usage_meter.sshd against simulated appliances (tests/appliance/umsim.py),
through real ansible-playbook (tests/lib/playbook.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lib.playbook import require_module, run_module, ssh_args

REPO = Path(__file__).resolve().parents[2]
MODULE = "sshd"


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


conn = ssh_args


def console(a, cmd: str) -> str:
    """Run on the appliance console (not over SSH) and return stdout."""
    return a.exec(["sh", "-c", cmd]).stdout.strip()


def is_enabled(a) -> str:
    return console(a, "systemctl is-enabled sshd")


def listening(a) -> bool:
    return a.status()["sshd_listening"]


def test_start_and_enable_then_rerun_unchanged(appliance, tmp_path):
    a = appliance                               # sshd running, not enabled (as after `service sshd start`)
    assert is_enabled(a) == "disabled"
    r = run_module(MODULE, conn(a, tmp_path, state="started", enabled=True), diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True
    assert r["active"] is True and r["enabled"] is True and r["manager"] == "systemctl"
    assert "enabled: no" in r["diff"]["before"] and "enabled: yes" in r["diff"]["after"]
    assert is_enabled(a) == "enabled" and listening(a)
    again = run_module(MODULE, conn(a, tmp_path, state="started", enabled=True))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["enabled"] is True


def test_check_mode_changes_nothing(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    r = run_module(MODULE, conn(a, tmp_path, state="stopped", enabled=False), check=True, diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True
    assert r["active"] is False and r["enabled"] is False      # what it would be
    assert "active: yes" in r["diff"]["before"] and "active: no" in r["diff"]["after"]
    assert listening(a) and is_enabled(a) == "enabled"


@pytest.mark.parametrize("stop_mode", ["survive", "kill"])
def test_stop_over_its_own_connection_is_confirmed(appliance_factory, tmp_path, stop_mode):
    """Stopping sshd ends the listener that serves the module's own session; with
    stop_mode=kill the appliance also kills the session that issued the stop [guess]."""
    a = appliance_factory(sshd="enabled", config={"sshd_stop_mode": stop_mode})
    r = run_module(MODULE, conn(a, tmp_path, state="stopped", enabled=False))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["active"] is False and r["enabled"] is False
    assert not listening(a)
    assert console(a, "systemctl is-active sshd") != "active"
    assert is_enabled(a) == "disabled"


def test_stopped_and_unreachable_is_ok_unchanged(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    r = run_module(MODULE, conn(a, tmp_path, state="stopped"))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["active"] is False and r["enabled"] is None
    assert "already stopped" in r["msg"]
    # asking about enablement too: still ok, with a warning that it could not be read
    r = run_module(MODULE, conn(a, tmp_path, state="stopped", enabled=False))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False
    assert any("could not be read" in w for w in r.get("warnings", [])), r


def test_unreachable_and_started_says_console_or_vmware_tools(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    r = run_module(MODULE, conn(a, tmp_path, state="started"))
    assert r["_status"] == "failed", r["_output"]
    msg = r["msg"]
    assert a.host in msg and "connect" in msg
    assert "console" in msg and "VMware Tools" in msg, msg
    assert not listening(a)


def test_disable_is_the_reverse_of_enable(appliance_factory, tmp_path):
    a = appliance_factory(sshd="enabled")
    r = run_module(MODULE, conn(a, tmp_path, enabled=False))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["enabled"] is False and r["active"] is True
    assert is_enabled(a) == "disabled" and listening(a)
    r = run_module(MODULE, conn(a, tmp_path, enabled=False))
    assert r["changed"] is False


def test_start_after_a_stop_from_the_console(appliance_factory, tmp_path):
    """sshd stopped on the console while reachable again later: start it back over SSH
    is impossible (nothing listens), so the console starts it and the module is unchanged."""
    a = appliance_factory(sshd="running")
    console(a, "service sshd stop")
    r = run_module(MODULE, conn(a, tmp_path, state="started"))
    assert r["_status"] == "failed" and "VMware Tools" in r["msg"]
    console(a, "service sshd start")
    a.wait_ssh(30)
    r = run_module(MODULE, conn(a, tmp_path, state="started"))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["active"] is True
