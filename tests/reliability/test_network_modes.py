"""The modules and the whole play with something between the controller and the
appliance (issue 15): the harness's net modes (tests/appliance/README.md,
"Network modes").

* forward: a TCP forwarder (edge DNAT, port forward, user-mode NAT) accepts every
  connection and resets it when sshd behind it is gone: "the port accepts" no
  longer means "sshd answers".
* drop: a firewall drops, rather than refuses, connections to closed ports:
  probes time out instead of getting ECONNREFUSED.
* forward with idle_drop: the forwarder forgets flows idle for N seconds, as a NAT
  does; only the modules' SSH keepalives keep a silent wait alive.

Each test also checks that the mode does what it says (no banner through the
forwarder, a timeout behind the firewall, a dropped flow), so a pass means the
module coped. The modes themselves are tested in tests/appliance/test_harness.py.
"""
from __future__ import annotations

import hashlib
import time

import pytest
import umsim
from simtest import until

from lib.appliance_checks import api_version, sshd_state
from lib.playbook import require_module, run_module, ssh_args
# the full play's helpers and fixtures (bundle, tmp_play), imported, not copied
from roles.test_inplace_upgrade import UPGRADE, bundle, play, summary, tmp_play, write_inventory  # noqa: F401

UMS = "/opt/vmware/cloudusagemetering"
SHAR = f"{UMS}/ums-system-upgrade.shar"
MODES = ["forward", "drop"]
IDLE_DROP = 5          # seconds: the forwarder's idle timeout in the keepalive tests
KEEPALIVE = 1          # seconds: well within IDLE_DROP
NO_KEEPALIVE = 3600    # keepalive_interval has no "off" (range 1..3600): never within a test
UPGRADE_IO_TIMEOUT = 30  # the upgrade module's I/O timeout, max(connect_timeout, 30) s


@pytest.fixture(autouse=True)
def _built():
    for m in ("sshd", "reboot", "verify", "upgrade"):
        require_module(m)


# --------------------------------------------------------------------------- helpers

def sshd_off(a) -> None:
    a.exec("service sshd stop", check=True)
    until("sshd listener gone", lambda: not a.status()["sshd_listening"], 15)


def assert_mode_in_effect(a, mode: str) -> None:
    """With sshd stopped: forward accepts then resets (no banner); drop times out."""
    seen = umsim.tcp_probe(a.host, 22)
    assert seen == ("reset" if mode == "forward" else "timeout"), (mode, seen)


def idle_drops(a, since: float) -> list[dict]:
    return [e for e in a.events("forward-idle-drop") if e["time"] >= since]


def put_bundle(a, path) -> str:
    cp = a.scp_to(path, SHAR)
    assert cp.returncode == 0, cp.stderr
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- modules behind each mode

@pytest.mark.parametrize("mode", MODES)
def test_sshd_stop_over_its_own_connection_then_start(appliance_factory, tmp_path, mode):
    a = appliance_factory(sshd="enabled", net=mode)
    r = run_module("sshd", ssh_args(a, tmp_path, state="stopped", enabled=False))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["active"] is False and r["enabled"] is False
    assert sshd_state(a) == (False, False)
    assert_mode_in_effect(a, mode)
    # nothing answers now: the module fails soon and points to the console, it does not hang
    # (a reset: "start it on the console or through VMware Tools"; a timeout: "check the
    # VM in vCenter and its console", as it cannot tell a dropping firewall from a dead VM)
    r = run_module("sshd", ssh_args(a, tmp_path, state="started"))
    assert r["_status"] == "failed" and "console" in r["msg"], r["_output"]
    assert ("VMware Tools" if mode == "forward" else "firewall") in r["msg"], r["msg"]
    a.exec("service sshd start", check=True)
    a.wait_ssh(30)
    r = run_module("sshd", ssh_args(a, tmp_path, state="started", enabled=True))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["active"] is True and r["enabled"] is True
    assert sshd_state(a) == (True, True)


@pytest.mark.parametrize("mode", MODES)
def test_reboot_then_verify(appliance_factory, tmp_path, mode):
    a = appliance_factory(sshd="enabled", net=mode)
    before = a.boot_id()
    r = run_module("reboot", ssh_args(a, tmp_path, reboot_timeout=60))
    assert r["_status"] == "ok", r["_output"]
    assert r["rebooted"] is True and r["boot_id_before"] == before
    assert r["boot_id_after"] == a.boot_id() != before
    r = run_module("verify", ssh_args(a, tmp_path, timeout=30, interval=1, settle_polls=2, settle_seconds=1))
    assert r["_status"] == "ok", r["_output"]
    assert r["services"] and set(r["services"].values()) == {"Running"}, r
    sshd_off(a)
    assert_mode_in_effect(a, mode)      # the mode held across the reboot


@pytest.mark.parametrize("mode", MODES)
def test_reboot_that_never_comes_back_fails_at_its_timeout(appliance_factory, tmp_path, mode):
    """The reboot-hang fault behind each mode: the forwarder keeps accepting (and
    resetting) while the appliance is down, the firewall swallows every SYN. Neither
    may pass for "back"; the module fails at its timeout with the last error."""
    a = appliance_factory(sshd="enabled", net=mode)
    a.fault_set("reboot-hang")
    before = a.boot_id()
    r = run_module("reboot", ssh_args(a, tmp_path, reboot_timeout=8, connect_timeout=2))
    assert r["_status"] == "failed", r["_output"]
    assert "did not come back within 8 s" in r["msg"] and "console" in r["msg"], r["msg"]
    assert r["rebooted"] is False and r["boot_id_before"] == before and r["last_error"], r
    # it really was down behind the mode: the forwarder gives up on the dead side
    # within 3 s, then resets; with the link down, the firewall's host is unreachable
    assert umsim.tcp_probe(a.host, 22, timeout=5) == ("reset" if mode == "forward" else "unreachable")
    a.fault_clear("reboot-hang")
    a.wait_new_boot(before, 60)
    a.wait_ssh(30)


@pytest.mark.parametrize("mode", MODES)
def test_whole_upgrade_play(appliance_factory, umsim_root, bundle, tmp_play, mode):  # noqa: F811
    a = appliance_factory(version="4.2.0", sshd="off", net=mode)
    assert_mode_in_effect(a, mode)
    inv, vf = write_inventory(tmp_play, {"um": a}, *bundle, umsim_root)
    res = play(UPGRADE, inv, vf)
    assert res.rc == 0, res.output[-6000:]
    s = summary(res, "um")
    assert s["result"] == "upgraded" and s["to_version"] == "4.3.0", s
    assert s["sshd"].startswith("stopped, disabled"), s
    assert api_version(a) == "4.3.0"
    assert sshd_state(a) == (False, False)


# --------------------------------------------------------------------------- a distant appliance (issue 16)

DELAY_MS = 50          # the forwarder's added round-trip time in the delay test


def test_whole_upgrade_play_over_a_delayed_link(appliance_factory, umsim_root, bundle, tmp_play):  # noqa: F811
    """Net mode forward with delay_ms (no netem on this kernel): the delay is in effect
    (a lower bound: no SSH banner can cross in less than two round trips, the handshake
    and the banner), and the whole play still works over the delayed link: every byte of
    the bundle arrives in order (shar_copy and upgrade check its sha256), reboot, verify."""
    with pytest.raises(umsim.UmsimError, match="delay_ms"):
        umsim.delay_setting("direct", DELAY_MS)       # only the forwarder makes the delay
    a = appliance_factory(version="4.2.0", sshd="off", net="forward", delay_ms=DELAY_MS)
    assert a.delay_ms == DELAY_MS and a.host != a.address
    a.exec("service sshd start", check=True)
    a.wait_ssh(30)
    m = umsim.measure_rtt(a.host, a.address)
    # a lower bound, by construction: an SSH banner comes two round trips after connect (the
    # handshake, then the banner); and the gateway adds the time, not the appliance
    assert min(m["banner_front_s"]) >= 2 * DELAY_MS / 1000, m
    assert min(m["banner_direct_s"]) < min(m["banner_front_s"]), m
    sshd_off(a)
    inv, vf = write_inventory(tmp_play, {"um": a}, *bundle, umsim_root)
    res = play(UPGRADE, inv, vf)
    assert res.rc == 0, res.output[-6000:]
    s = summary(res, "um")
    assert s["result"] == "upgraded" and s["to_version"] == "4.3.0", s
    assert api_version(a) == "4.3.0"
    assert sshd_state(a) == (False, False)
    listening = a.events("forward-listening")
    assert listening and float(listening[-1].get("delay_ms", 0)) == DELAY_MS, listening


# --------------------------------------------------------------------------- keepalives vs. an idle-dropping NAT

@pytest.fixture(scope="module")
def long_bundle(shar_factory):
    """An upgrade that runs silently for longer than IDLE_DROP and than one status check."""
    return shar_factory("4M", IDLE_DROP + 4.0)


# keepalive_interval: KEEPALIVE keeps the flow alive; NO_KEEPALIVE lets the forwarder drop it
KEEPALIVES = [pytest.param(KEEPALIVE, id="keepalive"), pytest.param(NO_KEEPALIVE, id="no-keepalive")]


@pytest.mark.parametrize("keepalive", KEEPALIVES)
def test_upgrade_wait_behind_an_idle_dropping_nat(appliance_factory, tmp_path, long_bundle, keepalive):
    a = appliance_factory(net="forward", idle_drop=IDLE_DROP)
    sha = put_bundle(a, long_bundle)
    t0 = time.time()
    # poll_interval > IDLE_DROP: the first status check waits that long with no output
    r = run_module("upgrade", ssh_args(a, tmp_path, checksum=f"sha256:{sha}", timeout=120,
                                       poll_interval=IDLE_DROP + 2, keepalive_interval=keepalive))
    assert r["_status"] == "ok", r["_output"]
    assert r["rc"] == 0 and r["reboot_required"] is True
    assert r["seconds"] > IDLE_DROP, r          # the wait really was longer than the NAT's timeout
    drops = idle_drops(a, t0)
    if keepalive == KEEPALIVE:
        assert drops == [], "a keepalive-fed flow was dropped"
        assert r["seconds"] < UPGRADE_IO_TIMEOUT, r
    else:
        # what the user sees: it still succeeds (the bundle runs detached, the module
        # reconnects), but only once the dead status read hit its I/O timeout
        assert drops, "the silent flow was not dropped: the test proves nothing"
        assert r["seconds"] > UPGRADE_IO_TIMEOUT, r


@pytest.mark.parametrize("keepalive", KEEPALIVES)
def test_verify_wait_behind_an_idle_dropping_nat(appliance_factory, tmp_path, keepalive):
    a = appliance_factory(net="forward", idle_drop=IDLE_DROP)
    a.wait_services()        # all Running already: only the connection can fail the check
    t0 = time.time()
    # two checks IDLE_DROP + 2 s apart on one connection must both pass (the settle window)
    r = run_module("verify", ssh_args(a, tmp_path, timeout=IDLE_DROP + 5, interval=IDLE_DROP + 2,
                                      settle_polls=2, settle_seconds=IDLE_DROP + 1, command_timeout=5,
                                      settle_on="window",   # the checks' connection is what is tested
                                      keepalive_interval=keepalive))
    drops = idle_drops(a, t0)
    if keepalive == KEEPALIVE:
        assert r["_status"] == "ok", r["_output"]
        assert drops == [], "a keepalive-fed flow was dropped"
    else:
        # what the user sees: all services Running, yet the check fails, because the
        # second check died with the dropped flow and the settle window broke; the
        # lost connection shows only in a warning
        assert drops, "the silent flow was not dropped: the test proves nothing"
        assert r["_status"] == "failed", r["_output"]
        assert "settle window" in r["msg"] and set(r["services"].values()) == {"Running"}, r
        assert any("connection was lost" in w for w in r.get("warnings", [])), r
