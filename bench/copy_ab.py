#!/usr/bin/env python3
"""Copy vs scp, interleaved (figure 1's streams): shar_copy with `streams: 1` and `streams: 2`
against OpenSSH scp, on one appliance on loopback and one 50 ms away.

    .venv/bin/python bench/copy_ab.py [--bin PATH] [--size 1G] [--reps 5] [--delays 0,50]

bench/run.py's copy figure calls `measure` with the release binary; run alone, it takes the
binary given (default plugins/bin/usage_meter-linux-<arch>) and prints the JSON. Every copy
starts cold (no bundle, no partial files, no checksum cache on either side); the three
contestants run in a rotating order within each repetition, so a load change on the shared
machine hits each of them alike; the figures are medians and ratios (scp time / shar_copy time:
above 1.0 is faster than scp). The load average is recorded with every repetition.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "appliance"))
import umsim  # noqa: E402

DEST = "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
PART = "/opt/vmware/cloudusagemetering/.ums-system-upgrade.shar.part"
STATE_DIR = "/var/lib/vcloud-usage-meter"
WHO = ("streams1", "streams2", "scp")


def start(root: str, name: str, delay_ms: int) -> umsim.Appliance:
    kw = {"net": "forward", "delay_ms": delay_ms} if delay_ms else {}
    return umsim.start_appliance(name, root=root, version="4.2.0", sshd="running", **kw)


def clean(a, tmpdir: Path):
    a.ssh(f"rm -rf {DEST} {PART} {PART}.2 {STATE_DIR}", check=True)
    for p in tmpdir.iterdir():
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    os.sync()


def shar_copy(binary: Path, a, shar: Path, checksum: str, streams: str, tmpdir: Path) -> float:
    args = {"host": a.host, "private_key": a.client_key, "known_hosts": a.known_hosts,
            "host_key_checking": "strict", "connect_timeout": 10,
            "src": str(shar), "dest": DEST, "checksum": checksum, "streams": streams}
    f = tmpdir.parent / f"args-{time.monotonic_ns()}.json"
    f.write_text(json.dumps(args))
    t0 = time.monotonic()
    cp = subprocess.run([str(binary), "shar_copy", str(f)], capture_output=True, text=True,
                        env={**os.environ, "TMPDIR": str(tmpdir)}, timeout=1800)
    dt = time.monotonic() - t0
    f.unlink()
    r = json.loads(cp.stdout or "{}")
    if r.get("failed") or r.get("transferred") != shar.stat().st_size:
        raise RuntimeError(f"shar_copy streams={streams} failed: {cp.stdout[-1000:]} {cp.stderr[-1000:]}")
    return dt


def scp(a, shar: Path) -> float:
    t0 = time.monotonic()
    cp = a.scp_to(shar, DEST, timeout=1800)
    dt = time.monotonic() - t0
    if cp.returncode != 0:
        raise RuntimeError(f"scp failed: {cp.stderr}")
    return dt


def measure(binary: Path, root: str, shar: Path, checksum: str, delay_ms: int, reps: int, log=print) -> dict:
    """One appliance `delay_ms` away; `reps` rounds of the three copies in rotating order."""
    a = start(root, f"ab{os.getpid()}-{delay_ms}", delay_ms)
    tmpdir = Path(tempfile.mkdtemp(prefix="copy-ab-tmp-", dir=root))
    size = shar.stat().st_size
    raw = {k: [] for k in (*WHO, "load")}
    try:
        for i in range(reps):
            raw["load"].append(os.getloadavg()[0])
            for who in WHO[i % 3:] + WHO[:i % 3]:
                clean(a, tmpdir)
                dt = scp(a, shar) if who == "scp" else shar_copy(binary, a, shar, checksum, who[-1], tmpdir)
                if int(a.ssh(f"stat -c %s {DEST}", check=True).stdout) != size:
                    raise RuntimeError(f"{who}: wrong size on the appliance")
                raw[who].append(dt)
                log(f"copy-ab {delay_ms} ms [{i}] {who} {dt:.2f}s (load {raw['load'][-1]:.1f})")
        clean(a, tmpdir)
    finally:
        a.stop(purge=True)
        shutil.rmtree(tmpdir, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in raw.items()}
    return {"delay_ms": delay_ms, "bytes": size, "reps": reps, "raw": raw, "median": med,
            "ratio_vs_scp": {w: med["scp"] / med[w] for w in WHO[:2]},
            # per repetition (same load): scp / shar_copy, then the median of those
            "ratio_paired": {w: statistics.median(s / c for s, c in zip(raw["scp"], raw[w], strict=True)) for w in WHO[:2]}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=REPO / "plugins" / "bin" / f"usage_meter-linux-{platform.machine()}")
    ap.add_argument("--size", default="1G")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--delays", default="0,50")
    o = ap.parse_args()
    shar = umsim.make_shar(size=o.size, seconds=2.0)
    with open(shar, "rb") as f:
        checksum = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    root = tempfile.mkdtemp(prefix="copy-ab-", dir=REPO / ".work")
    try:
        res = [measure(o.bin, root, shar, checksum, int(d), o.reps, lambda m: print(m, file=sys.stderr, flush=True))
               for d in o.delays.split(",")]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
