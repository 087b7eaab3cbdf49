"""One test per fault switch of the simulated appliance, showing it does what it says."""
from __future__ import annotations

import subprocess
import time

from lib.appliance_checks import Throttle
from simtest import UMS, key_ssh_argv, pw_ssh, until


def test_shar_fail(appliance_factory, shar):
    a = appliance_factory(faults={"shar-fail": "30"})
    a.scp_to(shar, f"{UMS}/", check=True)
    cp = a.ssh(f"cd {UMS} && bash ums-system-upgrade.shar", timeout=60)
    assert cp.returncode != 0, cp.stdout
    assert "upgrade FAILED" in cp.stdout and "[30%]" in cp.stdout, cp.stdout
    log = a.ssh(f"cat {UMS}/var/logs/inplaceupgradeum-*").stdout
    assert "ERROR" in log and "upgrade FAILED" in log, log
    assert a.ssh("test -e /opt/vmware/.ums-upgrade-staged/READY").returncode == 1
    # the reboot applies nothing: still 4.2, no -old folder
    old = a.boot_id()
    a.exec("reboot")
    a.wait_new_boot(old, 60)
    st = a.status()
    assert st["installed_version"] == "4.2.0" and st["cloudusagemetering_old"] is False, st
    # the switch off, the same bundle succeeds
    a.fault_clear("shar-fail")
    assert a.exec(f"cd {UMS} && bash ums-system-upgrade.shar").returncode == 0


def test_service_offline(appliance_factory):
    a = appliance_factory(config={"services_up_s": "1"})
    a.wait_services(30)
    a.fault_set("service-offline", "vcdCol")
    old = a.boot_id()
    a.exec("reboot")
    a.wait_new_boot(old, 60)
    # long after every other service is up, vcdCol is still Offline and status.sh fails
    until("other services Running", lambda: a.exec(f"{UMS}/scripts/status.sh").stdout.count("Running") == 13, 30)
    time.sleep(1.5)
    cp = a.exec(f"{UMS}/scripts/status.sh")
    assert cp.returncode != 0
    assert "vcdcol : Offline" in cp.stdout and cp.stdout.count("Running") == 13, cp.stdout
    # the service manager agrees: the unit failed, the others active since they came up
    cp = a.exec("systemctl show -p Id,LoadState,ActiveState,NRestarts,ActiveEnterTimestampMonotonic "
                "vcdcol.service gw.service nosuch.service")
    units = {b.split("\n", 1)[0]: dict(x.split("=", 1) for x in b.splitlines()) for b in cp.stdout.strip().split("\n\n")}
    assert units["Id=vcdcol.service"]["ActiveState"] == "failed", cp.stdout
    assert units["Id=gw.service"]["ActiveState"] == "active", cp.stdout
    assert int(units["Id=gw.service"]["ActiveEnterTimestampMonotonic"]) > 0, cp.stdout
    assert units["Id=nosuch.service"]["LoadState"] == "not-found", cp.stdout
    a.config_set(unit_props="no")            # a service manager that cannot tell
    assert a.exec("systemctl show gw.service").returncode != 0
    a.config_set(unit_props="yes")
    a.fault_clear("service-offline")
    a.wait_services(10)


def test_reboot_never_comes_back(appliance_factory):
    a = appliance_factory(sshd="enabled")
    a.fault_set("reboot-hang")
    old = a.boot_id()
    assert a.ssh("reboot").returncode in (0, 255)
    until("the appliance going down", lambda: a.status()["phase"] == "hang", 30)
    # well past the normal down + boot time: no boot, no sshd, no console
    time.sleep(4)
    st = a.status()
    assert st["phase"] == "hang" and st["boot_id"] == old and not st["sshd_listening"], st
    cp = a.ssh("true", opts=["-o", "ConnectTimeout=2"], timeout=30)
    assert cp.returncode == 255
    # once the switch is off the boot goes on
    a.fault_clear("reboot-hang")
    a.wait_new_boot(old, 60)
    a.wait_ssh(30)
    assert a.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip() not in ("", old)


def test_cut_during_copy(appliance_factory, shar_factory, tmp_path):
    big = shar_factory("64M", 1.0)
    a = appliance_factory(faults={"cut-copy": "4M"})
    other = subprocess.Popen(key_ssh_argv(a, "echo up; sleep 60; echo survived"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert other.stdout.readline() == "up\n"      # connected before the cut
    with Throttle(a, "200mbit"):                   # ~3 s: the 20 ms watcher sees it mid-copy even on a loaded machine
        cp = a.scp_to(big, f"{UMS}/", timeout=120)
    assert cp.returncode != 0, "the copy should have been cut"
    out, _ = other.communicate(timeout=30)
    assert other.returncode == 255 and "survived" not in out       # every connection dropped
    fired = [e for e in a.events("fault-fired") if e.get("fault") == "cut-copy"]
    assert fired and int(fired[0]["size"]) >= 4 * 1024 * 1024
    assert "cut-copy" not in a.status()["faults"], "the switch is one-shot"
    # a partial file is left, sshd still listens, a retry succeeds
    size = int(a.ssh(f"stat -c %s {UMS}/ums-system-upgrade.shar").stdout)
    assert 4 * 1024 * 1024 <= size < big.stat().st_size
    assert a.scp_to(big, f"{UMS}/", timeout=120).returncode == 0
    assert int(a.ssh(f"stat -c %s {UMS}/ums-system-upgrade.shar").stdout) == big.stat().st_size


def test_cut_during_upgrade_detached_run_survives(appliance_factory, shar):
    a = appliance_factory(config={"shar_seconds": "3"})
    a.scp_to(shar, f"{UMS}/", check=True)
    a.fault_set("cut-upgrade", "1")
    watcher = subprocess.Popen(key_ssh_argv(a, "sleep 60; echo survived"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    # the caller detaches the shar (setsid + nohup, output to a file): it outlives the session
    cp = a.ssh(f"cd {UMS} && setsid nohup bash ums-system-upgrade.shar > /root/upgrade.out 2>&1 < /dev/null & "
               f"sleep 30; echo not-cut", timeout=60)
    assert cp.returncode == 255 and "not-cut" not in cp.stdout, (cp.returncode, cp.stdout, cp.stderr)
    out, _ = watcher.communicate(timeout=30)
    assert watcher.returncode == 255 and "survived" not in out
    until("the detached shar to finish",
          lambda: a.ssh("test -e /opt/vmware/.ums-upgrade-staged/READY").returncode == 0, 30, 0.5)
    assert "staged" in a.ssh("cat /root/upgrade.out").stdout
    assert "cut-upgrade" not in a.status()["faults"]


def test_cut_during_upgrade_foreground_run_dies(appliance_factory, shar):
    a = appliance_factory(config={"shar_seconds": "3"})
    a.scp_to(shar, f"{UMS}/", check=True)
    a.fault_set("cut-upgrade", "1")
    cp = a.ssh(f"cd {UMS} && bash ums-system-upgrade.shar", timeout=60)
    assert cp.returncode == 255, (cp.stdout, cp.stderr)
    # the shar dies with the session (SIGPIPE at its next progress line): nothing staged
    time.sleep(4)
    assert a.ssh("test -e /opt/vmware/.ums-upgrade-staged/READY").returncode == 1
    assert a.exec("pgrep -f ums-system-upgrade.shar").returncode == 1
    log = a.ssh(f"cat {UMS}/var/logs/inplaceupgradeum-*").stdout
    assert "staged" not in log and "[100%]" not in log, log


def test_disk_too_small(appliance_factory, shar_factory):
    big = shar_factory("32M", 1.0)
    a = appliance_factory(faults={"disk-small": "8M"})
    df = a.ssh("df -P /opt/vmware").stdout.splitlines()
    avail_kib = int(df[1].split()[3])
    assert 7 * 1024 <= avail_kib <= 9 * 1024, df
    # a write past the free space fails; so does the copy of a bundle that does not fit
    cp = a.ssh(f"dd if=/dev/zero of={UMS}/fill bs=1M count=16")
    assert cp.returncode != 0 and "No space left on device" in cp.stderr, cp.stderr
    a.ssh(f"rm -f {UMS}/fill")
    cp = a.scp_to(big, f"{UMS}/", timeout=120)
    assert cp.returncode != 0
    # the install is intact and survives a reboot under the fault
    assert a.ssh(f"test -x {UMS}/scripts/status.sh").returncode == 0
    a.fault_clear("disk-small")
    df = a.ssh("df -P /opt/vmware").stdout.splitlines()
    assert int(df[1].split()[3]) > 64 * 1024, df
    assert a.scp_to(big, f"{UMS}/", timeout=120).returncode == 0


def test_disk_too_small_for_extraction(appliance_factory, shar_factory):
    """The bundle fits but its payload does not: the shar refuses before extracting."""
    big = shar_factory("24M", 1.0)
    a = appliance_factory(faults={"disk-small": "30M"})
    assert a.scp_to(big, f"{UMS}/", timeout=120).returncode == 0
    cp = a.ssh(f"cd {UMS} && bash ums-system-upgrade.shar", timeout=60)
    assert cp.returncode != 0 and "not enough free space" in cp.stdout, cp.stdout


def test_password_expired(appliance_factory):
    a = appliance_factory(faults=["password-expired"])
    cp = pw_ssh(a, "echo hello")
    # UsePAM no (default): the password is accepted, then every command is refused
    assert cp.returncode == 1 and "hello" not in cp.stdout
    assert "Password change required but no TTY available." in cp.stderr, cp.stderr
    assert "password must be changed" in a.exec(["chage", "-l", "root"]).stdout
    a.fault_clear("password-expired")
    assert pw_ssh(a, "echo hello").stdout == "hello\n"


def test_password_expired_with_pam_blocks_keys_too(appliance_factory):
    a = appliance_factory(faults=["password-expired"], sshd_use_pam=True)
    for cp in (pw_ssh(a, "echo hello"), a.ssh("echo hello")):
        assert cp.returncode == 1 and "Password change required but no TTY available." in cp.stderr, cp.stderr


def test_host_key_changed(appliance_factory):
    a = appliance_factory()
    before = a.host_keys()
    strict = ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={a.known_hosts}"]
    cmd = ["ssh", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-i", a.client_key, *strict,
           f"root@{a.host}", "echo ok"]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout == "ok\n"
    a.fault_set("host-key-changed")
    assert set(a.host_keys()).isdisjoint(before)
    cp = subprocess.run(cmd[:3] + ["-o", "LogLevel=INFO"] + cmd[3:], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in cp.stderr, cp.stderr
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", a.host], capture_output=True, text=True, timeout=30)
    assert scan.stdout.split()[1:3] in [k.split() for k in a.host_keys()]


def test_api_session_expiry(appliance_factory):
    a = appliance_factory(faults={"session-expire": "2"})
    a.wait_api(30)
    sid = a.api_login()
    assert a.api("GET", "/agent_info", session=sid)[0] == 200
    assert a.api("GET", "/product", session=sid)[0] == 200
    code, body = a.api("GET", "/agent_info", session=sid)
    assert (code, body["errCode"]) == (401, "GW_LOGIN_REQUIRED")
    # on demand: expire every session now
    a.fault_clear("session-expire")
    sid = a.api_login()
    assert a.api("GET", "/agent_info", session=sid)[0] == 200
    a.fault_set("expire-sessions")
    code, body = a.api("GET", "/agent_info", session=sid)
    assert (code, body["errCode"]) == (401, "GW_LOGIN_REQUIRED")
    assert "expire-sessions" not in a.status()["faults"]
    assert a.api("GET", "/agent_info", session=a.api_login())[0] == 200
