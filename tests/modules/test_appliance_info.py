"""vcloud.usage_meter.appliance_info against simulated appliances (tests/appliance/umsim.py),
through real ansible-playbook (tests/lib/playbook.py)."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest

from lib import appliance9
from lib.playbook import require_module, run_module, ssh_args
from simtest import UMS, SshdLog

REPO = Path(__file__).resolve().parents[2]
MODULE = "appliance_info"
STATE_DIR = "/var/lib/vcloud-usage-meter"


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


conn = ssh_args


def test_reports_a_fresh_appliance(appliance, tmp_path):
    log = SshdLog(appliance)
    r = run_module(MODULE, conn(appliance, tmp_path))
    assert r["_status"] == "ok", r["_output"]
    assert log.counts() == {"connections": 1, "logins": 1}     # everything in one login
    assert r["ssh_port"] is None
    assert r["changed"] is False
    a = r["appliance"]
    assert a["boot_id"] == appliance.boot_id()
    assert a["sshd_active"] is True
    assert a["sshd_enabled"] is False          # started like `service sshd start`: not enabled
    assert isinstance(a["opt_free_bytes"], int) and a["opt_free_bytes"] > 0
    assert a["install_present"] is True and a["install_is_symlink"] is False
    assert a["old_install_present"] is False
    assert a["upgrade_logs"] == []
    assert a["upgrade_recorded"] is False and a["upgrade_awaits_reboot"] is False
    assert a["upgrade_in_progress"] is False and a["upgrade_rc"] is None
    assert a["root_password_expired"] is False
    assert a["root_password_expiry"] is not None


def test_rerun_and_check_mode_change_nothing(appliance, tmp_path):
    first = run_module(MODULE, conn(appliance, tmp_path))
    again = run_module(MODULE, conn(appliance, tmp_path))
    checked = run_module(MODULE, conn(appliance, tmp_path), check=True)
    for r in (first, again, checked):
        assert r["_status"] == "ok", r["_output"]
        assert r["changed"] is False
    # free space is the host's (the overlay disk), which other work changes meanwhile
    for r in (first, again, checked):
        r["appliance"].pop("opt_free_bytes")
    assert first["appliance"] == again["appliance"] == checked["appliance"]


def test_reads_logs_old_install_expiry_and_the_upgrade_record(appliance, tmp_path):
    a = appliance
    boot = a.boot_id()
    today = dt.date.today()
    script = (
        f"mkdir -p {UMS}-old/var/logs {UMS}/var/logs && "
        f"echo old > {UMS}-old/var/logs/inplaceupgradeum-20260101-1 && "
        f"sleep 0.01 && echo new > {UMS}/var/logs/inplaceupgradeum-20262511-19264531 && "
        f"chage -d {today.isoformat()} -M 90 root && "
        f"mkdir -p {STATE_DIR} && printf 'format=1\\nid=1-2\\nsha256=%064d\\nrc=0\\nfinished_boot_id={boot}\\n' 0 "
        f"> {STATE_DIR}/upgrade.record"
    )
    cp = a.exec(["sh", "-c", script])
    assert cp.returncode == 0, cp.stderr
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "ok", r["_output"]
    info = r["appliance"]
    assert info["old_install_present"] is True
    assert info["upgrade_logs"] == [f"{UMS}/var/logs/inplaceupgradeum-20262511-19264531",
                                    f"{UMS}-old/var/logs/inplaceupgradeum-20260101-1"]
    expiry = dt.date.fromisoformat(info["root_password_expiry"])
    assert abs((expiry - today).days - 90) <= 1
    assert info["root_password_expired"] is False
    assert 89 <= info["root_password_expires_in_days"] <= 91
    assert info["upgrade_recorded"] is True and info["upgrade_rc"] == 0
    assert info["upgrade_awaits_reboot"] is True
    # a record from an earlier boot no longer awaits the reboot
    cp = a.exec(["sh", "-c", f"sed -i 's/^finished_boot_id=.*/finished_boot_id=an-earlier-boot/' {STATE_DIR}/upgrade.record"])
    assert cp.returncode == 0, cp.stderr
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["appliance"]["upgrade_recorded"] is True and r["appliance"]["upgrade_awaits_reboot"] is False


def test_sshd_stopped_fails_and_says_how_to_open_ssh(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "failed", r["_output"]
    msg = r["msg"]
    assert a.host in msg and "connect" in msg
    assert "refused" in msg
    assert "service sshd start" in msg and "VMware Tools" in msg


def test_expired_root_password_is_named(appliance_factory, tmp_path):
    a = appliance_factory(faults={"password-expired": ""})
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "failed", r["_output"]
    assert "expired" in r["msg"] and "console" in r["msg"], r["msg"]


def test_version_comes_from_the_api_and_api_trouble_is_only_a_warning(appliance, tmp_path):
    appliance.wait_api(30)     # the API starts with the services, after the boot the fixture waited for
    api = {"api_password": appliance.api_password, "ca_path": appliance.api_ca}
    # invocation is off by default from ansible-core 2.21: asked for, it must be masked
    r = run_module(MODULE, conn(appliance, tmp_path, **api), verbosity=3, env={"ANSIBLE_INJECT_INVOCATION": "True"})
    assert r["_status"] == "ok", r["_output"]
    assert r["appliance"]["version"].startswith("4.2.0.0 build ")
    assert r["appliance"]["version_info"]["major"] == 4 and r["appliance"]["version_info"]["minor"] == 2
    assert appliance.api_password not in r["_output"]
    assert r["invocation"]["module_args"]["api_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

    wrong = run_module(MODULE, conn(appliance, tmp_path, api_password="not-the-api-password", ca_path=appliance.api_ca))
    assert wrong["_status"] == "ok", wrong["_output"]
    assert wrong["appliance"].get("version") is None
    assert any("version could not be read" in w for w in wrong.get("warnings", [])), wrong.get("warnings")
    assert "not-the-api-password" not in wrong["_output"]

    without = run_module(MODULE, conn(appliance, tmp_path))
    assert without["appliance"].get("version") is None and not without.get("warnings")


def _api_log(appliance) -> list[str]:
    """The API's access log lines (time, client, method, path, status; never headers or bodies)."""
    return appliance.exec(["cat", "/var/log/ums-api/access.log"], check=True).stdout.splitlines()


def test_ssh_closed_api_up_gives_the_version_and_logs_out(appliance_factory, tmp_path):
    a = appliance_factory(version="4.1.0", sshd="off")
    a.wait_api(30)
    api = {"api_password": a.api_password, "ca_path": a.api_ca, "ssh": False, "api_retries": 3}
    r = run_module(MODULE, conn(a, tmp_path, **api), verbosity=3)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False
    assert r["appliance"] is None                 # nothing read over SSH, and nothing pretended
    assert r["api"]["version"] == "4.1.0" and r["api"]["error"] is None and r["api"]["attempts"] == 1
    assert (r["api"]["generation"], r["api"]["port"]) == (4, 8443)     # auto: 8443 answered, as a 4.x
    assert r["api"]["version_info"]["major"] == 4 and r["api"]["version_info"]["minor"] == 1
    assert not r.get("warnings")
    assert a.api_password not in r["_output"]
    # no session id (32 hex digits from the simulator) anywhere, even at -vvv
    assert not re.search(r"\b[0-9a-f]{32}\b", r["_output"]), r["_output"]
    # the session is logged out again
    paths = [line for line in _api_log(a) if "/api/v1/" in line]
    assert any("/login" in p for p in paths) and any("/agent_info" in p for p in paths), paths
    assert "/logout" in paths[-1], paths

    # 9.x forced on this 4.x appliance: nothing on 443, and on 8443 the login answers as 4.x
    on443 = run_module(MODULE, conn(a, tmp_path, api_generation=9, **api))
    assert on443["api"]["version"] is None and on443["api"]["port"] is None, on443["api"]
    assert f"{a.host}:443" in on443["api"]["error"] and "api_generation" in on443["api"]["error"], on443["api"]
    on8443 = run_module(MODULE, conn(a, tmp_path, api_generation=9, api_port=8443, **api))
    err = on8443["api"]["error"]
    assert on8443["api"]["version"] is None and on8443["api"]["generation"] == 4, on8443["api"]
    assert "api_generation is 9" in err and "4.x" in err, err


def test_wrong_api_password_is_one_try_and_says_what_to_do(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    a.wait_api(30)
    api = {"api_password": "not-the-api-password", "ca_path": a.api_ca, "ssh": False,
           "api_retries": 5, "api_retry_delay": 60}
    r = run_module(MODULE, conn(a, tmp_path, **api))
    assert r["_status"] == "ok", r["_output"]
    assert r["api"]["version"] is None
    # an answer, even 401, ends the tries at once
    assert r["api"]["attempts"] == 1, r["api"]
    err = r["api"]["error"]
    assert "401" in err and "What to do" in err and "api_password" in err, err
    assert any("version could not be read" in w for w in r.get("warnings", [])), r.get("warnings")
    assert "not-the-api-password" not in r["_output"]


def test_api_down_is_retried_then_reported(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    # nothing listens on this port of the appliance: refused at once, every time
    api = {"api_password": a.api_password, "ca_path": a.api_ca, "ssh": False, "api_port": 8444,
           "api_retries": 2, "api_retry_delay": 0}
    r = run_module(MODULE, conn(a, tmp_path, **api), verbosity=2)
    assert r["_status"] == "ok", r["_output"]
    assert r["api"]["version"] is None
    assert r["api"]["attempts"] == 3, r["api"]
    err = r["api"]["error"]
    assert f"{a.host}:8444" in err and "refused" in err and "api_port" in err, err


def test_ssh_false_needs_the_api_password(appliance_factory, tmp_path):
    a = appliance_factory(sshd="off")
    r = run_module(MODULE, conn(a, tmp_path, ssh=False))
    assert r["_status"] == "failed", r["_output"]
    assert "api_password" in r["msg"] and "ssh" in r["msg"], r["msg"]


def test_ssh_probe_sees_the_banner_without_logging_in(appliance, tmp_path):
    log = SshdLog(appliance)
    r = run_module(MODULE, conn(appliance, tmp_path, ssh=False, ssh_probe=True))
    assert r["_status"] == "ok", r["_output"]
    assert r["ssh_port"]["state"] == "open" and r["ssh_port"]["banner"].startswith("SSH-2.0-"), r["ssh_port"]
    assert r["appliance"] is None and r["api"] is None
    assert log.counts() == {"connections": 1, "logins": 0}


@pytest.mark.parametrize("net,state,seen", [("direct", "closed", "refused"),
                                            ("forward", "closed", "before the SSH banner"),
                                            ("drop", "silent", "no SSH banner within 1.0 s")])
def test_ssh_probe_tells_closed_from_silent(appliance_factory, tmp_path, net, state, seen):
    """sshd off: refused (direct) and reset by a port forward (forward) are answers,
    `closed`; a firewall that drops packets gives silence until connect_timeout."""
    a = appliance_factory(sshd="off", net=net)
    r = run_module(MODULE, conn(a, tmp_path, ssh=False, ssh_probe=True, connect_timeout=1))
    assert r["_status"] == "ok", r["_output"]
    assert r["ssh_port"]["state"] == state and r["ssh_port"]["banner"] is None, r["ssh_port"]
    assert seen in r["msg"] and seen in r["ssh_port"]["msg"], r["msg"]


# --------------------------------------------------------------------------- the 9.x API (port 443, bearer token)

@pytest.fixture(scope="module")
def nine(umsim):
    """One appliance at 9.x behind a port forward (net mode forward) for the 9.x cases of this
    file: the forward accepts on 8443 and resets, as a NAT does when nothing listens behind it."""
    yield from appliance9.shared(umsim, "ai9", net="forward")


def test_9x_version_is_read_with_the_generation_and_port_found_by_themselves(nine, tmp_path):
    api = {"api_password": nine.api_password, "ca_path": nine.api_ca}   # no api_port, api_generation auto
    r = run_module(MODULE, conn(nine, tmp_path, **api), verbosity=4)
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["api"]["version"] == "9.0.0" and r["api"]["error"] is None, r["api"]
    assert (r["api"]["generation"], r["api"]["port"]) == (9, 443), r["api"]
    assert r["appliance"]["version"].startswith("9.0.0.0") and r["appliance"]["version_info"]["major"] == 9
    assert not r.get("warnings")
    # the 9.x API publishes no logout: login (refused on 8443 first), agent_info, and nothing else
    assert [line.split('"')[1] for line in appliance9.access_log(nine)[-2:]] == ["POST /api/v1/login", "GET /api/v1/agent_info"]
    # -vvvv shows the module's stderr (the login is seen), but never the bearer token
    assert "logged in as usagemeter (the 9.x API" in r["_output"], r["_output"][-3000:]
    assert appliance9.BEARER_RE.fullmatch(appliance9.login(nine))    # the pattern does match a real token
    assert not appliance9.BEARER_RE.search(r["_output"]), appliance9.BEARER_RE.search(r["_output"])
    assert nine.api_password not in r["_output"]


def test_9x_forced_generation_works_and_a_wrong_one_is_named(nine, tmp_path):
    api = {"api_password": nine.api_password, "ca_path": nine.api_ca, "ssh": False}
    forced = run_module(MODULE, conn(nine, tmp_path, api_generation=9, **api))
    assert forced["_status"] == "ok", forced["_output"][-3000:]
    assert (forced["api"]["version"], forced["api"]["generation"], forced["api"]["port"]) == ("9.0.0", 9, 443)

    wrong = run_module(MODULE, conn(nine, tmp_path, api_generation="4", api_port=443, **api))
    assert wrong["_status"] == "ok", wrong["_output"][-3000:]       # read-only: a warning, not a failure
    err = wrong["api"]["error"]
    assert wrong["api"]["version"] is None and wrong["api"]["generation"] == 9, wrong["api"]
    assert "api_generation is 4" in err and "9.x" in err and "api_generation: auto" in err, err
    assert any("api_generation is 4" in w for w in wrong.get("warnings", [])), wrong.get("warnings")


# --------------------------------------------------------------------------- staged bundles

def test_lists_the_staged_bundles_in_its_one_login(appliance, shar, tmp_path):
    """What shar_copy staged (record: true) is read back from its record, in the
    same one login as the rest of the state."""
    a = appliance
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "ok" and r["appliance"]["staged"] == [], r["_output"]
    dest = f"{UMS}/ums-system-upgrade.shar"
    copied = run_module("shar_copy", conn(a, tmp_path, src=str(shar), dest=dest, record=True))
    assert copied["_status"] == "ok" and copied["staged"] is True, copied["_output"]
    # a stray file in the records' directory is not a record
    a.exec(["sh", "-c", f"echo junk > {STATE_DIR}/staged/broken.json"], check=True)
    log = SshdLog(a)
    r = run_module(MODULE, conn(a, tmp_path))
    assert r["_status"] == "ok", r["_output"]
    assert log.counts() == {"connections": 1, "logins": 1}
    digest = hashlib.sha256(shar.read_bytes()).hexdigest()
    assert r["appliance"]["staged"] == [{"dest": dest, "sha256": digest, "sha1": None, "size": shar.stat().st_size,
                                         "staged_at": copied["staged_at"], "name": shar.name}]
