"""The release binary needs nothing from the controller.

The collection ships one multicall binary per architecture (every module in
one file), built by ``tools/build-binaries.sh --arch all`` (``make build``):
``build/<arch>/usage_meter``, installed as ``plugins/bin/usage_meter-linux-<arch>``
where the action plugins look. Each is run inside an empty chroot that holds
only the binary and a temp dir with a bad (non-JSON) args file, once per
module (``usage_meter MODULE /tmp/args``), and must answer the module
protocol: exactly one JSON object on stdout with ``failed: true`` and a
``msg``. aarch64 runs the same way under ``qemu-aarch64-static`` (itself a
static binary, copied into the chroot). A missing aarch64 build fails the
test unless ``UM_AARCH64_NOT_BUILT=1`` says it was deliberately skipped.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARCHES = ("x86_64", "aarch64")
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
HOST_ARCH = platform.machine()
BAD_ARGS = "this is not json {\n"


def elf_info(path: Path) -> tuple[int, bool]:
    """(e_machine, self-contained) of a 64-bit little-endian ELF file.

    Self-contained = no program interpreter (PT_INTERP) and no DT_NEEDED shared
    library: a static executable, or a static-pie one like qemu-*-static."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", f"{path} is not an ELF file"
    assert data[4] == 2 and data[5] == 1, f"{path} is not a 64-bit little-endian ELF file"
    (machine,) = struct.unpack_from("<H", data, 18)
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    static = True
    for i in range(phnum):
        ptype, _flags, offset, _vaddr, _paddr, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype == 3:  # PT_INTERP
            static = False
        elif ptype == 2:  # PT_DYNAMIC: look for DT_NEEDED
            for off in range(offset, offset + filesz - 15, 16):
                tag, _val = struct.unpack_from("<qQ", data, off)
                if tag == 0:  # DT_NULL
                    break
                if tag == 1:  # DT_NEEDED
                    static = False
    return machine, static


MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


def binary_for(arch: str) -> Path:
    """The built multicall binary of `arch`, as the collection ships it."""
    b = REPO / "plugins" / "bin" / f"usage_meter-linux-{arch}"
    if not b.is_file():
        if arch == "aarch64" and os.environ.get("UM_AARCH64_NOT_BUILT") == "1":
            pytest.skip("aarch64 binary not built (UM_AARCH64_NOT_BUILT=1)")
        pytest.fail(f"{b.relative_to(REPO)} is not built: run tools/build-binaries.sh --arch {arch} (or --arch all) first")
    return b


def emulator_for(arch: str) -> Path | None:
    """None when the binary runs natively, else the static qemu-user binary."""
    if arch == HOST_ARCH:
        return None
    name = f"qemu-{arch}-static"
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install Debian's qemu-user-static (tools/install-build-deps.sh)")
    qemu = Path(found).resolve()
    _, static = elf_info(qemu)
    assert static, f"{qemu} is not statically linked, it cannot run in an empty chroot"
    return qemu


def run_in_empty_chroot(binary: Path, module: str, root: Path, emulator: Path | None) -> subprocess.CompletedProcess:
    """Run `binary MODULE /tmp/args` chrooted into `root`, which holds nothing else."""
    root.mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp" / "args").write_text(BAD_ARGS)
    shutil.copy2(binary, root / binary.name)
    os.chmod(root / binary.name, 0o755)
    argv = [f"/{binary.name}", module, "/tmp/args"]
    if emulator is not None:
        shutil.copy2(emulator, root / emulator.name)
        argv = [f"/{emulator.name}", *argv]
    entries = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    expected = sorted(["tmp", "tmp/args", binary.name] + ([emulator.name] if emulator else []))
    assert entries == expected, f"chroot is not empty: {entries}"
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    cmd = [chroot, str(root), *argv]
    if os.geteuid() != 0:
        cmd = ["unshare", "--map-root-user", *cmd]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/", "HOME": "/tmp", "LC_ALL": "C"},
        check=False,
    )


def assert_one_failed_json(proc: subprocess.CompletedProcess, what: str) -> dict:
    out = proc.stdout
    detail = f"{what}: rc={proc.returncode}\nstdout={out!r}\nstderr={proc.stderr[-2000:]!r}"
    assert out.strip(), f"no output on stdout; {detail}"
    decoder = json.JSONDecoder()
    start = len(out) - len(out.lstrip())
    try:
        obj, end = decoder.raw_decode(out, start)
    except json.JSONDecodeError as e:
        pytest.fail(f"stdout is not JSON ({e}); {detail}")
    assert out[end:].strip() == "", f"more than one JSON object or trailing text on stdout; {detail}"
    assert isinstance(obj, dict), f"stdout is JSON but not an object; {detail}"
    assert obj.get("failed") is True, f"'failed' is not true; {detail}"
    assert isinstance(obj.get("msg"), str) and obj["msg"].strip(), f"no 'msg'; {detail}"
    return obj


@pytest.mark.parametrize("arch", ARCHES)
def test_binary_is_static_for_its_arch(arch: str) -> None:
    b = binary_for(arch)
    machine, static = elf_info(b)
    assert machine == ELF_MACHINE[arch], f"{b}: ELF machine {machine}, expected {ELF_MACHINE[arch]} ({arch})"
    assert static, f"{b} is dynamically linked: it would need a loader and libraries on the controller"
    mode = os.stat(b).st_mode & 0o777
    assert mode == 0o755, f"{b}: mode {oct(mode)}, expected 0o755"
    built = REPO / "build" / arch / "usage_meter"
    assert built.read_bytes() == b.read_bytes(), f"{b} is not the release build {built}"


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("arch", ARCHES)
def test_bad_args_file_in_empty_chroot(arch: str, module: str, tmp_path: Path) -> None:
    b = binary_for(arch)
    emulator = emulator_for(arch)
    proc = run_in_empty_chroot(b, module, tmp_path / "root", emulator)
    assert_one_failed_json(proc, f"{arch} {module}" + (f" under {emulator.name}" if emulator else ""))


@pytest.mark.parametrize("arch", ARCHES)
def test_every_documented_module_is_in_the_binary(arch: str) -> None:
    """`usage_meter --list` names exactly the modules ansible-doc documents."""
    b = binary_for(arch)
    emulator = emulator_for(arch)
    cmd = ([str(emulator)] if emulator else []) + [str(b), "--list"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == MODULES, proc.stdout
