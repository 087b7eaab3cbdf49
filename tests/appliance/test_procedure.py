"""Proof that the simulation is faithful: the documented manual 4.2 -> 4.3 procedure, done
with plain OpenSSH ssh/scp (sshpass for the root password) and a python ssl client,
reaches the documented outcome. No module of the collection is used."""
from __future__ import annotations

import json
import re
import socket
import ssl
import urllib.request

from simtest import UMS, pw_scp, pw_ssh, until


def api(a, method, path, body=None, session=None):
    """A plain python ssl client that trusts only the appliance's own self-signed cert."""
    ctx = ssl.create_default_context(cafile=a.api_ca)
    req = urllib.request.Request(f"https://{a.host}:{a.api_port}/api/v1{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if session:
        req.add_header("sessionid", session)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def test_manual_upgrade_procedure(appliance_factory, shar):
    # an appliance as delivered: 4.2, sshd disabled and not running
    a = appliance_factory(version="4.2.0", sshd="off")
    assert not port_open(a.host, 22), "sshd must be off at boot by default"

    # 2. as root on the console: service sshd start
    cp = a.exec(["service", "sshd", "start"])
    assert cp.returncode == 0, cp.stderr
    until("sshd listening", lambda: port_open(a.host, 22), 15)

    # 3. copy the bundle into /opt/vmware/cloudusagemetering
    cp = pw_scp(a, shar, f"{UMS}/")
    assert cp.returncode == 0, cp.stderr

    # 4. run it there as root
    cp = pw_ssh(a, f"cd {UMS} && bash ums-system-upgrade.shar", timeout=120)
    assert cp.returncode == 0, f"rc={cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert "[100%]" in cp.stdout and "staged" in cp.stdout

    # 5. reboot; every connection drops, the boot id changes
    old_boot = pw_ssh(a, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", old_boot)
    cp = pw_ssh(a, "reboot", timeout=30)
    assert cp.returncode in (0, 255), cp.stderr
    a.wait_new_boot(old_boot, 60)
    # sshd was started, not enabled: after the reboot it stays off until the console starts it
    assert not port_open(a.host, 22), "sshd came back although it was never enabled"
    assert a.exec(["service", "sshd", "start"]).returncode == 0
    until("sshd back", lambda: port_open(a.host, 22), 15)
    new_boot = pw_ssh(a, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", new_boot) and new_boot != old_boot

    # 7. status.sh: every service Running (they come up some seconds after boot)
    def all_running():
        cp = pw_ssh(a, f"cd {UMS} && ./scripts/status.sh")
        return cp.returncode == 0 and cp.stdout
    out = until("all services Running", all_running, 60, 0.5)
    lines = out.strip().splitlines()
    assert len(lines) == 14 and all(line.endswith(": Running") for line in lines), out

    # the old installation is kept, the new one is in place, logs are there
    cp = pw_ssh(a, f"test -d {UMS}-old && test -d {UMS} && ls {UMS}/var/logs/")
    assert cp.returncode == 0, cp.stderr
    logs = [n for n in cp.stdout.split() if re.fullmatch(r"inplaceupgradeum-\d{8}-\d+", n)]
    assert logs, cp.stdout
    log = pw_ssh(a, f"cat {UMS}/var/logs/{logs[0]}").stdout
    assert "completed successfully" in log, log

    # 6. service sshd stop: the listener goes away
    cp = pw_ssh(a, "service sshd stop")
    assert cp.returncode == 0, cp.stderr
    until("sshd listener gone", lambda: not port_open(a.host, 22), 10)

    # the API reports 4.3 and lists the certificates to accept again
    until("API listening", lambda: port_open(a.host, a.api_port), 30)
    code, body = api(a, "POST", "/login", {"user": "usagemeter", "password": a.api_password})
    assert code == 202 and body["sessionid"], (code, body)
    sid = body["sessionid"]
    code, info = api(a, "GET", "/agent_info", session=sid)
    assert code == 200
    assert (info["major_version"], info["minor_version"]) == (4, 3), info
    code, actions = api(a, "GET", "/user_action", session=sid)
    assert code == 200 and len(actions) == len(a.products) == 2, actions
    for act, prod in zip(actions, a.products):
        assert act["code"] == "Cert"
        d = act["data"]
        assert d["productId"] == prod["id"] and d["certificateId"] == f"{prod['host']}:{prod['port']}"
        assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", d["certData"]["fingerprint_sha256"])
        assert d["certData"]["fingerprint_sha256"] == prod["fingerprint_sha256"]
        for k in ("subjectDN", "issuerDN", "notBefore", "notAfter"):
            assert d["certData"][k], k
    # accepting them empties the list
    for act in actions:
        d = act["data"]
        code, _ = api(a, "PUT", "/accept_certificate", {"certificateId": d["certificateId"], "accepted": True,
                                                         "productType": d["productType"], "productId": d["productId"]},
                      session=sid)
        assert code == 202
    assert api(a, "GET", "/user_action", session=sid) == (200, [])
