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


RECORD = "/var/lib/vcloud-usage-meter/sshd.original"


def test_original_state_is_recorded_once_and_survives_later_changes(appliance_factory, tmp_path):
    """The first change writes how sshd was; later tasks (an interrupted play run
    again) read that record, whatever sshd looks like by then."""
    a = appliance_factory(sshd="running")       # running, not enabled
    rec = {"original_file": RECORD}
    # check mode: says what it would record, writes nothing
    r = run_module(MODULE, conn(a, tmp_path, state="started", enabled=True, **rec), check=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["original_source"] == "recorded" and r["original"]["active"] is True
    assert console(a, f"test -e {RECORD} && echo yes || echo no") == "no"

    r = run_module(MODULE, conn(a, tmp_path, state="started", enabled=True, **rec))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["original_source"] == "recorded"
    assert r["original"]["active"] is True and r["original"]["enabled"] is False
    assert console(a, f"stat -c %a {RECORD}") == "600"
    assert console(a, f"cat {RECORD}").startswith("active=yes enabled=no recorded=")

    # a later task that says sshd was different does not overwrite the first record
    r = run_module(MODULE, conn(a, tmp_path, state="started", original_active=False, original_enabled=True, **rec))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["original_source"] == "record"
    assert r["original"]["active"] is True and r["original"]["enabled"] is False
    assert isinstance(r["original"]["recorded"], int)


def test_nothing_changed_means_nothing_recorded(appliance_factory, tmp_path):
    a = appliance_factory(sshd="running")
    r = run_module(MODULE, conn(a, tmp_path, state="started", original_file=RECORD, original_active=False))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["original_source"] == "found"
    assert r["original"] == {"active": False, "enabled": False, "recorded": None}   # as given, else as found
    assert console(a, f"test -e {RECORD} && echo yes || echo no") == "no"


def test_forget_original_puts_back_and_removes_the_record(appliance_factory, tmp_path):
    a = appliance_factory(sshd="running")
    r = run_module(MODULE, conn(a, tmp_path, state="started", enabled=True, original_file=RECORD))
    assert r["_status"] == "ok" and r["changed"] is True, r["_output"]
    back = dict(original_file=RECORD, forget_original=True)
    # check mode keeps the record
    r = run_module(MODULE, conn(a, tmp_path, state="started", enabled=False, **back), check=True)
    assert r["_status"] == "ok", r["_output"]
    assert console(a, f"test -e {RECORD} && echo yes || echo no") == "yes"
    # the stop ends the session; the record is gone before it, never re-written
    r = run_module(MODULE, conn(a, tmp_path, state="stopped", enabled=False, **back))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["original_source"] == "record"
    assert r["original"]["active"] is True and r["original"]["enabled"] is False
    assert not listening(a) and is_enabled(a) == "disabled"
    assert console(a, f"test -e {RECORD} && echo yes || echo no") == "no"


def test_original_options_need_original_file(appliance, tmp_path):
    r = run_module(MODULE, conn(appliance, tmp_path, state="started", forget_original=True))
    assert r["_status"] == "failed", r["_output"]
    assert "need original_file" in r["msg"] and appliance.host in r["msg"], r["msg"]
