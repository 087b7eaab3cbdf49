"""Small ISO 9660 images for the iso_mount and upgrade (ISO mode) tests, and
what a simulated appliance needs to loop-mount them.

`make_iso` builds a real ISO 9660 image (Rock Ridge) with `xorriso` from a
dict of file names and texts; images are cached by content under .work/isos.

`enable_iso_mounts(appliance)` makes `mount -o loop,ro <iso> <dir>` work inside
a simulated appliance, whatever the build machine allows:
- the appliance has a minimal /dev of its own, without loop devices: the
  wrapper creates /dev/loop-control and /dev/loop0-7 (the host's) when missing;
- when the kernel has no iso9660 file system (some CI kernels lack it and cannot
  load modules), the wrapper extracts the image with xorriso into a tmpfs whose
  source is the ISO's path, then remounts it read-only. The module sees what it
  sees on a real appliance: a read-only mount at the mount point whose source
  names the ISO (`findmnt`, /proc/self/mountinfo), and `umount` undoes it.
The wrapper lives at /usr/local/sbin/mount in the appliance's own disk (never the
host's) and passes every other call to the real mount unchanged.
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

MOUNT_WRAPPER = r"""#!/bin/sh
# test wrapper (tests/lib/iso_images.py): loop devices and ISO 9660 for the simulated appliance
if [ ! -e /dev/loop-control ]; then
  mknod -m 660 /dev/loop-control c 10 237 2> /dev/null
  for i in 0 1 2 3 4 5 6 7; do mknod -m 660 "/dev/loop$i" b 7 "$i" 2> /dev/null; done
fi
if [ $# -eq 4 ] && [ "$1" = -o ] && [ "$2" = loop,ro ] && ! grep -qw iso9660 /proc/filesystems; then
  iso=$(readlink -f "$3") dir=$4
  [ -f "$iso" ] || { echo "mount: $dir: special device $3 does not exist." >&2; exit 32; }
  /usr/bin/mount -t tmpfs -o size=256m,mode=0700 "$iso" "$dir" || exit 32
  if ! xorriso -osirrox on -indev "$iso" -extract / "$dir" > /dev/null 2>&1; then
    /usr/bin/umount "$dir"
    echo "mount: $dir: wrong fs type, bad option, bad superblock on $3, missing codepage or helper program, or other error." >&2
    exit 32
  fi
  exec /usr/bin/mount -o remount,ro "$dir"
fi
exec /usr/bin/mount "$@"
"""


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


def enable_iso_mounts(a) -> None:
    """Install the mount wrapper in the appliance (see the module's docstring)."""
    cp = a.exec(["sh", "-c", "mkdir -p /usr/local/sbin && cat > /usr/local/sbin/mount && chmod 755 /usr/local/sbin/mount"],
                input=MOUNT_WRAPPER)
    assert cp.returncode == 0, cp.stderr


def put(a, local: Path, remote: str) -> None:
    cp = a.scp_to(local, remote)
    assert cp.returncode == 0, cp.stderr
