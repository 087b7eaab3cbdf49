#!/usr/bin/env python3
"""`mount -o loop,ro IMAGE DIR` of an ISO 9660 image on a kernel without iso9660
(called by umsim-mount, the simulated appliance's mount). Attaches IMAGE to a free
loop device of the host's kernel, read-only and with autoclear (as mount -o loop
does: the device is detached when its last user closes it), then mounts it at DIR
with fuseiso (FUSE), source /dev/loopN, type fuse.iso9660. Unmounting ends fuseiso,
which closes the device: the kernel detaches it; so does the appliance's shutdown.
Messages and exit codes follow mount(8): 32 = mount failure."""
import errno
import fcntl
import os
import stat
import struct
import subprocess
import sys

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR = 1, 4


def fail(msg: str) -> None:
    print(f"mount: {msg}", file=sys.stderr)
    sys.exit(32)


def attach(image: str) -> tuple[str, int]:
    """A free loop device bound read-only (autoclear) to image: (path, open fd). The devices
    are the host's: another user may take the free one first (EBUSY), then try the next."""
    for _ in range(16):
        got = try_attach(image)
        if got:
            return got
    fail(f"{image}: failed to set up a loop device: every free one was taken meanwhile")


def try_attach(image: str):
    ctl = os.open("/dev/loop-control", os.O_RDWR)
    try:
        n = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
    finally:
        os.close(ctl)
    dev = f"/dev/loop{n}"
    if not os.path.exists(dev):      # the appliance's /dev is its own: make the node
        os.mknod(dev, 0o660 | stat.S_IFBLK, os.makedev(7, n))
    ffd = os.open(image, os.O_RDONLY)
    dfd = os.open(dev, os.O_RDONLY)
    # struct loop_config { u32 fd; u32 block_size; struct loop_info64 info; u64 reserved[8]; }
    info = struct.pack("=QQQQQIIII64s64s32s2Q", 0, 0, 0, 0, 0, 0, 0, 0,
                       LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR, image.encode()[:63], b"", b"", 0, 0)
    try:
        fcntl.ioctl(dfd, LOOP_CONFIGURE, struct.pack("=II", ffd, 0) + info + bytes(64))
    except OSError as e:
        os.close(dfd)
        if e.errno == errno.EBUSY:
            return None
        fail(f"{image}: failed to set up loop device {dev}: {e.strerror}")
    finally:
        os.close(ffd)
    return dev, dfd


def main() -> None:
    image, target = os.path.abspath(sys.argv[1]), sys.argv[2]
    if not os.path.isdir(target):
        fail(f"{target}: mount point does not exist.")
    dev, dfd = attach(image)
    try:
        rc = subprocess.call(["fuseiso", "-n", dev, target, "-o", f"ro,allow_other,fsname={dev},subtype=iso9660"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    finally:
        os.close(dfd)   # fuseiso holds its own: the device lives exactly as long as the mount
    if rc != 0:
        fail(f"{target}: cannot mount {image} read-only (fuseiso failed, rc {rc}).")


if __name__ == "__main__":
    main()
