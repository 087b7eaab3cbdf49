"""Two plays started at once against the same appliance (two operators, or a
scheduled job and a person). The upgrade must never run twice, let alone at
the same time: the upgrade module's lock on the appliance (flock on
/var/lib/vcloud-usage-meter/upgrade.lock, held by the detached run) makes the
second play attach to the run the first one started, or find it finished.

Proven on the appliance: the shar's own upgrade log has one run, the module's
runner has one run log, and the appliance ends on 4.3 with every service
Running. Each play either succeeds or fails with a message that says why.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from lib.playbook import WORK
from reliability.rel_lib import (UMS, Controller, Sampler, api_version, make_bundle, records,
                                 runner_runs, shar_runs, summary, write_inventory)


@pytest.fixture
def tmp_play():
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="reliability-", dir=WORK / "tmp"))


def test_two_plays_at_once_upgrade_once(appliance_factory, umsim_root, tmp_play):
    bundle = make_bundle("4M", 5.0)
    app = appliance_factory(version="4.2.0", sshd="off")
    inv, vf = write_inventory(tmp_play, {"um": app}, bundle, umsim_root)
    # the shar's process, as the appliance sees it: never two at once
    # (top-level shar processes only: bash's $(...) subshells carry the same command line)
    shars = Sampler(app, ["sh", "-c", "ps -eo pid=,ppid=,args= | awk '$3 == \"bash\" && $4 == \"ums-system-upgrade.shar\" "
                                      "{ m[$1] = $2 } END { n = 0; for (p in m) if (!(m[p] in m)) n++; print n }'"],
                    interval=0.1)
    shars.start()
    try:
        a = Controller(tmp_play).start(inv, vf)
        b = Controller(tmp_play).start(inv, vf)
        ra, rb = a.wait_result(600), b.wait_result(600)
    finally:
        shars.stop()

    outcomes = []
    for res in (ra, rb):
        s = summary(res, "um")
        up = records(res, "Upgrade | Run the upgrade bundle", "um")
        outcomes.append({"rc": res.rc, "result": s["result"], "upgrade": [r["result"].get("status") for r in up],
                         "error": s.get("error")})
    why = json.dumps(outcomes, indent=1)
    # the upgrade never ran twice, and never two at once (sampled on the appliance all along)
    assert shar_runs(app) <= 1, why
    assert len(runner_runs(app)) <= 1, runner_runs(app)
    counts = {int(x) for x in shars.lines if x.strip().isdigit()}
    assert shars.samples > 10 and counts <= {0, 1}, (shars.samples, counts)
    assert [st for o in outcomes for st in o["upgrade"]].count("ran") <= 1, why
    # each play succeeded, or failed saying in which phase and why, with the logs saved
    for o in outcomes:
        if o["rc"] != 0:
            assert o["result"] == "failed" and "failed in phase" in o["error"] and "Logs saved in" in o["error"], why
    # whatever happened, the appliance is recoverable: a re-run converges, still one upgrade run
    again = Controller(tmp_play).run(inv, vf)
    assert again.rc == 0, why + again.output[-4000:]
    assert summary(again, "um")["result"] in ("upgraded", "nothing to do"), summary(again, "um")
    assert api_version(app) == "4.3.0"
    cp = app.exec([f"{UMS}/scripts/status.sh"], timeout=30)
    assert cp.returncode == 0, cp.stdout
    assert shar_runs(app) == 1, why
    assert len(runner_runs(app)) == 1, runner_runs(app)
    print(why)


def test_two_copies_at_once_never_put_a_partial_file_under_the_real_name(appliance_factory):
    """The part of two concurrent plays that is not protected by the upgrade lock:
    the copy. The second copy starts while the first is writing (seen on the
    appliance), over a slowed link so that they overlap."""
    import threading

    from lib.playbook import run_module
    from reliability.rel_lib import PART, SHAR, Sampler, Throttle, wait_until

    path, sha = make_bundle("24M", 1.0)
    size = path.stat().st_size
    app = appliance_factory(version="4.2.0", sshd="running")
    args = {"host": app.host, "password": app.root_password, "known_hosts": app.known_hosts,
            "src": str(path), "checksum": f"sha256:{sha}", "retries": 0}
    out = [None, None]

    def go(i):
        out[i] = run_module("shar_copy", args)

    dest = Sampler(app, ["sh", "-c", f"stat -c %s {SHAR} 2>/dev/null || true"], interval=0.05)
    with Throttle(app, "24mbit"):                       # ~8 s for the whole bundle: the copies overlap
        first = threading.Thread(target=go, args=(0,))
        first.start()
        wait_until(lambda: app.exec(["sh", "-c", f"[ $(stat -c %s {PART} 2>/dev/null || echo 0) -gt 1000000 ]"],
                                    timeout=10).returncode == 0, 60, "the first copy to write")
        dest.start()
        second = threading.Thread(target=go, args=(1,))
        second.start()
        first.join(300)
        second.join(300)
        dest.stop()
    sizes = {int(x) for x in dest.lines if x.strip().isdigit()}
    from reliability.rel_lib import remote_sha
    final = remote_sha(app)
    # the real name only ever held the whole bundle, and both copies (or one, clearly) succeeded
    assert dest.samples > 0, "the real name was never sampled"
    assert sizes <= {size}, f"the real name held {sorted(sizes)} bytes, the bundle has {size}"
    assert final == sha
    assert [r["_status"] for r in out] == ["ok", "ok"], [r.get("msg") for r in out]
