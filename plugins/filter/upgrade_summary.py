# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vcloud.usage_meter.upgrade_summary: the summary of one appliance's in-place
upgrade, and what is left to do by hand, from the run record of
vcloud.usage_meter.inplace_upgrade (roles/inplace_upgrade/tasks/report.yml).

Pure: no I/O, no Ansible state; tests/unit/test_upgrade_summary.py covers
every result and every manual step."""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

DOCUMENTATION = r"""
name: upgrade_summary
author: vcloud.usage_meter contributors
version_added: 1.1.0
short_description: Summarize one appliance's in-place upgrade and the steps left by hand
description:
  - Puts together the summary that the role C(vcloud.usage_meter.inplace_upgrade) prints, keeps as the fact
    C(usage_meter_summary) and hands to the automation controller, from what the run recorded.
  - >-
    The result is one of C(upgraded), C(nothing to do), C(check mode: would upgrade),
    C(not finished) with the phases run (some phases were left out with C(--tags) or C(--skip-tags)) and C(failed).
  - The manual steps say what a person still has to do on that appliance, in the order they should be done.
positional: _input
options:
  _input:
    description:
      - The run record. Every key is optional; a missing key means the step did not happen.
    type: dict
    required: true
    suboptions:
      host:
        description: The inventory host name.
        type: str
      address:
        description: The address the appliance was reached at.
        type: str
      check_mode:
        description: Whether the play ran in check mode.
        type: bool
        default: false
      todo:
        description: Whether the appliance was below the target version (the upgrade was to be done).
        type: bool
        default: false
      failed:
        description: Whether a phase failed.
        type: bool
        default: false
      failure:
        description: What failed, with the keys C(phase), C(task) and C(msg).
        type: dict
        default: {}
      phases:
        description: The phases that ran, in order.
        type: list
        elements: str
        default: []
      from_version:
        description: The version before the run.
        type: str
      to_version:
        description: The version read after the upgrade.
        type: str
      seconds:
        description: How long the run took.
        type: float
      verify:
        description: The result of M(vcloud.usage_meter.verify) in the verify phase.
        type: dict
        default: {}
      rescue_status:
        description: The result of M(vcloud.usage_meter.verify) run after a failure, for the log.
        type: dict
        default: {}
      sshd_original:
        description: How sshd was before the play (C(source=record) when it was read from the record of an earlier, interrupted run).
        type: dict
        default: {}
      sshd_restore:
        description: The result of M(vcloud.usage_meter.sshd) that put sshd back; empty or skipped when it did not run.
        type: dict
        default: {}
      sshd_final_state:
        description: The role variable C(usage_meter_sshd_final_state).
        type: str
        default: original
      certificates:
        description: Whether the certificates phase was asked for (C(usage_meter_certificates)).
        type: bool
        default: false
      certs:
        description: The result of M(vcloud.usage_meter.certificates).
        type: dict
        default: {}
      snapshot_name:
        description: The name of the VM snapshot.
        type: str
      snapshot_taken:
        description: Whether the VM snapshot exists.
        type: bool
        default: false
      rolled_back:
        description: Whether the VM was reverted to the snapshot.
        type: bool
        default: false
      rollback_error:
        description: Why the revert to the snapshot failed, when it did.
        type: str
      hops_done:
        description: >-
          The hops run to their end, in order, each with C(from), C(to), C(seconds), C(phase) (the last phase it ran) and
          C(snapshot) (its snapshot's name when one was taken).
        type: list
        elements: dict
        default: []
      early_snapshot:
        description: >-
          The first hop's snapshot when it was taken before SSH was opened (sshd as found in it); a rollback to it
          needs no word about sshd.
        type: str
      hop:
        description: The hop that was running when the run stopped (C(from), C(to), C(t0), C(snapshot)); empty when none.
        type: dict
        default: {}
      plan:
        description: The hops planned (C(usage_meter_preflight.hops)); those not reached are listed as C(not run).
        type: list
        elements: dict
        default: []
      now:
        description: The time of the report (seconds since the epoch), for how long the hop running took.
        type: float
      log_path:
        description: The folder on the controller where the logs of a failure were saved.
        type: str
        default: ""
      log_error:
        description: Why the logs could not be saved, when they could not.
        type: str
        default: ""
"""

EXAMPLES = r"""
- name: Put the summary together
  ansible.builtin.set_fact:
    usage_meter_summary: "{{ run | vcloud.usage_meter.upgrade_summary }}"
  vars:
    run:
      host: "{{ inventory_hostname }}"
      address: "{{ usage_meter_host }}"
      todo: true
      phases: [preflight, sshd_access, copy, upgrade, reboot, verify]
      from_version: 4.2.0
      to_version: 4.3.0
      seconds: 312.4
"""

RETURN = r"""
_value:
  description: The summary of the appliance.
  type: dict
  contains:
    host:
      description: The inventory host name.
      type: str
    address:
      description: The address of the appliance.
      type: str
    result:
      description: >-
        C(upgraded), C(nothing to do), C(check mode: would upgrade), C(not finished) with the phases run or C(failed).
      type: str
      sample: upgraded
    from_version:
      description: The version before the run.
      type: str
    to_version:
      description: The version after the run; null unless upgraded or nothing to do.
      type: str
    phases:
      description: The phases that ran.
      type: list
      elements: str
    hops:
      description: >-
        Every hop planned, in order, with C(from), C(to), C(seconds) (null when not run) and C(result): C(upgraded),
        C(failed), C(not finished), C(check mode: would upgrade) or C(not run).
      type: list
      elements: dict
    seconds:
      description: How long the run took.
      type: float
    services:
      description: The services and their state, from the verify phase (or the status read after a failure).
      type: dict
    sshd:
      description: What sshd was left as, in words.
      type: str
      sample: stopped, disabled (restored)
    snapshot:
      description: >-
        The VM snapshots taken (one per hop, comma-separated), else null; after a rollback, the snapshot the VM was
        reverted to (the failed hop's).
      type: str
    rolled_back:
      description: Whether the VM was reverted to the snapshot.
      type: bool
    certificates_accepted:
      description: The ids of the certificates accepted.
      type: list
      elements: str
    logs:
      description: Where the logs of a failure were saved, else null.
      type: str
    manual_steps:
      description: What is left to do by hand, in order.
      type: list
      elements: str
    error:
      description: The error of a failed run, else null.
      type: str
    line:
      description: >-
        All of it in one line, as the role prints it for the host and the playbook C(vcloud.usage_meter.upgrade)
        for the fleet.
      type: str
      sample: "um1: upgraded | 4.2.0 -> 4.3.0 | hops 4.2.0 -> 4.3.0 upgraded 30.1 s | phases preflight, copy | 312.4 s | ..."
"""

_ENDS_A_SENTENCE = re.compile(r".*[.!?]$")


def _bool(value) -> bool:
    """As Ansible's bool filter reads a value: true, yes, on, 1 (any case) are true."""
    return boolean(value, strict=False)


def _text(value) -> str:
    """A value as Jinja's ~ joins it (None is "None"): the role's messages did so."""
    return str(value)


def _opt(value) -> str:
    """An optional text: None and missing are empty."""
    return "" if value is None else str(value)


def _sentence(msg) -> str:
    """The message trimmed, ending with a full stop unless it ends a sentence already."""
    text = _text(msg).strip()
    return text + ("" if _ENDS_A_SENTENCE.match(text) else ".")


def _result(run: dict, restore_failed: bool) -> str:
    if _bool(run.get("failed")) or restore_failed:
        return "failed"
    if not _bool(run.get("todo")):
        return "nothing to do"
    if _bool(run.get("check_mode")):
        return "check mode: would upgrade"
    phases = list(run.get("phases") or [])
    if "verify" in phases:
        return "upgraded"
    return "not finished (phases run: " + ", ".join(_text(p) for p in phases) + ")"


def _sshd_text(run: dict, restore: dict, restore_ok: bool, restore_failed: bool) -> str:
    if restore_ok:
        from_record = (_text(run.get("sshd_final_state") or "original") == "original"
                       and _opt((run.get("sshd_original") or {}).get("source")) == "record")
        return ("stopped" if not _bool(restore.get("active")) else "running") + ", " \
            + ("enabled" if _bool(restore.get("enabled")) else "disabled") + " (restored" \
            + (" to the state recorded before an earlier, interrupted run" if from_record else "") + ")"
    if restore_failed:
        return "NOT restored: " + _text(restore.get("msg", "?"))
    if _bool(run.get("rolled_back")):
        return "back in its snapshot state"
    return "not touched"


def _manual_steps(run: dict, result: str, restore: dict, restore_failed: bool, certs: dict, certs_ok: bool) -> list:
    failed = _bool(run.get("failed"))
    log_path = _opt(run.get("log_path"))
    log_error = _opt(run.get("log_error"))
    failure = run.get("failure") or {}
    snapshot = _text(run.get("snapshot_name"))
    steps = []
    if failed and log_path:
        steps.append("Find the cause in " + log_path + ", fix it, and run the play again (each step resumes where it can).")
    if log_error:
        steps.append("Set usage_meter_log_dir to a writable folder: " + log_error)
    if failed and _opt(failure.get("phase")) == "preflight":
        steps.append("Fix the preflight problems above and run the play again; nothing was changed.")
    if restore_failed:
        steps.append("sshd could not be put back (" + _text(restore.get("msg", "?"))
                     + "): once the appliance answers, stop and disable sshd on its console"
                     " (systemctl disable --now sshd) or run the play again.")
    if _bool(run.get("rolled_back")):
        # a hop's snapshot is taken with sshd opened for the upgrade, unless it was taken before SSH opened
        hop = run.get("hop") or {}
        opened = bool(hop) and hop.get("snapshot") != _opt(run.get("early_snapshot"))
        steps.append("The VM was reverted to snapshot " + snapshot + ": check that it is powered on and metering."
                     + (" The snapshot was taken with sshd running and enabled for the upgrade: run the play again"
                        " to finish (it puts sshd back as it was), or disable sshd on the console"
                        " (systemctl disable --now sshd)." if opened else ""))
    if _opt(run.get("rollback_error")):
        steps.append("The VM revert to snapshot " + snapshot + " failed (" + _text(run.get("rollback_error"))
                     + "): revert it in vCenter by hand.")
    if result.startswith("not finished"):
        steps.append("Run the play again without --tags/--skip-tags to finish the upgrade (each step resumes where it can).")
    if result == "upgraded" and not _bool(run.get("certificates")):
        steps.append("Accept the certificates of every metered product server (vCenter, vCloud Director, NSX, ...)"
                     " in the Usage Meter web UI, or run the play with usage_meter_certificates: true"
                     " and usage_meter_api_password.")
    refused = certs.get("refused") or []
    if certs_ok and len(refused) > 0:
        steps.append("Certificates refused (accept them by hand after checking): "
                     + ", ".join(_text(c.get("certificate_id")) for c in refused))
    if result == "upgraded" and _bool(run.get("snapshot_taken")):
        steps.append("Delete snapshot " + snapshot + " in vCenter once metering is confirmed.")
    return steps


def _hop_result(run: dict, hop: dict, running: bool) -> str:
    if running:
        return "failed" if _bool(run.get("failed")) else "not finished"
    if _bool(run.get("check_mode")):
        return "check mode: would upgrade"
    return "upgraded" if _opt(hop.get("phase")) == "verify" else "not finished"


def _seconds_since(t0, now):
    try:
        return round(float(now) - float(t0), 1)
    except (TypeError, ValueError):
        return None


def _hops(run: dict) -> list:
    """Every hop planned: those done, the one running when the run stopped, the rest not run."""
    out = []
    for hop in run.get("hops_done") or []:
        out.append({"from": hop.get("from"), "to": hop.get("to"), "seconds": hop.get("seconds"),
                    "result": _hop_result(run, hop, False)})
    current = run.get("hop") or {}
    if current:
        out.append({"from": current.get("from"), "to": current.get("to"),
                    "seconds": _seconds_since(current.get("t0"), run.get("now")), "result": _hop_result(run, current, True)})
    for hop in (run.get("plan") or [])[len(out):]:
        out.append({"from": hop.get("from"), "to": hop.get("to"), "seconds": None, "result": "not run"})
    return out


def _snapshot(run: dict):
    """The snapshots taken, or the one reverted to; the snapshot_name given when no hop ran."""
    if not run.get("hops_done") and not run.get("hop"):
        return run.get("snapshot_name") if _bool(run.get("snapshot_taken")) else None
    current = run.get("hop") or {}
    if _bool(run.get("rolled_back")):
        return current.get("snapshot")
    names = [h.get("snapshot") for h in run.get("hops_done") or [] if h.get("snapshot")]
    if current.get("snapshot") and _bool(run.get("snapshot_taken")):
        names.append(current["snapshot"])
    return ", ".join(_text(n) for n in names) or None


def upgrade_summary(run: dict) -> dict:
    """The summary of one appliance (see DOCUMENTATION) from its run record."""
    run = dict(run or {})
    run["snapshot_name"] = _snapshot(run)
    run["snapshot_taken"] = run["snapshot_name"] is not None
    restore = run.get("sshd_restore") or {}
    restore_tried = bool(restore) and not _bool(restore.get("skipped"))
    restore_ok = restore_tried and "active" in restore
    restore_failed = restore_tried and not restore_ok
    certs = run.get("certs") or {}
    certs_ok = "accepted" in certs
    result = _result(run, restore_failed)
    sshd = _sshd_text(run, restore, restore_ok, restore_failed).strip()
    failure = run.get("failure") or {}
    log_path = _opt(run.get("log_path"))
    rolled_back = _bool(run.get("rolled_back"))
    host = _opt(run.get("host"))
    from_version = run.get("from_version")

    if _bool(run.get("failed")):
        error = ("in-place upgrade of " + host + " failed in phase " + _text(failure.get("phase"))
                 + ' (task "' + _text(failure.get("task")) + '"): ' + _sentence(failure.get("msg"))
                 + ((" Logs saved in " + log_path + ".") if log_path else "")
                 + " sshd: " + sshd + "."
                 + ((" Rolled back to snapshot " + _text(run.get("snapshot_name")) + ".") if rolled_back else ""))
    elif restore_failed:
        error = "sshd could not be restored on " + host + ": " + _text(restore.get("msg", "?"))
    else:
        error = None

    verify = run.get("verify") or {}
    rescue = run.get("rescue_status") or {}
    summary = {
        "host": host,
        "address": run.get("address"),
        "result": result,
        "from_version": from_version,
        "to_version": (run.get("to_version") if result == "upgraded"
                       else (from_version if result == "nothing to do" else None)),
        "phases": list(run.get("phases") or []),
        "hops": _hops(run),
        "seconds": run.get("seconds"),
        "services": verify.get("services") or rescue.get("services") or {},
        "sshd": sshd,
        "snapshot": run["snapshot_name"],
        "rolled_back": rolled_back,
        "certificates_accepted": ([c.get("certificate_id") for c in certs.get("accepted") or []]
                                  if certs_ok else []),
        "logs": log_path if log_path else None,
        "manual_steps": _manual_steps(run, result, restore, restore_failed, certs, certs_ok),
        "error": error,
    }
    summary["line"] = summary_line(summary, _bool(run.get("certificates")))
    return summary


def summary_line(summary: dict, certificates_asked: bool) -> str:
    """The one line per appliance that the role and the playbook print."""
    services = summary["services"]
    running = sum(1 for state in services.values() if state == "Running")
    fields = [
        summary["result"],
        (_opt(summary["from_version"]) or "?") + " -> " + (_opt(summary["to_version"]) or "-"),
    ] + (["hops " + "; ".join(_hop_text(h) for h in summary["hops"])] if summary["hops"] else []) + [
        "phases " + ", ".join(summary["phases"]),
        "%s s" % summary["seconds"],
        "services %d/%d Running" % (running, len(services)),
        "sshd " + summary["sshd"],
        "certificates accepted: " + (str(len(summary["certificates_accepted"])) if certificates_asked else "not asked"),
        "rolled back: " + (("yes, to " + _text(summary["snapshot"])) if summary["rolled_back"] else "no"),
    ]
    if summary["logs"]:
        fields.append("logs: " + summary["logs"])
    steps = summary["manual_steps"]
    fields.append(("by hand: " + " ".join(steps)) if steps else "nothing left to do by hand")
    if summary["error"]:
        fields.append("ERROR: " + summary["error"])
    return _opt(summary["host"]) + ": " + " | ".join(fields)


def _hop_text(hop: dict) -> str:
    """4.2.0 -> 4.3.0 upgraded 30.1 s."""
    took = (" %s s" % hop["seconds"]) if hop.get("seconds") is not None else ""
    return _opt(hop.get("from")) + " -> " + _opt(hop.get("to")) + " " + _text(hop.get("result")) + took


class FilterModule:
    """vcloud.usage_meter filters."""

    def filters(self):
        return {"upgrade_summary": upgrade_summary}
