# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vcloud.usage_meter.failure_logs and failure_noted: the failure path of
vcloud.usage_meter.inplace_upgrade (roles/inplace_upgrade/tasks/failure.yml)
decided in code: which upgrade log the failure names, which of the logs that
upgrade_logs copied to the controller is that log, and what the failure
message and the run record say once the evidence is saved.

Two filters in one file: each is documented in its own sidecar file
(failure_logs.yml, failure_noted.yml). Pure: no I/O, no Ansible state;
tests/unit/test_failure_report.py covers every choice."""

from __future__ import annotations

import posixpath
import re

# The upgrade logs of the shar (also under cloudusagemetering-old after the
# reboot), then the upgrade module's run output (docs/appliance.md).
_UPGRADE_LOG = re.compile(r"/inplaceupgradeum-[^/]*$")
_RUN_OUTPUT = re.compile(r"/runs/[^/]*[.]log$")
_ENDS_A_SENTENCE = re.compile(r"[.!?]$")


def _first_text(*values) -> str:
    """The first value that is a non-empty text once trimmed, else ''."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def without_keys(result, keys=("invocation", "exception")) -> dict:
    """A task result without the keys that only repeat the arguments or a traceback."""
    return {k: v for k, v in dict(result or {}).items() if k not in keys}


def _saved_log(files: list, wanted: str) -> str:
    """The local copy of the log the failure names, else of the same log moved by
    the reboot (same name, another folder; the newest first), else of the newest
    upgrade log, else of the upgrade module's run output; '' when none was copied."""
    files = [f for f in files if isinstance(f, dict) and f.get("remote") and f.get("local")]
    newest_first = list(reversed(files))
    picks = [f for f in files if f["remote"] == wanted]
    if wanted:
        name = "/" + posixpath.basename(wanted)
        picks += [f for f in newest_first if f["remote"].endswith(name)]
    picks += [f for f in newest_first if _UPGRADE_LOG.search(f["remote"])]
    picks += [f for f in newest_first if _RUN_OUTPUT.search(f["remote"])]
    return picks[0]["local"] if picks else ""


def _rc(failed_result: dict, upgrade: dict, phase: str):
    if phase == "upgrade" and "rc" in failed_result:
        return failed_result["rc"]
    return upgrade.get("rc", "n/a")


def failure_logs(evidence: dict) -> dict:
    """What failure.txt and failure.json say about the logs (see failure_logs.yml)."""
    evidence = dict(evidence or {})
    run = evidence.get("run") or {}
    failed = run.get("failed_result") or {}
    upgrade = evidence.get("upgrade") or {}
    status = evidence.get("rescue_status") or {}
    copied = evidence.get("rescue_logs") or {}
    phase = (run.get("failure") or {}).get("phase") or run.get("phase") or ""
    upgrade_log = _first_text(failed.get("upgrade_log"), upgrade.get("upgrade_log"), status.get("upgrade_log"))
    files = copied.get("files") if isinstance(copied.get("files"), list) else None
    if files is not None:
        copied_note = ", ".join(str(f.get("remote")) for f in files if isinstance(f, dict))
    else:
        copied_note = "nothing (" + (_first_text(copied.get("msg")) or "not attempted") + ")"
    return {
        "upgrade_log": upgrade_log,
        "saved_log": _saved_log(files or [], upgrade_log),
        "files": list(files or []),
        "copied": [f.get("remote") for f in files or [] if isinstance(f, dict)],
        "copied_note": copied_note,
        "rc": _rc(failed, upgrade, phase),
        "output_tail": list(failed.get("stdout_lines") or []),
        "log_tail": list(failed.get("upgrade_log_tail") or status.get("upgrade_log_tail") or []),
        "status_lines": list(status.get("stdout_lines") or []),
    }


def failure_noted(saved: dict) -> dict:
    """The run record's log_path, log_error and failure once the evidence is saved
    (see failure_noted.yml)."""
    saved = dict(saved or {})
    run = saved.get("run") or {}
    log_dir = saved.get("log_dir") or {}
    dir_ok = log_dir.get("state") == "directory"
    errors = [r["msg"] for r in (saved.get("written") or {}).get("results") or []
              if isinstance(r, dict) and r.get("msg") and not r.get("skipped")]
    log_path = run.get("log_path") or ""
    log_error = ""
    if not dir_ok or errors:
        cause = log_dir.get("msg") or (errors[0] if errors else "?")
        log_error = "could not save the logs in " + log_path + ": " + str(cause)
    failure = dict(run.get("failure") or {})
    saved_log = run.get("saved_log") or ""
    if saved_log:
        msg = str(failure.get("msg", "")).strip()
        failure["msg"] = msg + ("" if _ENDS_A_SENTENCE.search(msg) else ".") + " Full upgrade log saved as " + saved_log
    return {"log_path": log_path if dir_ok else "", "log_error": log_error, "failure": failure, "saved_log": saved_log}


class FilterModule:
    """vcloud.usage_meter filters."""

    def filters(self):
        return {"failure_logs": failure_logs, "failure_noted": failure_noted, "without_keys": without_keys}
