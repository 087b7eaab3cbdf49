"""The harness itself: isolation and clean-up, the [guess] switches, sshd and reboot
behaviour, the API basics, the bundle builder and the CLI."""
from __future__ import annotations

import concurrent.futures
import ctypes
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simtest import UMS, key_ssh_argv, until, upgrade

UMSIM = str(Path(__file__).resolve().parent / "umsim.py")


def _pidns(pid) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _all_pidns() -> dict[int, str]:
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            ns = _pidns(d)
            if ns:
                out[int(d)] = ns
    return out


def _leftovers(umsim, infos, pidnss):
    """Everything of these appliances still visible on the host."""
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    mounts = Path("/proc/self/mountinfo").read_text()
    for i in infos:
        if re.search(rf"^{re.escape(i['netns'])}\b", netns, re.M):
            left.append(f"netns {i['netns']}")
        if f" {i['host_veth']}@" in links or f" {i['host_veth']}:" in links:
            left.append(f"veth {i['host_veth']}")
        for line in mounts.splitlines():
            if i["netns"] in line or i["state_dir"] in line:
                left.append(f"mount {line}")
        if umsim._proc_state(i["supervisor_pid"]) is not None:
            left.append(f"supervisor process {i['supervisor_pid']} ({umsim._proc_state(i['supervisor_pid'])})")
    for pid, ns in _all_pidns().items():
        if ns in pidnss:
            left.append(f"process {pid} in appliance PID namespace {ns}")
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        cmd = " ".join(umsim._cmdline(pid))
        if any(i["state_dir"] in cmd for i in infos):
            left.append(f"process {pid}: {cmd}")
    return left


def test_five_appliances_leave_nothing_behind(umsim, appliance_factory):
    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        apps = list(ex.map(lambda _: appliance_factory(sshd="running"), range(5)))
    infos = [a.info for a in apps]
    assert len({a.host for a in apps}) == 5 and len({a.netns for a in apps}) == 5
    pidnss = set()
    for a in apps:
        init = umsim._init_pid(Path(a.state_dir))
        assert init, a.name
        pidnss.add(_pidns(init))
        assert _pidns(init) != _pidns("self")
    assert len(pidnss) == 5
    # each is its own machine: own hostname and boot id, reachable side by side
    ids = set()
    for a in apps:
        cp = a.ssh("hostname; cat /proc/sys/kernel/random/boot_id", check=True)
        host, bid = cp.stdout.split()
        assert host == a.hostname
        ids.add(bid)
    assert len(ids) == 5
    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        list(ex.map(lambda a: a.stop(), apps))
    # an init killed at the end of a slow shutdown is reaped by the host a moment later
    deadline = time.monotonic() + 20
    while (left := _leftovers(umsim, infos, pidnss)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, "\n".join(left)


def test_nothing_reaches_the_host(appliance):
    a = appliance
    host_files = {p: Path(p).stat().st_mtime_ns for p in ("/etc/passwd", "/etc/shadow", "/etc/ssh/sshd_config")}
    host_opt = sorted(os.listdir("/opt"))
    cp = a.ssh("echo x >> /etc/passwd; touch /opt/from-appliance /usr/bin/from-appliance; "
               "chpasswd <<< 'root:Other1!'; ls /opt; ls /work 2>&1; "
               "cat /proc/1/cmdline | tr '\\0' ' '; readlink /proc/self/ns/pid")
    assert cp.returncode == 0, cp.stderr
    assert "umsim-init" in cp.stdout and "No such file" in cp.stdout   # the host's /work is hidden
    assert {p: Path(p).stat().st_mtime_ns for p in host_files} == host_files
    assert sorted(os.listdir("/opt")) == host_opt
    assert not Path("/usr/bin/from-appliance").exists()
    assert cp.stdout.strip().splitlines()[-1] != os.readlink("/proc/self/ns/pid")


def test_real_reboot_syscall_only_restarts_the_appliance(appliance_factory):
    """Even a missed fake cannot reboot the host: reboot(2) inside only ends the PID namespace."""
    a = appliance_factory(sshd="enabled")
    host_boot = Path("/proc/sys/kernel/random/boot_id").read_text()
    old = a.boot_id()
    prog = ("import ctypes, os, sys\n"
            "if os.readlink('/proc/self/ns/pid') == sys.argv[1]: sys.exit(99)\n"
            "if 'umsim-init' not in open('/proc/1/cmdline').read(): sys.exit(98)\n"
            "ctypes.CDLL(None).syscall(169, 0xfee1dead, 672274793, 0x01234567, 0)\n")
    guard = os.readlink("/proc/self/ns/pid")
    cp = a.exec(["python3", "-c", prog, guard], timeout=30)
    assert cp.returncode not in (98, 99), "guard: not inside the appliance's PID namespace"
    a.wait_new_boot(old, 60)
    exits = [e for e in a.events("init-exit") if e.get("boot_id") == old]
    assert exits and exits[0]["rc"] in ("-1", "129"), exits     # killed by SIGHUP = reboot
    assert Path("/proc/sys/kernel/random/boot_id").read_text() == host_boot
    a.wait_ssh(30)


def test_sshd_units_and_reboot(appliance_factory):
    a = appliance_factory(sshd="running")
    assert a.ssh("systemctl is-enabled sshd").stdout == "disabled\n"
    assert a.ssh("systemctl is-active sshd").stdout == "active\n"
    assert "active (running)" in a.ssh("service sshd status").stdout
    cp = a.ssh("systemctl enable sshd")
    assert cp.returncode == 0 and "Created symlink" in cp.stderr
    assert a.ssh("systemctl is-enabled sshd").stdout == "enabled\n"
    # reboot: all connections drop, boot id changes, an enabled sshd comes back
    long = subprocess.Popen(key_ssh_argv(a, "sleep 60; echo survived"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    old = a.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert a.ssh("reboot").returncode in (0, 255)
    out, err = long.communicate(timeout=30)
    assert long.returncode == 255 and "survived" not in out, err
    new = a.wait_new_boot(old, 60)
    a.wait_ssh(30)
    assert a.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip() == new != old
    # the supervisor's timeline has when sshd listened again after this boot
    t_new = a.sshd_listening_times(boot_id=new)
    assert len(t_new) == 1 and t_new[0] > a.sshd_listening_times(first_per_boot=True)[0]
    # disabled again: after the next reboot it stays off
    assert a.ssh("systemctl disable sshd").returncode == 0
    assert a.ssh("systemctl is-enabled sshd").returncode == 1
    a.ssh("shutdown -r now")
    a.wait_new_boot(new, 60)
    assert not a.status()["sshd_listening"]
    assert a.sshd_listening_times(boot_id=a.boot_id()) == []
    # unknown units answer like systemd
    cp = a.exec(["systemctl", "start", "nosuch"])
    assert cp.returncode == 5 and "not found" in cp.stderr


@pytest.mark.parametrize("mode", ["survive", "kill"])
def test_sshd_stop_and_the_issuing_session(appliance_factory, mode):
    a = appliance_factory(config={"sshd_stop_mode": mode})
    cp = a.ssh("service sshd stop; sleep 1; echo still-here")
    if mode == "survive":      # real sshd: the listener ends, running sessions go on
        assert cp.returncode == 0 and "still-here" in cp.stdout, cp.stderr
    else:                      # switch: the session that stopped sshd is cut too
        assert cp.returncode == 255 and "still-here" not in cp.stdout
    assert not a.status()["sshd_listening"]
    assert a.exec("systemctl is-active sshd").stdout == "inactive\n"


def test_concurrent_sshd_starts_are_one_job(appliance_factory):
    """Consoles (plays) starting sshd at nearly the same moment: like systemd, every
    start succeeds and one daemon runs with its pid file, so is-active stays right.
    (Staggered by a few ms: a start that removed the pid file of a daemon that had
    just come up used to leave sshd running but "inactive", and every later start failed.)"""
    a = appliance_factory(sshd="off")
    script = ("for k in 1 2 3; do systemctl stop sshd; "
              "for d in 0 0.01 0.02 0.03 0.04 0.05 0.06 0.08; do (sleep $d; systemctl start sshd; echo rc=$?) & done; "
              "wait; systemctl is-active sshd; done")
    cp = a.exec(["sh", "-c", script], timeout=120)
    assert cp.stdout.count("rc=0") == 24 and cp.stdout.count("active") == 3, (cp.stdout, cp.stderr)
    assert "inactive" not in cp.stdout, cp.stdout
    daemons = a.exec(["sh", "-c", "ps -eo ppid=,comm= | awk '$1 == 1 && $2 == \"sshd\"' | wc -l"]).stdout.strip()
    assert daemons == "1", daemons
    assert a.status()["sshd_listening"]


def test_services_come_up_after_boot(appliance_factory):
    a = appliance_factory(config={"services_up_s": "20"})   # wide enough to see Offline on a loaded machine
    old = a.boot_id()
    a.exec("reboot")
    a.wait_new_boot(old, 60)
    cp = a.exec(f"{UMS}/scripts/status.sh")
    assert cp.returncode == 1 and "Offline" in cp.stdout, cp.stdout
    out = a.wait_services(60)
    assert "Offline" not in out and out.count("Running") == 14


def test_status_formats(appliance):
    a = appliance
    a.wait_services(30)
    out = a.ssh(f"{UMS}/scripts/status.sh").stdout
    assert re.search(r"^gw : Running$", out, re.M)
    a.config_set(status_format="table", status_names="doc")
    out = a.ssh(f"{UMS}/scripts/status.sh").stdout.splitlines()
    assert out[0].split() == ["SERVICE", "STATUS"] and re.fullmatch(r"GW +Running", out[3]), out
    a.config_set(status_format="ansi")
    out = a.ssh(f"{UMS}/scripts/status.sh").stdout
    assert "\x1b[" in out and re.search(r"GW\x1b\[0m : \x1b\[0;32mRunning", out), repr(out)


def test_shar_refuses_wrong_folder_and_non_root(appliance, shar):
    a = appliance
    a.scp_to(shar, f"{UMS}/", check=True)
    cp = a.ssh(f"cd /root && bash {UMS}/ums-system-upgrade.shar")
    assert cp.returncode == 1 and f"run the upgrade from {UMS}" in cp.stderr
    cp = a.ssh(f"cd {UMS} && setpriv --reuid=nobody --regid=nogroup --clear-groups bash ums-system-upgrade.shar")
    assert cp.returncode == 1 and "must be run as root" in cp.stderr
    assert a.ssh(f"ls {UMS}/var/logs/ | grep -c inplaceupgradeum").stdout.strip() == "0"


def test_upgrade_switches_symlink_layout_and_hex_fingerprints(appliance_factory, shar):
    a = appliance_factory(version="4.1.2", config={"upgrade_layout": "symlink", "fingerprint_format": "hex"},
                          products=["VCENTER:vc1.test", "NSXT:nsx1.test:8443", "VCD:vcd1.test"])
    a.wait_api(30)
    sid = a.api_login()
    code, info = a.api("GET", "/agent_info", session=sid)
    assert (info["major_version"], info["minor_version"], info["patch_version"]) == (4, 1, 2)
    assert a.api("GET", "/user_action", session=sid) == (200, [])
    upgrade(a, shar)
    assert a.ssh(f"readlink {UMS}").stdout.strip() == f"{UMS}-4.3.0"
    assert a.ssh(f"test -d {UMS}-old && test ! -L {UMS}-old").returncode == 0
    a.wait_api(30)
    # the reboot ended the old API session
    code, body = a.api("GET", "/agent_info", session=sid)
    assert (code, body["errCode"]) == (401, "GW_LOGIN_REQUIRED")
    sid = a.api_login()
    assert a.api("GET", "/agent_info", session=sid)[1]["minor_version"] == 3
    code, actions = a.api("GET", "/user_action", session=sid)
    assert len(actions) == 3
    assert all(re.fullmatch(r"[0-9a-f]{64}", x["data"]["certData"]["fingerprint_sha256"]) for x in actions)
    assert actions[1]["data"]["certificateId"] == "nsx1.test:8443"
    # the bundle refuses to run again on 4.3
    cp = a.ssh(f"cd {UMS} && bash {UMS}-old/ums-system-upgrade.shar")
    assert cp.returncode == 3 and "not supported" in cp.stdout, (cp.stdout, cp.stderr)


def test_api_basics(appliance):
    a = appliance
    a.wait_api(30)
    code, body = a.api("POST", "/login", {"user": "usagemeter", "password": "wrong"})
    assert code == 401
    code, body = a.api("GET", "/agent_info")
    assert (code, body["errCode"]) == (401, "GW_LOGIN_REQUIRED")
    sid = a.api_login()
    code, info = a.api("GET", "/agent_info", session=sid)
    assert code == 200 and info["build_number"] == 18320944 and isinstance(info["build_number"], int)
    assert re.fullmatch(r"[0-9a-f-]{36}", info["uuid"])
    code, products = a.api("GET", "/product", session=sid)
    assert code == 200 and [p["productType"] for p in products] == ["VCENTER", "VCD"]
    assert all(p["status"]["code"] == "OK" and "certData" not in p for p in products)
    code, body = a.api("PUT", "/accept_certificate", {"certificateId": "x:443", "accepted": True,
                                                      "productType": "VCENTER", "productId": 99}, session=sid)
    assert code == 502
    log = a.exec("cat /var/log/ums-api/access.log").stdout
    assert "POST /api/v1/login" in log and sid not in log and a.api_password not in log and "wrong" not in log
    # the certificate is self-signed for the appliance's address: no CA, no trust
    import ssl
    import urllib.request
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{a.api_url}/agent_info", context=ssl.create_default_context(), timeout=5)


def test_make_shar(umsim, tmp_path):
    p = umsim.make_shar(tmp_path, size="5M", seconds=1.5)
    assert p.name == "ums-system-upgrade.shar" and p.stat().st_size == 5 * 1024 * 1024
    head = p.read_bytes()[:4096].decode(errors="replace")
    code = [line for line in head.split("__never__")[0].splitlines() if not line.lstrip().startswith("#")]
    assert head.startswith("#!/bin/bash") and not any("uudecode" in line for line in code[:60])
    off = int(re.search(r"^UMS_PAYLOAD_OFFSET=(\d+)$", head, re.M).group(1))
    listing = subprocess.run(f"tail -c +{off + 1} {p} | tar -tzvf -", shell=True, capture_output=True, text=True)
    assert listing.returncode == 0 and "upgrade.sh" in listing.stdout and "ums/scripts/status.sh" in listing.stdout
    assert umsim.make_shar(size="5M", seconds=1.5) == umsim.make_shar(size="5M", seconds=1.5)  # cached


def test_cli(umsim, umsim_root, tmp_path):
    env = dict(os.environ, UMSIM_ROOT=str(umsim_root))
    name = f"cli{os.getpid()}"

    def cli(*args, check=True):
        cp = subprocess.run([sys.executable, UMSIM, *args], capture_output=True, text=True, env=env, timeout=120)
        if check:
            assert cp.returncode == 0, cp.stderr
        return cp
    # the CLI's supervisor outlives the CLI; let this test process adopt and reap it
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1)                    # PR_SET_CHILD_SUBREAPER
    try:
        info = json.loads(cli("start", "--name", name, "--sshd", "running", "--status-format", "table",
                              "--fault", "service-offline=GW").stdout)
    finally:
        libc.prctl(36, 0)
    try:
        for k in ("name", "host", "ssh_port", "api_port", "root_password", "client_key", "api_ca",
                  "state_dir", "supervisor_pid", "netns", "known_hosts", "api_user", "api_password"):
            assert k in info, k
        assert info["ssh_port"] == 22 and info["api_port"] == 8443
        assert cli("exec", "--name", name, "--", "hostname").stdout.strip() == info["hostname"]
        assert cli("exec", "--name", name, "--", "false", check=False).returncode == 1
        faults = json.loads(cli("fault", "--name", name, "set", "cut-copy=2M").stdout)
        assert faults == {"cut-copy": "2M", "service-offline": "GW"}
        assert json.loads(cli("fault", "--name", name, "clear", "cut-copy").stdout) == {"service-offline": "GW"}
        st = json.loads(cli("status", "--name", name).stdout)
        assert st["running"] and st["installed_version"] == "4.2.0" and st["sshd_listening"]
        assert json.loads(cli("config", "--name", name, "boot_s=0.5").stdout)["boot_s"] == "0.5"
        assert cli("config", "--name", name, "status_format=nope", check=False).returncode == 1
        evs = [json.loads(x) for x in cli("events", "--name", name, "--event", "sshd-listening").stdout.splitlines()]
        assert len(evs) == 1 and evs[0]["time"] > 0
        assert name in json.dumps(json.loads(cli("list").stdout))
    finally:
        cli("stop", "--name", name, "--purge")
        try:
            os.waitpid(info["supervisor_pid"], 0)   # adopted (subreaper): reap it
        except ChildProcessError:
            pass
    assert not _leftovers(umsim, [info], set())


def test_power_operations(appliance_factory):
    """Like vCenter power operations: graceful reboot/off, power on, hard reset."""
    a = appliance_factory(sshd="enabled")
    old = a.boot_id()
    a.power("reboot")
    b1 = a.wait_new_boot(old, 60)
    a.ssh("poweroff")
    until("powered off", lambda: a.status()["phase"] == "off", 30)
    assert not a.status()["sshd_listening"]
    a.power("on")
    b2 = a.wait_new_boot(b1, 60)
    a.power("reset")
    b3 = a.wait_new_boot(b2, 60)
    a.wait_ssh(30)
    assert a.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip() == b3
    assert len({old, b1, b2, b3}) == 4


def test_disk_small_at_runtime(appliance):
    a = appliance
    a.fault_set("disk-small", "4M")
    avail = int(a.ssh("df -P /opt/vmware").stdout.splitlines()[1].split()[3])
    assert avail <= 5 * 1024
    assert a.ssh(f"test -x {UMS}/scripts/status.sh && echo kept > {UMS}/var/logs/x.log").returncode == 0
    a.fault_clear("disk-small")
    avail = int(a.ssh("df -P /opt/vmware").stdout.splitlines()[1].split()[3])
    assert avail > 64 * 1024
    assert a.ssh(f"cat {UMS}/var/logs/x.log").stdout == "kept\n"   # written under the fault, kept


# --------------------------------------------------------------------------- network modes (README: "Network modes")

def _gateway_gone(umsim, a, forwarder_pid) -> list[str]:
    left = []
    if Path(f"/run/netns/{a.gateway_netns}").exists():
        left.append(f"netns {a.gateway_netns}")
    if Path(f"/sys/class/net/{a.gateway_netns}").exists():
        left.append(f"veth {a.gateway_netns}")
    if umsim._alive(forwarder_pid):
        left.append(f"forwarder {forwarder_pid}")
    return left


def test_net_forward_accepts_resets_and_survives_reboots(umsim, appliance_factory):
    a = appliance_factory(sshd="enabled", net="forward")
    assert a.net_mode == "forward" and a.host == a.gateway_address != a.address
    assert a.api_url.startswith(f"https://{a.host}:")
    assert Path(a.known_hosts).read_text().startswith(f"{a.host} ")
    assert umsim.tcp_probe(a.host, 22) == "banner"
    assert a.ssh("true").returncode == 0
    a.wait_api(30)
    sid = a.api_login()     # the API port too, with a certificate valid for the gateway address
    assert a.api("GET", "/agent_info", session=sid)[0] == 200
    a.exec("service sshd stop", check=True)
    # like nc through a DNAT or user-mode NAT: connected, then reset before any byte
    assert [umsim.tcp_probe(a.host, 22) for _ in range(3)] == ["reset"] * 3
    assert umsim.tcp_probe(a.address, 22) == "refused"
    assert a.events("forward-reset")
    # the forwarder outlives a reboot (same appliance address) and goes with stop()
    fpid = umsim._sup_state(Path(a.state_dir))["forwarder_pid"]
    old = a.boot_id()
    a.power("reboot")
    a.wait_new_boot(old, 60)
    a.wait_ssh(30)
    assert a.ssh("true").returncode == 0
    assert umsim._sup_state(Path(a.state_dir))["forwarder_pid"] == fpid and umsim._alive(fpid)
    a.stop()
    assert _gateway_gone(umsim, a, fpid) == []


def test_net_drop_times_out_on_closed_ports(umsim, appliance_factory):
    a = appliance_factory(sshd="running", net="drop")
    assert a.host == a.address and a.gateway_address is None
    assert umsim.tcp_probe(a.host, 22) == "banner"
    t0 = time.monotonic()
    assert umsim.tcp_probe(a.host, 2222, timeout=2) == "timeout"
    assert time.monotonic() - t0 >= 1.9
    a.exec("service sshd stop", check=True)
    assert umsim.tcp_probe(a.host, 22, timeout=1) == "timeout"
    # only what comes in on eth0: inside, a closed port still refuses at once
    cp = a.exec("timeout 5 bash -c 'echo > /dev/tcp/127.0.0.1/2222' 2>&1; echo rc=$?")
    assert "refused" in cp.stdout and "rc=1" in cp.stdout, cp.stdout


def test_net_idle_drop_is_silent(umsim, appliance_factory):
    """A flow idle for idle_drop seconds is forgotten: no FIN, no RST, nothing comes back."""
    a = appliance_factory(sshd="running", net="forward", idle_drop=1)
    import socket
    with socket.create_connection((a.host, 22), timeout=3) as s:
        assert s.recv(256).startswith(b"SSH-")
        until("flow dropped", lambda: a.events("forward-idle-drop"), 10)
        s.sendall(b"SSH-2.0-probe\r\n")      # sshd would answer with its KEXINIT
        s.settimeout(2)
        with pytest.raises(socket.timeout):
            s.recv(256)                      # neither data, nor EOF (b""), nor a reset
    assert umsim.tcp_probe(a.host, 22) == "banner"   # a new flow works


def test_net_mode_from_the_environment(umsim, appliance_factory, monkeypatch):
    monkeypatch.setenv("UMSIM_NET_MODE", "forward")
    monkeypatch.setenv("UMSIM_IDLE_DROP", "300")
    assert umsim.net_settings() == ("forward", 300.0)
    assert umsim.net_settings("direct", 0) == ("direct", 0.0)     # an argument wins
    monkeypatch.setenv("UMSIM_IDLE_DROP", "")
    a = appliance_factory(sshd="running")
    assert a.net_mode == "forward" and a.host == a.gateway_address
    with pytest.raises(umsim.UmsimError, match="net mode"):
        umsim.net_settings("nat")
    with pytest.raises(umsim.UmsimError, match="idle_drop"):
        umsim.net_settings("drop", 5)
