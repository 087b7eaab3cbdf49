# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: per task and host, the epoch times at which the task
started on that host and its result arrived, written as JSON to $BENCH_TIMES_FILE.

With $BENCH_TRACE_FILE set it also traces the worker side (bench/run.py's
breakdown of figure 3): when ansible-playbook loads this callback it wraps
TaskExecutor.run and subprocess.Popen, so every worker forked afterwards
appends one JSON line per event to that file: the TaskExecutor's start and end
(pid, task uuid, host) and every subprocess it ran (start, end of communicate(),
the command's first characters). That costs a few small appends per task."""
from __future__ import annotations

import json
import os
import subprocess
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_times
type: aggregate
short_description: record task start/end times for bench/run.py
description: [Writes task timings to the file named by BENCH_TIMES_FILE.]
"""

_TRACE = os.environ.get("BENCH_TRACE_FILE")


def _emit(kind, **fields):
    line = json.dumps(dict(fields, k=kind, pid=os.getpid()), default=str) + "\n"
    fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _install_trace():
    from ansible.executor import task_executor

    if getattr(task_executor.TaskExecutor.run, "_bench_traced", False):
        return
    orig_run = task_executor.TaskExecutor.run
    orig_init = subprocess.Popen.__init__
    orig_communicate = subprocess.Popen.communicate

    def run(self):
        ids = {"task": self._task._uuid, "host": self._host.get_name()}
        _emit("te_start", t=time.time(), **ids)
        try:
            return orig_run(self)
        finally:
            _emit("te_end", t=time.time(), **ids)

    def init(self, args, *a, **kw):
        self._bench_t0 = time.time()
        cmd = args if isinstance(args, (str, bytes)) else " ".join(str(x) for x in args)
        self._bench_cmd = cmd.decode(errors="replace") if isinstance(cmd, bytes) else cmd
        orig_init(self, args, *a, **kw)

    def communicate(self, *a, **kw):
        try:
            return orig_communicate(self, *a, **kw)
        finally:
            t0 = getattr(self, "_bench_t0", None)
            if t0 is not None:
                _emit("proc", t0=t0, t=time.time(), cmd=self._bench_cmd[:300])

    run._bench_traced = True
    task_executor.TaskExecutor.run = run
    subprocess.Popen.__init__ = init
    subprocess.Popen.communicate = communicate


if _TRACE:
    _install_trace()


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
        inv = (res.get("invocation") or {}).get("module_args") or {}
        self._rows.append({"task": result._task.get_name(), "uuid": key[1], "host": key[0], "status": status,
                           "start": self._start.get(key), "end": end,
                           "result": {k: v for k, v in res.items() if k in (
                               "seconds", "transferred", "elapsed", "changed", "msg", "rebooted",
                               "boot_id_after", "checksum", "size", "failed", "attempts", "waited", "staged", "staged_at", "settled_by")},
                           # the connection the module was given (no secrets: those are no_log)
                           "conn": {k: v for k, v in inv.items() if k in (
                               "host", "port", "username", "private_key", "host_key_checking", "known_hosts")}})

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
