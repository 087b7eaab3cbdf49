"""Small ISO 9660 images for the iso_mount and upgrade (ISO mode) tests, and
what a simulated appliance needs to loop-mount them.

`make_iso` builds a real ISO 9660 image (Rock Ridge) with `xorriso` from a
dict of file names and texts; images are cached by content under .work/isos.

The simulated appliance loop-mounts them as a real one does (`mount -o
loop,ro`); on a kernel without iso9660 its own `mount` reads the image through a
real loop device and fuseiso (tests/appliance/README.md, "Loop mounts").
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".work" / "isos"

def make_iso(files: dict[str, str], name: str = "Usage_Meter_Agent-4.8.0.0-24342042_Upgrade.iso") -> Path:
    """A real ISO 9660 image holding `files` (name -> text; a name with "/"
    makes folders), cached by content. Needs xorriso."""
    if shutil.which("xorriso") is None:
        raise RuntimeError("xorriso is missing: apt-get install xorriso (tests/appliance/apt-packages.txt)")
    key = hashlib.sha256(json.dumps([name, sorted(files.items())]).encode()).hexdigest()[:16]
    out = CACHE / key / name
    if out.exists():
        return out
    tree = CACHE / key / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    for rel, text in files.items():
        f = tree / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        if rel.endswith(".sh"):
            f.chmod(0o755)
    tmp = out.with_name(f".{name}.{os.getpid()}")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "UM_UPGRADE", "-o", str(tmp), str(tree)],
                   check=True, capture_output=True)
    tmp.rename(out)
    return out


def sha1(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def put(a, local: Path, remote: str) -> None:
    cp = a.scp_to(local, remote)
    assert cp.returncode == 0, cp.stderr
