"""vcloud.usage_meter.verify against simulated appliances (tests/appliance/umsim.py),
through real ansible-playbook (tests/lib/playbook.py). The status.sh output format
is a [guess], so the appliance's format switch is exercised; waits are short and
nothing asserts on timings."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lib import appliance9
from lib.playbook import require_module, run_module
from simtest import UMS, SshdLog, until, upgrade

REPO = Path(__file__).resolve().parents[2]
MODULE = "verify"
SERVICES = ["Nginx", "GW", "Core", "DSS", "gnatsd", "VcCol", "nsxvCol", "nsxtCol",
            "vropsCol", "daasCol", "vrniCol", "vcavCol", "vcdCol", "vraCol"]


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


def conn(a, tmp_path, **kw):
    args = {"host": a.host, "password": a.root_password, "known_hosts": str(tmp_path / "known_hosts"),
            "connect_timeout": 5, "timeout": 60, "interval": 1}
    args.update(kw)
    return args


@pytest.mark.parametrize("fmt,names", [("colon", "lower"), ("table", "lower"), ("ansi", "lower"), ("table", "doc"),
                                       ("ansi", "doc")])
def test_all_running_in_every_output_format(appliance_factory, tmp_path, fmt, names):
    a = appliance_factory(config={"status_format": fmt, "status_names": names, "services_up_s": "1"})
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False
    assert r["all_running"] is True and r["offline"] == []
    expected = {s.lower() if names == "lower" else s for s in SERVICES}
    assert set(r["services"]) == expected, r["stdout_lines"]
    assert set(r["services"].values()) == {"Running"}
    assert not any("\x1b" in line for line in r["stdout_lines"])
    assert r["upgrade_log"] is None and r["old_install_present"] is False
    assert r["status_rc"] == 0 and r["attempts"] >= 1


@pytest.mark.parametrize("fmt", ["colon", "table", "ansi"])
def test_offline_service_fails_after_the_wait_in_every_format(appliance_factory, tmp_path, fmt):
    a = appliance_factory(config={"status_format": fmt, "services_up_s": "1"})
    a.fault_set("service-offline", "vcdCol,DSS")
    r = run_module(MODULE, conn(a, tmp_path, timeout=3))
    assert r["_status"] == "failed", r["_output"]
    assert sorted(r["offline"]) == ["dss", "vcdcol"], r["stdout_lines"]
    assert "dss" in r["msg"] and "vcdcol" in r["msg"]
    assert r["services"]["gw"] == "Running" and r["services"]["vcdcol"] == "Offline"
    assert r["attempts"] >= 2                  # it waited, then gave up
    assert "snapshot" in r["msg"]


def test_check_mode_and_rerun_report_no_change(appliance_factory, tmp_path):
    a = appliance_factory(config={"services_up_s": "1"})
    for check in (False, False, True):
        r = run_module(MODULE, conn(a, tmp_path), check=check)
        assert r["_status"] == "ok", r["_output"]
        assert r["changed"] is False and r["all_running"] is True


def test_waits_while_a_service_is_offline(appliance_factory, tmp_path):
    a = appliance_factory(config={"services_up_s": "1"})
    a.fault_set("service-offline", "GW")
    # a wrapper that counts the module's finished status runs, so the fault is
    # cleared only after one run has reported GW Offline
    wrapper = f"{UMS}/scripts/status-counted.sh"
    body = f"#!/bin/sh\nout=$({UMS}/scripts/status.sh); rc=$?\necho \"$out\"\necho x >> /tmp/status-runs\nexit $rc\n"
    cp = a.exec(["sh", "-c", f"cat > {wrapper} && chmod +x {wrapper} && rm -f /tmp/status-runs"], input=body)
    assert cp.returncode == 0, cp.stderr

    def clear_after_first_run():
        until("a status run", lambda: a.exec(["sh", "-c", "test -s /tmp/status-runs"]).returncode == 0, 120)
        a.fault_clear("service-offline")

    t = threading.Thread(target=clear_after_first_run, daemon=True)
    t.start()
    r = run_module(MODULE, conn(a, tmp_path, command="./scripts/status-counted.sh", timeout=120))
    t.join(30)
    assert r["_status"] == "ok", r["_output"]
    assert r["all_running"] is True and r["attempts"] >= 2


def test_after_a_real_upgrade_a_service_stays_offline(appliance_factory, shar, tmp_path):
    """The issue's failure path end to end: shar, reboot, one service Offline ->
    names, the upgrade log's path and its tail, and the old install is seen."""
    a = appliance_factory(sshd="enabled", config={"services_up_s": "1"})
    a.fault_set("service-offline", "vcdCol")
    upgrade(a, shar)                          # scp + bash shar + reboot + new boot (plain OpenSSH)
    a.wait_ssh(60)
    r = run_module(MODULE, conn(a, tmp_path, timeout=4, log_tail_lines=5))
    assert r["_status"] == "failed", r["_output"]
    assert r["offline"] == ["vcdcol"]
    log = r["upgrade_log"]
    assert log and log.startswith(f"{UMS}/var/logs/inplaceupgradeum-"), r
    assert log in r["msg"] and "vcdcol" in r["msg"]
    assert 0 < len(r["upgrade_log_tail"]) <= 5
    assert any("completed" in line or "INFO" in line for line in r["upgrade_log_tail"]), r["upgrade_log_tail"]
    assert r["old_install_present"] is True
    # the fault off, the same check passes and still reports the log and the old install
    a.fault_clear("service-offline")
    r = run_module(MODULE, conn(a, tmp_path, timeout=30))
    assert r["_status"] == "ok", r["_output"]
    assert r["upgrade_log"] == log and r["old_install_present"] is True
    assert r["api"] is None                   # no api_password: no version read
    # with the API options, verify returns the version it saw: the one the upgrade left
    api = {"api_password": a.api_password, "ca_path": a.api_ca, "api_retries": 10, "api_retry_delay": 1}
    r = run_module(MODULE, conn(a, tmp_path, timeout=30, **api))
    assert r["_status"] == "ok", r["_output"]
    assert r["api"]["version"] == "4.3.0" and r["api"]["error"] is None, r["api"]
    assert (r["api"]["generation"], r["api"]["port"]) == (4, 8443)
    assert a.api_password not in r["_output"]


@pytest.fixture(scope="module")
def nine(umsim):
    yield from appliance9.shared(umsim, "verify9")


def test_9x_services_running_and_the_version_through_the_9x_api(nine, tmp_path):
    """After an upgrade to 9.x: the same check, and the version from the 9.x API (443,
    bearer token) found with no api_port; the token in no output at -vvvv."""
    api = {"api_password": nine.api_password, "ca_path": nine.api_ca, "api_retries": 10, "api_retry_delay": 1}
    r = run_module(MODULE, conn(nine, tmp_path, **api), verbosity=4)
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["all_running"] is True and r["offline"] == []
    assert r["api"]["version"] == "9.0.0" and r["api"]["error"] is None, r["api"]
    assert (r["api"]["generation"], r["api"]["port"]) == (9, 443), r["api"]
    assert "logged in as usagemeter (the 9.x API" in r["_output"]
    assert not appliance9.BEARER_RE.search(r["_output"]), appliance9.BEARER_RE.search(r["_output"])
    assert nine.api_password not in r["_output"]


def test_api_trouble_after_running_services_is_a_warning(appliance_factory, tmp_path):
    a = appliance_factory(config={"services_up_s": "1"})
    a.wait_api(30)
    r = run_module(MODULE, conn(a, tmp_path, api_password="not-the-api-password", ca_path=a.api_ca, api_retries=5))
    assert r["_status"] == "ok", r["_output"]
    assert r["all_running"] is True
    assert r["api"]["version"] is None and r["api"]["attempts"] == 1, r["api"]
    assert "401" in r["api"]["error"] and "api_password" in r["api"]["error"], r["api"]
    assert any("version could not be read" in w for w in r.get("warnings", [])), r.get("warnings")
    assert "not-the-api-password" not in r["_output"]


def test_unrecognised_output_fails_with_advice(appliance, tmp_path):
    r = run_module(MODULE, conn(appliance, tmp_path, command="echo all good", timeout=0))
    assert r["_status"] == "failed", r["_output"]
    assert "reads as a service status" in r["msg"] and "running_pattern" in r["msg"], r["msg"]
    assert r["stdout_lines"] == ["all good"] and r["attempts"] == 1


def test_custom_patterns(appliance, tmp_path):
    cmd = "printf 'gw UP\\ncore DOWN\\n'"
    r = run_module(MODULE, conn(appliance, tmp_path, command=cmd, timeout=0,
                                running_pattern=r"\bUP\b", offline_pattern=r"\bDOWN\b"))
    assert r["_status"] == "failed", r["_output"]
    assert r["offline"] == ["core"] and r["services"] == {"gw": "Running", "core": "Offline"}


def test_exit_code_counts_only_when_asked(appliance, tmp_path):
    cmd = "echo 'gw : Running'; exit 1"
    r = run_module(MODULE, conn(appliance, tmp_path, command=cmd, timeout=0))
    assert r["_status"] == "ok", r["_output"]
    assert r["status_rc"] == 1 and r["all_running"] is True
    r = run_module(MODULE, conn(appliance, tmp_path, command=cmd, timeout=0, check_rc=True))
    assert r["_status"] == "failed" and "exited with 1" in r["msg"], r["msg"]


def test_missing_directory_and_command_fail_at_once(appliance, tmp_path):
    r = run_module(MODULE, conn(appliance, tmp_path, chdir="/opt/vmware/nowhere"))
    assert r["_status"] == "failed", r["_output"]
    assert "/opt/vmware/nowhere does not exist" in r["msg"]
    r = run_module(MODULE, conn(appliance, tmp_path, command="./scripts/no-such-script.sh"))
    assert r["_status"] == "failed", r["_output"]
    assert "could not be run" in r["msg"] and r["status_rc"] == 127


def test_bad_pattern_is_refused(appliance, tmp_path):
    r = run_module(MODULE, conn(appliance, tmp_path, running_pattern="("))
    assert r["_status"] == "failed"
    assert "running_pattern is not a valid regular expression" in r["msg"]


def test_service_in_a_crash_loop_does_not_pass_and_is_named_flapping(appliance_factory, tmp_path):
    """vcdCol restarts every 4 s and is Running for 2 s each time: some checks see
    every service Running, none sees it for 3 checks in a row over the 4 s window,
    and systemd never shows its unit active for 4 s. (Half the period up, so that
    checks about a second apart on a loaded machine see both states.)"""
    a = appliance_factory(config={"services_up_s": "1"})
    a.fault_set("service-crashloop", "vcdCol:4:2")
    # the service manager's evidence (the default) and the fixed window alone
    for settle_on in ("service_manager", "window"):
        r = run_module(MODULE, conn(a, tmp_path, timeout=15, settle_on=settle_on))
        assert r["_status"] == "failed", r["_output"]
        assert r["all_running"] is False and r["settled_by"] is None
        assert r["flapping"] == ["vcdcol"], r
        assert "flapping" in r["msg"] and "vcdcol" in r["msg"], r["msg"]
        if settle_on == "window":
            assert r["units"] is None
        elif r["units"] is not None:         # read when a check saw every service Running
            assert r["units"]["vcdcol"]["restarts"] >= 1, r["units"]

    # The same appliance with the settle window turned off passes at the first
    # check that happens to see all Running: 1.0.0's behaviour, which the window fixes.
    once = run_module(MODULE, conn(a, tmp_path, timeout=30, settle_polls=1, settle_seconds=0))
    assert once["_status"] == "ok", once["_output"]
    assert once["all_running"] is True


def test_healthy_services_up_for_long_settle_at_the_first_check(appliance_factory, tmp_path):
    """Services that systemd has shown active for longer than the window (an appliance
    up for a while: services_age_s) end the wait at once: one check, not 3 over 40 s."""
    a = appliance_factory(config={"services_up_s": "1", "services_age_s": "120"})
    a.wait_services()
    log = SshdLog(a)
    r = run_module(MODULE, conn(a, tmp_path, interval=10, settle_seconds=40))
    assert r["_status"] == "ok", r["_output"]
    assert r["settled_by"] == "service manager" and r["attempts"] == 1, r
    assert sorted(r["units"]) == sorted(s.lower() for s in SERVICES)
    for name, u in r["units"].items():
        assert u["unit"] == f"{name}.service" and u["active_state"] == "active", u
        assert u["active_seconds"] >= 40 and u["restarts"] == 0, u
    assert log.counts() == {"connections": 1, "logins": 1}


def test_fresh_services_are_checked_again_when_the_youngest_reaches_the_window(appliance_factory, tmp_path):
    """Just booted: the check after the first one is timed to when the youngest unit has
    been active for settle_seconds, not a whole interval later."""
    a = appliance_factory(config={"services_up_s": "1"})
    a.wait_services()
    r = run_module(MODULE, conn(a, tmp_path, interval=60, settle_seconds=4))
    assert r["_status"] == "ok", r["_output"]
    assert r["settled_by"] == "service manager", r
    assert r["attempts"] <= 2, r      # the fixed window needs 3 checks, here 2 minutes apart
    assert min(u["active_seconds"] for u in r["units"].values()) >= 4, r["units"]


def test_an_appliance_that_cannot_tell_falls_back_to_the_fixed_window(appliance_factory, tmp_path):
    """[guess] switch: a service manager without the properties (unit_props=no), or a
    service_unit naming units systemd does not know: the consecutive checks decide."""
    a = appliance_factory(config={"services_up_s": "1", "unit_props": "no"})
    a.wait_services()
    r = run_module(MODULE, conn(a, tmp_path, settle_seconds=2))
    assert r["_status"] == "ok", r["_output"]
    assert r["settled_by"] == "window" and r["units"] is None and r["attempts"] >= 3, r
    a.config_set(unit_props="yes")
    r = run_module(MODULE, conn(a, tmp_path, settle_seconds=2, service_unit="vmware-ums-{name}"))
    assert r["_status"] == "ok", r["_output"]
    assert r["settled_by"] == "window" and r["units"] is None and r["attempts"] >= 3, r
