# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result of a play to $UM_RESULTS_FILE
as a JSON list, so tests assert on real module results, not on parsed text;
with $UM_RECAP_FILE set, also the PLAY RECAP counters per host as JSON
({host: {ok, changed, unreachable, failures, skipped, rescued, ignored}}).

On ansible-core 2.22 the results a callback gets are masked: every registered
secret reads $REDACTED$ (docs/ansible-protocol.md, "Secrets"). 2.22.0rc1 offers
callbacks no way to ask for unmasked results, and no test needs them: the
records hold what any callback, AWX's included, would show."""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: um_results
type: aggregate
short_description: record task results as JSON for the test suite
description:
  - Writes every task result to the file named by UM_RESULTS_FILE, and the
    recap counters per host to the file named by UM_RECAP_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "um_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._results = []

    def _record(self, status, result):
        # `result`, `task`, `host` since 2.19; the underscored names before (deprecated in 2.23)
        new = hasattr(result, "result")
        res = result.result if new else getattr(result, "_result", {})
        task, host = (result.task, result.host) if new else (result._task, result._host)
        self._results.append({
            "task": task.get_name(),
            "host": host.get_name(),
            "status": status,
            "result": res,
        })

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("UM_RESULTS_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(self._results, fh, default=str)
        recap = os.environ.get("UM_RECAP_FILE")
        if recap:
            with open(recap, "w", encoding="utf-8") as fh:
                json.dump({h: stats.summarize(h) for h in sorted(stats.processed)}, fh)
