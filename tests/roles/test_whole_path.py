"""The whole path past 4.3 (issue 21) and staging (issue 23), end to end: real
`ansible-playbook` runs of playbooks/stage.yml and playbooks/upgrade.yml against
simulated appliances that run the later releases' real ISO 9660 images
(umsim.make_iso: upgrade-um.sh, a repository, .mf, .crt and .sign from a test CA).

- staged, then 4.2 -> 4.3 -> 4.8 -> 9.0 in one play (the copies only check what
  was staged), then a re-run that changes nothing;
- a play killed between hops: the re-run starts at the hop the appliance is at.

The preflight refusals (forbidden hop, missing bundle or token, a bad ISO) and a
wrong token (the hop fails, the appliance stays on the last good one, the right
token then resumes there) are in test_hops.py; the module-level cases (prompts, pty, re-attach) in
tests/modules/test_upgrade_iso.py.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lib import appliance9
from lib.appliance_checks import sshd_state
from lib.playbook import VENV_BIN, ansible_env
from roles.test_inplace_upgrade import (NO_FACT_VARS, REPO, UPGRADE, bundle, play, recap, summary,  # noqa: F401
                                  tmp_play, vault, write_inventory)

STAGE = REPO / "playbooks" / "stage.yml"
STATE = "/var/lib/vcloud-usage-meter"
ISO_DIR = "/opt/vmware/upgrade"


@pytest.fixture(scope="module")
def isos(umsim):
    """The 4.8 and 9.0 ISO sets (cached by content), signed by the simulator's test CA."""
    s48 = umsim.make_iso(None, "4.8.0", seconds=1.0)
    s90 = umsim.make_iso(None, "9.0.0", seconds=1.0)
    return {"4.8": str(s48["iso"]), "9.0": str(s90["iso"]), "ca": str(s90["ca"])}


def token() -> str:
    return "UMA:" + secrets.token_urlsafe(18)


def later(isos: dict, target: str, versions: list[str], access_token: str | None) -> dict:
    """Host variables for a target past 4.3 with the ISOs of `versions`."""
    hv = {"usage_meter_target_version": target, "usage_meter_certificates": True,
          "usage_meter_isos": [{"path": isos[v]} for v in versions],
          "usage_meter_iso_ca_path": isos["ca"]}
    if access_token:
        hv["usage_meter_access_token"] = vault(access_token)
    return hv


def hops(s: dict) -> list[tuple[str, str, str]]:
    return [(h["from"], h["to"], h["result"]) for h in s["hops"]]


def api9_version(app) -> str:
    code, body = appliance9.call(app, "GET", "/agent_info", token=appliance9.login(app))
    assert code == 200, body
    return f"{body['major_version']}.{body['minor_version']}.{body.get('patch_version', 0)}"


def token_on_appliance(app, secret: str) -> list[str]:
    """Files on the appliance's disk holding `secret` (the simulator's own config, which
    must hold the token it accepts, lives under /run/umsim and is not searched)."""
    cp = app.exec(["sh", "-c", "grep -rlsF -e \"$1\" /opt /var /root /tmp /etc || true", "sh", secret], timeout=60)
    return cp.stdout.split()


def test_staged_then_the_whole_path_to_9_0_then_a_rerun_changes_nothing(umsim, appliance_factory, umsim_root,
                                                                       bundle, isos, tmp_play):
    secret = token()
    app = appliance_factory(version="4.2.0", sshd="off", access_token=secret)
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle[0], bundle[1], umsim_root,
                              host_vars={"um": later(isos, "9.0", ["4.8", "9.0"], secret)})
    boot, sshd_before = app.boot_id(), sshd_state(app)

    # Days before the window: every bundle of the plan staged, nothing else touched.
    staged = play(STAGE, inv, vf)
    assert staged.rc == 0, staged.output[-5000:]
    assert app.boot_id() == boot, "staging rebooted the appliance"
    assert app.status()["installed_version"] == "4.2.0"
    assert sshd_state(app) == sshd_before, "staging left sshd changed"
    # the ISOs' folder, which no appliance has at first, was made for root only
    assert app.exec(["stat", "-c", "%a", ISO_DIR], check=True).stdout.strip() == "700"
    records = app.exec(["sh", "-c", f"ls {STATE}/staged"], check=True).stdout.split()
    assert sorted(records) == sorted(f"{Path(p).name}.json" for p in (bundle[0], isos["4.8"], isos["9.0"])), records

    # The window: three hops in one play, the staged bundles only checked.
    res = play(UPGRADE, inv, vf, verbosity=3)
    assert res.rc == 0, res.output[-6000:]
    s = summary(res, "um")
    assert s["result"] == "upgraded", s
    assert hops(s) == [("4.2.0", "4.3.0", "upgraded"), ("4.3.0", "4.8.0", "upgraded"),
                       ("4.8.0", "9.0.0", "upgraded")], s["hops"]
    assert all(h["seconds"] for h in s["hops"]), s["hops"]
    copies = [r["result"] for r in res.records if r["host"] == "um" and "staged_at" in (r.get("result") or {})
              and r["task"].endswith("Copy | Put the upgrade bundle on the appliance")]
    assert len(copies) == 3 and all(c["staged"] and not c["changed"] for c in copies), copies
    assert app.status()["installed_version"] == "9.0.0"
    assert api9_version(app) == "9.0.0"              # the 9.x API answers on 443 with a bearer token
    assert appliance9.pending_ids(app) == [], "certificates left pending after the 9.0 hop"
    assert s["certificates_accepted"], s
    assert sshd_state(app) == sshd_before, "sshd not restored"
    assert app.exec(["findmnt", "/root/upgrade"]).returncode != 0, "an ISO is still mounted"
    left = app.exec(["sh", "-c", f"ls -A {ISO_DIR}"], check=True).stdout.split()
    assert left == [], f"ISOs left after their upgrade succeeded: {left}"
    # the token: in no output, no job record, no file on the appliance
    assert secret not in res.output and secret not in staged.output
    assert secret not in json.dumps(res.records) and secret not in json.dumps(staged.records)
    assert not token_on_appliance(app, secret)

    again = play(UPGRADE, inv, vf)
    assert again.rc == 0, again.output[-5000:]
    assert recap(again.output)["um"]["changed"] == 0, again.output[-3000:]
    assert summary(again, "um")["result"] == "nothing to do", summary(again, "um")


def test_a_play_killed_between_hops_resumes_at_the_hop_the_appliance_is_at(umsim, appliance_factory, umsim_root,
                                                                           bundle, isos, tmp_play):
    app = appliance_factory(version="4.2.0", sshd="off")
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle[0], bundle[1], umsim_root,
                              host_vars={"um": later(isos, "4.8", ["4.8"], None)})
    sshd_before = sshd_state(app)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(UPGRADE), "--vault-password-file", str(vf)]
    with open(tmp_play / "killed.out", "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_play,
                                env=ansible_env(NO_FACT_VARS), start_new_session=True)
        try:
            # the moment: the first hop is done (4.3.0 installed), read on the console
            deadline = time.monotonic() + 300
            while proc.poll() is None and app.status()["installed_version"] != "4.3.0":
                assert time.monotonic() < deadline, "the first hop did not finish"
                time.sleep(0.2)
            assert proc.poll() is None, "the play ended before the kill:\n" + (tmp_play / "killed.out").read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)      # the controller dies: no rescue, no always
            proc.wait(30)

    res = play(UPGRADE, inv, vf)
    assert res.rc == 0, res.output[-5000:]
    s = summary(res, "um")
    assert s["result"] == "upgraded" and hops(s) == [("4.3.0", "4.8.0", "upgraded")], s
    assert app.status()["installed_version"] == "4.8.0"
    assert sshd_state(app) == sshd_before, "sshd not restored to what it was before the killed run"
