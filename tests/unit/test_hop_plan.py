"""Unit tests of the filter vcloud.usage_meter.hop_plan (plugins/filter/hop_plan.py):
the hops the roles loop over, from vcloud.usage_meter.bundle_info's result, with where
each bundle goes, its checksums, whether it is staged, and the refusal as a problem.
tests/roles/test_hops.py runs the same through the roles against bundle_info."""
from __future__ import annotations

import importlib.util

import yaml

from lib.playbook import REPO

PLUGIN = REPO / "plugins" / "filter" / "hop_plan.py"
_spec = importlib.util.spec_from_file_location("hop_plan", PLUGIN)
hp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hp)

SHAR = "/srv/ums-system-upgrade.shar"
ISO = "/srv/Usage_Meter_Agent-4.8.0.0-24087577_Upgrade.iso"
SHAR_DEST = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
ISO_DEST = "/opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24087577_Upgrade.iso"
PLAN = {"changed": False, "upgrade_needed": True, "hops": [
    {"from": "4.2.0", "to": "4.3.0", "needs_token": False, "rule": "from 4.1 or 4.2, by the shar [doc]",
     "bundle": {"path": SHAR, "kind": "shar", "version": "4.3.0", "sha1": None, "size": None}},
    {"from": "4.3.0", "to": "4.8.0", "needs_token": False, "rule": "on top of min_source_4_8 and later [guess]",
     "bundle": {"path": ISO, "kind": "iso", "version": "4.8.0", "sha1": "ab" * 20, "size": 5242880}}]}


def plan(**kw) -> dict:
    base = {"plan": PLAN, "shar": SHAR, "shar_checksum": "sha256:" + "cd" * 32, "shar_dest": SHAR_DEST,
            "iso_dest_dir": "/opt/vmware/upgrade", "staged": [], "version": "4.2.0", "target": "4.8",
            "at_target": False}
    base.update(kw)
    return hp.hop_plan(base)


def test_each_hop_with_its_destination_and_checksums():
    p = plan()
    assert p["problem"] is None
    assert p["hops"] == [
        {"from": "4.2.0", "to": "4.3.0", "kind": "shar", "path": SHAR, "name": "ums-system-upgrade.shar",
         "dest": SHAR_DEST, "checksum": "sha256:" + "cd" * 32,
         "needs_token": False, "rule": "from 4.1 or 4.2, by the shar [doc]", "size": None, "staged_at": None},
        {"from": "4.3.0", "to": "4.8.0", "kind": "iso", "path": ISO, "name": ISO.rsplit("/", 1)[1],
         "dest": ISO_DEST, "checksum": "sha1:" + "ab" * 20, "needs_token": False,
         "rule": "on top of min_source_4_8 and later [guess]", "size": 5242880, "staged_at": None}]


def test_staged_only_when_the_same_file_is_recorded_at_that_destination():
    name = ISO.rsplit("/", 1)[1]
    good = {"dest": ISO_DEST, "name": name, "size": 5242880, "sha256": "ee" * 32, "staged_at": "2026-12-01T09:00:00Z"}
    shar = {"dest": SHAR_DEST, "name": "ums-system-upgrade.shar", "size": 4, "staged_at": "2026-12-02T10:00:00Z"}
    hops = plan(staged=[shar, good])["hops"]
    assert [h["staged_at"] for h in hops] == ["2026-12-02T10:00:00Z", "2026-12-01T09:00:00Z"]
    for other in ({**good, "dest": "/tmp/x.iso"}, {**good, "name": "another.iso"}, {**good, "size": 1}):
        assert plan(staged=[other])["hops"][1]["staged_at"] is None, other


def test_a_refusal_is_the_problem_without_the_host_prefix():
    refused = {"failed": False, "failed_when_result": False, "check": "sha1", "file": ISO,
               "msg": f"host 10.0.0.5, step 'sha1': {ISO}: SHA-1 x differs. What to do: download it again."}
    p = plan(plan=refused)
    assert p == {"hops": [], "problem": f"bundles: step 'sha1': {ISO}: SHA-1 x differs. What to do: download it again."}


def test_a_refusal_names_the_role_variables_not_the_module_options():
    refused = {"msg": "host h, step 'access token': the hop 4.8.0 → 9.0.0 needs the access token and none is given."
                      " What to do: give access_token: the token; or check ca_path, expired_certificate: warn,"
                      " set target_version. Path /srv/ca_path.pem stays."}
    assert plan(plan=refused)["problem"] == (
        "bundles: step 'access token': the hop 4.8.0 → 9.0.0 needs the access token and none is given."
        " What to do: give usage_meter_access_token: the token; or check usage_meter_iso_ca_path,"
        " usage_meter_iso_expired_certificate: warn, set usage_meter_target_version. Path /srv/ca_path.pem stays.")


def test_a_missing_shar_is_left_to_the_preflights_own_message():
    missing = {"changed": False, "check": "read bundle", "file": SHAR, "msg": "host h, step 'read bundle': no such file"}
    assert plan(plan=missing) == {"hops": [], "problem": None}
    other = {**missing, "file": ISO}
    assert plan(plan=other)["problem"] == "bundles: step 'read bundle': no such file"


def test_no_plan_when_skipped_at_the_target():
    assert plan(plan={"skipped": True, "changed": False}, at_target=True) == {"hops": [], "problem": None}
    assert plan(plan={"upgrade_needed": False, "hops": []}) == {"hops": [], "problem": None}


def test_an_unknown_version_runs_the_shar_as_the_4_3_upgrade_always_did():
    hops = plan(plan={"skipped": True}, version="", target="4.3")["hops"]
    assert [(h["from"], h["to"], h["kind"], h["dest"]) for h in hops] == [("unknown", "4.3", "shar", SHAR_DEST)]
    assert plan(plan={"skipped": True}, version="", shar="")["hops"] == []


def test_documented():
    doc = yaml.safe_load(hp.DOCUMENTATION)
    assert doc["name"] == "hop_plan"
    assert set(doc["options"]["_input"]["suboptions"]) == {"plan", "shar", "shar_checksum", "shar_dest",
                                                           "iso_dest_dir", "staged", "version", "target", "at_target"}
    ret = yaml.safe_load(hp.RETURN)["_value"]["contains"]
    assert set(ret["hops"]["contains"]) == set(plan()["hops"][0])
    assert hp.FilterModule().filters() == {"hop_plan": hp.hop_plan}
