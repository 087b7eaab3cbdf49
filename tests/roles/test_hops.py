"""The hops of vcloud.usage_meter.preflight / inplace_upgrade beyond the 4.3 shar
(issue 21), and staging (issue 23), through real ansible-playbook runs.

The preflight plans the hops with vcloud.usage_meter.bundle_info, on the controller,
before anything touches an appliance: one play, one shared 4.2 appliance, one
inventory host per case (all pointing at it), each refused with what to do, naming
the check and the file. The ISO sets come from tests/lib/bundle_pki.py (the checks on
the controller never read inside an ISO). The shar hop itself runs through the hop
loop in test_inplace_upgrade.py (the fleet test asserts its hop record)."""
from __future__ import annotations

import json

import pytest

from lib.bundle_pki import Pki, make_iso
from lib.appliance_checks import api_version, sshd_state
from roles.test_inplace_upgrade import (PREFLIGHT, UPGRADE, REPO, play, recap, result, summary,  # noqa: F401
                                  write_inventory, bundle, tmp_play)

STAGE = REPO / "playbooks" / "stage.yml"
TOKEN = "UMA:test-token-never-shown-7d1e"
ISO_DIR = "/opt/vmware/upgrade"


@pytest.fixture(scope="module")
def isos(tmp_path_factory, bundle):
    root = tmp_path_factory.mktemp("isos")
    ca, other = Pki(root, "Test Vendor CA"), Pki(root, "Other CA")
    signer = ca.signer("signer")
    small = 64 << 10
    sets = {
        "4.6": make_iso(root / "good", "4.6.0.0", "100", signer, size=small),
        "4.8": make_iso(root / "good", "4.8.0.0", "200", signer, size=small),
        "9.0": make_iso(root / "good", "9.0.0.0", "300", signer, size=small),
        "tampered": make_iso(root / "tampered", "4.8.0.0", "200", signer, size=small),
        "stranger": make_iso(root / "stranger", "4.8.0.0", "200", other.signer("stranger"), size=small),
    }
    iso = sets["tampered"]["iso"]
    iso.write_bytes(iso.read_bytes()[:-1] + b"\0")
    return {"ca": str(ca.ca_file), **sets}


def spec(s: dict) -> dict:
    return {"path": str(s["iso"])}


def test_preflight_plans_the_hops_and_refuses_before_anything_is_copied(appliance_factory, umsim_root, bundle,
                                                                       isos, tmp_play):
    app = appliance_factory(version="4.2.0", sshd="running")
    cases = {
        # the documented route 4.2 -> 4.3 -> 4.8, each bundle verified, with where it goes
        "good": {"usage_meter_target_version": "4.8", "usage_meter_isos": [spec(isos["4.8"])]},
        # 4.6 installs on top of 4.3 and later only: with no shar, 4.2 -> 4.6 is refused, naming the download
        "forbidden": {"usage_meter_target_version": "4.6", "usage_meter_bundle": None,
                      "usage_meter_isos": [spec(isos["4.6"])]},
        "tampered": {"usage_meter_target_version": "4.8", "usage_meter_isos": [spec(isos["tampered"])]},
        "stranger": {"usage_meter_target_version": "4.8", "usage_meter_isos": [spec(isos["stranger"])]},
        "no_token": {"usage_meter_target_version": "9.0",
                     "usage_meter_isos": [spec(isos["4.8"]), spec(isos["9.0"])]},
        "token": {"usage_meter_target_version": "9.0", "usage_meter_access_token": TOKEN,
                  "usage_meter_isos": [spec(isos["4.8"]), spec(isos["9.0"])]},
    }
    apps = {name: app for name in cases}
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root, host_vars=cases,
                              group_vars={"usage_meter_iso_ca_path": isos["ca"]})
    res = play(PREFLIGHT, inv, vf, verbosity=3)
    counts = recap(res.stdout)
    found = {h: result(res, "Preflight | Record the findings", h)["ansible_facts"]["usage_meter_preflight"]
             for h in cases}

    good = found["good"]
    assert counts["good"]["failed"] == 0 and good["ok"], good
    assert [(h["from"], h["to"], h["kind"]) for h in good["hops"]] == [("4.2.0", "4.3.0", "shar"),
                                                                      ("4.3.0", "4.8.0", "iso")]
    assert good["hops"][0]["dest"] == "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
    assert good["hops"][1]["dest"] == f"{ISO_DIR}/{isos['4.8']['iso'].name}"
    assert good["hops"][1]["checksum"].startswith("sha1:") and good["hops"][1]["staged_at"] is None
    assert "hops 4.2.0 -> 4.3.0 (shar, not staged), 4.3.0 -> 4.8.0 (iso, not staged)" in good["line"], good["line"]
    assert found["token"]["ok"] and [h["to"] for h in found["token"]["hops"]] == ["4.3.0", "4.8.0", "9.0.0"]
    assert found["token"]["hops"][2]["needs_token"] is True

    def refused(host: str, *words: str) -> str:
        assert counts[host]["failed"] == 1, (host, json.dumps(found[host]))
        text = "; ".join(found[host]["problems"])
        assert found[host]["hops"] == [] and all(w in text for w in words), (host, text)
        return text

    refused("forbidden", "4.3", "ums-system-upgrade.shar")
    refused("tampered", "step 'sha1'", str(isos["tampered"]["iso"]), "What to do")
    refused("stranger", "step 'certificate'", str(isos["stranger"]["crt"]))
    refused("no_token", "step 'access token'", "9.0.0", "UMA:")
    # nothing reached the appliance: no ISO folder, no shar, sshd as it was
    cp = app.exec(["bash", "-c", f"ls {ISO_DIR} /opt/vmware/cloudusagemetering/ums-system-upgrade.shar 2>&1"])
    assert cp.stdout.count("No such file") == 2, cp.stdout
    assert sshd_state(app) == (True, False)
    assert TOKEN not in res.output


# --------------------------------------------------------------------------- staging (issue 23)

UMS = "/opt/vmware/cloudusagemetering"
RECORD = "/var/lib/vcloud-usage-meter/staged/ums-system-upgrade.shar.json"


def test_staging_an_appliance_at_the_target_touches_nothing(appliance_factory, umsim_root, bundle, tmp_play):
    """The stage entry point on an appliance already at the target: nothing to stage,
    SSH never opened, changed=0 (what runs before shar_copy's record option is merged)."""
    app = appliance_factory(version="4.3.0", sshd="off")
    inv, vf = write_inventory(tmp_play, {"top": app}, *bundle, umsim_root)
    boot = app.boot_id()
    res = play(STAGE, inv, vf)
    assert res.rc == 0, res.output[-4000:]
    assert recap(res.stdout)["top"]["changed"] == 0, res.output[-3000:]
    msg = result(res, "Stage | Report", "top")["msg"]
    assert msg == ["top: already at 4.3: nothing to do | version 4.3.0 (from api) | SSH closed, route console"
                   " | not checked over SSH yet | no problems", "staged and recorded: nothing"], msg
    assert sshd_state(app) == (False, False) and app.boot_id() == boot


def test_stage_then_upgrade_only_checks_the_staged_bundle_and_refuses_an_altered_one(
        appliance_factory, umsim_root, bundle, tmp_play):
    apps = {"kept": appliance_factory(version="4.2.0", sshd="off"),
            "altered": appliance_factory(version="4.2.0", sshd="off")}
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root)
    boots = {h: a.boot_id() for h, a in apps.items()}

    staged = play(STAGE, inv, vf)
    assert staged.rc == 0, staged.output[-4000:]
    for host, app in apps.items():
        # staging never upgrades nor reboots, and leaves sshd as it found it
        assert app.boot_id() == boots[host] and api_version(app) == "4.2.0"
        assert sshd_state(app) == (False, False)
        rec = json.loads(app.exec(["cat", RECORD], check=True).stdout)
        assert rec["sha256"] == bundle[1] and rec["dest"] == f"{UMS}/ums-system-upgrade.shar", rec
    apps["altered"].exec(["bash", "-c", f"printf X | dd of={UMS}/ums-system-upgrade.shar bs=1 seek=100 conv=notrunc"],
                         check=True)

    res = play(UPGRADE, inv, vf)
    assert res.rc != 0, res.output[-4000:]
    pf = result(res, "Preflight | Record the findings", "kept")["ansible_facts"]["usage_meter_preflight"]
    assert pf["hops"][0]["staged_at"] and "(shar, staged " in pf["line"], pf["line"]
    copy = result(res, "Copy | Put the upgrade bundle on the appliance", "kept")
    assert copy["staged"] is True and copy["transferred"] == 0, copy
    assert "was staged on the appliance at" in res.output
    assert summary(res, "kept")["result"] == "upgraded" and api_version(apps["kept"]) == "4.3.0"

    s = summary(res, "altered")
    assert s["result"] == "failed" and "failed in phase copy" in s["error"], s
    assert "ums-system-upgrade.shar" in s["error"] and "stage it again" in s["error"], s["error"]
    assert api_version(apps["altered"]) == "4.2.0" and sshd_state(apps["altered"]) == (False, False)


# --------------------------------------------------------------------------- a hop past 4.3 that fails (issue 21)
# (the whole path 4.2 -> 9.0, staged first, is in test_whole_path.py)

def test_wrong_token_fails_the_hop_and_leaves_the_last_good_version(appliance_factory, umsim, umsim_root, bundle,
                                                                   tmp_play):
    """An appliance at 4.8 (where an earlier play left it: the plan starts at the hop it is
    at) with a token the ISO's script refuses: the hop fails in phase upgrade, the ISO is
    unmounted and kept, the appliance stays on 4.8, and the token is in no output or saved file."""
    app = appliance_factory(version="4.8.0", sshd="off")
    iso = umsim.make_iso(tmp_play / "isos", "9.0.0", size="1M", seconds=0.5)
    wrong = "UMA:not-the-token-of-this-appliance-" + "7c" * 6
    inv, vf = write_inventory(tmp_play, {"um": app}, *bundle, umsim_root, group_vars={
        "usage_meter_target_version": "9.0", "usage_meter_iso_ca_path": str(iso["ca"]),
        "usage_meter_isos": [{"path": str(iso["iso"])}], "usage_meter_access_token": wrong})
    res = play(UPGRADE, inv, vf, verbosity=3)
    assert res.rc != 0, res.output[-4000:]
    s = summary(res, "um")
    assert s["result"] == "failed" and "failed in phase upgrade" in s["error"], s
    assert [(h["from"], h["to"], h["result"]) for h in s["hops"]] == [("4.8.0", "9.0.0", "failed")], s
    assert result(res, "Upgrade | Unmount the ISO", "um")["changed"] is True
    st = app.status()
    assert st["installed_version"] == "4.8.0" and sshd_state(app) == (False, False), st
    left = app.exec(["bash", "-c", f"ls -A {ISO_DIR}; mount | grep -c /root/upgrade || true"]).stdout.split()
    assert left == [iso["iso"].name, "0"], left   # kept for the next run, unmounted
    assert wrong not in res.output
    for f in (tmp_play / "logs").rglob("*"):
        assert not f.is_file() or wrong.encode() not in f.read_bytes(), f

    # the right token: the next run starts at the hop the appliance is at, with the ISO already there
    inv, vf = write_inventory(tmp_play, {"um": app}, *bundle, umsim_root, group_vars={
        "usage_meter_target_version": "9.0", "usage_meter_iso_ca_path": str(iso["ca"]),
        "usage_meter_isos": [{"path": str(iso["iso"])}], "usage_meter_access_token": umsim.DEFAULT_ACCESS_TOKEN})
    res = play(UPGRADE, inv, vf)
    assert res.rc == 0, res.output[-4000:]
    assert [(h["from"], h["to"], h["result"]) for h in summary(res, "um")["hops"]] == [("4.8.0", "9.0.0", "upgraded")]
    assert result(res, "Copy | Put the upgrade bundle on the appliance", "um")["transferred"] == 0
    assert app.status()["installed_version"] == "9.0.0"
