"""The collection run the way AWX / Automation Platform runs it (issue 13; docs/awx.md).

* The execution environment: `ansible-builder introspect` on the installed
  collection lists exactly what meta/execution-environment.yml names, and
  `ansible-builder create` makes a build context whose galaxy and introspect
  steps, run here as the build would run them, install the tarball and find the
  same requirements. (No image is built: no base image can be had here.)
* Jobs through ansible-runner (tools/install-runner.sh), with a private data dir
  as the controller writes one: inventory/hosts, env/extravars, env/settings,
  env/envvars, env/cmdline, env/passwords or env/ssh_key, and a project playbook
  importing vcloud.usage_meter.upgrade. `ansible-runner run`, and the remote form
  `ansible-runner transmit | ansible-runner worker | ansible-runner process` that
  an execution node runs over Receptor.
* Credentials as the controller injects them: a Machine credential (-u plus the
  password answered at the `SSH password:` prompt, or a key in env/ssh_key that
  runner loads into ssh-agent), a Vault credential (the `Vault password:` prompt)
  for the vault-encrypted API password, and the custom credential type of
  docs/awx.md (its extra_vars injector: the API user and password as extra vars).
* A failed appliance in a job, and job slicing (disjoint --limit runs).

Every job is checked the way the controller reads it: artifacts/<ident>/status
and rc, one runner_on_ok / _failed / _skipped event per task and host, no
secret in any event or artifact file, and the per-appliance summary the role
hands over with set_stats in the playbook_on_stats event's artifact_data (what
AWX shows as the job's artifacts).
"""
from __future__ import annotations

import collections
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from lib.appliance_checks import api_version, sshd_state
from lib.playbook import REPO, ansible_env, collections_path, install_tool
# the full play's helpers and fixtures (bundle, tmp_play), imported, not copied
from roles.test_inplace_upgrade import VAULT_PASSWORD, _Vault, bundle, tmp_play, write_inventory  # noqa: F401

COLLECTION = "vcloud.usage_meter"
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
TARBALL = REPO / "dist" / f"vcloud-usage_meter-{VERSION}.tar.gz"
# What the collection asks of an execution environment (meta/execution-environment.yml):
# the Python packages of community.vmware's modules that the optional vCenter phases
# run; no system package (the modules are static binaries).
EE_PYTHON = {"pyvmomi": ">=8.0.3.0.1", "requests": ""}
# The prompts AWX answers for a Machine and a Vault credential (awx/main/tasks/jobs.py).
SSH_PROMPT = r"SSH [Pp]assword:\s*?$"
VAULT_PROMPT = r"Vault password:\s*?$"
# The terminal events of a task on a host, as runner's awx_display callback names them.
TERMINAL = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}
REPORT_TASK = "Report | Hand the summary to the automation controller"
JOB_TIMEOUT = 600


# --------------------------------------------------------------------------- tools

@pytest.fixture(scope="module")
def runner_bin() -> Path:
    """ansible-runner, ansible-builder and the pinned ansible-core (tools/install-runner.sh)."""
    return Path(install_tool("install-runner.sh"))


def tool_env(runner_bin: Path) -> dict[str, str]:
    """The environment a job starts from: the runner venv's ansible-core first on PATH,
    Ansible's files kept in .work, no developer ssh-agent and none of the test suite's
    own callback (runner brings its awx_display)."""
    env = ansible_env(venv_bin=runner_bin)
    for key in ("ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_PYTHON_INTERPRETER",
                "ANSIBLE_COLLECTIONS_PATH", "UM_RESULTS_FILE", "SSH_AUTH_SOCK", "SSH_AGENT_PID"):
        env.pop(key, None)
    return env


def installed_collection() -> Path:
    return collections_path() / "ansible_collections" / "vcloud" / "usage_meter"


# --------------------------------------------------------------------------- execution environment

def _requirement_names(lines: list[str]) -> dict[str, str]:
    """`pyvmomi>=8.0.3.0.1  # from collection x` -> {"pyvmomi": ">=8.0.3.0.1"} for our collection only."""
    from packaging.requirements import Requirement
    out = {}
    for line in lines:
        req, _, origin = line.partition("#")
        if origin.strip() != f"from collection {COLLECTION}":
            continue
        r = Requirement(req.strip())
        out[r.name.lower()] = str(r.specifier)
    return out


def _introspect(runner_bin: Path, folder: Path) -> dict:
    proc = subprocess.run([str(runner_bin / "ansible-builder"), "introspect", str(folder)],
                          capture_output=True, text=True, timeout=120, env=tool_env(runner_bin))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return yaml.safe_load(proc.stdout.split("---", 1)[1])


def test_execution_environment_introspect_and_build_context(runner_bin, tmp_path):
    # the EE definition and the files it names are in the installed tarball
    coll = installed_collection()
    ee = yaml.safe_load((coll / "meta" / "execution-environment.yml").read_text())
    deps = ee["dependencies"]
    for kind in ("python", "system"):
        assert (coll / deps[kind]).is_file(), f"{deps[kind]} is not in the installed collection"

    found = _introspect(runner_bin, collections_path())
    python = _requirement_names(found["python"])
    assert python == EE_PYTHON, found
    ours = [line for line in found["system"] if f"from collection {COLLECTION}" in line]
    assert ours == [], f"the static binaries need no system package, yet: {ours}"

    # the range admits the versions the vCenter tests run with (tests/vcsim/requirements.txt)
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    pins = [line.split("#")[0].strip() for line in (REPO / "tests" / "vcsim" / "requirements.txt").read_text().splitlines()]
    tested = {r.name.lower(): r.specifier for r in (Requirement(pin) for pin in pins if pin)}
    for name, spec in EE_PYTHON.items():
        version = next(iter(tested[name])).version
        assert SpecifierSet(spec).contains(version), (name, spec, version)

    # ansible-builder create: an EE definition (schema 3) naming the released tarball
    assert TARBALL.is_file(), f"{TARBALL} is not built (tools/build-collection.sh)"
    eedir = tmp_path / "ee"
    eedir.mkdir()
    shutil.copy(TARBALL, eedir / TARBALL.name)
    (eedir / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": f"collections/{TARBALL.name}", "type": "file"}]}))
    (eedir / "execution-environment.yml").write_text(yaml.safe_dump({
        "version": 3,
        "images": {"base_image": {"name": "localhost/um-ee-base:latest"}},
        "dependencies": {"ansible_core": {"package_pip": "ansible-core==2.21.5"},
                         "ansible_runner": {"package_pip": "ansible-runner==2.4.3"},
                         "galaxy": "requirements.yml"},
        "additional_build_files": [{"src": TARBALL.name, "dest": "collections"}],
    }, sort_keys=False))
    ctx = eedir / "context"
    proc = subprocess.run([str(runner_bin / "ansible-builder"), "create", "-f", "execution-environment.yml",
                           "-c", str(ctx), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, timeout=120, cwd=eedir, env=tool_env(runner_bin))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (ctx / "Containerfile").read_text()
    build = ctx / "_build"
    assert (build / "collections" / TARBALL.name).read_bytes() == TARBALL.read_bytes()
    assert "ansible-galaxy collection install" in containerfile and "introspect.py introspect" in containerfile
    assert "COPY _build /build" in containerfile and "WORKDIR /build" in containerfile, containerfile

    # The build's galaxy and builder stages, run here as the Containerfile runs them
    # (cwd /build = _build): the tarball installs, and introspection of what was
    # installed writes exactly our requirements into the EE's requirements.txt.
    dest = tmp_path / "usr-share-ansible-collections"
    env = tool_env(runner_bin)
    proc = subprocess.run([str(runner_bin / "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
                           "--collections-path", str(dest)], capture_output=True, text=True, timeout=300,
                          cwd=build, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dest / "ansible_collections" / "vcloud" / "usage_meter" / "MANIFEST.json").is_file()
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = subprocess.run([str(runner_bin / "python"), str(build / "scripts" / "introspect.py"), "introspect",
                           str(dest), f"--write-pip={pip_out}", f"--write-bindep={bindep_out}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _requirement_names(pip_out.read_text().splitlines()) == EE_PYTHON
    assert not bindep_out.exists() or not bindep_out.read_text().strip()


# --------------------------------------------------------------------------- jobs

class Job:
    """A finished ansible-runner job, read from its artifacts as the controller reads them."""

    def __init__(self, pdd: Path, ident: str, proc: subprocess.CompletedProcess):
        self.pdd, self.ident, self.proc = pdd, ident, proc
        self.artifacts = pdd / "artifacts" / ident
        self.output = proc.stdout + proc.stderr
        assert self.artifacts.is_dir(), f"no artifacts for job {ident}:\n{self.output[-4000:]}"
        self.status = (self.artifacts / "status").read_text().strip()
        self.rc = int((self.artifacts / "rc").read_text().strip())
        self.events = sorted((json.loads(p.read_text()) for p in (self.artifacts / "job_events").glob("*.json")),
                             key=lambda e: e["counter"])
        stats = [e for e in self.events if e["event"] == "playbook_on_stats"]
        assert len(stats) == 1, f"{len(stats)} playbook_on_stats events\n{self.output[-4000:]}"
        self.stats = stats[0]["event_data"]
        self.stdout = (self.artifacts / "stdout").read_text()

    @property
    def summaries(self) -> dict[str, dict]:
        """The per-appliance summaries, as AWX shows the job's artifacts (set_stats)."""
        return self.stats.get("artifact_data", {}).get("usage_meter_summary", {})

    def host_events(self, host: str, task: str | None = None) -> list[dict]:
        return [e for e in self.events if e.get("event_data", {}).get("host") == host
                and (task is None or e.get("event_data", {}).get("task") == task)]

    def tail(self) -> str:
        return self.stdout[-6000:] + "\n" + self.output[-2000:]


class _VaultLoader(yaml.SafeLoader):
    """Reads the `!vault |` values write_inventory writes, to write them back unchanged."""


_VaultLoader.add_constructor("!vault", lambda loader, node: _Vault(loader.construct_scalar(node)))


def make_private_data_dir(root: Path, apps: dict, bundle, umsim_root: Path, *, cmdline: str = "",
                          passwords: dict | None = None, ssh_key: str | None = None,
                          extravars: dict | None = None, host_vars: dict | None = None) -> Path:
    """A private data dir as the controller writes one for a job template that runs
    vcloud.usage_meter.upgrade: the inventory (vault-encrypted API passwords; no SSH
    login in it: that is the Machine credential's), a project playbook, env/*."""
    pdd = root / "job"
    for sub in ("inventory", "env", "project"):
        (pdd / sub).mkdir(parents=True, exist_ok=True)
    inv, _ = write_inventory(root, apps, *bundle, umsim_root, host_vars=host_vars)
    (root / "vault-password").unlink()   # the Vault credential answers the prompt instead
    # The SSH login is the Machine credential's: no ansible_user / ansible_password
    # (inventory variables would win over -u and the prompt). A host variable given
    # as None is left out too.
    data = yaml.load(inv.read_text(), Loader=_VaultLoader)
    for hvars in data["usage_meter"]["hosts"].values():
        for key in [k for k, v in hvars.items() if v is None or k in ("ansible_user", "ansible_password")]:
            del hvars[key]
    (pdd / "inventory" / "hosts").write_text(yaml.safe_dump(data, sort_keys=False))
    inv.unlink()
    (pdd / "project" / "upgrade.yml").write_text(
        "---\n# A project playbook, as a job template needs one: the collection's own play.\n"
        "- name: Upgrade the Usage Meter fleet\n  ansible.builtin.import_playbook: vcloud.usage_meter.upgrade\n")
    env = pdd / "env"
    # The saved logs of a failed appliance go with the job's artifacts (runner sets
    # AWX_ISOLATED_DATA_DIR to artifacts/<ident>), so they come back from a remote node.
    (env / "extravars").write_text(yaml.safe_dump({
        "usage_meter_log_dir": "{{ lookup('ansible.builtin.env', 'AWX_ISOLATED_DATA_DIR') }}/usage-meter-logs",
        **(extravars or {})}))
    (env / "settings").write_text(yaml.safe_dump({"job_timeout": JOB_TIMEOUT, "pexpect_timeout": 10,
                                                  "suppress_ansible_output": True}))
    (env / "envvars").write_text(yaml.safe_dump({"ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
                                                 "ANSIBLE_FORCE_COLOR": "False", "ANSIBLE_NOCOLOR": "True"}))
    if cmdline:
        (env / "cmdline").write_text(cmdline)
    if passwords:
        (env / "passwords").write_text(yaml.safe_dump(passwords))
    if ssh_key:
        (env / "ssh_key").write_text(ssh_key)
    return pdd


def runner_cmd(runner_bin: Path, action: str, pdd: Path, ident: str, limit: str | None) -> list[str]:
    cmd = [str(runner_bin / "ansible-runner"), action, str(pdd), "-p", "upgrade.yml", "--ident", ident]
    return cmd + (["--limit", limit] if limit else [])


def start_job(runner_bin: Path, pdd: Path, ident: str, *, remote: bool = False,
              limit: str | None = None) -> subprocess.Popen:
    """`ansible-runner run`, or the remote form: transmit | worker | process."""
    if remote:
        node = pdd.parent / "execution-node"   # the worker's own private data dir, as on a remote node
        rb = shlex.quote(str(runner_bin / "ansible-runner"))
        cmd = ["bash", "-o", "pipefail", "-c",
               shlex.join(runner_cmd(runner_bin, "transmit", pdd, ident, limit))
               + f" | {rb} worker --private-data-dir {shlex.quote(str(node))}"
               + f" | {rb} process {shlex.quote(str(pdd))} --ident {shlex.quote(ident)}"]
    else:
        cmd = runner_cmd(runner_bin, "run", pdd, ident, limit)
    # its own process group: a job that overruns is killed whole (the pipeline too)
    return subprocess.Popen(cmd, env=tool_env(runner_bin), text=True, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, pdd: Path, ident: str) -> Job:
    try:
        out, err = proc.communicate(timeout=JOB_TIMEOUT + 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return Job(pdd, ident, subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


def run_job(runner_bin: Path, pdd: Path, ident: str, **kw) -> Job:
    return finish(start_job(runner_bin, pdd, ident, **kw), pdd, ident)


def assert_events_well_formed(job: Job, hosts: list[str]) -> None:
    """One terminal event (ok / failed / skipped / unreachable) per task and host
    that started, none without a start, and the counts agree with the job's stats."""
    started, ended = set(), collections.Counter()
    per_host = {h: collections.Counter() for h in hosts}
    for e in job.events:
        d = e.get("event_data", {})
        key = (d.get("task_uuid"), d.get("host"))
        if e["event"] == "runner_on_start":
            started.add(key)
        elif e["event"] in TERMINAL:
            ended[key] += 1
            if d["host"] in per_host:
                per_host[d["host"]][e["event"]] += 1
    assert ended, "no task events"
    doubles = {k: n for k, n in ended.items() if n != 1}
    assert not doubles, f"more than one terminal event for (task, host): {doubles}"
    assert set(ended) == started, (
        f"started without an end: {started - set(ended)}; ended without a start: {set(ended) - started}")
    for host in hosts:
        assert per_host[host]["runner_on_ok"] > 0, (host, per_host)
        # the controller's host summary comes from these stats
        assert job.stats["processed"].get(host) == 1, job.stats
        counts = per_host[host]
        assert counts["runner_on_ok"] == job.stats["ok"].get(host, 0), (host, counts, job.stats)
        assert counts["runner_on_skipped"] == job.stats["skipped"].get(host, 0), (host, counts, job.stats)
        assert counts["runner_on_failed"] == sum(job.stats[k].get(host, 0) for k in ("failures", "rescued", "ignored")), (
            host, counts, job.stats)
        report = [e for e in job.host_events(host, REPORT_TASK) if e["event"] in TERMINAL]
        assert [e["event"] for e in report] == ["runner_on_ok"], report


def assert_no_secret(pdd: Path, secrets: list[str], *also: Path) -> None:
    """No secret in any regular file of the job's artifacts (events, stdout, saved logs)."""
    checked = 0
    for top in (pdd / "artifacts", *also):
        for path in top.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue   # runner's ssh_key_data is a fifo
            data = path.read_bytes()
            checked += 1
            for s in secrets:
                assert s.encode() not in data, f"a secret appears in {path}"
    assert checked > 3, f"only {checked} artifact files"


def assert_upgraded(job: Job, host: str, app) -> dict:
    s = job.summaries.get(host)
    assert s, f"no summary of {host} in the job's artifact_data: {job.stats.get('artifact_data')}\n{job.tail()}"
    assert s["result"] == "upgraded", s
    assert (s["from_version"], s["to_version"]) == (app.version, "4.3.0"), s
    assert s["services"] and set(s["services"].values()) == {"Running"}, s
    assert s["error"] is None, s
    assert api_version(app) == "4.3.0"
    return s


def event_query_nodes(job: Job) -> list[dict]:
    """The managed nodes AAP counts from the job's events: extensions/audit/event_query.yml
    applied with jq to the `res` of each event of a module it names (docs/awx.md, 5a)."""
    queries = yaml.safe_load((installed_collection() / "extensions" / "audit" / "event_query.yml").read_text())
    nodes = []
    for e in job.events:
        d = e.get("event_data", {})
        query = queries.get(d.get("resolved_action") or d.get("task_action"))
        if e["event"] == "runner_on_ok" and query:
            proc = subprocess.run(["jq", "-c", query["query"]], input=json.dumps(d["res"]), capture_output=True,
                                  text=True, timeout=30, check=False)
            assert proc.returncode == 0, proc.stderr
            nodes += [json.loads(line) for line in proc.stdout.splitlines()]
    return nodes


def key_body(path: str) -> str:
    """A line from the middle of a private key file: what a leak would show."""
    lines = Path(path).read_text().splitlines()
    return lines[len(lines) // 2]


# --------------------------------------------------------------------------- tests

# Answers to the survey of docs/awx.md as the controller passes them: extra vars, the
# multiple-choice ones as strings.
SURVEY_ANSWERS = {"usage_meter_serial": 1, "usage_meter_max_fail_percentage": 100,
                  "usage_meter_certificates": "true", "usage_meter_snapshot": "false"}


def test_runner_run_with_machine_and_vault_credentials(runner_bin, appliance_factory, umsim_root, bundle, tmp_play):
    """`ansible-runner run`: Machine credential (-u root, password at the SSH password
    prompt), Vault credential (the vault-encrypted API password in the inventory),
    the survey's answers as extra vars."""
    app = appliance_factory(version="4.1.0", sshd="running", root_password="Rt-awx-7f3a91c2",
                            api_password="Api-awx-5e8d22b4")
    pdd = make_private_data_dir(tmp_play, {"um1": app}, bundle, umsim_root,
                                cmdline="-u root --ask-pass --ask-vault-pass",
                                passwords={SSH_PROMPT: app.root_password, VAULT_PROMPT: VAULT_PASSWORD},
                                extravars=SURVEY_ANSWERS)
    job = run_job(runner_bin, pdd, "job-run")
    assert (job.status, job.rc) == ("successful", 0), job.tail()
    assert job.proc.returncode == 0
    s = assert_upgraded(job, "um1", app)
    # the API password (Vault credential) was used: the certificates phase logged in
    assert s["certificates_accepted"], s
    assert s["sshd"].startswith("running"), s   # put back as it was: started, not enabled
    assert sshd_state(app) == (True, False)
    assert_events_well_formed(job, ["um1"])
    # the changes show as changed events of the collection's modules
    changed = {e["event_data"]["task_action"] for e in job.host_events("um1")
               if e["event"] == "runner_on_ok" and e["event_data"]["res"].get("changed")}
    assert {"vcloud.usage_meter.shar_copy", "vcloud.usage_meter.upgrade", "vcloud.usage_meter.reboot"} <= changed, changed
    # AAP's indirect node count: the appliance, by its own host name (preflight's appliance_info)
    nodes = event_query_nodes(job)
    assert [n["name"] for n in nodes] == [app.hostname], nodes
    assert nodes[0]["facts"]["device_type"] == "usage_meter_appliance", nodes
    assert_no_secret(pdd, [app.root_password, app.api_password, VAULT_PASSWORD])


def test_remote_job_transmit_worker_process_with_ssh_key_and_custom_credential(
        runner_bin, appliance_factory, umsim_root, bundle, tmp_play):
    """The job as an execution node runs it: transmit | worker | process. The Machine
    credential is a key (env/ssh_key: runner loads it into ssh-agent and the modules
    use the agent); the API user and password come from the custom credential type
    of docs/awx.md, whose injector sets them as extra vars."""
    app = appliance_factory(version="4.2.0", sshd="running", root_password="Rt-awx-remote-19d0e4",
                            api_password="Api-awx-remote-c61b07")
    extravars = inject(custom_credential_type(), {"api_username": "usagemeter", "api_password": app.api_password})
    assert extravars["usage_meter_api_password"] == app.api_password
    pdd = make_private_data_dir(tmp_play, {"um1": app}, bundle, umsim_root, cmdline="-u root",
                                ssh_key=Path(app.client_key).read_text(), extravars=extravars,
                                host_vars={"um1": {"usage_meter_api_password": None, "usage_meter_certificates": True}})
    job = run_job(runner_bin, pdd, "job-remote", remote=True)
    assert (job.status, job.rc) == ("successful", 0), job.tail()
    assert job.proc.returncode == 0, job.tail()
    s = assert_upgraded(job, "um1", app)
    assert s["certificates_accepted"], s
    assert_events_well_formed(job, ["um1"])
    # runner loaded the key into ssh-agent (the inventory has no password and no key file)
    assert any(e["event"] == "verbose" and e["stdout"].startswith("Identity added:") for e in job.events)
    # the worker ran it in its own private data dir; the controller side got the events back
    node = pdd.parent / "execution-node"
    assert (node / "artifacts" / "job-remote" / "job_events").is_dir()
    assert (pdd / "artifacts" / "job-remote" / "job_events").is_dir()
    assert_no_secret(pdd, [app.root_password, app.api_password, key_body(app.client_key)], node / "artifacts")


def test_failed_appliance_fails_the_job_alone(runner_bin, appliance_factory, umsim_root, bundle, tmp_play):
    """A remote job over two appliances, one whose upgrade bundle fails: the job is
    failed; the failed host's summary and its saved logs are in the artifacts the
    controller receives; the other appliance is upgraded and its results intact."""
    good = appliance_factory(version="4.2.0", sshd="running", root_password="Rt-awx-fleet-2a7c",
                             api_password="Api-awx-fleet-9b1e")
    bad = appliance_factory(version="4.2.0", sshd="running", root_password="Rt-awx-fleet-2a7c",
                            api_password="Api-awx-fleet-9b1e", faults={"shar-fail": None})
    pdd = make_private_data_dir(tmp_play, {"good": good, "bad": bad}, bundle, umsim_root,
                                cmdline="-u root --ask-pass --ask-vault-pass",
                                passwords={SSH_PROMPT: good.root_password, VAULT_PROMPT: VAULT_PASSWORD})
    job = run_job(runner_bin, pdd, "job-fail", remote=True)
    assert job.status == "failed" and job.rc != 0, job.tail()
    assert job.stats["failures"] == {"bad": 1}, job.stats
    assert_events_well_formed(job, ["good", "bad"])
    assert_upgraded(job, "good", good)
    assert sshd_state(good) == (True, False)

    s = job.summaries["bad"]
    assert s["result"] == "failed" and "failed in phase upgrade" in s["error"], s
    assert api_version(bad) == "4.2.0"
    # the logs were saved on the execution node under artifacts/<ident> and came back
    logs = job.artifacts / "usage-meter-logs" / "bad"
    assert s["logs"].endswith("/artifacts/job-fail/usage-meter-logs/bad"), s["logs"]
    failure = json.loads((logs / "failure.json").read_text())
    assert failure["failure"]["phase"] == "upgrade", failure
    text = (logs / "failure.txt").read_text()
    assert "upgrade FAILED" in text and "# upgrade rc: 1" in text, text
    saved = [p for p in logs.rglob("inplaceupgradeum-*") if p.is_file()]
    assert saved and "upgrade FAILED" in saved[0].read_text(), list(logs.rglob("*"))
    assert not (job.artifacts / "usage-meter-logs" / "good").exists()
    failed = [e for e in job.host_events("bad") if e["event"] == "runner_on_failed"
              and not e["event_data"].get("ignore_errors")]
    assert failed and "failed in phase upgrade" in failed[-1]["event_data"]["res"]["msg"], failed
    assert_no_secret(pdd, [good.root_password, good.api_password, VAULT_PASSWORD])


def test_sliced_job_gives_each_slice_its_own_summary(runner_bin, appliance_factory, umsim_root, bundle, tmp_play):
    """Job slicing: the same job template in two slices on disjoint hosts, run at the
    same time (as on two execution nodes); each slice's artifacts hold the summary of
    its own appliance only, and each appliance was upgraded by exactly one slice."""
    apps = {"slice1": appliance_factory(version="4.1.0", sshd="running"),
            "slice2": appliance_factory(version="4.2.0", sshd="running")}
    jobs = {}
    for host in apps:
        root = tmp_play / host
        root.mkdir()
        pdd = make_private_data_dir(root, apps, bundle, umsim_root,
                                    cmdline="-u root --ask-pass --ask-vault-pass",
                                    passwords={SSH_PROMPT: apps[host].root_password, VAULT_PROMPT: VAULT_PASSWORD})
        jobs[host] = (pdd, start_job(runner_bin, pdd, f"job-{host}", limit=host))
    done = {host: finish(proc, pdd, f"job-{host}") for host, (pdd, proc) in jobs.items()}
    for host, job in done.items():
        assert (job.status, job.rc) == ("successful", 0), (host, job.tail())
        assert set(job.summaries) == {host}, job.summaries
        assert_upgraded(job, host, apps[host])
        assert_events_well_formed(job, [host])
        other = next(h for h in apps if h != host)
        assert not job.host_events(other), f"slice {host} ran tasks on {other}"
        assert f"{host}: upgraded" in job.stdout and f"{other}:" not in job.stdout.split("Summary of the fleet")[-1]


# --------------------------------------------------------------------------- docs

def custom_credential_type() -> dict:
    """The custom credential type of docs/awx.md: the inputs and injectors YAML a user
    pastes into the controller (Administration > Credential Types)."""
    text = (REPO / "docs" / "awx.md").read_text()
    blocks = {m.group(1): yaml.safe_load(m.group(2))
              for m in re.finditer(r"<!-- credential-type:(\w+) -->\s*```yaml\n(.*?)```", text, re.S)}
    assert set(blocks) == {"inputs", "injectors"}, f"docs/awx.md lacks the credential type blocks: {list(blocks)}"
    return blocks


def inject(cred: dict, inputs: dict) -> dict:
    """The extra vars the controller injects for a credential of that type: each
    injector template rendered with the credential's inputs (unset fields: empty)."""
    import jinja2
    env = jinja2.Environment(undefined=jinja2.Undefined)
    return {var: env.from_string(template).render(**inputs)
            for var, template in cred["injectors"]["extra_vars"].items()}


def test_custom_credential_type_in_docs_matches_the_role():
    cred = custom_credential_type()
    fields = {f["id"]: f for f in cred["inputs"]["fields"]}
    assert set(cred["inputs"].get("required", [])) <= set(fields), cred["inputs"]
    for f in fields.values():
        assert f.get("secret", False) is ("password" in f["id"]), f"{f['id']}: secret only and always for passwords"
    # every injected variable is an option of the role, filled from one of the fields
    spec = yaml.safe_load((REPO / "roles" / "inplace_upgrade" / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    for var, template in cred["injectors"]["extra_vars"].items():
        assert var in options, f"{var} is not an option of vcloud.usage_meter.inplace_upgrade"
        names = re.findall(r"{{\s*(\w+)\s*}}", template)
        assert len(names) == 1 and names[0] in fields, (var, template)
    assert cred["injectors"].get("env") is None, "secrets in env would show in artifacts/<ident>/command"
    got = inject(cred, {"api_username": "usagemeter", "api_password": "s3cret"})
    assert got["usage_meter_api_username"] == "usagemeter" and got["usage_meter_api_password"] == "s3cret", got


def test_survey_in_docs_asks_for_variables_the_play_reads():
    text = (REPO / "docs" / "awx.md").read_text()
    m = re.search(r"<!-- survey-spec -->\s*```yaml\n(.*?)```", text, re.S)
    assert m, "docs/awx.md lacks the survey spec"
    survey = yaml.safe_load(m.group(1))
    spec = yaml.safe_load((REPO / "roles" / "inplace_upgrade" / "meta" / "argument_specs.yml").read_text())
    play = (REPO / "playbooks" / "upgrade.yml").read_text()
    types = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
    for q in survey["spec"]:
        assert q["type"] in types, q
        var = q["variable"]
        assert var in spec["argument_specs"]["main"]["options"] or var in play, f"{var}: read by neither role nor play"
        if q["type"] == "multiplechoice":
            assert q["default"] in q["choices"], q
    # the answers the job test passes are the survey's
    assert set(SURVEY_ANSWERS) <= {q["variable"] for q in survey["spec"]}
