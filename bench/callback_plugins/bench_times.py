# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: per task and host, the epoch times at which the task
started on that host and its result arrived, written as JSON to $BENCH_TIMES_FILE."""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_times
type: aggregate
short_description: record task start/end times for bench/run.py
description: [Writes task timings to the file named by BENCH_TIMES_FILE.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._start = {}
        self._rows = []

    def v2_runner_on_start(self, host, task):
        self._start[(host.get_name(), task._uuid)] = time.time()

    def _record(self, status, result):
        end = time.time()
        key = (result._host.get_name(), result._task._uuid)
        res = getattr(result, "_result", {})
        self._rows.append({"task": result._task.get_name(), "host": key[0], "status": status,
                           "start": self._start.get(key), "end": end,
                           "result": {k: v for k, v in res.items() if k in (
                               "seconds", "transferred", "elapsed", "changed", "msg", "rebooted",
                               "boot_id_after", "checksum", "size", "failed")}})

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TIMES_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(self._rows, fh, default=str)
