"""Fixtures of the reliability suite (helpers: rel_lib.py)."""
from __future__ import annotations

import os
import shutil

import pytest

from reliability.rel_lib import Controller


@pytest.fixture(autouse=True)
def _remove_controller_temp_areas():
    """Each test's private Ansible temp areas go when it ends: a killed play
    leaves an args file with a password in clear there (UMSIM_KEEP=1 keeps them)."""
    yield
    while Controller.created:
        home = Controller.created.pop()
        if os.environ.get("UMSIM_KEEP") != "1":
            shutil.rmtree(home, ignore_errors=True)
