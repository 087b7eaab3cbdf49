"""The simulated appliance's later-release ISO upgrades (umsim.make_iso), done by hand with
plain OpenSSH (Appliance.ssh / scp_to) the way the blog shows for 9.x: copy the ISO, loop-mount
it read-only at /root/upgrade, `bash upgrade-um.sh`, answer the token prompt, reboot. No module
of the collection is used. Two appliances for the whole file: one at 4.8.0 (the token hop to
9.0.0), one at 4.2.0 (a refused hop, the extra prompt, a script that reboots by itself).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import select
import subprocess
import time
from pathlib import Path

import pytest

from simtest import UMS, until

STAGED = "/opt/vmware/.ums-upgrade-staged"


@pytest.fixture(scope="module")
def start(umsim, umsim_root):
    """start(version, **kw) -> a started Appliance, stopped and purged at the end of the file."""
    made = []

    def make(version: str, **kw):
        a = umsim.start_appliance(f"iso{os.getpid()}{secrets.token_hex(2)}-{len(made)}", version=version,
                                  sshd="enabled", products=[], **kw)
        made.append(a)
        return a
    yield make
    for a in made:
        a.stop(purge=os.environ.get("UMSIM_KEEP") != "1")


@pytest.fixture(scope="module")
def a48(start):
    """The 4.8.0 appliance: the refusals leave it at 4.8.0, then the token hop takes it to 9.0.0."""
    return start("4.8.0")


@pytest.fixture(scope="module")
def isos(umsim, tmp_path_factory):
    out = tmp_path_factory.mktemp("isos")
    return {
        "9.0": umsim.make_iso(out / "stdin", "9.0.0", seconds=2.0),
        "9.0-tty": umsim.make_iso(out / "tty", "9.0.0", script="tty", seconds=0.2),
        "4.6": umsim.make_iso(out / "46", "4.6.0", seconds=0.2),
        "9.0.1": umsim.make_iso(out / "901", "9.0.1", seconds=0.2),
        "4.4-ask-reboot": umsim.make_iso(out / "44", "4.4.0", seconds=0.2, reboot_self=True,
                                         extra_prompt="Proceed with the upgrade? [y/N]: "),
    }


def installed(a) -> str:
    cp = a.exec(["cat", f"{UMS}/.umsim/version.json"], check=True)
    return re.search(r'"version":\s*"([^"]+)"', cp.stdout).group(1)


def mount(a, iso: Path, point: str) -> str:
    """scp the ISO to a directory of its own, loop-mount it read-only at point; the loop device."""
    remote = f"/root/iso-{secrets.token_hex(3)}/{iso.name}"
    a.ssh(f"mkdir -p {os.path.dirname(remote)} {point}", check=True)
    a.scp_to(iso, remote, check=True)
    cp = a.ssh(f"mount -o loop,ro {remote} {point} && findmnt -no SOURCE,OPTIONS {point} && ls {point}")
    assert cp.returncode == 0, cp.stderr
    dev, opts = cp.stdout.split()[:2]
    assert re.fullmatch(r"/dev/loop\d+", dev) and "ro" in opts.split(","), cp.stdout
    assert {"upgrade-um.sh", "repo"} <= set(cp.stdout.split()[2:]), cp.stdout
    return dev


def loop_bound_to(dev: str) -> str | None:
    """The host's view of a loop device: its backing file, None when it is free."""
    try:
        return Path(f"/sys/block/{os.path.basename(dev)}/loop/backing_file").read_text().strip()
    except OSError:
        return None


def released(dev: str, backing: str) -> bool:
    now = loop_bound_to(dev)
    return now is None or now != backing      # free, or taken since by someone else's file


def answer_prompt(a, command: str, prompt: str, answer: str, timeout: float = 60) -> tuple[int, str]:
    """Run command over SSH and type answer once prompt has appeared (as a person, or the
    upgrade module, does: typed earlier, a pty would echo it before the script turns echo off)."""
    run = subprocess.Popen(["ssh", *a.ssh_opts(), "-i", a.client_key, "-o", "BatchMode=yes", f"root@{a.host}", command],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, deadline = b"", time.monotonic() + timeout
    while prompt.encode() not in out and time.monotonic() < deadline:
        if select.select([run.stdout], [], [], 1)[0]:
            chunk = os.read(run.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
    run.stdin.write(answer.encode() + b"\n")
    run.stdin.close()
    out += run.stdout.read()
    return run.wait(timeout), out.decode(errors="replace")


def test_make_iso_is_a_signed_iso_9660_set_cached_by_content(umsim, isos, tmp_path):
    f = isos["9.0"]
    assert f["iso"].name == "Usage_Meter_Agent-9.0.0.0-24680135_Upgrade.iso"
    assert {p.suffix for k, p in f.items() if k != "ca"} == {".iso", ".mf", ".crt", ".sign"}
    with open(f["iso"], "rb") as h:
        h.seek(32769)
        assert h.read(5) == b"CD001"                      # an ISO 9660 primary volume descriptor
    listing = subprocess.run(["xorriso", "-indev", str(f["iso"]), "-find", "/", "-type", "f"],
                             capture_output=True, text=True, check=True).stdout
    files = sorted(re.findall(r"'(/[^']+)'", listing))
    assert files[0].startswith("/repo/RPMS/x86_64/vmware-um-9.0.0-") and files[1:] == [
        "/repo/repodata/repomd.xml", "/upgrade-um.sh"], listing
    assert 1 << 20 < f["iso"].stat().st_size < 4 << 20    # small by default: CI time matters

    with open(f["iso"], "rb") as h:
        sha1 = hashlib.file_digest(h, "sha1").hexdigest()
    assert f["mf"].read_text() == f"{sha1}  {f['iso'].name}\n"        # GNU form, as sha1sum -c reads
    ok = subprocess.run(["openssl", "verify", "-CAfile", str(f["ca"]), str(f["crt"])], capture_output=True, text=True)
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    pub = tmp_path / "pub.pem"
    pub.write_text(subprocess.run(["openssl", "x509", "-in", str(f["crt"]), "-pubkey", "-noout"],
                                  capture_output=True, text=True, check=True).stdout)
    sig = subprocess.run(["openssl", "dgst", "-sha1", "-verify", str(pub), "-signature", str(f["sign"]), str(f["iso"])],
                         capture_output=True, text=True)
    assert sig.stdout.strip() == "Verified OK", sig.stdout + sig.stderr

    bsd = umsim.make_iso(tmp_path / "bsd", "9.0.0", seconds=2.0, mf_form="bsd")
    assert bsd["mf"].read_text() == f"SHA1({f['iso'].name})= {sha1}\n"   # the same ISO, from the cache
    assert os.path.samefile(umsim.make_iso(None, "9.0.0", seconds=2.0)["iso"], f["iso"])
    assert not os.path.samefile(isos["9.0-tty"]["iso"], f["iso"])      # another variant, another image


def test_token_refusals_leave_4_8_and_the_tty_script_wants_a_terminal(a48, isos):
    a = a48
    dev = mount(a, isos["9.0"]["iso"], "/root/upgrade")
    backing = loop_bound_to(dev)
    assert backing and backing.endswith(isos["9.0"]["iso"].name), backing
    for given, says in (("UMA:wrong-token\n", "the access token was refused"),
                        ("not-a-token\n", "the access token is not valid: it starts with UMA:"),
                        ("", "no access token given")):
        cp = a.ssh("cd /root/upgrade && bash upgrade-um.sh", input=given, timeout=60)
        assert cp.returncode == 6 and f"ERROR {says}" in cp.stdout, cp.stdout + cp.stderr
        assert "Enter the access token: " in cp.stdout and "upgrade FAILED" in cp.stdout
    assert installed(a) == "4.8.0"
    assert a.exec(["test", "-e", STAGED]).returncode != 0          # nothing staged

    mount(a, isos["9.0-tty"]["iso"], "/root/upgrade-tty")
    token = a.config["access_token"]
    cp = a.ssh("bash /root/upgrade-tty/upgrade-um.sh", input=token + "\n", timeout=60)
    assert cp.returncode == 6 and "cannot read the access token: no terminal" in cp.stdout, cp.stdout
    assert installed(a) == "4.8.0"

    cp = a.ssh("umount /root/upgrade && umount /root/upgrade-tty && rmdir /root/upgrade /root/upgrade-tty")
    assert cp.returncode == 0, cp.stderr
    until(f"{dev} released after umount", lambda: released(dev, backing), 10)


def test_4_8_to_9_0_with_the_token_on_stdin_and_through_a_pty(a48, isos):
    a = a48
    devs = [mount(a, isos["9.0"]["iso"], "/root/upgrade")]
    token = a.config["access_token"]
    assert token.startswith("UMA:")
    # while the script runs (2 s), the token is in no process's arguments or environment
    run = subprocess.Popen(["ssh", *a.ssh_opts(), "-i", a.client_key, "-o", "BatchMode=yes",
                            f"root@{a.host}", "cd /root/upgrade && bash upgrade-um.sh"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run.stdin.write(token + "\n")
    run.stdin.close()
    seen = 0
    while run.poll() is None:
        ps = a.exec("ps -eo args; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'", timeout=30).stdout
        seen += "upgrade-um.sh" in ps
        assert token not in ps and token[4:] not in ps
    out = run.stdout.read()
    assert run.returncode == 0 and "access token accepted" in out and "staged; reboot the appliance" in out, out
    assert seen, "the script was never seen running: nothing was checked"
    assert token not in out

    # the terminal-only variant, answered through a pty (util-linux script), stages it again
    devs.append(mount(a, isos["9.0-tty"]["iso"], "/root/upgrade-tty"))
    bound = {d: loop_bound_to(d) for d in devs}
    rc, out = answer_prompt(a, "script -qec 'bash /root/upgrade-tty/upgrade-um.sh' /dev/null",
                            "Enter the access token: ", token)
    assert rc == 0 and "staged; reboot the appliance" in out, out
    assert token not in out                                         # read -s: a pty does not echo it
    assert installed(a) == "4.8.0"                                  # applied at the next boot only

    leaks = a.exec(f"grep -rlF -f /dev/stdin /var/log {UMS}/var/logs {STAGED} /root /tmp", input=token + "\n")
    assert leaks.returncode == 1 and leaks.stdout == "", leaks.stdout   # 1: no file holds it
    assert token not in Path(a.supervisor_log).read_text()

    old = a.boot_id()
    a.power("reboot")
    a.wait_new_boot(old)
    st = a.status()
    assert st["installed_version"] == "9.0.0" and st["cloudusagemetering_old"] is True
    assert a.events("upgrade-applied")[-1]["kind"] == "iso"
    services = a.wait_services(60)
    assert "vmware-um-loginservice : Running" in services and "vmware-um-journal : Running" in services
    assert a.exec(["findmnt", "/root/upgrade"]).returncode != 0      # a reboot leaves nothing mounted
    for d, backing in bound.items():                                # and frees the loop devices
        until(f"{d} released by the reboot", lambda d=d, backing=backing: released(d, backing), 10)

    # 9.0 -> 9.x carries the token over: no prompt, nothing read from stdin
    a.wait_ssh()
    mount(a, isos["9.0.1"]["iso"], "/root/upgrade")
    cp = a.ssh("bash /root/upgrade/upgrade-um.sh", input="", timeout=60)
    assert cp.returncode == 0 and "staged; reboot the appliance" in cp.stdout, cp.stdout + cp.stderr
    assert "access token" not in cp.stdout
    assert a.exec(["grep", "-q", "TARGET_VERSION=9.0.1", f"{STAGED}/meta"]).returncode == 0


def test_a_forbidden_hop_the_extra_prompt_a_self_reboot_and_no_loop_left_at_stop(start, isos):
    a = start("4.2.0")
    mount(a, isos["4.6"]["iso"], "/root/upgrade")
    cp = a.ssh("cd /root/upgrade && bash upgrade-um.sh", timeout=60)
    assert cp.returncode == 3, cp.stdout
    assert "ERROR an in-place upgrade from 4.2.0 to 4.6.0 is not supported: 4.6.0 installs on top of 4.3 and later" \
        in cp.stdout
    assert "token" not in cp.stdout                                 # refused before any prompt
    a.ssh("umount /root/upgrade", check=True)

    mount(a, isos["4.4-ask-reboot"]["iso"], "/root/upgrade")
    a.fault_set("iso-fail", "30")
    cp = a.ssh("cd /root/upgrade && bash upgrade-um.sh", input="y\n", timeout=60)
    assert cp.returncode == 1 and "[30%] Backing up the configuration: package transaction failed" in cp.stdout
    assert a.exec(["test", "-e", STAGED]).returncode != 0          # nothing staged, the version stays
    a.fault_clear("iso-fail")
    cp = a.ssh("cd /root/upgrade && bash upgrade-um.sh", input="n\n", timeout=60)
    assert cp.returncode == 5 and "Proceed with the upgrade? [y/N]: " in cp.stdout and "upgrade cancelled" in cp.stdout
    old = a.boot_id()
    cp = a.ssh("cd /root/upgrade && bash upgrade-um.sh", input="y\n", timeout=60)
    assert cp.returncode in (0, 255), cp.stdout + cp.stderr         # 255: the reboot cut the session
    assert "Enter the access token" not in cp.stdout                # 4.x -> 4.4 needs no token
    a.wait_new_boot(old)                                            # it rebooted by itself
    a.wait_ssh()
    assert a.status()["installed_version"] == "4.4.0"
    assert "vmware-um-loginservice" not in a.wait_services(60)     # a 4.6 service: not in 4.4

    dev = mount(a, isos["4.4-ask-reboot"]["iso"], "/root/upgrade")
    backing = loop_bound_to(dev)
    assert backing, dev
    a.stop()                                                        # mounted when the appliance stops
    until(f"{dev} released when the appliance stopped", lambda: released(dev, backing), 10)


def test_versions_without_a_build_are_refused_before_anything_is_made(umsim, tmp_path):
    for bad in ("4.3.0", "4.9.0", "9.1.0"):       # 4.3 comes as the shar; the others have no build
        with pytest.raises(umsim.UmsimError, match=r"an ISO is made for 4\.4\.0, .*9\.0\.1, not"):
            umsim.make_iso(tmp_path, bad)
    with pytest.raises(umsim.UmsimError, match=r"version must be 4\.1\.x, 4\.2\.x or one of .*4\.8\.0, 9\.0\.0"):
        umsim.start(f"never{os.getpid()}", version="5.0.0")
    assert list(tmp_path.iterdir()) == []
