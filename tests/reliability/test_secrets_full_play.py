"""Secrets never shown: the FULL role play (playbooks/upgrade.yml) at -vvv, with
password authentication to SSH, the API credentials, the certificates phase on,
and every password vault-encrypted in the inventory as users are told to do.
One appliance upgrades; a second one fails in verify (a service stays
Offline), so that the failure path (rescue, evidence files, report) runs too.

The secrets: the root password, the API password, the vault password, and
every API session id the play used. The API keeps its sessions in memory only,
so the ids are captured on the wire by a TLS tap (api_tap.py) that the play
talks to instead of the API: it terminates TLS with the appliance's own
certificate (the play still pins the appliance CA) and relays to the API.
Besides those exact ids, no token shaped like one (32 lower-case hex) may show.

Searched: the play output; the module results (the JSON callback's records,
registered results included); every file left in the controller's Ansible temp
areas and the play's directory; the appliance's process list, sampled on its
console all through the play (`ps -eo args`); the appliance's logs (/var/log,
the API access log, the upgrade logs, the upgrade module's run logs) and the
supervisor's timeline; the summary (set_stats, usage_meter_summary, the fleet
summary) and every file under the log dir.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lib.playbook import WORK
from reliability.rel_lib import (SESSION_ID_RE, STATE, UMS, VAULT_PASSWORD, Controller, Sampler, make_bundle,
                                 recap, result, summary, write_inventory)

TAP = Path(__file__).resolve().parent / "api_tap.py"
TAP_PORT = 9443


@pytest.fixture
def tmp_play():
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="reliability-", dir=WORK / "tmp"))


@pytest.fixture
def tap_factory(tmp_play):
    procs = []

    def start(app) -> Path:
        out = tmp_play / f"tap-{app.name}.ids"      # outside every place the test searches
        etc = Path(app.state_dir) / "disk" / "upper" / "etc" / "ums-api"
        p = subprocess.Popen(["ip", "netns", "exec", app.netns, sys.executable, str(TAP), app.host, str(TAP_PORT),
                              str(app.api_port), str(etc / "server.crt"), str(etc / "server.key"), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "listening"
        return out

    yield start
    for p in procs:
        p.kill()
        p.wait(10)


def appliance_texts(app) -> bytes:
    """Every log the appliance keeps, read on its console (bytes: some are binary)."""
    import umsim  # noqa: PLC0415  (tests/appliance, on sys.path through tests/conftest.py)
    script = (f"find /var/log {UMS}/var/logs {UMS}-old/var/logs {STATE} /tmp /root -xdev -type f "
              "-size -20M 2>/dev/null | while read -r f; do printf '\\n==> %s\\n' \"$f\"; cat \"$f\"; done")
    cp = subprocess.run(umsim.exec_argv(app.name, ["sh", "-c", script], app.root), capture_output=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert b"/var/log/ums-api/access.log" in cp.stdout and b"inplaceupgradeum-" in cp.stdout
    return cp.stdout + Path(app.supervisor_log).read_bytes()


def test_full_play_at_vvv_shows_no_secret(appliance_factory, umsim_root, tmp_play, tap_factory):
    bundle = make_bundle("4M", 1.0)
    good = appliance_factory(version="4.1.0", sshd="off")
    bad = appliance_factory(version="4.2.0", sshd="off", faults={"service-offline": None})
    apps = {"um-good": good, "um-bad": bad}
    taps = {h: tap_factory(a) for h, a in apps.items()}
    inv, vf = write_inventory(tmp_play, apps, bundle, umsim_root, group_vars={
        "usage_meter_api_port": TAP_PORT,
        "usage_meter_certificates": True,
    }, host_vars={"um-bad": {"usage_meter_verify_timeout": 8}})   # only the faulty one gives up early
    ctl = Controller(tmp_play)
    ps = {h: Sampler(a, ["ps", "-eo", "args"], interval=0.05) for h, a in apps.items()}
    for s in ps.values():
        s.start()
    try:
        play = ctl.start(inv, vf, verbosity=3)
        res = play.wait_result(600)
    finally:
        for s in ps.values():
            s.stop()

    # the play did what it should: one upgraded (certificates accepted), one failed in verify
    counts = recap(res.stdout)
    assert counts["um-good"]["failed"] == 0 and counts["um-bad"]["failed"] == 1, res.output[-5000:]
    assert summary(res, "um-good")["result"] == "upgraded"
    assert summary(res, "um-good")["certificates_accepted"], summary(res, "um-good")
    sbad = summary(res, "um-bad")
    assert sbad["result"] == "failed" and "failed in phase verify" in sbad["error"], sbad
    logs = Path(sbad["logs"])
    assert (logs / "failure.json").exists() and (logs / "failure.txt").exists()

    # the secrets, with the session ids the tap saw
    sids = {h: [x for x in t.read_text().split() if x] for h, t in taps.items()}
    assert len(sids["um-good"]) >= 3, sids     # preflight, verify's version read, certificates
    assert len(sids["um-bad"]) >= 1, sids
    assert all(SESSION_ID_RE.fullmatch(s) for v in sids.values() for s in v), sids
    needles = {"vault password": VAULT_PASSWORD}
    for h, a in apps.items():
        needles[f"root password of {h}"] = a.root_password
        needles[f"API password of {h}"] = a.api_password
        for i, sid in enumerate(sids[h]):
            needles[f"API session id {i} of {h}"] = sid

    def leaks(text: str | bytes, shaped: bool = True) -> list[str]:
        t = text if isinstance(text, str) else text.decode("utf-8", "replace")
        found = [k for k, v in needles.items() if v in t]
        if shaped:
            # 32 hex that are no secret: the md5sum ansible.builtin.copy returns for the evidence
            # files it saved, and the name of the appliance's checksum cache entry of a file
            # (<state dir>/sha256/<first 32 hex of sha256(path)>, in the copy's commands)
            found += [f"a session-id-shaped token {m.group(0)!r}" for m in SESSION_ID_RE.finditer(t)
                      if not t[max(0, m.start() - 16):m.start()].rstrip('" :').endswith("md5sum")
                      and not t[:m.start()].endswith("/sha256/")]
        return found

    # 1. the play output (-vvv), 2. every result, registered ones included
    assert not leaks(res.output), leaks(res.output)
    assert not leaks(json.dumps(res.records)), leaks(json.dumps(res.records))
    # 3. what the play left on the controller: Ansible's temp areas and the play's own directory
    left = [p for p in ctl.leftovers() if p.is_file()] + [p for p in play.dir.rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in left)
    for p in left:
        assert not leaks(p.read_bytes(), shaped=False), (p, leaks(p.read_bytes(), shaped=False))
    # 4. the appliance's process list, sampled all through the play
    for h, s in ps.items():
        assert s.samples >= 10, (h, s.samples)
        assert any("sshd" in line for line in s.lines)
        assert not leaks("\n".join(s.lines)), (h, leaks("\n".join(s.lines)))
    # 5. the appliance's logs and the supervisor's timeline
    for h, a in apps.items():
        text = appliance_texts(a)
        assert not leaks(text, shaped=False), (h, leaks(text, shaped=False))
    # 6. the summary: the fact, set_stats, the fleet summary, and the files in the log dir
    for h in apps:
        s = summary(res, h)
        assert not leaks(json.dumps(s)), leaks(json.dumps(s))
        stats = result(res, "Report | Hand the summary to the automation controller", h)
        assert not leaks(json.dumps(stats)), leaks(json.dumps(stats))
    assert "Summary of the fleet" in res.stdout
    for p in Path(tmp_play / "logs").rglob("*"):
        if p.is_file():
            assert not leaks(p.read_bytes()), (p, leaks(p.read_bytes()))
