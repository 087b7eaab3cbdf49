"""Bounded fuzzing of the args parser and the status-output parser (tools/fuzz.sh).

Off by default: installing cargo-fuzz takes about 4 minutes and the first build
of the fuzz targets (vendored OpenSSL included) several more on 2 cores, which
is too much for every `make test`. Run it with

    UM_FUZZ=1 .venv/bin/pytest tests/test_fuzz_smoke.py     # 20 s per target
    tools/fuzz.sh 600                                     # longer, by hand or nightly

UM_FUZZ_SECONDS changes the time per target here.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["args_parse", "status_parse"]
SECONDS = int(os.environ.get("UM_FUZZ_SECONDS", "20"))

pytestmark = pytest.mark.skipif(
    os.environ.get("UM_FUZZ") != "1",
    reason="fuzzing is opt-in (cargo-fuzz install + build take minutes): "
           "set UM_FUZZ=1, or run tools/fuzz.sh [SECONDS]",
)


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_survives(target):
    # the first run may install cargo-fuzz and build the targets: allow for it
    cp = subprocess.run([str(REPO / "tools" / "fuzz.sh"), str(SECONDS), target], capture_output=True,
                        text=True, timeout=3600, cwd=REPO, stdin=subprocess.DEVNULL)
    log = cp.stdout + cp.stderr
    artifacts = REPO / ".work" / "fuzz" / "artifacts" / target
    assert cp.returncode == 0, f"{target} found a failing input (see {artifacts}):\n{log[-6000:]}"
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    assert runs and int(runs[-1]) > 0, f"{target} did not run:\n{log[-3000:]}"
    print(f"{target}: {runs[-1]} inputs in {SECONDS} s")
