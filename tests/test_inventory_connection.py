"""The modules as a user writes them by hand: no `delegate_to`, no connection
options, only an inventory host (issue: controller-side actions, the inventory
as the connection).

One simulated appliance (tests/appliance/umsim.py) is upgraded end to end by a
play whose tasks name no host, user, password or key: every module of the
collection runs, the connection taken from `ansible_host`, `ansible_user` and
`ansible_password`. The same tasks then run in check mode with a key file from
the inventory, with a key only in ssh-agent (as AWX loads a Machine
credential), and with `delegate_to: localhost` plus explicit options (the
1.0.0 form). Ansible's own `host_key_checking` setting is followed, and a
controller the collection has no binary for gets one clear message.

The play's HOME is a temp folder holding the appliance's host key in
~/.ssh/known_hosts, so no option names a known_hosts file and the real
~/.ssh of this machine is never read or written.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from lib.playbook import WORK, require_module, run_playbook

UMS = "/opt/vmware/cloudusagemetering"


def module_names() -> list[str]:
    return sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "plugins" / "modules").glob("*.py"))


@pytest.fixture(scope="module")
def bundle(shar_factory) -> Path:
    return shar_factory("4M", 1.0)


@pytest.fixture
def appl(appliance_factory):
    for m in module_names():
        require_module(m)
    a = appliance_factory(version="4.2.0", sshd="enabled")
    a.wait_api(60)
    return a


@pytest.fixture
def home(appl) -> Path:
    """A HOME whose ~/.ssh/known_hosts knows the appliance (the module default)."""
    (WORK / "tmp").mkdir(parents=True, exist_ok=True)
    h = Path(tempfile.mkdtemp(prefix="inv-home-", dir=WORK / "tmp"))
    (h / ".ssh").mkdir(mode=0o700)
    shutil.copy(appl.known_hosts, h / ".ssh" / "known_hosts")
    return h


def every_module_tasks(appl, bundle_name: str, logs: Path) -> list[dict]:
    """Each module once, in the order of the procedure, with no connection option."""
    api = {"api_port": appl.api_port, "api_password": appl.api_password, "ca_path": appl.api_ca}
    return [
        # the controller-side plan first: it takes the inventory host too, and opens no connection
        {"name": "bundle_info", "vcloud.usage_meter.bundle_info": {
            "current_version": "4.2.0", "bundles": [{"path": f"{{{{ playbook_dir }}}}/files/{bundle_name}"}]}},
        {"name": "appliance_info", "vcloud.usage_meter.appliance_info": dict(api)},
        {"name": "sshd", "vcloud.usage_meter.sshd": {"state": "started"}},
        # relative src: found in the playbook's files/, as ansible.builtin.copy finds it
        {"name": "shar_copy", "vcloud.usage_meter.shar_copy": {"src": bundle_name, "dest": f"{UMS}/ums-system-upgrade.shar"}},
        {"name": "upgrade", "vcloud.usage_meter.upgrade": {"timeout": 300, "poll_interval": 1}},
        {"name": "reboot", "vcloud.usage_meter.reboot": {"reboot_timeout": 180}},
        {"name": "verify", "vcloud.usage_meter.verify": {"timeout": 120, "interval": 1, "settle_polls": 2,
                                                          "settle_seconds": 1}},
        {"name": "certificates", "vcloud.usage_meter.certificates": dict(api, state="accepted")},
        {"name": "upgrade_logs", "vcloud.usage_meter.upgrade_logs": {"dest": str(logs)}},
        # nothing mounted there: no change, but the connection comes from the inventory too
        {"name": "iso_mount", "vcloud.usage_meter.iso_mount": {"iso": "/root/none.iso", "state": "absent"}},
    ]


def play_dir_with(bundle: Path) -> Path:
    d = Path(tempfile.mkdtemp(prefix="inv-play-", dir=WORK / "tmp"))
    (d / "files").mkdir()
    shutil.copy(bundle, d / "files" / bundle.name)
    return d


def run_in(play_dir: Path, tasks: list[dict], hosts: dict, **kw):
    """run_playbook with the playbook written into play_dir (so its files/ is searched)."""
    import json
    pb = play_dir / "play.yml"
    pb.write_text(json.dumps([{"name": "by hand", "hosts": "all", "gather_facts": False, "tasks": tasks}], indent=2))
    return run_playbook(pb, hosts, **kw)


def assert_all_ok(res, names, host="um1"):
    assert res.rc == 0, res.output[-6000:]
    for n in names:
        assert res.status(n, host) == "ok", (n, res.result(n, host), res.output[-3000:])


def test_every_module_from_the_inventory_alone_then_by_key_agent_and_delegate(appl, bundle, home):
    logs = Path(tempfile.mkdtemp(prefix="inv-logs-", dir=WORK / "tmp"))
    play_dir = play_dir_with(bundle)
    hosts = {"um1": {"ansible_host": appl.host, "ansible_user": "root", "ansible_password": appl.root_password}}
    res = run_in(play_dir, every_module_tasks(appl, bundle.name, logs), hosts, env={"HOME": str(home)})
    assert_all_ok(res, module_names())
    # the modules really did the work, on the inventory's host
    assert res.result("appliance_info", "um1")["appliance"]["version"].startswith("4.2")
    assert res.result("shar_copy", "um1")["changed"] is True
    assert res.result("upgrade", "um1")["rc"] == 0
    assert res.result("reboot", "um1")["rebooted"] is True
    assert res.result("verify", "um1")["all_running"] is True
    assert (appl.status()["installed_version"] or "").startswith("4.3")
    assert list(logs.rglob("*")), "upgrade_logs fetched nothing"
    # no secret of the inventory in any output or result
    for secret in (appl.root_password, appl.api_password):
        assert secret not in res.output
        assert secret not in repr(res.records)

    # Every module again, in check mode (nothing changes), first with a key file
    # from the inventory, then with the key only in an ssh-agent, then in the
    # 1.0.0 form (delegate_to: localhost, explicit options).
    logs = Path(tempfile.mkdtemp(prefix="inv-logs-", dir=WORK / "tmp"))
    tasks = every_module_tasks(appl, bundle.name, logs)

    key = run_in(play_dir, tasks, {"um1": {"ansible_host": appl.host, "ansible_user": "root",
                                           "ansible_ssh_private_key_file": appl.client_key}},
                 check=True, env={"HOME": str(home)})
    assert_all_ok(key, module_names())
    assert key.result("reboot", "um1")["rebooted"] is False   # check mode

    d = tempfile.mkdtemp(prefix="um-agent-", dir=WORK / "tmp")
    sock = os.path.join(d, "s")
    out = subprocess.run(["ssh-agent", "-s", "-a", sock], capture_output=True, text=True, check=True, timeout=30).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    try:
        subprocess.run(["ssh-add", appl.client_key], env={**os.environ, "SSH_AUTH_SOCK": sock},
                       capture_output=True, check=True, timeout=30)
        agent = run_in(play_dir, tasks, {"um1": {"ansible_host": appl.host, "ansible_user": "root"}},
                       check=True, env={"HOME": str(home), "SSH_AUTH_SOCK": sock})
        assert_all_ok(agent, module_names())
    finally:
        os.kill(pid, signal.SIGTERM)
        shutil.rmtree(d, ignore_errors=True)

    explicit = {"host": appl.host, "username": "root", "password": appl.root_password,
                "known_hosts": str(home / ".ssh" / "known_hosts")}
    old = []
    for t in tasks:
        mod = f"vcloud.usage_meter.{t['name']}"
        old.append(dict(t, **{mod: dict(t[mod], **explicit), "delegate_to": "localhost"}))
    legacy = run_in(play_dir, old, {"um1": {"ansible_connection": "local"}}, check=True)
    assert_all_ok(legacy, module_names())


def test_task_options_win_over_the_inventory(appl, home):
    """A wrong inventory password does not matter when the task gives the right one."""
    hosts = {"um1": {"ansible_host": "192.0.2.1", "ansible_user": "nobody", "ansible_password": "not-this-one"}}
    task = {"name": "sshd", "vcloud.usage_meter.sshd": {"host": appl.host, "username": "root",
                                                         "password": appl.root_password}}
    res = run_playbook([task], hosts, env={"HOME": str(home)})
    assert res.rc == 0, res.output[-3000:]
    assert res.result("sshd", "um1")["active"] is True


@pytest.mark.parametrize("setting,outcome", [("True", "strict"), ("False", "off")])
def test_host_key_checking_follows_ansible(appl, setting, outcome):
    """ANSIBLE_HOST_KEY_CHECKING=True means strict (an unknown key is refused);
    False means off (connect, with a warning). Unset, the module's accept_new."""
    h = Path(tempfile.mkdtemp(prefix="inv-home-", dir=WORK / "tmp"))   # an empty ~/.ssh: the key is unknown
    hosts = {"um1": {"ansible_host": appl.host, "ansible_user": "root", "ansible_password": appl.root_password}}
    task = {"name": "sshd", "vcloud.usage_meter.sshd": {"state": "started"}, "ignore_errors": True}
    res = run_playbook([task], hosts, env={"HOME": str(h), "ANSIBLE_HOST_KEY_CHECKING": setting})
    r = res.result("sshd", "um1")
    if outcome == "strict":
        assert res.status("sshd", "um1") == "failed"
        assert "host_key_checking is strict" in r["msg"], r["msg"]
        assert not (h / ".ssh" / "known_hosts").exists()
    else:
        assert res.status("sshd", "um1") == "ok", r
        assert any("not verified" in w for w in r.get("warnings", [])), r
    # the task's own option wins over Ansible's setting
    task["vcloud.usage_meter.sshd"]["host_key_checking"] = "accept_new"
    res = run_playbook([task], hosts, env={"HOME": str(h), "ANSIBLE_HOST_KEY_CHECKING": setting})
    assert res.status("sshd", "um1") == "ok", res.result("sshd", "um1")
    assert appl.host in (h / ".ssh" / "known_hosts").read_text()


def test_unsupported_controller_gets_one_clear_message(tmp_path):
    """Simulated: Python's platform reports a CPU the collection has no binary for."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import platform\nplatform.machine = lambda: 'riscv64'\n")
    task = {"name": "info", "vcloud.usage_meter.appliance_info": {"host": "192.0.2.1"}, "ignore_errors": True}
    res = run_playbook([task], {"um1": {"ansible_connection": "local"}},
                       env={"PYTHONPATH": str(site)})
    r = res.result("info", "um1")
    assert res.status("info", "um1") == "failed"
    assert "unsupported controller" in r["msg"] and "riscv64" in r["msg"], r["msg"]
    assert "Linux on x86_64 or aarch64" in r["msg"], r["msg"]
