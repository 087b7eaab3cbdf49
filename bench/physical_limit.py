"""Figure 10 ("The play against its physical limit"): one appliance on a local link, the
role's default (production) timings and the appliance's default ones: the play's wall time minus
what no tool can save (the bundle at the link's measured speed, the bundle's own run time, the
reboot until an SSH banner, the services coming up), as seconds of overhead and as a share.

measure(b, out) fills out["physical_limit"]; bench/render.py reports it, bench/README.md says
how it is taken. Called by bench/run.py (--only physical_limit).
"""
from __future__ import annotations

import hashlib
import statistics
import time

import umsim
import yaml
from distance import BUNDLE, DEST, UMS, log, run_role
from lib.timings import LOADED

KEY = "physical_limit"
# the phases' tasks, to set each unsavable part next to the task that contains it
TASKS = {"copy": "Copy | Put the upgrade bundle on the appliance", "run": "Upgrade | Run the upgrade bundle",
         "reboot": "Reboot | Reboot the appliance and wait for it",
         "services": "Verify | Wait for every service to be Running"}

def calibrate(b, shar, reps: int = 3) -> dict:
    """The link's speed and the bundle's own run time, on an appliance of the same kind."""
    a = b.start(version="4.2.0", sshd="running")
    try:
        login, scp = [], []
        for _ in range(reps):
            t0 = time.monotonic()
            a.ssh("true", check=True)
            login.append(time.monotonic() - t0)
        for _ in range(reps):
            a.ssh(f"rm -f {DEST}", check=True)
            t0 = time.monotonic()
            cp = a.scp_to(shar, DEST, timeout=600)
            scp.append(time.monotonic() - t0)
            if cp.returncode != 0:
                raise RuntimeError(f"scp: {cp.stderr}")
        out = a.ssh(f"cd {UMS} && s=$(date +%s.%N) && bash ums-system-upgrade.shar > /dev/null && "
                    f"e=$(date +%s.%N) && echo $s $e", check=True, timeout=600).stdout.split()
        transfer = statistics.median(scp) - statistics.median(login)
        return {"scp_s": scp, "login_s": login, "transfer_s": transfer,
                "mb_s": shar.stat().st_size / 1e6 / transfer, "shar_run_s": float(out[-1]) - float(out[-2])}
    finally:
        b.stop(a)


def reboot_parts(a, since: float) -> dict:
    """From the supervisor log: the reboot request -> first sshd-listening of the new boot ->
    services-started of that boot."""
    ev = [e for e in a.events() if e["time"] >= since]
    req = next(e for e in ev if e["event"] == "power-request")
    boot = next(e for e in ev if e["event"] == "boot" and e["time"] > req["time"])
    listen = next(e for e in ev if e["event"] == "sshd-listening" and e.get("boot_id") == boot["boot_id"])
    up = next(e for e in ev if e["event"] == "services-started" and e.get("boot_id") == boot["boot_id"])
    return {"reboot_to_banner_s": listen["time"] - req["time"],
            "services_after_banner_s": max(0.0, up["time"] - listen["time"])}


def verify_account(b, mine: list, timings: dict) -> dict:
    """verify's own account of its wait: what ended it, after how many checks, and the settle time it
    had to see (4 × its interval, the module's default, which the role does not change; the interval
    from `timings`, else the installed role's default: a rule the operator chooses, not a physical cost)."""
    t = next((t for t in mine if t["task"].endswith(TASKS["services"])), None)
    res = (t or {}).get("result") or {}
    defaults = yaml.safe_load((b.dst / "roles" / "inplace_upgrade" / "defaults" / "main.yml").read_text())
    interval = int(timings.get("usage_meter_verify_interval", defaults["usage_meter_verify_interval"]))
    return {"settled_by": res.get("settled_by"), "attempts": res.get("attempts"), "waited": res.get("waited"),
            "settle_seconds": 4 * interval}


def play(b, shar, sha, timings: dict, tag: str) -> dict:
    a = b.start(version="4.2.0", sshd="off")
    try:
        since = time.time()
        r = run_role(b, a, shar, sha, timings, tag)
        mine = [t for t in r["tasks"] if t["host"] == "um00" and t["start"]]
        tasks = {k: next((t["end"] - t["start"] for t in mine if t["task"].endswith(v)), None)
                 for k, v in TASKS.items()}
        return {"wall": r["wall"], "tasks": tasks, **reboot_parts(a, since), "verify": verify_account(b, mine, timings),
                "top": sorted(({"task": t["task"], "s": t["end"] - t["start"]} for t in mine),
                              key=lambda x: -x["s"])[:6]}
    finally:
        b.stop(a)


def measure(b, out: dict):
    shar = umsim.make_shar(size=BUNDLE[0], seconds=BUNDLE[1])
    sha = hashlib.sha256(shar.read_bytes()).hexdigest()
    res = {"bytes": shar.stat().st_size}
    out[KEY] = res
    res["link"] = calibrate(b, shar)
    log(f"physical limit: link {res['link']['mb_s']:.0f} MB/s, bundle runs {res['link']['shar_run_s']:.2f} s")
    for key, timings in (("default", {}), ("short", LOADED)):
        res[key] = p = play(b, shar, sha, timings, f"limit-{key}")
        p["floor_s"] = (res["link"]["transfer_s"] + res["link"]["shar_run_s"] + p["reboot_to_banner_s"]
                        + p["services_after_banner_s"])
        p["overhead_s"] = p["wall"] - p["floor_s"]
        # the same with verify's settle time counted as a must (services seen up that long, no restart)
        p["floor_settled_s"] = p["floor_s"] + p["verify"]["settle_seconds"]
        p["overhead_settled_s"] = max(0.0, p["wall"] - p["floor_settled_s"])
        log(f"physical limit ({key} timings): play {p['wall']:.1f}s, floor {p['floor_s']:.1f}s")
