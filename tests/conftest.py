"""Shared pytest fixtures: simulated Usage Meter appliances (tests/appliance/umsim.py).

Fixtures (all need root; they skip the test with a reason when not root):

  umsim              the tests/appliance/umsim.py module
  umsim_root         the state root used by this run (UMSIM_ROOT or <repo>/.work/appliances)
  appliance_factory  make(version="4.2.0", sshd="running", faults=None, config=None, **start_kw)
                     -> umsim.Appliance; every appliance it made is stopped (and its state
                     purged, unless UMSIM_KEEP=1) when the test ends, pass or fail
  appliance          a 4.2.0 appliance with sshd running (started like the documented
                     `service sshd start`: not enabled, so a reboot leaves it off)
  shar_factory       make(size="16M", seconds=2.0) -> Path of a cached ums-system-upgrade.shar
  shar               a small (8 MiB) bundle whose upgrade runs about 1 s

Names are unique per run (t<pid><random>-<n>), so two runs never collide; each
appliance's network namespace is umsim-<random>.
"""
from __future__ import annotations

import itertools
import os
import secrets
import shutil
import sys
from pathlib import Path

import pytest

_APPLIANCE_DIR = Path(__file__).resolve().parent / "appliance"
if str(_APPLIANCE_DIR) not in sys.path:
    sys.path.insert(0, str(_APPLIANCE_DIR))

_RUN_ID = f"t{os.getpid()}{secrets.token_hex(2)}"
_COUNTER = itertools.count(1)
_STARTED: list[tuple[str, object]] = []


def _need_root():
    if os.geteuid() != 0:
        why = "simulated appliances need root (network/PID/mount namespaces, overlayfs)"
        if os.environ.get("UM_COLLECTIONS_PATH"):   # make test: never pass by skipping the appliance tests
            pytest.fail(why)
        pytest.skip(why)
    missing = [t for t in ("ip", "unshare", "nsenter", "ssh", "scp", "sshpass", "ssh-keygen",
                           "openssl", "setpriv", "pivot_root") if shutil.which(t) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("sshd (openssh-server)")
    if missing:
        pytest.fail("the appliance harness needs these tools (see tests/appliance/apt-packages.txt): "
                    + ", ".join(missing))


@pytest.fixture(scope="session")
def umsim():
    _need_root()
    import umsim as mod
    return mod


@pytest.fixture(scope="session")
def umsim_root(umsim):
    root = umsim.root_dir()
    root.mkdir(parents=True, exist_ok=True)
    yield root
    # safety net: anything this run started and a test did not stop
    for name, r in list(_STARTED):
        try:
            umsim.stop(name, r, purge=os.environ.get("UMSIM_KEEP") != "1")
        except Exception:
            pass


@pytest.fixture
def appliance_factory(umsim, umsim_root):
    made = []

    def make(version: str = "4.2.0", sshd: str = "running", name: str | None = None, **kw):
        name = name or f"{_RUN_ID}-{next(_COUNTER)}"
        _STARTED.append((name, None))
        made.append(name)
        return umsim.start_appliance(name, version=version, sshd=sshd, **kw)

    yield make
    errors = []
    for name in made:   # every one is stopped, even when an earlier stop failed
        try:
            umsim.stop(name, purge=os.environ.get("UMSIM_KEEP") != "1")
        except Exception as e:   # reported below, after the others are stopped
            errors.append(f"{name}: {e!r}")
        finally:
            if (name, None) in _STARTED:
                _STARTED.remove((name, None))
    assert not errors, "stopping appliances failed: " + "; ".join(errors)


@pytest.fixture
def appliance(appliance_factory):
    return appliance_factory()


@pytest.fixture(scope="session")
def shar_factory(umsim, umsim_root):
    def make(size="16M", seconds: float = 2.0):
        return umsim.make_shar(size=size, seconds=seconds)
    return make


@pytest.fixture(scope="session")
def shar(shar_factory):
    return shar_factory("8M", 1.0)
