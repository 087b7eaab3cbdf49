"""vcloud.usage_meter.shar_copy against the simulated appliance.

Every case runs the real module through ansible-playbook (tests/lib/playbook.py)
against a fresh simulated appliance (tests/appliance/umsim.py, fixtures in
tests/conftest.py). Checksums on the appliance are read with the appliance's own
console (`sha256sum`), never through the module under test.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from lib.appliance_checks import Throttle
from lib.playbook import require_module, run_module

REPO = Path(__file__).resolve().parents[2]
MODULE = "shar_copy"
DEST = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
PART = "/opt/vmware/cloudusagemetering/.ums-system-upgrade.shar.part"


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


@pytest.fixture
def short_tmp():
    """A TMPDIR for ansible-playbook with a short path: ansible-core 2.21 opens a
    Unix socket under it, and AF_UNIX paths stop at 107 bytes (pytest-xdist's
    tmp_path is longer than that leaves room for)."""
    d = Path(tempfile.mkdtemp(prefix="um-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def conn(a, **extra):
    return {"host": a.host, "password": a.root_password, "known_hosts": a.known_hosts, **extra}


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def remote_sha(a, path: str = DEST) -> str | None:
    cp = a.exec(["sh", "-c", f"[ -f {path} ] && sha256sum {path} | cut -d' ' -f1 || echo ABSENT"])
    out = cp.stdout.strip()
    return None if out == "ABSENT" else out


def remote_exists(a, path: str) -> bool:
    return a.exec(["test", "-e", path]).returncode == 0


def remote_size(a, path: str) -> int | None:
    cp = a.exec(["stat", "-c", "%s", path])
    return int(cp.stdout) if cp.returncode == 0 else None


@pytest.fixture(scope="module")
def bundle(shar_factory):
    return shar_factory("16M", 1.0)


def test_copy_then_recopy_unchanged(appliance, bundle):
    want = sha256(bundle)
    r = run_module(MODULE, conn(appliance, src=str(bundle)), diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True
    assert r["checksum"] == f"sha256:{want}"
    assert r["size"] == bundle.stat().st_size
    assert r["transferred"] == r["size"]
    assert r["resumed"] is False
    assert r["dest"] == DEST
    assert "(absent)" in r["diff"]["before"] and want in r["diff"]["after"]
    assert remote_sha(appliance) == want
    assert not remote_exists(appliance, PART)

    again = run_module(MODULE, conn(appliance, src=str(bundle)))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False
    assert again["transferred"] == 0
    assert again["checksum"] == f"sha256:{want}"

    # a published checksum that matches is accepted, still unchanged
    ok = run_module(MODULE, conn(appliance, src=str(bundle), checksum=f"sha256:{want.upper()}"))
    assert ok["_status"] == "ok" and ok["changed"] is False, ok["_output"]

    # force copies again
    forced = run_module(MODULE, conn(appliance, src=str(bundle), force=True))
    assert forced["_status"] == "ok" and forced["changed"] is True, forced["_output"]
    assert forced["transferred"] == forced["size"]
    assert remote_sha(appliance) == want


def test_replaces_a_different_file(appliance, bundle, tmp_path):
    other = tmp_path / "old.shar"
    other.write_bytes(b"an older bundle\n" * 1000)
    assert appliance.scp_to(other, DEST).returncode == 0
    r = run_module(MODULE, conn(appliance, src=str(bundle)), diff=True)
    assert r["_status"] == "ok" and r["changed"] is True, r["_output"]
    assert remote_sha(appliance) == sha256(bundle)
    assert "another file" in r["diff"]["before"]


def test_check_mode_transfers_nothing(appliance, bundle):
    r = run_module(MODULE, conn(appliance, src=str(bundle)), check=True, diff=True)
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True
    assert r["transferred"] == 0
    assert "would copy" in r["msg"]
    assert not remote_exists(appliance, DEST)
    assert not remote_exists(appliance, PART)


def test_checksum_mismatch_refused_before_sending(appliance, bundle, short_tmp):
    # the local file's checksum is known on the controller (its cache, here
    # filled by a check-mode run): a wrong one is refused before a byte is sent
    wrong = "sha256:" + "0" * 64
    env = {"TMPDIR": str(short_tmp)}
    warm = run_module(MODULE, conn(appliance, src=str(bundle)), check=True, env=env)
    assert warm["_status"] == "ok", warm["_output"]
    before = rx_bytes(appliance)
    r = run_module(MODULE, conn(appliance, src=str(bundle), checksum=wrong), env=env)
    received = rx_bytes(appliance) - before
    assert r["_status"] == "failed"
    assert "nothing was sent" in r["msg"] and sha256(bundle) in r["msg"]
    assert received < 2 * 1024 * 1024, f"{received} bytes reached the appliance"
    assert not remote_exists(appliance, DEST)
    assert not remote_exists(appliance, PART)
    # check mode, too, refuses it (it hashes the local file)
    cold = short_tmp / "cold"
    cold.mkdir()
    r = run_module(MODULE, conn(appliance, src=str(bundle), checksum=wrong), check=True, env={"TMPDIR": str(cold)})
    assert r["_status"] == "failed" and "nothing was sent" in r["msg"], r["_output"]


def test_wrong_local_file_is_named_when_the_copy_does_not_verify(appliance, bundle, tmp_path, short_tmp):
    """With a published checksum and the local file's not known yet, the local
    file is not hashed before the copy: the appliance's sum of what it received
    is compared with the checksum. When they differ, the local file is hashed to
    say which side is wrong: here the local file (a corrupt download), and its
    copy is neither put in place nor left behind."""
    want = sha256(bundle)
    corrupt = tmp_path / "ums-system-upgrade.shar"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x40
    corrupt.write_bytes(bytes(data))
    cold = short_tmp / "cold"
    cold.mkdir()
    r = run_module(MODULE, conn(appliance, src=str(corrupt), checksum=f"sha256:{want}"), env={"TMPDIR": str(cold)})
    assert r["_status"] == "failed", r["_output"]
    assert "step 'verify src'" in r["msg"], r["msg"]
    assert f"has sha256:{sha256(corrupt)}, not the expected sha256:{want}" in r["msg"], r["msg"]
    assert "not put in place" in r["msg"], r["msg"]
    assert not remote_exists(appliance, DEST)
    assert not remote_exists(appliance, PART)


def test_published_checksum_verified_on_the_appliance(appliance, bundle, tmp_path, short_tmp):
    """A cold controller (no local checksum cached) and a published checksum:
    the copy is verified on the appliance against it, the controller then knows
    the file's checksum (its cache), and a re-run changes nothing."""
    want = sha256(bundle)
    env = {"TMPDIR": str(short_tmp)}
    r = run_module(MODULE, conn(appliance, src=str(bundle), checksum=f"sha256:{want}"), env=env)
    assert r["_status"] == "ok" and r["changed"] is True, r["_output"]
    assert r["checksum"] == f"sha256:{want}" and r["transferred"] == r["size"]
    assert remote_sha(appliance) == want
    assert not remote_exists(appliance, PART)
    cached = [p.read_text() for p in short_tmp.glob("vcloud-usage-meter-*/sha256-*")]
    assert any(t.endswith(f"\n{want}\n") and str(bundle) in t for t in cached), cached
    again = run_module(MODULE, conn(appliance, src=str(bundle), checksum=f"sha256:{want}"), env=env)
    assert again["_status"] == "ok" and again["changed"] is False and again["transferred"] == 0, again["_output"]

    # a partial file of the bundle's size with other bytes: the appliance's sum
    # differs, the local file is the published one, so the transfer is what
    # went wrong: copied again from the start, then verified
    assert appliance.exec(["rm", "-f", DEST]).returncode == 0
    junk = tmp_path / "junk"
    junk.write_bytes(b"z" * bundle.stat().st_size)
    assert appliance.scp_to(junk, PART).returncode == 0
    cold = short_tmp / "cold"
    cold.mkdir()
    r = run_module(MODULE, conn(appliance, src=str(bundle), checksum=f"sha256:{want}"), env={"TMPDIR": str(cold)})
    assert r["_status"] == "ok", r["_output"]
    assert any("did not verify" in w for w in r.get("warnings", [])), r.get("warnings")
    assert r["transferred"] == r["size"] and r["resumed"] is False
    assert remote_sha(appliance) == want
    assert not remote_exists(appliance, PART)


@pytest.mark.parametrize("checksum, words", [
    ("0" * 64, "sha256:<64 hex digits>"),
    ("sha256:abc", "sha256:<64 hex digits>"),
    ("md5:" + "0" * 32, "not supported"),
])
def test_checksum_format_refused(appliance, bundle, checksum, words):
    r = run_module(MODULE, conn(appliance, src=str(bundle), checksum=checksum))
    assert r["_status"] == "failed"
    assert words in r["msg"]
    assert not remote_exists(appliance, DEST)


def test_src_missing_or_directory(appliance, tmp_path):
    r = run_module(MODULE, conn(appliance, src=str(tmp_path / "nope.shar")))
    assert r["_status"] == "failed"
    assert "nope.shar" in r["msg"] and "cannot be read" in r["msg"]
    r = run_module(MODULE, conn(appliance, src=str(tmp_path)))
    assert r["_status"] == "failed"
    assert "is a directory" in r["msg"]
    assert not remote_exists(appliance, DEST)


def test_disk_too_small_fails_before_sending(appliance_factory, bundle):
    a = appliance_factory(faults={"disk-small": "4M"})
    r = run_module(MODULE, conn(a, src=str(bundle)))
    assert r["_status"] == "failed"
    assert "free space" in r["msg"] and "nothing was sent" in r["msg"]
    assert r["needed"] == bundle.stat().st_size
    assert r["free"] < r["needed"]
    assert not remote_exists(a, DEST)
    assert not remote_exists(a, PART)


def test_connection_cut_then_rerun_resumes(appliance_factory, shar_factory):
    big = shar_factory("48M", 1.0)
    want = sha256(big)
    a = appliance_factory()
    a.fault_set("cut-copy", "8M")
    with Throttle(a, "200mbit"):          # ~2 s for the copy: the 20 ms watcher cuts it mid-way even on a loaded machine
        r = run_module(MODULE, conn(a, src=str(big), retries=0))
    assert r["_status"] == "failed", r["_output"]
    assert "resumes" in r["msg"]
    fired = [e for e in a.events("fault-fired") if e.get("fault") == "cut-copy"]
    assert fired, "the cut-copy fault did not fire"
    # the file that was being written when the connection was cut is the temporary one
    assert fired[-1].get("file") == ".ums-system-upgrade.shar.part"
    assert not remote_exists(a, DEST), "the real name holds a partial file"
    part = remote_size(a, PART)
    assert part is not None and 0 < part < big.stat().st_size

    r2 = run_module(MODULE, conn(a, src=str(big), retries=0))
    assert r2["_status"] == "ok", r2["_output"]
    assert r2["changed"] is True and r2["resumed"] is True
    assert 0 < r2["transferred"] < r2["size"]
    assert r2["transferred"] <= r2["size"] - part + 4 * 1024 * 1024
    assert remote_sha(a) == want
    assert not remote_exists(a, PART)


def test_connection_cut_is_retried_in_the_same_run(appliance_factory, shar_factory):
    big = shar_factory("48M", 1.0)
    a = appliance_factory()
    a.fault_set("cut-copy", "8M")
    with Throttle(a, "200mbit"):
        r = run_module(MODULE, conn(a, src=str(big)))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["resumed"] is True
    assert any("dropped" in w for w in r.get("warnings", []))
    assert [e for e in a.events("fault-fired") if e.get("fault") == "cut-copy"]
    assert remote_sha(a) == sha256(big)
    assert not remote_exists(a, PART)


def test_bad_partial_file_restarts_from_zero(appliance, bundle, tmp_path):
    # a .part longer than the source, and one with wrong content: both end verified
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * (bundle.stat().st_size + 10))
    assert appliance.scp_to(junk, PART).returncode == 0
    r = run_module(MODULE, conn(appliance, src=str(bundle)))
    assert r["_status"] == "ok", r["_output"]
    assert r["resumed"] is False and r["transferred"] == r["size"]
    assert remote_sha(appliance) == sha256(bundle)

    assert appliance.exec(["rm", "-f", DEST]).returncode == 0
    junk.write_bytes(b"y" * 4096)
    assert appliance.scp_to(junk, PART).returncode == 0
    r = run_module(MODULE, conn(appliance, src=str(bundle)))
    assert r["_status"] == "ok", r["_output"]
    assert any("did not verify" in w for w in r.get("warnings", []))
    assert remote_sha(appliance) == sha256(bundle)
    assert not remote_exists(appliance, PART)


def rx_bytes(a) -> int:
    """Bytes the appliance's network interfaces received (its own netns's counters)."""
    lines = a.exec(["cat", "/proc/net/dev"], check=True).stdout.splitlines()[2:]
    return sum(int(line.split(":", 1)[1].split()[0]) for line in lines if not line.strip().startswith("lo:"))


def test_copy_that_lost_its_lock_stops_at_once(appliance, shar_factory):
    """Another copy took over the lock (here: a wrapper around the appliance's mv
    rewrites the owner record the moment this copy's holder writes it). The copy
    must stop before sending the bundle, say so, and write nothing; 1.0.0 sent
    the whole bundle to /dev/null first."""
    big = shar_factory("64M", 1.0)
    wrapper = ('#!/bin/sh\n/bin/mv "$@"; rc=$?\n'
               'for a; do case $a in */shar_copy.owner) sed -i "s/^token=.*/token=another-copy/" "$a" ;; esac; done\n'
               'exit $rc\n')
    appliance.exec(["sh", "-c", "cat > /usr/local/bin/mv && chmod 0755 /usr/local/bin/mv"], input=wrapper, check=True)
    before = rx_bytes(appliance)
    r = run_module(MODULE, conn(appliance, src=str(big)))
    received = rx_bytes(appliance) - before
    assert r["_status"] == "failed", r
    assert "no longer holds the copy lock" in r["msg"] and "step 'copy'" in r["msg"], r["msg"]
    assert not remote_exists(appliance, DEST)
    assert (remote_size(appliance, PART) or 0) == 0
    # stopped early: far less than the 64 MiB bundle crossed the link
    assert received < 16 * 1024 * 1024, f"{received} bytes reached the appliance"


def ssh_logins(a) -> int:
    """Logins the appliance's sshd accepted so far ("Accepted ..." in its VERBOSE log)."""
    cp = a.exec(["sh", "-c", "grep -c '^.*Accepted ' /var/log/sshd.log || true"])
    return int(cp.stdout.strip() or 0)


def test_two_streams_copy_verified_with_one_login_more(appliance, shar_factory, tmp_path):
    """streams: 2 sends the halves on two connections into two files that the appliance
    joins before it hashes; streams: 1 keeps to one login. Both end with the bundle in place."""
    big = shar_factory("24M", 1.0)
    want = sha256(big)
    counts = {}
    for streams in ("1", "2"):
        appliance.exec(["rm", "-f", DEST], check=True)
        before = ssh_logins(appliance)
        r = run_module(MODULE, conn(appliance, src=str(big), streams=streams))
        counts[streams] = ssh_logins(appliance) - before
        assert r["_status"] == "ok", r["_output"]
        assert r["changed"] is True and r["resumed"] is False and r["transferred"] == r["size"]
        assert remote_sha(appliance) == want
        assert not remote_exists(appliance, PART) and not remote_exists(appliance, PART + ".2")
    assert counts == {"1": 1, "2": 2}, counts

    # A split copy left by an interrupted run, taken up with streams: 1: the same
    # halves are completed in turn on one connection, then joined and verified.
    data = big.read_bytes()
    mid = len(data) // 2 // (1 << 20) * (1 << 20)
    (tmp_path / "lo").write_bytes(data[:mid - 1000])
    (tmp_path / "hi").write_bytes(data[mid:mid + 5000])
    appliance.exec(["rm", "-f", DEST], check=True)
    assert appliance.scp_to(tmp_path / "lo", PART).returncode == 0
    assert appliance.scp_to(tmp_path / "hi", PART + ".2").returncode == 0
    before = ssh_logins(appliance)
    r = run_module(MODULE, conn(appliance, src=str(big), streams="1"))
    assert r["_status"] == "ok", r["_output"]
    assert r["resumed"] is True and r["transferred"] == 1000 + (len(data) - mid - 5000)
    assert ssh_logins(appliance) - before == 1
    assert remote_sha(appliance) == want
    assert not remote_exists(appliance, PART) and not remote_exists(appliance, PART + ".2")


def test_two_streams_cut_then_rerun_resumes_both_halves(appliance_factory, shar_factory):
    big = shar_factory("48M", 1.0)
    size = big.stat().st_size
    mid = size // 2 // (1 << 20) * (1 << 20)
    a = appliance_factory()
    a.fault_set("cut-copy", "8M")          # cuts every SSH connection: both streams drop
    with Throttle(a, "200mbit"):
        r = run_module(MODULE, conn(a, src=str(big), retries=0, streams="2"))
    assert r["_status"] == "failed", r["_output"]
    assert "resume" in r["msg"]
    assert [e for e in a.events("fault-fired") if e.get("fault") == "cut-copy"]
    assert not remote_exists(a, DEST)
    lower, upper = remote_size(a, PART) or 0, remote_size(a, PART + ".2") or 0
    assert 0 < lower + upper < size and lower <= mid and upper <= size - mid

    r2 = run_module(MODULE, conn(a, src=str(big), retries=0, streams="2"))
    assert r2["_status"] == "ok", r2["_output"]
    assert r2["resumed"] is True and r2["transferred"] == size - lower - upper
    assert remote_sha(a) == sha256(big)
    assert not remote_exists(a, PART) and not remote_exists(a, PART + ".2")


# -- staging (#23): record: true, then staged: verify in the window

STATE_DIR = "/var/lib/vcloud-usage-meter"
RECORD = f"{STATE_DIR}/staged/ums-system-upgrade.shar.json"


def sha1(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def counted(a, args, **kw):
    """Run the module; its result and the SSH connections and logins sshd logged for it."""
    from simtest import SshdLog
    log = SshdLog(a)
    r = run_module(MODULE, args, **kw)
    return r, log.counts()


def test_staged_bundle_recorded_then_only_verified(appliance, bundle):
    """Staging copies the bundle and leaves a root-only record; the window's
    staged: verify sends nothing, in one login, and says when it was staged."""
    a = appliance
    want, want1 = sha256(bundle), sha1(bundle)
    verify = conn(a, src=str(bundle), staged="verify")

    # nothing staged yet: verify refuses and sends nothing
    r = run_module(MODULE, verify)
    assert r["_status"] == "failed" and "no staging record" in r["msg"] and DEST in r["msg"], r["msg"]
    assert not remote_exists(a, DEST)

    # check mode would copy and record, and writes neither
    r = run_module(MODULE, conn(a, src=str(bundle), record=True), check=True)
    assert r["_status"] == "ok" and r["changed"] is True and r["staged"] is False, r["_output"]
    assert not remote_exists(a, DEST) and not remote_exists(a, RECORD)

    r, seen = counted(a, conn(a, src=str(bundle), record=True, checksum=f"sha1:{want1}"))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is True and r["transferred"] == r["size"] and r["staged"] is True
    at = r["staged_at"]
    assert dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ") and at in r["msg"]
    assert seen == {"connections": 1, "logins": 1}, seen
    assert remote_sha(a) == want
    rec = json.loads(a.exec(["cat", RECORD], check=True).stdout)
    assert rec == {"format": 1, "dest": DEST, "name": bundle.name, "size": bundle.stat().st_size,
                   "sha256": want, "sha1": want1, "staged_at": at}
    # root's only: a user that is not root cannot read it
    assert a.exec(["stat", "-c", "%a", RECORD], check=True).stdout.strip() == "600"
    as_nobody = a.exec(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", RECORD])
    assert as_nobody.returncode != 0 and "sha256" not in as_nobody.stdout

    # staging again: nothing to do, the record keeps its time
    again = run_module(MODULE, conn(a, src=str(bundle), record=True))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["transferred"] == 0 and again["staged_at"] == at

    # the window: verified, nothing sent, one login
    before = rx_bytes(a)
    r, seen = counted(a, {**verify, "checksum": f"sha1:{want1}"}, check=False)
    received = rx_bytes(a) - before
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["transferred"] == 0
    assert r["staged"] is True and r["staged_at"] == at and at in r["msg"]
    assert r["checksum"] == f"sha256:{want}"
    assert seen == {"connections": 1, "logins": 1}, seen
    assert received < 1024 * 1024, f"{received} bytes reached the appliance"
    # a checksum the staged bundle does not have is refused
    r = run_module(MODULE, {**verify, "checksum": "sha1:" + "0" * 40})
    assert r["_status"] == "failed" and "not the expected sha1" in r["msg"] and at in r["msg"], r["msg"]

    # one byte altered on the appliance (size and name unchanged): refused
    a.exec(["sh", "-c", f"printf X | dd of={DEST} bs=1 seek=4096 conv=notrunc status=none"], check=True)
    r = run_module(MODULE, verify)
    assert r["_status"] == "failed", r["_output"]
    assert "staged bundle changed on the appliance since " + at in r["msg"], r["msg"]
    assert DEST in r["msg"] and "stage it again" in r["msg"]
    # removed: refused, naming it and the time
    a.exec(["rm", "-f", DEST], check=True)
    r = run_module(MODULE, verify, check=True)
    assert r["_status"] == "failed", r["_output"]
    assert f"since {at}: {DEST} is gone" in r["msg"], r["msg"]
    assert not remote_exists(a, DEST)
