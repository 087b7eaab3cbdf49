"""The support matrix (issue 22): the collection on every ansible-core line users run,
besides the pinned one in .venv, on which the whole suite runs.

tools/requirements-matrix.txt lists the lines and their Python (2.16 on 3.11 as
AAP's minimal EE, 2.18, 2.20, 2.22 on 3.13); tools/install-core.sh gives each its
venv. On each line, once:
- ansible-doc reads every module's and role's docs from the installed collection;
- an action plugin against a simulated appliance, the connection from the
  inventory alone: check mode (reports the change, makes none, no secret at -vvv),
  then the real change, then a re-run that changes nothing;
- the whole upgrade play (playbooks/upgrade.yml) with inline-vaulted secrets, sshd
  opened through the console route, the certificates phase, at -vvv; then again,
  changing nothing.
ansible-test sanity on these lines is in tests/test_lint.py.

One class per line: `pytest -n 2 --dist loadscope` (make test) gives each line to
one worker as a unit, so a line's venv is asked for once per worker.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from lib.appliance_checks import api_version, sshd_state
from lib.playbook import REPO, WORK, ansible_env, install_tool, require_module, run_playbook
from roles.test_inplace_upgrade import UPGRADE, play, recap, secrets_absent, summary, write_inventory

FQCN = "vcloud.usage_meter"
MATRIX = REPO / "tools" / "requirements-matrix.txt"


def matrix() -> dict[str, tuple[str, str]]:
    """{line: (python, pin)} of tools/requirements-matrix.txt."""
    rows = [ln.split() for ln in MATRIX.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {line: (py, pin) for line, py, pin in rows}


def pinned() -> str:
    return next(ln for ln in (REPO / "tools" / "requirements.txt").read_text().splitlines()
                if ln.startswith("ansible-core=="))


def module_names() -> list[str]:
    return sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


def role_names() -> list[str]:
    return sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/main.yml"))


def test_matrix_covers_what_the_readme_and_runtime_promise():
    """The lines tested here plus the pin are the lines the README names, from the
    floor of meta/runtime.yml up; the pin is the matrix's newest stable line."""
    rows = matrix()
    pin = pinned()
    assert pin in {p for _, p in rows.values()}, f"{pin} (tools/requirements.txt) is not in {MATRIX}"
    floor = min(rows, key=lambda v: tuple(map(int, v.split("."))))
    runtime = (REPO / "meta" / "runtime.yml").read_text()
    assert f'requires_ansible: ">={floor}.0"' in runtime, runtime
    readme = (REPO / "README.md").read_text()
    for line, (py, _) in rows.items():
        assert f"| {line} | {py} |" in readme, f"the README's support table has no row for {line} on Python {py}"
    stable = [v for v, (_, p) in rows.items() if re.fullmatch(r"ansible-core==\d+\.\d+\.\d+", p)]
    newest = max(stable, key=lambda v: tuple(map(int, v.split("."))))
    assert rows[newest][1] == pin, f"the pin {pin} is not the newest stable line {newest}"


class _OnCore:
    """The checks of one ansible-core line; subclasses below set LINE."""
    LINE = ""

    @pytest.fixture(scope="class")
    def core(self) -> Path:
        bin_dir = Path(install_tool("install-core.sh", self.LINE))
        py, pin = matrix()[self.LINE]
        out = subprocess.run([str(bin_dir / "ansible"), "--version"], capture_output=True, text=True,
                             env=ansible_env(venv_bin=bin_dir), timeout=120, check=False).stdout
        assert f"[core {pin.split('==')[1]}]" in out, out
        assert f"python version = {py}." in out, out
        return bin_dir

    def test_ansible_doc_reads_every_module_and_role(self, core):
        names = module_names()
        assert len(names) == 10, names
        docs = ansible_doc(core, "module", [f"{FQCN}.{n}" for n in names])
        assert sorted(docs) == [f"{FQCN}.{n}" for n in names]
        for name, doc in docs.items():
            assert doc["doc"]["short_description"] and doc["doc"]["options"], name
            assert doc["examples"] and name in doc["examples"], f"{name}: no EXAMPLES with the FQCN"
            assert doc["return"], f"{name}: no RETURN"
        roles = ansible_doc(core, "role", [f"{FQCN}.{r}" for r in role_names()])
        assert sorted(roles) == [f"{FQCN}.{r}" for r in role_names()]
        for name, doc in roles.items():
            assert doc["entry_points"]["main"]["options"], name

    def test_action_plugin_check_mode_then_a_real_change(self, core, appliance_factory, tmp_path):
        require_module("sshd")
        app = appliance_factory(version="4.2.0", sshd="running")   # running, not enabled
        hosts = {"um": {"ansible_host": app.host, "ansible_user": "root", "ansible_password": app.root_password}}
        task = [{"name": "sshd", f"{FQCN}.sshd": {"state": "started", "enabled": True,
                                                  "known_hosts": str(tmp_path / "known_hosts")}}]
        dry = run_playbook(task, hosts, check=True, diff=True, verbosity=3, venv_bin=core)
        assert dry.rc == 0 and dry.status("sshd") == "ok", dry.output[-4000:]
        r = dry.result("sshd")
        assert r["changed"] is True and r["enabled"] is True, r
        assert "enabled: no" in r["diff"]["before"] and "enabled: yes" in r["diff"]["after"], r
        assert sshd_state(app) == (True, False), "check mode changed the appliance"
        assert app.root_password not in dry.output and app.root_password not in json.dumps(dry.records)
        real = run_playbook(task, hosts, venv_bin=core)
        assert real.rc == 0 and real.result("sshd")["changed"] is True, real.output[-4000:]
        assert sshd_state(app) == (True, True)
        again = run_playbook(task, hosts, venv_bin=core)
        assert again.rc == 0 and again.result("sshd")["changed"] is False, again.output[-4000:]

    def test_whole_upgrade_play(self, core, appliance_factory, umsim_root, shar_factory):
        """Before 2.19 a templated none is '', and role argument validation crashed on an
        inline-vaulted no_log option: both once broke this play on older lines."""
        tmp = Path(tempfile.mkdtemp(prefix=f"core-{self.LINE}-", dir=tmp_dir()))
        shar = shar_factory("4M", 1.0)
        app = appliance_factory(version="4.2.0", sshd="off")
        inv, vf = write_inventory(tmp, {"um": app}, shar, hashlib.sha256(shar.read_bytes()).hexdigest(),
                                  umsim_root, host_vars={"um": {"usage_meter_certificates": True}})
        res = play(UPGRADE, inv, vf, verbosity=3, venv_bin=core)
        assert res.rc == 0, res.output[-6000:]
        s = summary(res, "um")
        assert s["result"] == "upgraded" and s["to_version"] == "4.3.0", s
        assert s["certificates_accepted"], s
        assert s["sshd"].startswith("stopped, disabled"), s
        assert api_version(app) == "4.3.0" and sshd_state(app) == (False, False)
        secrets_absent(res.output, [app])
        again = play(UPGRADE, inv, vf, venv_bin=core)
        assert again.rc == 0 and recap(again.stdout)["um"]["changed"] == 0, again.output[-4000:]


def ansible_doc(core: Path, kind: str, names: list[str]) -> dict:
    proc = subprocess.run([str(core / "ansible-doc"), "--json", "-t", kind, *names], capture_output=True,
                          text=True, env=ansible_env(venv_bin=core), timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    # ansible-core's own noise is not ours (2.20+: a DSA deprecation of cryptography 51,
    # "_protomatter ... cannot detect version"); a complaint about this collection is.
    ours = [ln for ln in proc.stderr.splitlines() if re.search(r"WARNING|ERROR", ln) and "usage_meter" in ln]
    assert not ours, proc.stderr
    return json.loads(proc.stdout)


def tmp_dir() -> Path:
    d = WORK / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


# One class per line of tools/requirements-matrix.txt but the pin (.venv runs everything).
for _line, (_py, _pin) in matrix().items():
    if _pin != pinned():
        _name = "TestCore" + _line.replace(".", "_")
        globals()[_name] = type(_name, (_OnCore,), {"LINE": _line, "__doc__": f"ansible-core {_pin} on Python {_py}"})
