"""Unit tests of the filters vcloud.usage_meter.failure_logs, failure_noted and
without_keys (plugins/filter/failure_report.py): the failure path of
inplace_upgrade decided in code. The fault tests of
tests/roles/test_inplace_upgrade.py check the saved files end to end."""
from __future__ import annotations

import importlib.util

import pytest
import yaml

from lib.playbook import REPO

_spec = importlib.util.spec_from_file_location("failure_report", REPO / "plugins" / "filter" / "failure_report.py")
fr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fr)

UMS = "/opt/vmware/cloudusagemetering"
OLD = "/opt/vmware/cloudusagemetering-old"
LOG = f"{UMS}/logs/inplaceupgradeum-2026-12-07.log"


def copied(*remotes: str) -> dict:
    return {"files": [{"remote": r, "local": "/ctl/logs/um1" + r} for r in remotes]}


def logs(failed_result=None, upgrade=None, status=None, rescue_logs=None, phase="upgrade") -> dict:
    run = {"phase": phase, "failure": {"phase": phase}, "failed_result": failed_result or {}}
    return fr.failure_logs({"run": run, "upgrade": upgrade or {}, "rescue_status": status or {},
                            "rescue_logs": rescue_logs or {}})


def test_the_log_the_failure_names_is_the_one_shown():
    res = logs({"upgrade_log": LOG + "\n"}, rescue_logs=copied(f"{UMS}/logs/inplaceupgradeum-older.log", LOG,
                                                               f"{UMS}/runs/r1.log"))
    assert res["upgrade_log"] == LOG
    assert res["saved_log"] == "/ctl/logs/um1" + LOG


def test_the_same_log_moved_by_the_reboot_is_found_by_its_name():
    moved = LOG.replace(UMS, OLD)
    res = logs(upgrade={"upgrade_log": LOG}, rescue_logs=copied(f"{UMS}/logs/inplaceupgradeum-new.log", moved),
               phase="verify")
    assert res["upgrade_log"] == LOG
    assert res["saved_log"] == "/ctl/logs/um1" + moved


@pytest.mark.parametrize("remotes,expected", [
    # no log named: the newest upgrade log (the last one copied), else the run output
    ((f"{UMS}/logs/inplaceupgradeum-a.log", f"{UMS}/logs/inplaceupgradeum-b.log", f"{UMS}/runs/r1.log"),
     f"{UMS}/logs/inplaceupgradeum-b.log"),
    ((f"{UMS}/runs/r1.log", f"{UMS}/runs/r2.log", f"{UMS}/runs/r2.json"), f"{UMS}/runs/r2.log"),
    ((f"{UMS}/runs/r2.json",), None),
])
def test_without_a_named_log_the_newest_upgrade_log_then_the_run_output(remotes, expected):
    res = logs(rescue_logs=copied(*remotes))
    assert res["upgrade_log"] == ""
    assert res["saved_log"] == ("/ctl/logs/um1" + expected if expected else "")


def test_the_named_log_comes_from_the_failed_task_then_the_upgrade_then_the_status():
    assert logs({"upgrade_log": "/a"}, {"upgrade_log": "/b"}, {"upgrade_log": "/c"})["upgrade_log"] == "/a"
    assert logs({"upgrade_log": ""}, {"upgrade_log": "/b"}, {"upgrade_log": "/c"})["upgrade_log"] == "/b"
    assert logs({}, {"upgrade_log": None}, {"upgrade_log": "/c"})["upgrade_log"] == "/c"


def test_rc_is_the_failed_upgrades_else_the_upgrade_phases():
    assert logs({"rc": 3}, {"rc": 0})["rc"] == 3
    assert logs({"rc": 3}, {"rc": 0}, phase="verify")["rc"] == 0
    assert logs({}, {}, phase="reboot")["rc"] == "n/a"


def test_what_was_copied_or_why_not():
    assert logs(rescue_logs=copied("/x/a", "/x/b"))["copied_note"] == "/x/a, /x/b"
    assert logs(rescue_logs={"failed": True, "msg": "ssh: connection refused \n"})["copied_note"] == \
        "nothing (ssh: connection refused)"
    assert logs()["copied_note"] == "nothing (not attempted)"


def test_tails_come_from_the_failed_step_else_the_status():
    res = logs({"stdout_lines": ["a"], "upgrade_log_tail": ["t"]}, status={"upgrade_log_tail": ["s"],
                                                                         "stdout_lines": ["gw Running"]})
    assert (res["output_tail"], res["log_tail"], res["status_lines"]) == (["a"], ["t"], ["gw Running"])
    assert logs(status={"upgrade_log_tail": ["s"]})["log_tail"] == ["s"]


def noted(log_dir=None, results=(), saved_log="", msg="the shar failed (rc 3)") -> dict:
    run = {"log_path": "/ctl/logs/um1", "saved_log": saved_log,
           "failure": {"phase": "upgrade", "task": "Upgrade | Run the upgrade bundle", "msg": msg}}
    return fr.failure_noted({"run": run, "log_dir": {"state": "directory"} if log_dir is None else log_dir,
                             "written": {"results": list(results)}})


def test_the_message_names_the_saved_log_as_a_sentence():
    res = noted(saved_log="/ctl/logs/um1/x.log", results=[{"changed": True}])
    assert res["failure"]["msg"] == "the shar failed (rc 3). Full upgrade log saved as /ctl/logs/um1/x.log"
    assert noted(saved_log="/l", msg="it failed!\n")["failure"]["msg"] == "it failed! Full upgrade log saved as /l"
    assert (res["log_path"], res["log_error"], res["saved_log"]) == ("/ctl/logs/um1", "", "/ctl/logs/um1/x.log")


def test_without_a_saved_log_the_message_is_unchanged():
    assert noted()["failure"]["msg"] == "the shar failed (rc 3)"


def test_a_folder_that_could_not_be_made_is_said_and_no_path_given():
    res = noted(log_dir={"failed": True, "msg": "permission denied"}, results=[{"skipped": True, "msg": "x"}])
    assert res == {"log_path": "", "log_error": "could not save the logs in /ctl/logs/um1: permission denied",
                   "failure": noted()["failure"], "saved_log": ""}


def test_a_file_that_could_not_be_written_is_said():
    res = noted(results=[{"changed": True}, {"failed": True, "msg": "disk full"}])
    assert res["log_error"] == "could not save the logs in /ctl/logs/um1: disk full"
    assert res["log_path"] == "/ctl/logs/um1"


def test_without_keys():
    assert fr.without_keys({"a": 1, "invocation": {}, "exception": "tb"}) == {"a": 1}
    assert fr.without_keys(None) == {}
    assert fr.without_keys({"a": 1, "b": 2}, ["b"]) == {"a": 1}


def test_filters_are_registered_and_documented():
    assert fr.FilterModule().filters() == {"failure_logs": fr.failure_logs, "failure_noted": fr.failure_noted,
                                           "without_keys": fr.without_keys}
    for name, options in (("failure_logs", ["_input"]), ("failure_noted", ["_input"]),
                          ("without_keys", ["_input", "keys"])):
        side = yaml.safe_load((REPO / "plugins" / "filter" / f"{name}.yml").read_text())
        assert side["DOCUMENTATION"]["name"] == name
        assert list(side["DOCUMENTATION"]["options"]) == options
        assert f"vcloud.usage_meter.{name}" in side["EXAMPLES"]
    returned = yaml.safe_load((REPO / "plugins" / "filter" / "failure_logs.yml").read_text())["RETURN"]
    assert list(returned["_value"]["contains"]) == list(logs())
    returned = yaml.safe_load((REPO / "plugins" / "filter" / "failure_noted.yml").read_text())["RETURN"]
    assert set(returned["_value"]["contains"]) == set(noted())
