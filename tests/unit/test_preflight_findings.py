"""Unit tests of the filters vcloud.usage_meter.preflight_findings and
vcloud.usage_meter.version_reaches (plugins/filter/preflight_findings.py): the
version and where it came from, whether the target is reached, and every
problem that stops the upgrade. The play tests (tests/roles/test_inplace_upgrade.py
::test_preflight_alone_reports_and_changes_nothing, tests/reliability/test_play_faults.py)
check the same findings on simulated appliances."""
from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from lib.playbook import REPO

PLUGIN = REPO / "plugins" / "filter" / "preflight_findings.py"
_spec = importlib.util.spec_from_file_location("preflight_findings", PLUGIN)
pf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pf)

SHA = "ab" * 32
APP = {"sshd_active": True, "sshd_enabled": False, "opt_free_bytes": 5 * 1024 ** 3, "root_password_expired": False,
       "upgrade_recorded": False, "upgrade_rc": None, "upgrade_awaits_reboot": False, "old_install_present": False}


def read(**kw) -> dict:
    """What roles/preflight hands over: a 4.2.0 appliance with SSH open and a good bundle."""
    base = {
        "target_version": "4.3", "source_versions": ["4.1", "4.2"], "fail_on_unknown_version": False,
        "api_version": "4.2.0", "api_error": "", "appliance": dict(APP), "ssh_open": True, "route": "none",
        "probe_msg": "no answer", "host": "10.0.0.5", "port": 22, "bundle": "ums.shar",
        "bundle_path": "/srv/ums.shar", "bundle_stat": {"isreg": True, "size": 4 * 1024 ** 2, "checksum": SHA},
        "bundle_checksum": "sha256:" + SHA, "free_space_factor": 2, "isos": [],
    }
    base.update(kw)
    return base


def findings(**kw) -> dict:
    return pf.preflight_findings(read(**kw))


def test_ready():
    assert findings() == {"version": "4.2.0", "version_source": "api", "at_target": False,
                          "free_bytes": 5 * 1024 ** 3, "password_expired": False, "problems": []}


def test_already_at_target_needs_no_bundle_and_no_ssh():
    f = findings(api_version="4.3.0", appliance={}, ssh_open=False, bundle="", bundle_stat={})
    assert f["at_target"] is True and f["version_source"] == "api" and f["problems"] == []
    assert f["free_bytes"] is None


def test_version_from_appliance_info_when_the_api_was_not_read():
    f = findings(api_version="", appliance={**APP, "version": "4.1.0.0 build 123"})
    assert (f["version"], f["version_source"], f["at_target"], f["problems"]) == ("4.1.0.0 build 123", "appliance_info", False, [])


def test_api_version_is_trimmed_and_wins():
    f = findings(api_version=" 4.3.0 \n", appliance={**APP, "version": "4.2.0.0 build 1"})
    assert (f["version"], f["version_source"], f["at_target"]) == ("4.3.0", "api", True)


@pytest.mark.parametrize("rc,awaits,old,at_target", [(0, False, True, True), (1, False, True, False),
                                                    (0, True, True, False), (0, False, False, False),
                                                    (None, False, True, False)])
def test_without_a_version_the_upgrade_record_decides(rc, awaits, old, at_target):
    app = {**APP, "upgrade_recorded": rc is not None, "upgrade_rc": rc, "upgrade_awaits_reboot": awaits,
           "old_install_present": old}
    f = findings(api_version="", appliance=app)
    assert f["at_target"] is at_target and f["version"] == ""
    assert f["version_source"] == ("upgrade record" if at_target else "unknown")


def test_unknown_version():
    assert findings(api_version="")["problems"] == []
    assert findings(api_version="", fail_on_unknown_version=True)["problems"] == [
        "the version cannot be read (set usage_meter_api_password) and usage_meter_fail_on_unknown_version is true"]


def test_unknown_version_names_the_api_error_and_what_to_do():
    error = ("appliance API um1:8443: login as usagemeter was refused (HTTP 401): wrong api_username or api_password."
             " What to do: check api_username and api_password.")
    f = findings(api_version="", api_error=error, ssh_open=False, appliance={})
    # not a problem unless asked for: the version may come from SSH or the upgrade record later
    assert f["version_source"] == "unknown" and not any("API" in p for p in f["problems"])
    f = findings(api_version="", api_error=error, ssh_open=False, appliance={}, fail_on_unknown_version=True)
    assert ("the version cannot be read through the appliance API (" + error.rstrip(".")
            + ") and usage_meter_fail_on_unknown_version is true") in f["problems"]
    # a version read over SSH makes the API error moot
    f = findings(api_version="", api_error=error, appliance={**APP, "version": "4.2.0.0 build 1"},
                 fail_on_unknown_version=True)
    assert f["version_source"] == "appliance_info" and f["problems"] == []


@pytest.mark.parametrize("version,problem", [("4.0.2", True), ("4.2.1", False), ("4.1", False), ("5.0.0", True),
                                             ("4.3.1", False), ("4.10.0", True)])
def test_versions_this_play_upgrades_from(version, problem):
    f = findings(api_version=version)
    expected = [f"version {version} is not one this play upgrades from (4.1, 4.2) to 4.3"] if problem else []
    assert f["problems"] == expected


def test_ssh_closed_without_a_route():
    f = findings(ssh_open=False, appliance={}, probe_msg="Timeout when waiting for search string SSH- in 10.0.0.5:2222",
                 port=2222)
    assert f["problems"] == [
        "SSH on 10.0.0.5:2222 is closed (Timeout when waiting for search string SSH- in 10.0.0.5:2222) and no route"
        " to open it is configured: either start sshd on the appliance console as root (service sshd start), or set"
        " usage_meter_vmware_tools_sshd: true with the usage_meter_vcenter_* variables and usage_meter_root_password"
        " so that the play starts it through VMware Tools"]
    assert findings(ssh_open=False, appliance={}, route="console")["problems"] == []
    assert findings(ssh_open=False, appliance={}, route="vmware_tools")["problems"] == []
    assert findings(ssh_open=False, appliance={}, api_version="4.3.0")["problems"] == []


def test_bundle_missing_or_empty():
    assert findings(bundle="", bundle_stat={}, bundle_checksum="")["problems"] == [
        "no upgrade bundle: set usage_meter_bundle to the path of ums-system-upgrade.shar on the controller"]
    gone = ("the upgrade bundle /srv/ums.shar does not exist on the controller or is empty: download"
            " ums-system-upgrade.shar for 4.3 from the vendor portal and set usage_meter_bundle to its path"
            " (a relative path is looked up in the playbook directory, then where ansible-playbook was started)")
    assert findings(bundle_stat={"exists": False}, bundle_checksum="")["problems"] == [gone]
    assert findings(bundle_stat={"isreg": True, "size": 0}, bundle_checksum="")["problems"] == [gone]
    assert findings(bundle_stat={"isreg": False, "size": 10}, bundle_checksum="")["problems"] == [gone]


def test_checksum():
    assert findings(bundle_checksum=SHA.upper())["problems"] == []
    assert findings(bundle_checksum="sha256:" + SHA.upper())["problems"] == []
    other = "cd" * 32
    assert findings(bundle_checksum="sha256:" + other)["problems"] == [
        f"the upgrade bundle ums.shar has sha256 {SHA}, not the expected sha256:{other}: download the bundle again;"
        " never run a bundle that does not match"]
    # a malformed checksum is a problem even on an appliance at the target
    assert findings(bundle_checksum="md5:123", api_version="4.3.0")["problems"] == [
        "usage_meter_bundle_checksum md5:123 is not sha256:<64 hex digits>"]
    # no checksum asked: the stat has none, nothing is compared
    assert findings(bundle_checksum="", bundle_stat={"isreg": True, "size": 10})["problems"] == []


def test_free_space():
    small = {**APP, "opt_free_bytes": 1024 ** 2}
    assert findings(appliance=small)["problems"] == [
        "not enough free space on /opt/vmware: 1.00 MB free, 8.00 MB needed (2 x the bundle; usage_meter_free_space_factor)"]
    assert findings(appliance=small, free_space_factor=0.2)["problems"] == []
    assert findings(appliance=small, free_space_factor=2.5)["problems"][0].endswith(
        "10.00 MB needed (2.5 x the bundle; usage_meter_free_space_factor)")
    assert findings(appliance={**APP, "opt_free_bytes": None})["problems"] == []
    assert findings(appliance={**APP, "opt_free_bytes": 8 * 1024 ** 2})["problems"] == []
    assert findings(appliance=small, api_version="4.3.0")["problems"] == []


def test_expired_root_password_is_a_problem_even_at_the_target():
    expired = {**APP, "root_password_expired": True}
    for version in ("4.2.0", "4.3.0"):
        f = findings(appliance=expired, api_version=version)
        assert f["password_expired"] is True
        assert f["problems"] == ["the root password has expired: log in on the console as root, set a new one,"
                                 " and update the inventory"]


def test_every_problem_at_once_in_order():
    f = findings(api_version="4.0.0", ssh_open=False, appliance={**APP, "opt_free_bytes": 1, "root_password_expired": True},
                 bundle_stat={"isreg": True, "size": 10, "checksum": "00" * 32}, bundle_checksum="sha256:" + SHA)
    starts = [p.split(" ")[0:3] for p in f["problems"]]
    assert len(f["problems"]) == 5, f["problems"]
    assert starts == [["version", "4.0.0", "is"], ["SSH", "on", "10.0.0.5:22"], ["the", "upgrade", "bundle"],
                      ["not", "enough", "free"], ["the", "root", "password"]]


@pytest.mark.parametrize("version,target,reaches", [
    ("4.3", "4.3", True), ("4.3.0", "4.3", True), ("4.3.0.0 build 123", "4.3", True),
    ("4.3 (not read: no usage_meter_api_password)", "4.3", True), ("4.30", "4.3", False), ("4.2.0", "4.3", False),
    ("", "4.3", False), (None, "4.3", False), ("4x3", "4.3", False), ("4.3.1", "4.3.1", True), ("4.3.10", "4.3.1", False),
])
def test_version_reaches(version, target, reaches):
    assert pf.version_reaches(version, target) is reaches


def test_filters_are_registered_and_documented():
    assert pf.FilterModule().filters() == {"preflight_findings": pf.preflight_findings,
                                           "version_reaches": pf.version_reaches,
                                           "preflight_line": pf.preflight_line,
                                           "bundle_checks": pf.bundle_checks, "bundle_stat": pf.bundle_stat}
    # two filters in one file: the docs are sidecars (a DOCUMENTATION in the .py
    # would be shown for both)
    assert "DOCUMENTATION" not in PLUGIN.read_text()
    side = yaml.safe_load((PLUGIN.parent / "preflight_findings.yml").read_text())
    doc = side["DOCUMENTATION"]
    assert doc["name"] == "preflight_findings"
    documented = set(doc["options"]["_input"]["suboptions"])
    assert set(re.findall(r'read\.get\("(\w+)"', PLUGIN.read_text())) == documented
    assert set(read()) == documented
    assert list(side["RETURN"]["_value"]["contains"]) == list(findings())
    assert "vcloud.usage_meter.preflight_findings" in side["EXAMPLES"]
    side = yaml.safe_load((PLUGIN.parent / "version_reaches.yml").read_text())
    assert side["DOCUMENTATION"]["name"] == "version_reaches"
    assert list(side["DOCUMENTATION"]["options"]) == ["_input", "target"]
    for name, options in (("preflight_line", ["_input", "name"]), ("bundle_checks", ["_input"]),
                          ("bundle_stat", ["_input", "path"])):
        side = yaml.safe_load((PLUGIN.parent / f"{name}.yml").read_text())
        assert side["DOCUMENTATION"]["name"] == name
        assert list(side["DOCUMENTATION"]["options"]) == options
        assert f"vcloud.usage_meter.{name}" in side["EXAMPLES"]


def test_the_version_regex_exists_once():
    """No role compares a version with the target in Jinja any more."""
    for path in (REPO / "roles").rglob("*.yml"):
        text = path.read_text()
        assert "usage_meter_target_version | regex_escape" not in text, path
        assert not re.search(r"\\+d\+\\+\.", text), path      # a major.minor pattern


# --------------------------------------------------------------------------- the one line

def preflight(**kw) -> dict:
    base = {"ok": True, "at_target": False, "target_version": "4.3", "version": "4.2.0", "version_source": "api",
            "api_error": None, "ssh_open": False, "route": "console", "appliance_checked": False, "problems": []}
    return {**base, **kw}


def test_line_of_an_appliance_ready_to_upgrade():
    assert pf.preflight_line(preflight(), "um1") == (
        "um1: ready to upgrade to 4.3 | version 4.2.0 (from api) | SSH closed, route console"
        " | not checked over SSH yet | no problems")


def test_line_of_an_appliance_at_the_target_over_ssh():
    line = pf.preflight_line(preflight(at_target=True, version="4.3.0", version_source="appliance_info",
                                       ssh_open=True, route="ssh", appliance_checked=True), "um2")
    assert line == ("um2: already at 4.3: nothing to do | version 4.3.0 (from appliance_info) | SSH open"
                    " | checked over SSH | no problems")


def test_line_of_an_appliance_not_ready_names_every_problem_and_the_api_error():
    line = pf.preflight_line(preflight(ok=False, version=None, version_source="unknown",
                                       api_error="appliance API: connection refused", route="none",
                                       problems=["SSH is closed", "no bundle"]), "um3")
    assert line == ("um3: NOT READY | version unknown (API: appliance API: connection refused)"
                    " | SSH closed, route none | not checked over SSH yet | problems: SSH is closed; no bundle")


def test_line_lists_each_hop_staged_or_not():
    hops = [{"from": "4.2.0", "to": "4.3.0", "kind": "shar", "staged_at": "2026-12-01T09:00:00Z"},
            {"from": "4.3.0", "to": "4.8.0", "kind": "iso", "staged_at": None}]
    line = pf.preflight_line(preflight(target_version="4.8", hops=hops), "um4")
    assert line == ("um4: ready to upgrade to 4.8 | version 4.2.0 (from api) | SSH closed, route console"
                    " | not checked over SSH yet | hops 4.2.0 -> 4.3.0 (shar, staged 2026-12-01T09:00:00Z),"
                    " 4.3.0 -> 4.8.0 (iso, not staged) | no problems")


# --------------------------------------------------------------------------- later targets (issue 21)

def test_a_later_target_is_not_held_to_the_shars_source_versions():
    """4.3 -> 4.8 is the ISO's rule (bundle_info decides), not usage_meter_source_versions."""
    f = findings(api_version="4.3.0", target_version="4.8", bundle="", bundle_stat={},
                 isos=[{"path": "/srv/Usage_Meter_Agent-4.8.0.0-1_Upgrade.iso"}])
    assert (f["at_target"], f["problems"]) == (False, [])
    # the 4.3 target keeps its check
    assert findings(api_version="4.5.0")["problems"] == [
        "version 4.5.0 is not one this play upgrades from (4.1, 4.2) to 4.3"]


def test_no_bundle_at_all_is_still_a_problem_with_isos_none():
    assert findings(bundle="", bundle_stat={}, isos=[])["problems"][0].startswith("no upgrade bundle")


@pytest.mark.parametrize("version,target,reached", [
    ("4.3.0", "4.3", True), ("4.3.0", "4.3.0", True), ("4.3.0.0 build 9", "4.3.0", True),
    ("4.8.1", "4.8.0", True), ("4.8.0", "4.8.1", False), ("4.30.0", "4.3", False), ("9.0.0", "4.8", False),
    ("4.2.0", "4.3.0", False)])
def test_at_target_is_the_targets_line_at_or_above_it(version, target, reached):
    assert findings(api_version=version, target_version=target)["at_target"] is reached


# --------------------------------------------------------------------------- one hash per bundle

def host(path, checksum=False) -> dict:
    return {"__usage_meter_pf_bundle_path": path, "__usage_meter_pf_bundle_hash": checksum}


def test_a_fleet_sharing_one_bundle_hashes_it_once():
    assert pf.bundle_checks([host("/b/ums.shar", True)] * 3) == [{"path": "/b/ums.shar", "checksum": True}]


def test_each_distinct_bundle_once_hashed_when_any_host_gives_a_checksum():
    hosts = [host("/b/two.shar"), host("/b/one.shar"), host("/b/two.shar", "True"), host(""), {}, None,
             host("/b/one.shar", False)]
    assert pf.bundle_checks(hosts) == [{"path": "/b/one.shar", "checksum": False},
                                       {"path": "/b/two.shar", "checksum": True}]
    assert pf.bundle_checks([]) == [] and pf.bundle_checks(None) == []


def test_each_host_finds_the_stat_of_its_own_bundle():
    looked = {"results": [{"item": {"path": "/b/one.shar"}, "stat": {"exists": True, "size": 1}},
                          {"item": {"path": "/b/two.shar"}, "stat": {"exists": False}}]}
    assert pf.bundle_stat(looked, "/b/one.shar") == {"exists": True, "size": 1}
    assert pf.bundle_stat(looked, "/b/two.shar") == {"exists": False}
    assert pf.bundle_stat(looked, "") == {}
    assert pf.bundle_stat({"skipped": True, "results": []}, "/b/one.shar") == {}
    assert pf.bundle_stat(None, "/b/one.shar") == {}
