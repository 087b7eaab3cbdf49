"""vcloud.usage_meter.upgrade with `script`: an upgrade ISO's script, against the
simulated appliance.

The ISOs are real ISO 9660 images built here with xorriso (tests/lib/iso_images.py)
holding small test scripts, mounted with vcloud.usage_meter.iso_mount. They prompt
as the vendor's may: the access token on stdin or on the terminal, an extra
question nobody expects, or nothing. Each script appends one line to
/root/iso-runs.log per start (how often it really ran) and checks the token by
its sha256, so the token itself is nowhere on the appliance. One appliance for
the file (sshd enabled, so that it comes back after a reboot): every test uses
its own ISO, so their runs are told apart by the ISO's checksum.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import threading

import pytest

from lib.iso_images import make_iso, put, sha1
from lib.playbook import require_module, run_module

MODULE = "upgrade"
DIR = "/opt/vmware/upgrade"
STATE = "/var/lib/vcloud-usage-meter"
RUNS = "/root/iso-runs.log"
TOKEN = "UMA:" + secrets.token_hex(20)
TOKEN_SHA = hashlib.sha256(TOKEN.encode()).hexdigest()


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)
    require_module("iso_mount")


@pytest.fixture(scope="module")
def appl(umsim, umsim_root):
    name = f"isou{os.getpid()}"
    a = umsim.start_appliance(name, sshd="enabled")
    try:
        a.exec(["mkdir", "-p", DIR], check=True)
        yield a
    finally:
        umsim.stop(name, purge=os.environ.get("UMSIM_KEEP") != "1")


def script(label: str, *, ask: str = "stdin", extra_prompt: str = "", seconds: float = 0.5,
           pidfile: bool = False, reboot: str = "") -> str:
    """An upgrade-um.sh: logs its start, asks for the token (stdin, tty, or not at all)."""
    lines = ["#!/bin/bash", f"echo 'ran {label}' >> {RUNS}", "echo 'INFO  preparing the upgrade'"]
    if pidfile:   # the simulator's cut-upgrade fault watches this file
        lines.append("echo $$ > /run/ums-upgrade.pid")
    if ask == "stdin":
        lines += ["printf 'Enter the access token: '", "IFS= read -r t"]
    elif ask == "tty":
        lines += ["printf 'Enter the access token: ' > /dev/tty", "IFS= read -r t < /dev/tty"]
    if ask != "none":
        lines += ["echo",
                  f"[ \"$(printf '%s' \"$t\" | sha256sum | cut -c1-64)\" = {TOKEN_SHA} ] || "
                  "{ echo 'ERROR the access token is not valid'; exit 4; }",
                  "echo 'INFO  access token accepted'"]
    if extra_prompt:
        lines += [f"printf '%s' '{extra_prompt}'", "read -r answer", "echo \"answer: $answer\""]
    lines += [f"sleep {seconds}", "echo 'INFO  upgrade staged; reboot to complete the upgrade'"]
    if reboot == "end":   # reboot returns before the system goes down; the script ends
        lines += ["reboot"]
    elif reboot == "mid":   # the reboot ends the script (and the runner) before it exits
        lines += ["reboot", "sleep 60", "echo 'ERROR still running after the reboot'"]
    return "\n".join(lines) + "\n"


# reboot_wait=1 where the script does not reboot (the default 10 s is tested last)
def conn(a, **extra):
    return {"host": a.host, "password": a.root_password, "known_hosts": a.known_hosts, **extra}


def mounted(a, label: str, text: str) -> tuple[str, str]:
    """Upload an ISO holding `text` as upgrade-um.sh, mount it; (script, sha1:<hex>)."""
    iso = make_iso({"upgrade-um.sh": text, "repo/repodata/repomd.xml": "<repomd/>\n"},
                   f"Usage_Meter_Agent-{label}_Upgrade.iso")
    put(a, iso, f"{DIR}/{iso.name}")
    m = run_module("iso_mount", conn(a, iso=f"{DIR}/{iso.name}", path=f"/root/upgrade-{label}"))
    assert m["_status"] == "ok", m["_output"]
    return m["script"], f"sha1:{sha1(iso)}"


def runs(a, label: str) -> int:
    cp = a.exec(["sh", "-c", f"grep -cx 'ran {label}' {RUNS} || true"])
    return int(cp.stdout.strip() or 0)


def test_token_on_stdin_never_shown_never_twice(appl):
    path, key = mounted(appl, "stdin", script("stdin", seconds=2.0))
    seen, done = [], threading.Event()

    def watch():   # every process's command line and environment while the upgrade runs
        while not done.is_set():
            cp = appl.exec(["sh", "-c", "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'"])
            seen.append(cp.stdout)

    t = threading.Thread(target=watch)
    t.start()
    try:
        r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN), verbosity=4)
    finally:
        done.set()
        t.join()
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["changed"] is True and r["status"] == "ran" and r["rc"] == 0
    assert r["reboot_required"] is True and r["rebooted"] is False
    assert r["checksum"] == key
    assert any("access token accepted" in line for line in r["stdout_lines"])
    assert runs(appl, "stdin") == 1
    # the token: in no output at -vvvv, no process list, no file on the appliance
    assert TOKEN not in r["_output"]
    assert len(seen) >= 3 and not any(TOKEN in s for s in seen)
    assert any("upgrade-um.sh" in s for s in seen), "the watch never saw the upgrade running"
    grep = appl.exec(["grep", "-rlsF", TOKEN, STATE, "/root", "/tmp", "/run", "/var/log", DIR])
    assert grep.stdout == "", grep.stdout
    assert appl.exec(["sh", "-c", f"ls -A {STATE}/runs | grep -v '\\.log$' || true"]).stdout == ""

    # never twice: the same ISO again, then with its script gone (unmounted)
    again = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["status"] == "already_ran"
    iso = f"{DIR}/Usage_Meter_Agent-stdin_Upgrade.iso"
    assert run_module("iso_mount", conn(appl, iso=iso, path="/root/upgrade-stdin", state="absent"))["changed"]
    gone = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key))
    assert gone["_status"] == "ok" and gone["status"] == "already_ran", gone["_output"]
    assert runs(appl, "stdin") == 1


def test_token_on_the_terminal_needs_a_pty(appl):
    path, key = mounted(appl, "tty", script("tty"))
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN, token_input="pty"))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["rc"] == 0 and any("access token accepted" in line for line in r["stdout_lines"])
    # echo is off on the terminal: the token is not in the run's output
    assert TOKEN not in appl.exec(["sh", "-c", f"cat {STATE}/runs/*.log"]).stdout
    assert TOKEN not in r["_output"]
    assert runs(appl, "tty") == 1


def test_no_prompt_runs_without_a_token(appl):
    path, key = mounted(appl, "none", script("none", ask="none"))
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key), check=True, diff=True)
    assert r["_status"] == "ok" and r["status"] == "would_run" and runs(appl, "none") == 0
    assert path in r["diff"]["after"]
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key))
    assert r["_status"] == "ok", r["_output"]
    assert r["rc"] == 0 and r["reboot_required"] is True and runs(appl, "none") == 1


def test_unexpected_prompt_fails_fast_with_its_text(appl):
    path, key = mounted(appl, "extra", script("extra", extra_prompt="Proceed with the upgrade? [y/N]: "))
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN, prompt_timeout=2, timeout=3600))
    assert r["_status"] == "failed", r["_output"]
    assert "Proceed with the upgrade? [y/N]: " in r["msg"] and "nobody expected" in r["msg"]
    assert r["prompt"] == "Proceed with the upgrade? [y/N]: "
    assert r["seconds"] < 120, r["seconds"]   # a prompt, not the 3600 s timeout
    # the script was stopped, not left waiting
    assert appl.exec(["pgrep", "-f", path]).returncode == 1
    # and is not run again by itself
    again = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN))
    assert again["_status"] == "failed" and "force" in again["msg"]
    assert runs(appl, "extra") == 1


def test_missing_token_fails_at_once_then_runs_with_it(appl):
    path, key = mounted(appl, "notoken", script("notoken"))
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, timeout=3600))
    assert r["_status"] == "failed", r["_output"]
    assert "usage_meter_access_token" in r["msg"] and "Enter the access token" in r["msg"]
    assert r["seconds"] < 120, r["seconds"]
    assert appl.exec(["pgrep", "-f", path]).returncode == 1
    ok = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN))
    assert ok["_status"] == "ok", ok["_output"]
    assert ok["rc"] == 0 and runs(appl, "notoken") == 2


def test_wrong_token_fails_clearly(appl):
    path, key = mounted(appl, "wrong", script("wrong"))
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token="UMA:not-the-token"))
    assert r["_status"] == "failed", r["_output"]
    assert r["rc"] == 4 and "not valid" in r["msg"]
    assert "UMA:not-the-token" not in r["_output"]


def test_connection_cut_during_the_run_reattaches(appl):
    path, key = mounted(appl, "cut", script("cut", seconds=4.0, pidfile=True))
    appl.fault_set("cut-upgrade", "1")
    r = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN))
    assert [e for e in appl.events("fault-fired") if e.get("fault") == "cut-upgrade"], "the cut did not happen"
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["rc"] == 0 and any("staged" in line for line in r["stdout_lines"])
    assert runs(appl, "cut") == 1
    again = run_module(MODULE, conn(appl, reboot_wait=1, script=path, checksum=key, access_token=TOKEN))
    assert again["changed"] is False and runs(appl, "cut") == 1


@pytest.mark.parametrize("when", ["end", "mid"])
def test_a_script_that_reboots_the_appliance(appl, when):
    """Last: they reboot the shared appliance. "end": the run is recorded, then the
    appliance goes down (reboot_wait notices); "mid": the reboot kills the run
    before it is recorded, and the module records it from the new boot."""
    label = f"reboot-{when}"
    path, key = mounted(appl, label, script(label, ask="none", reboot=when))
    boot = appl.boot_id()
    r = run_module(MODULE, conn(appl, script=path, checksum=key, timeout=600))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert appl.boot_id() != boot
    assert r["rebooted"] is True and r["reboot_required"] is False and r["rc"] == 0
    warned = any("rebooted during the upgrade run" in w for w in r.get("warnings", []))
    assert warned is (when == "mid"), r.get("warnings")
    again = run_module(MODULE, conn(appl, script=path, checksum=key))
    assert again["_status"] == "ok", again["_output"]
    assert again["changed"] is False and again["status"] == "already_ran" and again["rebooted"] is (when == "mid")
    assert runs(appl, label) == 1
