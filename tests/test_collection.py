"""The collection as users get it: the installed tarball, its docs, and a module
run by FQCN through real `ansible` / `ansible-playbook` against a real OpenSSH
sshd (the simulated appliance's, in its own network namespace)."""
from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from lib.playbook import REPO, VENV_BIN, ansible_env, collections_path, run_module, run_playbook

INSTALLED = collections_path() / "ansible_collections" / "vcloud" / "usage_meter"


def module_names() -> list[str]:
    return sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))


def conn(appl, **extra):
    args = {"host": appl.host, "password": appl.root_password, "known_hosts": str(Path(appl.state_dir) / "ctl-known_hosts")}
    args.update(extra)
    return args


def test_every_module_is_documented_by_ansible_doc():
    names = module_names()
    assert len(names) >= 6, names
    for name in names:
        p = subprocess.run([str(VENV_BIN / "ansible-doc"), f"vcloud.usage_meter.{name}"],
                           capture_output=True, text=True, env=ansible_env(), timeout=120)
        assert p.returncode == 0, p.stderr
        assert f"MODULE vcloud.usage_meter.{name}" in p.stdout
        assert "OPTIONS" in p.stdout and "RETURN VALUES" in p.stdout
        # the shared connection options come from the doc fragment
        assert "host_key_checking" in p.stdout or name == "certificates", name


def test_ansible_doc_lists_every_module_and_role_without_a_warning():
    """1.0.0's binaries in plugins/modules made `ansible-doc -l` warn
    ("documentation formatting error: 'utf-8' codec can't decode") and list nothing."""
    for kind, names in (("module", module_names()), ("role", ["inplace_upgrade", "preflight"])):
        p = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", kind, "-l", "vcloud.usage_meter"],
                           capture_output=True, text=True, env=ansible_env(), timeout=120)
        assert p.returncode == 0, p.stderr
        # Ansible's own warnings and errors ([WARNING]: ..., [ERROR]: ...); a Python
        # DeprecationWarning of the cryptography package that ansible-core imports is not ours.
        ours = [line for line in p.stderr.splitlines() if line.lstrip().startswith(("[WARNING]", "[ERROR]", "[DEPRECATION"))
                or "documentation formatting error" in line]
        assert not ours, p.stderr
        # modules: "fqcn  description"; roles: "fqcn:" then its entry points, indented
        listed = sorted(line.split()[0].rstrip(":") for line in p.stdout.splitlines()
                        if line.strip() and not line[0].isspace())
        assert listed == sorted(f"vcloud.usage_meter.{n}" for n in names), p.stdout


def test_installed_collection_holds_binaries_not_sources():
    if not os.environ.get("UM_COLLECTIONS_PATH"):
        pytest.skip("runs against the installed tarball (make test sets UM_COLLECTIONS_PATH)")
    assert not (INSTALLED / "Cargo.toml").exists()
    assert not (INSTALLED / "library").exists() and not (INSTALLED / "target").exists()
    for name in module_names():
        assert (INSTALLED / "plugins" / "modules" / f"{name}.py").is_file()
        assert (INSTALLED / "plugins" / "action" / f"{name}.py").is_file()
    # plugins/modules holds documentation only: a binary there would be run by
    # Ansible's own module loader instead of the action plugin.
    assert sorted(p.name for p in (INSTALLED / "plugins" / "modules").iterdir()) == sorted(
        f"{n}.py" for n in module_names())
    for arch in ("x86_64", "aarch64"):
        binary = INSTALLED / "plugins" / "bin" / f"usage_meter-linux-{arch}"
        assert binary.is_file() and os.access(binary, os.X_OK), binary
        assert binary.read_bytes()[:4] == b"\x7fELF"
    tarballs = list((REPO / "dist").glob("vcloud-usage_meter-*.tar.gz"))
    assert len(tarballs) == 1, f"make test builds one dist/vcloud-usage_meter-<version>.tar.gz: {tarballs}"
    members = tarfile.open(tarballs[0]).getnames()
    assert not [m for m in members if m.endswith(".rs") or m.startswith(("target/", "tests/", ".work/"))]


def test_module_runs_by_fqcn_from_a_playbook_with_key_auth(appliance):
    tasks = [{
        "name": "sshd state",
        "vcloud.usage_meter.sshd": {
            "host": "{{ ansible_host }}", "private_key": "{{ ansible_ssh_private_key_file }}",
            "known_hosts": str(Path(appliance.state_dir) / "ctl-known_hosts"), "state": "started",
        },
        "delegate_to": "localhost",
    }]
    hosts = {"um1": {"ansible_host": appliance.host, "ansible_ssh_private_key_file": appliance.client_key}}
    res = run_playbook(tasks, hosts)
    assert res.rc == 0, res.output
    r = res.result("sshd state", "um1")
    assert r["changed"] is False and r["active"] is True


def test_key_from_ssh_agent_when_no_password_or_key_is_given(appliance):
    """AWX and AAP load a machine credential's key into ssh-agent and set no key file."""
    import re
    import shutil
    import signal
    import tempfile
    d = tempfile.mkdtemp(prefix="um-agent-")
    sock = os.path.join(d, "s")
    out = subprocess.run(["ssh-agent", "-s", "-a", sock], capture_output=True, text=True, check=True, timeout=30).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    try:
        args = {"host": appliance.host, "known_hosts": str(Path(appliance.state_dir) / "ctl-known_hosts")}
        empty = run_module("sshd", args, env={"SSH_AUTH_SOCK": sock})
        assert empty["_status"] == "failed" and "ssh-agent" in empty["msg"], empty["msg"]
        subprocess.run(["ssh-add", appliance.client_key], env={**os.environ, "SSH_AUTH_SOCK": sock},
                       capture_output=True, check=True, timeout=30)
        r = run_module("sshd", args, env={"SSH_AUTH_SOCK": sock})
        assert r["_status"] == "ok", r["msg"]
        assert r["active"] is True and r["changed"] is False
    finally:
        os.kill(pid, signal.SIGTERM)
        shutil.rmtree(d, ignore_errors=True)


def test_ad_hoc_strings_are_accepted(appliance):
    kh = Path(appliance.state_dir) / "ctl-known_hosts"
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-m", "vcloud.usage_meter.sshd", "-a",
           f"host={appliance.host} port=22 private_key={appliance.client_key} known_hosts={kh} state=started connect_timeout=5"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout and '"active": true' in p.stdout


def test_wrong_password_is_a_clear_error_and_no_secret_is_shown(appliance):
    secret = "Wr0ng-Pa55-not-the-real-one"
    # invocation is off by default from ansible-core 2.21: asked for, it must be masked
    r = run_module("sshd", conn(appliance, password=secret, state="started"), verbosity=3,
                   env={"ANSIBLE_INJECT_INVOCATION": "True"})
    assert r["_status"] == "failed"
    assert f"host {appliance.host}, step 'connect'" in r["msg"]
    assert "authentication as root failed" in r["msg"] and "check the root password" in r["msg"]
    assert secret not in r["_output"]
    assert r["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_changed_host_key_is_refused_and_off_only_warns(appliance):
    args = conn(appliance, state="started")
    first = run_module("sshd", args)
    assert first["_status"] == "ok", first["msg"] if "msg" in first else first
    kh = Path(args["known_hosts"]).read_text()
    assert appliance.host in kh  # accept_new recorded the key

    appliance.fault_set("host-key-changed")
    refused = run_module("sshd", args)
    assert refused["_status"] == "failed"
    assert "differs from the one recorded" in refused["msg"] and args["known_hosts"] in refused["msg"]
    assert "ssh-keygen -R" in refused["msg"]
    assert Path(args["known_hosts"]).read_text() == kh  # nothing was overwritten

    strict_new = run_module("sshd", conn(appliance, state="started", host_key_checking="strict",
                                         known_hosts=str(Path(appliance.state_dir) / "empty_known_hosts")))
    assert strict_new["_status"] == "failed" and "host_key_checking is strict" in strict_new["msg"]

    off = run_module("sshd", dict(args, host_key_checking="off"))
    assert off["_status"] == "ok"
    assert any("not verified" in w for w in off.get("warnings", []))
