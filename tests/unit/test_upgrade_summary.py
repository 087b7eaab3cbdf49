"""Unit tests of the filter vcloud.usage_meter.upgrade_summary
(plugins/filter/upgrade_summary.py): every result the role can report, the
error, sshd in words, and every manual step. The play tests
(tests/roles/test_inplace_upgrade.py, tests/reliability/) check the same
summary end to end on simulated appliances."""
from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from lib.playbook import REPO

PLUGIN = REPO / "plugins" / "filter" / "upgrade_summary.py"
_spec = importlib.util.spec_from_file_location("upgrade_summary", PLUGIN)
us = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(us)
summary = us.upgrade_summary

ALL_PHASES = ["preflight", "sshd_access", "copy", "upgrade", "reboot", "verify"]
RESTORED = {"changed": True, "active": False, "enabled": False}
CERT_STEP = ("Accept the certificates of every metered product server (vCenter, vCloud Director, NSX, ...)"
             " in the Usage Meter web UI, or run the play with usage_meter_certificates: true"
             " and usage_meter_api_password.")
SUMMARY_KEYS = ["host", "address", "result", "from_version", "to_version", "phases", "hops", "seconds", "services",
                "sshd", "snapshot", "rolled_back", "certificates_accepted", "logs", "manual_steps", "error", "line"]


def run(**kw) -> dict:
    """A run record as report.yml hands it over: an upgrade of um1 from 4.2.0."""
    base = {
        "host": "um1", "address": "10.0.0.5", "check_mode": False, "todo": True, "failed": False,
        "failure": {}, "phases": list(ALL_PHASES), "from_version": "4.2.0", "to_version": "4.3.0",
        "seconds": 12.3, "verify": {"services": {"gw": "Running", "vcdcol": "Running"}},
        "rescue_status": {}, "sshd_original": {"active": False, "enabled": False},
        "sshd_restore": dict(RESTORED), "sshd_final_state": "original", "certificates": False, "certs": {},
        "snapshot_name": "usage-meter-inplace-upgrade-4.3", "snapshot_taken": False, "rolled_back": False,
        "rollback_error": None, "log_path": "", "log_error": "", "hops_done": [], "hop": {}, "early_snapshot": None,
        "plan": [], "now": 0.0,
    }
    base.update(kw)
    return base


def failed_in(phase: str, msg: str = "it broke", **kw) -> dict:
    phases = ALL_PHASES[:ALL_PHASES.index(phase) + 1] if phase in ALL_PHASES else ALL_PHASES + [phase]
    return run(**{"failed": True, "failure": {"phase": phase, "task": f"{phase} task", "msg": msg},
                  "phases": phases, "log_path": "/logs/um1", "verify": {}, **kw})


# --------------------------------------------------------------------------- results

def test_upgraded():
    s = summary(run())
    assert list(s) == SUMMARY_KEYS
    assert s.pop("line").startswith("um1: upgraded | ")
    assert s == {
        "host": "um1", "address": "10.0.0.5", "result": "upgraded", "from_version": "4.2.0",
        "to_version": "4.3.0", "phases": ALL_PHASES, "hops": [], "seconds": 12.3,
        "services": {"gw": "Running", "vcdcol": "Running"}, "sshd": "stopped, disabled (restored)",
        "snapshot": None, "rolled_back": False, "certificates_accepted": [], "logs": None,
        "manual_steps": [CERT_STEP], "error": None,
    }


def test_upgraded_with_certificates_and_snapshot():
    s = summary(run(certificates=True, phases=ALL_PHASES + ["certificates"], snapshot_taken=True,
                    certs={"accepted": [{"certificate_id": "vc1:443"}, {"certificate_id": "nsx:443"}], "refused": []}))
    assert s["result"] == "upgraded" and s["snapshot"] == "usage-meter-inplace-upgrade-4.3"
    assert s["certificates_accepted"] == ["vc1:443", "nsx:443"]
    assert s["manual_steps"] == ["Delete snapshot usage-meter-inplace-upgrade-4.3 in vCenter once metering is confirmed."]


def test_refused_certificates_are_a_manual_step():
    s = summary(run(certificates=True, certs={"accepted": [{"certificate_id": "vc1:443"}],
                                              "refused": [{"certificate_id": "a:1"}, {"certificate_id": "b:2"}]}))
    assert s["certificates_accepted"] == ["vc1:443"]
    assert s["manual_steps"] == ["Certificates refused (accept them by hand after checking): a:1, b:2"]


def test_skipped_certificates_phase_accepts_nothing():
    s = summary(run(certificates=True, certs={"skipped": True, "changed": False}))
    assert s["certificates_accepted"] == [] and s["manual_steps"] == []


def test_already_at_target():
    s = summary(run(todo=False, phases=["preflight"], to_version=None, verify={}, sshd_restore={},
                    sshd_original={}))
    assert s["result"] == "nothing to do"
    assert s["from_version"] == s["to_version"] == "4.2.0"
    assert s["sshd"] == "not touched" and s["manual_steps"] == [] and s["error"] is None
    assert s["services"] == {}


def test_already_at_target_wins_over_check_mode():
    assert summary(run(todo=False, check_mode=True))["result"] == "nothing to do"


def test_check_mode():
    s = summary(run(check_mode=True, to_version=None, verify={}, sshd_restore={"changed": True, "active": False,
                                                                               "enabled": False}))
    assert s["result"] == "check mode: would upgrade"
    assert s["to_version"] is None
    assert s["manual_steps"] == [] and s["error"] is None


@pytest.mark.parametrize("phases", [["preflight"], ["preflight", "sshd_access", "copy"],
                                    ["preflight", "sshd_access", "copy", "upgrade", "reboot"]])
def test_not_finished_under_tags(phases):
    s = summary(run(phases=phases, verify={}))
    assert s["result"] == f"not finished (phases run: {', '.join(phases)})"
    assert s["to_version"] is None
    assert s["manual_steps"] == [
        "Run the play again without --tags/--skip-tags to finish the upgrade (each step resumes where it can)."]


def test_report_alone_with_nothing_recorded():
    """--tags report on its own: the run record only has its start."""
    s = summary({"host": "um1", "address": "um1", "todo": False, "failed": False, "failure": {}, "phases": []})
    assert s["result"] == "nothing to do" and s["phases"] == [] and s["sshd"] == "not touched"
    assert s["manual_steps"] == [] and s["error"] is None and s["logs"] is None


# --------------------------------------------------------------------------- failures

@pytest.mark.parametrize("phase", ["sshd_access", "copy", "upgrade", "reboot", "verify", "certificates"])
def test_failed_in_a_phase(phase):
    s = summary(failed_in(phase, "the step failed", rescue_status={"services": {"gw": "Offline"}}))
    assert s["result"] == "failed"
    assert s["to_version"] is None and s["logs"] == "/logs/um1"
    assert s["services"] == {"gw": "Offline"}       # from the status read after the failure
    assert s["error"] == (f'in-place upgrade of um1 failed in phase {phase} (task "{phase} task"): the step failed.'
                          " Logs saved in /logs/um1. sshd: stopped, disabled (restored).")
    assert s["manual_steps"] == [
        "Find the cause in /logs/um1, fix it, and run the play again (each step resumes where it can)."]


def test_failed_in_preflight():
    s = summary(failed_in("preflight", "preflight: not enough free space. Nothing was changed.",
                          sshd_restore={}, sshd_original={}, todo=False))
    assert s["result"] == "failed" and s["sshd"] == "not touched"
    assert s["error"] == ('in-place upgrade of um1 failed in phase preflight (task "preflight task"): preflight:'
                          " not enough free space. Nothing was changed. Logs saved in /logs/um1. sshd: not touched.")
    assert s["manual_steps"] == [
        "Find the cause in /logs/um1, fix it, and run the play again (each step resumes where it can).",
        "Fix the preflight problems above and run the play again; nothing was changed.",
    ]


@pytest.mark.parametrize("msg,shown", [("ends with a stop.", "ends with a stop."), ("really!", "really!"),
                                       ("why?", "why?"), ("  no stop \n", "no stop."),
                                       ("two lines.\nthe second", "two lines.\nthe second."),
                                       # as the role's Jinja did (`is match`, no DOTALL): the stop
                                       # is looked for on the first line only
                                       ("first line\nends.", "first line\nends..")])
def test_error_message_ends_with_one_full_stop(msg, shown):
    s = summary(failed_in("upgrade", msg, log_path=""))
    assert s["error"] == f'in-place upgrade of um1 failed in phase upgrade (task "upgrade task"): {shown} sshd: stopped, disabled (restored).'


def test_failed_without_a_log_folder_names_the_log_error():
    s = summary(failed_in("verify", log_path="", log_error="could not save the logs in /ro/um1: Permission denied"))
    assert s["logs"] is None and "Logs saved" not in s["error"]
    assert s["manual_steps"] == ["Set usage_meter_log_dir to a writable folder: could not save the logs in /ro/um1: Permission denied"]


def test_reboot_never_returns_sshd_not_restored():
    restore = {"failed": True, "msg": "connect: timed out"}
    s = summary(failed_in("reboot", "reboot: not back after 20 s", sshd_restore=restore))
    assert s["sshd"] == "NOT restored: connect: timed out"
    assert s["error"].endswith(" sshd: NOT restored: connect: timed out.")
    assert s["manual_steps"] == [
        "Find the cause in /logs/um1, fix it, and run the play again (each step resumes where it can).",
        "sshd could not be put back (connect: timed out): once the appliance answers, stop and disable sshd on its"
        " console (systemctl disable --now sshd) or run the play again.",
    ]


def test_sshd_not_restored_after_an_upgrade_fails_the_run():
    s = summary(run(sshd_restore={"failed": True}))
    assert s["result"] == "failed"
    assert s["sshd"] == "NOT restored: ?"
    assert s["error"] == "sshd could not be restored on um1: ?"
    assert s["to_version"] is None
    assert s["manual_steps"] == ["sshd could not be put back (?): once the appliance answers, stop and disable sshd"
                                 " on its console (systemctl disable --now sshd) or run the play again."]


def test_rolled_back():
    s = summary(failed_in("upgrade", snapshot_taken=True, rolled_back=True, sshd_restore={"skipped": True}))
    assert s["rolled_back"] is True and s["snapshot"] == "usage-meter-inplace-upgrade-4.3"
    assert s["sshd"] == "back in its snapshot state"
    assert s["error"].endswith(" sshd: back in its snapshot state. Rolled back to snapshot usage-meter-inplace-upgrade-4.3.")
    assert s["manual_steps"] == [
        "Find the cause in /logs/um1, fix it, and run the play again (each step resumes where it can).",
        "The VM was reverted to snapshot usage-meter-inplace-upgrade-4.3: check that it is powered on and metering.",
    ]


def test_rollback_failed():
    s = summary(failed_in("verify", snapshot_taken=True, rollback_error="vCenter said no"))
    assert s["rolled_back"] is False and s["snapshot"] == "usage-meter-inplace-upgrade-4.3"
    assert s["manual_steps"][-1] == ("The VM revert to snapshot usage-meter-inplace-upgrade-4.3 failed (vCenter said no):"
                                     " revert it in vCenter by hand.")
    assert not any("Delete snapshot" in m for m in s["manual_steps"])


# --------------------------------------------------------------------------- sshd in words

@pytest.mark.parametrize("restore,final,source,text", [
    ({"active": False, "enabled": False}, "original", None, "stopped, disabled (restored)"),
    ({"active": True, "enabled": False}, "original", None, "running, disabled (restored)"),
    ({"active": True, "enabled": True}, "original", None, "running, enabled (restored)"),
    ({"active": False, "enabled": False}, "original", "record",
     "stopped, disabled (restored to the state recorded before an earlier, interrupted run)"),
    ({"active": False, "enabled": False}, "stopped", "record", "stopped, disabled (restored)"),
    ({"active": "false", "enabled": "yes"}, "original", "play", "stopped, enabled (restored)"),
    ({"skipped": True, "changed": False}, "original", None, "not touched"),
    ({}, "original", None, "not touched"),
])
def test_sshd_in_words(restore, final, source, text):
    original = {"active": False, "enabled": False, **({"source": source} if source else {})}
    s = summary(run(sshd_restore=restore, sshd_final_state=final, sshd_original=original))
    assert s["sshd"] == text and s["result"] == "upgraded"


# --------------------------------------------------------------------------- the plugin itself

def test_filter_is_registered():
    assert us.FilterModule().filters() == {"upgrade_summary": us.upgrade_summary}


def test_documentation_names_every_input_and_output():
    doc = yaml.safe_load(us.DOCUMENTATION)
    assert doc["name"] == "upgrade_summary" and doc["positional"] == "_input"
    documented = set(doc["options"]["_input"]["suboptions"])
    read = set(re.findall(r'run\.get\("(\w+)"', PLUGIN.read_text()))
    assert read == documented, read ^ documented
    assert set(run()) == documented
    returned = yaml.safe_load(us.RETURN)["_value"]["contains"]
    assert list(returned) == SUMMARY_KEYS
    yaml.safe_load(us.EXAMPLES)


def test_the_role_hands_over_every_input():
    """report.yml hands the run record (__usage_meter_run), combined with what the
    phases registered, to the filter: every key the filter reads is either in that
    combine or written into the run record by some task of the role."""
    tasks_dir = REPO / "roles" / "inplace_upgrade" / "tasks"
    tasks = yaml.safe_load((tasks_dir / "report.yml").read_text())
    task = next(t for t in tasks if t["name"] == "Report | Put the summary together")
    assert task["ansible.builtin.set_fact"]["usage_meter_summary"] == (
        "{{ __usage_meter_run | combine(__usage_meter_record) | vcloud.usage_meter.upgrade_summary }}")
    handed = set(task["vars"]["__usage_meter_record"])
    # the failure path's keys come from the filter failure_noted (plugins/filter/failure_report.py)
    sources = [*sorted(tasks_dir.glob("*.yml")), REPO / "roles" / "inplace_upgrade" / "vars" / "main.yml",
               REPO / "plugins" / "filter" / "failure_report.py"]
    role = "\n".join(p.read_text() for p in sources)
    doc = yaml.safe_load(us.DOCUMENTATION)
    for key in set(doc["options"]["_input"]["suboptions"]) - handed:
        assert re.search(rf"^\s+{key}:|'{key}':|\"{key}\":", role, re.M), \
            f"{key} is neither handed over nor in the run record"


# --------------------------------------------------------------------------- the one line

def test_line_of_an_upgrade():
    s = summary(run())
    assert s["line"] == ("um1: upgraded | 4.2.0 -> 4.3.0 | phases " + ", ".join(ALL_PHASES) + " | 12.3 s"
                         " | services 2/2 Running | sshd " + s["sshd"] + " | certificates accepted: not asked"
                         " | rolled back: no | by hand: " + " ".join(s["manual_steps"]))


def test_line_of_a_failure_names_the_logs_the_rollback_and_the_error():
    s = summary(run(failed=True, failure={"phase": "verify", "task": "Verify | Wait", "msg": "gw Offline"},
                    to_version=None, log_path="/ctl/logs/um1", snapshot_taken=True, rolled_back=True,
                    verify={}, rescue_status={"services": {"gw": "Offline", "vcdcol": "Running"}},
                    certificates=True))
    line = s["line"]
    assert line.startswith("um1: failed | 4.2.0 -> - | ")
    assert " | services 1/2 Running | " in line
    assert " | certificates accepted: 0 | " in line
    assert " | rolled back: yes, to usage-meter-inplace-upgrade-4.3 | logs: /ctl/logs/um1 | " in line
    assert line.endswith(" | ERROR: " + s["error"])


def test_line_with_nothing_left_by_hand():
    s = summary(run(todo=False, phases=["preflight"], verify={}, sshd_restore={}, sshd_original={}))
    assert s["result"] == "nothing to do", s
    assert s["line"].endswith(" | nothing left to do by hand"), s["line"]


# --------------------------------------------------------------------------- hops (issue 21)

PLAN = [{"from": "4.2.0", "to": "4.3.0"}, {"from": "4.3.0", "to": "4.8.0"}, {"from": "4.8.0", "to": "9.0.0"}]
HOP1 = {"from": "4.2.0", "to": "4.3.0", "t0": 100.0, "seconds": 30.1, "phase": "verify",
        "snapshot": "usage-meter-inplace-upgrade 4.2.0 to 4.3.0"}
HOP2 = {"from": "4.3.0", "to": "4.8.0", "t0": 131.0, "seconds": 41.0, "phase": "verify", "snapshot": None}


def test_every_hop_is_listed_with_its_time_and_result():
    s = summary(failed_in("upgrade", plan=PLAN, hops_done=[HOP1, HOP2], hop={"from": "4.8.0", "to": "9.0.0", "t0": 172.0},
                          now=180.5))
    assert s["hops"] == [{"from": "4.2.0", "to": "4.3.0", "seconds": 30.1, "result": "upgraded"},
                         {"from": "4.3.0", "to": "4.8.0", "seconds": 41.0, "result": "upgraded"},
                         {"from": "4.8.0", "to": "9.0.0", "seconds": 8.5, "result": "failed"}]
    assert " | hops 4.2.0 -> 4.3.0 upgraded 30.1 s; 4.3.0 -> 4.8.0 upgraded 41.0 s; 4.8.0 -> 9.0.0 failed 8.5 s | " in s["line"]


def test_hops_not_reached_are_not_run_and_a_hop_cut_short_by_tags_is_not_finished():
    s = summary(run(plan=PLAN, hops_done=[{**HOP1, "phase": "copy"}], hop={}))
    assert [h["result"] for h in s["hops"]] == ["not finished", "not run", "not run"]
    assert s["hops"][2]["seconds"] is None
    s = summary(run(check_mode=True, plan=PLAN[:1], hops_done=[{**HOP1, "phase": "copy"}]))
    assert s["hops"] == [{"from": "4.2.0", "to": "4.3.0", "seconds": 30.1, "result": "check mode: would upgrade"}]


def test_nothing_to_do_lists_no_hop():
    s = summary(run(todo=False, phases=["preflight"], verify={}, plan=[], hops_done=[], hop={}))
    assert s["hops"] == [] and " | hops " not in s["line"]


def test_snapshots_of_every_hop_are_to_delete_and_a_rollback_names_the_failed_hops():
    both = [HOP1, {**HOP2, "snapshot": "usage-meter-inplace-upgrade 4.3.0 to 4.8.0"}]
    s = summary(run(plan=PLAN[:2], hops_done=both))
    assert s["snapshot"] == "usage-meter-inplace-upgrade 4.2.0 to 4.3.0, usage-meter-inplace-upgrade 4.3.0 to 4.8.0"
    assert any(m.startswith("Delete snapshot " + s["snapshot"]) for m in s["manual_steps"]), s["manual_steps"]
    failing = {"from": "4.3.0", "to": "4.8.0", "t0": 131.0, "snapshot": "usage-meter-inplace-upgrade 4.3.0 to 4.8.0"}
    s = summary(failed_in("verify", plan=PLAN[:2], hops_done=[HOP1], hop=failing, now=140.0,
                          snapshot_taken=True, rolled_back=True))
    assert s["snapshot"] == failing["snapshot"] and s["rolled_back"] is True
    assert "Rolled back to snapshot usage-meter-inplace-upgrade 4.3.0 to 4.8.0." in s["error"]
    assert [h["result"] for h in s["hops"]] == ["upgraded", "failed"]
    step = next(m for m in s["manual_steps"] if m.startswith("The VM was reverted"))
    assert "sshd running and enabled" in step, step


def test_a_rollback_to_the_snapshot_taken_before_ssh_opened_says_nothing_of_sshd():
    """The first hop's snapshot, taken while sshd was as found (the API gave the version): the revert
    brings sshd back as it was; a later hop's snapshot was taken with sshd opened, and says so."""
    first = {"from": "4.2.0", "to": "4.3.0", "t0": 100.0, "snapshot": "usage-meter-inplace-upgrade 4.2.0 to 4.3.0"}
    s = summary(failed_in("upgrade", plan=PLAN[:2], hops_done=[], hop=first, now=120.0, snapshot_taken=True,
                          rolled_back=True, early_snapshot=first["snapshot"]))
    step = next(m for m in s["manual_steps"] if m.startswith("The VM was reverted"))
    assert step == f"The VM was reverted to snapshot {first['snapshot']}: check that it is powered on and metering."
    second = {"from": "4.3.0", "to": "4.8.0", "t0": 131.0, "snapshot": "usage-meter-inplace-upgrade 4.3.0 to 4.8.0"}
    s = summary(failed_in("verify", plan=PLAN[:2], hops_done=[HOP1], hop=second, now=140.0, snapshot_taken=True,
                          rolled_back=True, early_snapshot=first["snapshot"]))
    step = next(m for m in s["manual_steps"] if m.startswith("The VM was reverted"))
    assert "sshd running and enabled" in step, step
