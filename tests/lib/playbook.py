"""Run real `ansible` / `ansible-playbook` against the collection under test.

The collection comes from $UM_COLLECTIONS_PATH (the test command installs the
built tarball there); without it, a symlink to this checkout is used, so a
developer can run one test file after `tools/build-binaries.sh`.

ansible_env() is the one Ansible environment of the tests, bench/run.py and
demo/run.sh (which takes it as shell lines: `python3 tests/lib/playbook.py --help`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("UM_WORK", REPO / ".work"))
VENV_BIN = Path(os.environ.get("UM_VENV_BIN", REPO / ".venv" / "bin"))


def install_tool(script: str, *args: str) -> str:
    """Run tools/<script> [args] (an idempotent installer of a pinned tool venv, or of
    other test dependencies; `install_tool("install-core.sh", "2.16")`) and return the
    last line it prints: where the tool is."""
    proc = subprocess.run([str(REPO / "tools" / script), *args], capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, f"tools/{script} {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout.strip().splitlines()[-1]


def collections_path() -> Path:
    env = os.environ.get("UM_COLLECTIONS_PATH")
    if env:
        # ansible-playbook runs in a temp cwd: a relative path would not resolve there.
        return Path(env).resolve()
    dev = WORK / "dev-collections"
    link = dev / "ansible_collections" / "vcloud" / "usage_meter"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)
    return dev


CALLBACKS = {"um_results": Path(__file__).parent / "callback_plugins"}   # writes $UM_RESULTS_FILE
LEAKS = ("SSH_AUTH_SOCK", "SSH_AGENT_PID")   # a developer's ssh-agent must not log the modules in


def ansible_settings(venv_bin: Path | None = None, *, home: Path | None = None, collections: Path | None = None,
                     callbacks: dict[str, Path] | None = None) -> dict[str, str]:
    """The variables every Ansible run of the tests, the benchmark and the demo gets:
    Ansible's files under `home` (default .work/ansible-home), not in $HOME; an empty
    config file, so no ansible.cfg of the developer's applies; the collection from
    `collections` (default: collections_path()); the `callbacks` {name: plugin dir}
    (default um_results); `venv_bin`'s ansible-core and python first (default the pinned one)."""
    venv_bin = venv_bin or VENV_BIN
    home = home or WORK / "ansible-home"
    callbacks = CALLBACKS if callbacks is None else callbacks
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ansible.cfg"
    if not config.exists():
        config.write_text("# Empty on purpose (tests/lib/playbook.py): Ansible's defaults, no developer config.\n")
    return {
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(home / "remote-tmp"),
        "ANSIBLE_ASYNC_DIR": str(home / "async"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections or collections_path()),
        "ANSIBLE_CALLBACK_PLUGINS": ":".join(str(d) for d in dict.fromkeys(callbacks.values())),
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(callbacks),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        # ansible-core 2.24 stops injecting facts as variables: run as it will
        "ANSIBLE_INJECT_FACT_VARS": "False",
        "ANSIBLE_PYTHON_INTERPRETER": str(venv_bin / "python"),
    }


def ansible_env(extra: dict[str, str] | None = None, venv_bin: Path | None = None, *, home: Path | None = None,
                collections: Path | None = None, callbacks: dict[str, Path] | None = None) -> dict[str, str]:
    """This process's environment without ANSIBLE_* and ssh-agent variables, plus
    ansible_settings(...) and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k not in LEAKS}
    env.update(ansible_settings(venv_bin, home=home, collections=collections, callbacks=callbacks))
    env.update(extra or {})
    return env


@dataclasses.dataclass
class PlayResult:
    rc: int
    stdout: str
    stderr: str
    records: list[dict[str, Any]]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def results(self, task: str, host: str | None = None) -> list[dict[str, Any]]:
        """Module results of the task named `task` (all loop items, all hosts unless `host`)."""
        found = [r["result"] for r in self.records if r["task"] == task and (host is None or r["host"] == host)]
        if not found:
            names = sorted({r["task"] for r in self.records})
            raise AssertionError(f"no result for task {task!r} (host {host}); tasks seen: {names}\n{self.output[-3000:]}")
        return found

    def result(self, task: str, host: str | None = None) -> dict[str, Any]:
        """The last result of task `task` (for `host`)."""
        return self.results(task, host)[-1]

    def status(self, task: str, host: str | None = None) -> str:
        recs = [r for r in self.records if r["task"] == task and (host is None or r["host"] == host)]
        if not recs:
            raise AssertionError(f"task {task!r} did not run\n{self.output[-3000:]}")
        return recs[-1]["status"]


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]], group: str = "appliances") -> Path:
    """YAML-compatible JSON inventory: {group: {hosts: {name: vars}}}."""
    inv = {group: {"hosts": hosts}}
    path.write_text(json.dumps(inv, indent=2))
    return path


def run_playbook(playbook: str | list | Path, hosts: dict[str, dict[str, Any]] | None = None, *,
                 check: bool = False, diff: bool = False, verbosity: int = 0,
                 extra_vars: dict[str, Any] | None = None, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, timeout: int = 900,
                 inventory: Path | None = None, venv_bin: Path | None = None,
                 cwd: Path | None = None) -> PlayResult:
    """Run a playbook: a path, a YAML string, or a list of tasks (wrapped in a
    play over all hosts with gather_facts off). It runs in a new temp folder
    unless `cwd` is given."""
    tmp = Path(tempfile.mkdtemp(prefix="play-", dir=_tmpdir()))
    if isinstance(playbook, Path):
        pb = playbook
    else:
        pb = tmp / "play.yml"
        if isinstance(playbook, list):
            playbook = json.dumps([{"name": "test play", "hosts": "all", "gather_facts": False, "tasks": playbook}], indent=2)
        pb.write_text(playbook)
    if inventory is None:
        inventory = write_inventory(tmp / "inventory.json", hosts or {"localhost": {"ansible_connection": "local"}})
    results_file = tmp / "results.json"
    cmd = [str((venv_bin or VENV_BIN) / "ansible-playbook"), "-i", str(inventory), str(pb)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += extra_args or []
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=ansible_env({"UM_RESULTS_FILE": str(results_file), **(env or {})}, venv_bin),
                          cwd=str(cwd or tmp), stdin=subprocess.DEVNULL)
    records = json.loads(results_file.read_text()) if results_file.exists() else []
    return PlayResult(proc.returncode, proc.stdout, proc.stderr, records)


def run_module(module: str, args: dict[str, Any], *, check: bool = False, diff: bool = False,
               verbosity: int = 0, env: dict[str, str] | None = None, timeout: int = 900) -> dict[str, Any]:
    """One task of `vcloud.usage_meter.<module>` delegated to localhost; returns its result
    (with `_status` = ok/failed/skipped)."""
    task = {"name": "under test", f"vcloud.usage_meter.{module}": args, "delegate_to": "localhost", "ignore_errors": True}
    res = run_playbook([task], {"appliance": {"ansible_connection": "local"}}, check=check, diff=diff,
                       verbosity=verbosity, env=env, timeout=timeout)
    out = dict(res.result("under test"))
    out["_status"] = res.status("under test")
    out["_output"] = res.output
    return out


def _tmpdir() -> str:
    d = WORK / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return str(d)


def module_binary(root: Path | None = None) -> Path:
    """The multicall binary the action plugins run on this controller."""
    import platform
    root = root or (collections_path() / "ansible_collections" / "vcloud" / "usage_meter"
                    if os.environ.get("UM_COLLECTIONS_PATH") else REPO)
    return root / "plugins" / "bin" / f"usage_meter-linux-{platform.machine()}"


def require_module(name: str) -> None:
    """Skip a developer run whose checkout lacks the binary; under `make test`
    (UM_COLLECTIONS_PATH set: the installed tarball) a missing one is a failure."""
    import pytest  # only test code calls this

    base = collections_path() / "ansible_collections" / "vcloud" / "usage_meter"
    binary = module_binary()
    if os.environ.get("UM_COLLECTIONS_PATH"):
        assert binary.is_file(), f"the installed collection lacks the module binary {binary}"
        assert (base / "plugins" / "modules" / f"{name}.py").is_file(), f"the installed collection lacks module {name}"
    elif not binary.exists():
        pytest.skip(f"{binary} is not built (tools/dev-build.sh)")


def ssh_args(appliance, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """Connection options for a simulated appliance: root by password, a
    per-test known_hosts, short connect timeout."""
    args = {"host": appliance.host, "password": appliance.root_password,
            "known_hosts": str(tmp_path / "known_hosts"), "connect_timeout": 5}
    args.update(extra)
    return args


def main(argv: list[str] | None = None) -> int:
    """For bash (demo/run.sh): ansible_env as shell lines, `eval "$(python3 tests/lib/playbook.py ...)"`."""
    import argparse
    import shlex

    ap = argparse.ArgumentParser(description="Print the test environment of Ansible as shell `unset`/`export` lines.")
    ap.add_argument("--home", type=Path, help="Ansible's files (default .work/ansible-home)")
    ap.add_argument("--collections", type=Path, help="collections path (default $UM_COLLECTIONS_PATH, else this checkout)")
    args = ap.parse_args(argv)
    for k in sorted(os.environ):
        if k.startswith("ANSIBLE_") or k in LEAKS:
            print(f"unset {k}")
    settings = ansible_settings(home=args.home and args.home.resolve(),
                                collections=args.collections and args.collections.resolve())
    for k, v in settings.items():
        print(f"export {k}={shlex.quote(v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
