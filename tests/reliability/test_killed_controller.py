"""The controller is killed mid-play (SIGKILL to ansible-playbook's whole process
group: no handler, no rescue, no cleanup runs), then the play is run again.

The moment of the kill is read on the appliance, not guessed from the clock:
during the copy, once the partial file `.ums-system-upgrade.shar.part` holds
data; during the upgrade, once the upgrade module's run is recorded as started
(`/var/lib/vcloud-usage-meter/upgrade.current`) and the shar is logging.

The re-run must converge: the appliance ends upgraded, the shar ran exactly
once (its upgrade-log line and the runner's run logs are counted on the
appliance), no `.part` is left, the bundle under its real name has the right
sha256, and the re-run leaves no Ansible temp file on the controller.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from lib.playbook import WORK
from reliability.rel_lib import (PART, SHAR, STATE, UMS, Controller, Throttle, api_version, make_bundle, recap,
                                 remote_exists, remote_sha, runner_runs, shar_runs, sshd_state, summary,
                                 wait_until, write_inventory)


@pytest.fixture
def tmp_play():
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="reliability-", dir=WORK / "tmp"))


def part_size(app) -> int:
    cp = app.exec(["sh", "-c", f"stat -c %s {PART} 2>/dev/null || echo 0"], timeout=10)
    return int(cp.stdout.strip() or 0)


def upgrade_started(app) -> bool:
    cp = app.exec(["sh", "-c", f"test -s {STATE}/upgrade.current && ls {STATE}/runs/*.log >/dev/null 2>&1"], timeout=10)
    return cp.returncode == 0


def _converged(app, ctl, res, bundle, killed_leftovers, original_sshd):
    """Everything a converged re-run must show."""
    assert res.rc == 0, res.output[-5000:]
    s = summary(res, "um")
    assert s["result"] == "upgraded", s
    assert s["to_version"] == "4.3.0", s
    assert api_version(app) == "4.3.0"
    assert shar_runs(app) == 1, "the shar ran more than once"
    assert len(runner_runs(app)) == 1, runner_runs(app)
    # no partial copy anywhere (the upgrade moved the old install, bundle included, to -old)
    parts = app.exec(["sh", "-c", f"ls -a {UMS} {UMS}-old 2>/dev/null | grep -F .part || true"]).stdout.strip()
    assert parts == "", f"partial copies left on the appliance: {parts}"
    assert not remote_exists(app, PART)
    # the bundle that ran had the right sha256, under its real name
    rec = app.exec(["cat", f"{STATE}/upgrade.record"]).stdout
    assert f"sha256={bundle[1]}" in rec and f"shar={SHAR}" in rec, rec
    assert remote_sha(app, f"{UMS}-old/ums-system-upgrade.shar") == bundle[1]
    assert sshd_state(app) == original_sshd, f"sshd ends {sshd_state(app)}, was {original_sshd}; report: {s['sshd']}"
    # the re-run left nothing behind on the controller; what is there is the killed run's
    assert ctl.leftovers() == killed_leftovers, sorted(set(ctl.leftovers()) - set(killed_leftovers))
    return s


def _killed_leftovers_are_private(killed: list[Path], app) -> None:
    """What a killed controller leaves behind holds no secret. 1.0.0's binary
    modules got their arguments in an args file in Ansible's per-task temp dir,
    root password in clear, which a killed controller could not remove; since
    1.1.0 the action plugins hand the arguments to the binary on stdin."""
    secret_files = [p for p in killed if p.is_file() and app.root_password.encode() in p.read_bytes()]
    assert not secret_files, f"files holding the root password left by the killed controller: {secret_files}"


def _run_then_kill(app, ctl, inv, vf, moment, what, timeout=120):
    play = ctl.start(inv, vf)
    try:
        wait_until(lambda: moment() or not play.running(), timeout, what, interval=0.05)
        assert play.running(), "the play ended before the moment of the kill:\n" + play.result().output[-3000:]
    finally:
        play.kill()
    return play.result()


def test_killed_during_copy_then_rerun_converges(appliance_factory, umsim_root, tmp_play):
    bundle = make_bundle("24M", 1.0)
    app = appliance_factory(version="4.2.0", sshd="off")   # as shipped: sshd stopped and disabled
    original = sshd_state(app)
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    ctl = Controller(tmp_play)

    with Throttle(app, "48mbit"):                       # ~4 s for the copy
        _run_then_kill(app, ctl, inv, vf, lambda: part_size(app) > 2 * 1024 * 1024, "the copy to start")
    assert 0 < part_size(app) < bundle[0].stat().st_size
    assert not remote_exists(app, SHAR), "the real name holds a partial file"
    assert shar_runs(app) == 0
    killed = ctl.leftovers()
    _killed_leftovers_are_private(killed, app)

    res = ctl.run(inv, vf)
    _converged(app, ctl, res, bundle, killed, original)
    copy = [r for r in res.records if r["task"].endswith("Copy | Put the upgrade bundle on the appliance")][-1]["result"]
    assert copy["resumed"] is True and copy["transferred"] < copy["size"], copy


def test_killed_during_upgrade_then_rerun_attaches_and_converges(appliance_factory, umsim_root, tmp_play):
    bundle = make_bundle("4M", 5.0)                     # the shar runs ~5 s
    app = appliance_factory(version="4.1.0", sshd="off")
    original = sshd_state(app)
    # "stopped": the end state does not depend on what either run saw (see the next test for "original")
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root,
                              group_vars={"usage_meter_sshd_final_state": "stopped"})
    ctl = Controller(tmp_play)

    _run_then_kill(app, ctl, inv, vf, lambda: upgrade_started(app), "the upgrade to start")
    killed = ctl.leftovers()
    # the upgrade goes on without the controller: the re-run starts while it still runs
    assert remote_exists(app, f"{STATE}/upgrade.current")

    res = ctl.run(inv, vf)
    s = _converged(app, ctl, res, bundle, killed, original)
    up = [r for r in res.records if r["task"].endswith("Upgrade | Run the upgrade bundle")][-1]["result"]
    # the re-run attached to the run the killed play started (or found it finished), never a second run
    assert up["status"] in ("attached", "already_ran"), up
    assert up["rc"] == 0, up
    assert s["phases"][:4] == ["preflight", "sshd_access", "copy", "upgrade"], s
    assert sshd_state(app) == original == (False, False)


@pytest.mark.parametrize("moment", ["copy", "upgrade"])
def test_killed_mid_play_then_rerun_leaves_sshd_as_it_was(appliance_factory, umsim_root, tmp_play, moment):
    """sshd starts stopped and disabled (as shipped). The killed play had already
    started and enabled it for the reboot window; the re-run must still put it
    back to stopped and disabled (with the default usage_meter_sshd_final_state)."""
    bundle = make_bundle("24M", 1.0) if moment == "copy" else make_bundle("4M", 5.0)
    app = appliance_factory(version="4.2.0", sshd="off")
    original = sshd_state(app)
    assert original == (False, False)
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    ctl = Controller(tmp_play)
    if moment == "copy":
        with Throttle(app, "48mbit"):
            _run_then_kill(app, ctl, inv, vf, lambda: part_size(app) > 2 * 1024 * 1024, "the copy to start")
    else:
        _run_then_kill(app, ctl, inv, vf, lambda: upgrade_started(app), "the upgrade to start")
    res = ctl.run(inv, vf)
    assert res.rc == 0, res.output[-4000:]
    assert recap(res.stdout)["um"]["failed"] == 0
    s = summary(res, "um")
    assert sshd_state(app) == original, f"sshd ends {sshd_state(app)}, was {original}; report: {s['sshd']}"
    assert "recorded before an earlier, interrupted run" in s["sshd"], s["sshd"]
    # the record that carried the original state across the kill is gone once sshd is back
    assert not remote_exists(app, f"{STATE}/sshd.original")


def test_rerun_on_an_upgraded_appliance_puts_back_the_sshd_an_interrupted_run_left_open(
        appliance_factory, umsim_root, tmp_play):
    """An earlier run was interrupted after the reboot (killed, or failed in verify):
    the appliance is on 4.3, sshd is still running and enabled for the reboot
    window, and that run's record of how sshd was before is on the appliance.
    The re-run has nothing to upgrade, yet puts sshd back from the record."""
    bundle = make_bundle("4M", 1.0)
    app = appliance_factory(version="4.3.0", sshd="enabled")
    app.exec(["sh", "-c", f"mkdir -p {STATE} && echo 'active=no enabled=no recorded=1' > {STATE}/sshd.original"], timeout=30)
    assert sshd_state(app) == (True, True)
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    ctl = Controller(tmp_play)

    res = ctl.run(inv, vf)
    assert res.rc == 0, res.output[-4000:]
    s = summary(res, "um")
    assert s["result"] == "nothing to do" and s["phases"] == ["preflight"], s
    assert sshd_state(app) == (False, False), s["sshd"]
    assert "recorded before an earlier, interrupted run" in s["sshd"], s["sshd"]
    assert not remote_exists(app, f"{STATE}/sshd.original")
    # and once put back, a further run changes nothing
    again = ctl.run(inv, vf)
    assert again.rc == 0 and recap(again.stdout)["um"]["changed"] == 0, again.output[-4000:]
    assert sshd_state(app) == (False, False)
