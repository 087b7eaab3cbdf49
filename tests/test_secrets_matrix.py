"""Secrets, results and AAP's node counting on every ansible-core line that
changes them (issue 22, items 4-6; docs/ansible-protocol.md, "Secrets").

One small play per core (2.16, 2.21, 2.22, from tools/install-core.sh), run as
an AWX / AAP job by ansible-runner at -vvv, against one shared appliance whose
root and API passwords are sentinels. The play reads the appliance with the
right API password, then with a wrong one (a third sentinel: the login refused
path), and prints a control value that nothing registers as a secret.

Searched for the sentinels: runner's stdout and every artifact file (job events
included), ansible-runner's own output, the tests' JSON callback's records
(um_results), and the appliance's process list sampled all through the play.
The control must be found in the same places, or the search proves nothing.

On 2.22 the play also prints the API password on purpose: the output must show
ansible-core's `$REDACTED$` in its place, which it does only because the action
plugin registered it (an inventory variable is no secret to ansible-core).

The same job events feed extensions/audit/event_query.yml through `jq`, as AAP
does to count the appliances, which Ansible itself never connects to.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, ansible_env, collections_path, install_tool
from reliability.rel_lib import Sampler

CORES = ("2.16", "2.21", "2.22")
SENTINELS = {
    "root password": "Sntl-root-5c1e9a7d",
    "API password": "Sntl-api-83b2f6e0",
    "wrong API password": "Sntl-wrong-4a7d0c19",
}
CONTROL = "Ctrl-visible-2f9e6b31"
CALLBACKS = REPO / "tests" / "lib" / "callback_plugins"
EVENT_QUERY = REPO / "extensions" / "audit" / "event_query.yml"

PLAY = """\
- name: Sentinel play
  hosts: usage_meter
  gather_facts: false
  tasks:
    - name: Read the appliance
      vcloud.usage_meter.appliance_info:
        api_password: "{{ um_api_password }}"
        ca_path: "{{ um_api_ca }}"
        known_hosts: "{{ um_known_hosts }}"
    - name: Read it with a wrong API password
      vcloud.usage_meter.appliance_info:
        api_password: "{{ um_wrong_api_password }}"
        ca_path: "{{ um_api_ca }}"
        known_hosts: "{{ um_known_hosts }}"
    - name: Show the control
      ansible.builtin.debug:
        msg: "control {{ um_control }}"
    - name: Show the API password (2.22+ masks what the action registered)
      ansible.builtin.debug:
        msg: "api password {{ um_api_password }}"
      when: ansible_version.major > 2 or ansible_version.minor >= 22
"""


@pytest.fixture(scope="module")
def runner_bin() -> Path:
    return Path(install_tool("install-runner.sh"))


@pytest.fixture(scope="module")
def app(umsim, umsim_root):
    """One appliance for the three cores: the play changes nothing on it."""
    name = f"secrets-{os.getpid()}"
    a = umsim.start_appliance(name, version="4.2.0", sshd="running",
                              root_password=SENTINELS["root password"], api_password=SENTINELS["API password"])
    try:
        a.wait_api(60)
        yield a
    finally:
        umsim.stop(name, purge=os.environ.get("UMSIM_KEEP") != "1")


def core_bin(line: str) -> Path:
    proc = subprocess.run([str(REPO / "tools" / "install-core.sh"), line], capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, f"tools/install-core.sh {line} failed:\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


class Job:
    """An ansible-runner job of PLAY on `line`'s ansible-playbook, with what it left."""

    def __init__(self, root: Path, line: str, app, runner: Path):
        self.pdd = root / f"job-{line}"
        for sub in ("inventory", "env", "project"):
            (self.pdd / sub).mkdir(parents=True, exist_ok=True)
        self.records_file = root / f"records-{line}.json"
        (self.pdd / "inventory" / "hosts").write_text(yaml.safe_dump({"usage_meter": {"hosts": {"um1": {
            "ansible_host": app.host, "ansible_user": "root",
            "ansible_password": SENTINELS["root password"]}}}}))
        (self.pdd / "project" / "play.yml").write_text(PLAY)
        (self.pdd / "env" / "extravars").write_text(yaml.safe_dump({
            "um_api_password": SENTINELS["API password"], "um_wrong_api_password": SENTINELS["wrong API password"],
            "um_api_ca": app.api_ca, "um_known_hosts": str(root / "known_hosts"), "um_control": CONTROL}))
        (self.pdd / "env" / "envvars").write_text(yaml.safe_dump({
            "ANSIBLE_COLLECTIONS_PATH": str(collections_path()), "ANSIBLE_NOCOLOR": "True",
            # the tests' JSON callback beside runner's awx_display (runner appends its own dir)
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "um_results",
            "UM_RESULTS_FILE": str(self.records_file)}))
        (self.pdd / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 300}))
        (self.pdd / "env" / "cmdline").write_text("-vvv")
        env = ansible_env(venv_bin=runner)
        for key in ("ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_PYTHON_INTERPRETER",
                    "ANSIBLE_COLLECTIONS_PATH", "UM_RESULTS_FILE", "SSH_AUTH_SOCK", "SSH_AGENT_PID"):
            env.pop(key, None)
        env["PATH"] = f"{core_bin(line)}:{env['PATH']}"   # runner runs the ansible-playbook it finds first
        ps = Sampler(app, ["ps", "-eo", "args"], interval=0.05)
        ps.start()
        try:
            self.proc = subprocess.run([str(runner / "ansible-runner"), "run", str(self.pdd), "-p", "play.yml",
                                        "--ident", "job"], capture_output=True, text=True, timeout=600,
                                       env=env, stdin=subprocess.DEVNULL)
        finally:
            ps.stop()
        self.ps = ps
        self.artifacts = self.pdd / "artifacts" / "job"
        self.events = sorted((json.loads(p.read_text()) for p in (self.artifacts / "job_events").glob("*.json")),
                             key=lambda e: e["counter"])
        self.records = json.loads(self.records_file.read_text()) if self.records_file.exists() else []
        self.stdout = (self.artifacts / "stdout").read_text()

    def texts(self) -> dict[str, str]:
        """Every place a secret could show, by name."""
        out = {"runner's output": self.proc.stdout + self.proc.stderr,
               "the JSON callback's records": self.records_file.read_text(),
               "the appliance's process list": "\n".join(sorted(self.ps.lines))}
        for p in sorted(self.artifacts.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(self.pdd))] = p.read_text(errors="replace")
        return out

    def result(self, task: str) -> dict:
        found = [r for r in self.records if r["task"] == task and r["host"] == "um1"]
        assert len(found) == 1, (task, [r["task"] for r in self.records], self.stdout[-3000:])
        return found[0]


def leaks(texts: dict[str, str], needles: dict[str, str]) -> list[str]:
    """`what in where` for every needle found in every text."""
    return [f"{what} in {where}" for where, t in texts.items() for what, v in needles.items() if v in t]


@pytest.fixture(scope="module")
def jobs(app, runner_bin, tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("secrets-matrix", numbered=True))
    return {line: Job(root, line, app, runner_bin) for line in CORES}


@pytest.mark.parametrize("line", CORES)
def test_sentinels_show_nowhere(jobs, line):
    job = jobs[line]
    assert job.proc.returncode == 0, job.stdout[-4000:] + job.proc.stderr[-2000:]
    assert (job.artifacts / "status").read_text().strip() == "successful"
    assert job.ps.samples >= 3 and any("sshd" in x for x in job.ps.lines), job.ps.samples
    texts = job.texts()
    assert any(t.endswith(".json") and "job_events" in t for t in texts), sorted(texts)
    # the control: the detector sees a value that is printed, in every channel that carries output
    seen = {w for w, t in texts.items() if CONTROL in t}
    assert {"runner's output", "the JSON callback's records", "stdout"} <= {w.rsplit("/", 1)[-1] for w in seen}, seen
    assert any("job_events" in w for w in seen), seen
    assert not leaks(texts, SENTINELS), leaks(texts, SENTINELS)


@pytest.mark.parametrize("line", CORES)
def test_results_fit_the_cores_defaults(jobs, line):
    """Item 5: `failed` said, the secrets' carrier key never shown, `invocation`
    only where the core asks for it (2.21+ by INJECT_INVOCATION, off by default)."""
    job = jobs[line]
    ok = job.result("Read the appliance")
    assert ok["status"] == "ok", ok
    res = ok["result"]
    assert not res.get("failed") and res["changed"] is False, res
    assert res["appliance"]["version"].startswith("4.2.0"), res
    assert "_ansible_new_secrets" not in json.dumps(job.records)
    assert "skipped" not in res
    if line == "2.16":
        assert res["invocation"]["module_args"]["api_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", res
    else:
        assert "invocation" not in res, res
    wrong = job.result("Read it with a wrong API password")
    assert wrong["status"] == "ok" and wrong["result"]["appliance"].get("version") is None, wrong
    assert wrong["result"]["api"]["error"], wrong      # the login refused, said without the password


def test_the_registered_api_password_is_redacted_on_2_22(jobs):
    """The proof that the action registered it: ansible-core 2.22 masks a plain
    extra var only when something registered it as a secret."""
    job = jobs["2.22"]
    shown = job.result("Show the API password (2.22+ masks what the action registered)")
    assert shown["status"] == "ok", shown
    assert shown["result"]["msg"] == "api password $REDACTED$", shown
    assert "api password $REDACTED$" in job.stdout
    for line in ("2.16", "2.21"):   # no registry there: the task is skipped, not shown
        assert jobs[line].result("Show the API password (2.22+ masks what the action registered)")["status"] == "skipped"


def test_event_query_names_the_appliance_from_job_events(jobs, app):
    """Item 6: extensions/audit/event_query.yml, applied with jq to the `res` of
    every job event of the module it names, as AAP does, names the appliance."""
    queries = yaml.safe_load(EVENT_QUERY.read_text())
    assert set(queries) == {"vcloud.usage_meter.appliance_info"}, queries
    for line in CORES:
        nodes = []
        for e in jobs[line].events:
            d = e.get("event_data", {})
            action = d.get("resolved_action") or d.get("task_action")
            if e["event"] in ("runner_on_ok", "runner_on_failed") and action in queries:
                proc = subprocess.run(["jq", "-c", queries[action]["query"]], input=json.dumps(d["res"]),
                                      capture_output=True, text=True, timeout=30, check=False)
                assert proc.returncode == 0, proc.stderr
                nodes += [json.loads(x) for x in proc.stdout.splitlines()]
        assert len(nodes) == 2, (line, nodes)          # the two reads of the one appliance
        assert {n["name"] for n in nodes} == {app.hostname}, (line, nodes)
        for n in nodes:
            assert n["canonical_facts"] == {"host_name": app.hostname}, n
            assert n["facts"]["device_type"] == "usage_meter_appliance", n
        assert nodes[0]["facts"]["version"].startswith("4.2.0"), nodes   # read with the right API password
        assert "version" not in nodes[1]["facts"], nodes                  # the wrong one: unknown, left out
