"""ansible-lint (production profile) on the roles and playbooks, and
`ansible-test sanity` on the collection.

- ansible-lint: the pinned version in its own venv (tools/install-lint.sh), offline,
  configured by .ansible-lint; the collection under test and community.vmware are
  resolved through ANSIBLE_COLLECTIONS_PATH (so FQCNs resolve and community.vmware
  task arguments are checked).
- ansible-test sanity --venv: on the content of the built tarball (what users
  install, the two static binaries included), unpacked under
  .work/sanity/src/ansible_collections/vcloud/usage_meter (ansible-test needs that
  parent path), plus tests/sanity/. HOME points into .work/sanity/home, which carries
  the two offline workarounds (docs/ansible-protocol.md, "ansible-test offline"): a get-pip shim and a
  pip.conf with the CA bundle. The first run builds ansible-test's venvs from PyPI
  (minutes); later runs reuse them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, VENV_BIN, WORK, collections_path, install_tool

LINT_PATHS = ["roles", "playbooks"]
SANITY = WORK / "sanity"
SANITY_COLL = SANITY / "src" / "ansible_collections" / "vcloud" / "usage_meter"

GET_PIP_SHIM = '''\
# ansible-test bootstraps pip from ci-files.testing.ansible.com, which this machine
# cannot reach: install the bundled pip, then the requested one from PyPI.
import ensurepip, os, subprocess, sys
ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)   # ensurepip points it at /dev/null
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
'''


@pytest.fixture(scope="module")
def lint_bin() -> Path:
    return Path(install_tool("install-lint.sh"))


@pytest.fixture(scope="module")
def vmware_collections() -> str:
    return install_tool("install-vmware-deps.sh")


def ansible_lint(lint_bin: Path, vmware_collections: str, paths: list[str], cwd: Path = REPO,
                 extra: list[str] | None = None) -> subprocess.CompletedProcess:
    home = WORK / "lint-home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "HOME": str(home), "ANSIBLE_HOME": str(home / ".ansible"), "TMPDIR": str(home / "tmp"),
        "ANSIBLE_COLLECTIONS_PATH": f"{collections_path()}:{vmware_collections}",
        "PATH": f"{lint_bin}:{env.get('PATH', '')}", "NO_COLOR": "1",
    })
    return subprocess.run([str(lint_bin / "ansible-lint"), "--nocolor", "-f", "pep8", *(extra or []), *paths],
                          cwd=str(cwd), env=env, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)


def test_ansible_lint_production_profile(lint_bin, vmware_collections):
    paths = LINT_PATHS + [p for p in ["tests/sanity/ignore-2.19.txt"] if (REPO / p).exists()]
    proc = ansible_lint(lint_bin, vmware_collections, paths)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ansible-lint found problems:\n{out[-20000:]}"
    assert "Passed" in out and "production" in out, out[-3000:]


def test_ansible_lint_fails_on_a_real_finding(lint_bin, vmware_collections, tmp_path):
    """The lint test is real: the same configuration rejects a bad role."""
    proj = WORK / "tmp" / "lint-negative"
    shutil.rmtree(proj, ignore_errors=True)
    (proj / "roles" / "bad" / "tasks").mkdir(parents=True)
    shutil.copy(REPO / ".ansible-lint", proj / ".ansible-lint")
    (proj / "roles" / "bad" / "tasks" / "main.yml").write_text(textwrap.dedent("""\
        ---
        - shell: echo {{ usage_meter_vcenter_password }}
        - name: start sshd through VMware Tools
          community.vmware.vmware_vm_shell:
            vm_id: x
            vm_username: root
            vm_password: "{{ usage_meter_root_password }}"
            vm_shell: /bin/systemctl
            no_such_option: 1
        """))
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    proc = ansible_lint(lint_bin, vmware_collections, ["roles"], cwd=proj)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for rule in ("name[missing]", "fqcn[action-core]", "no-changed-when", "name[casing]", "args[module]"):
        assert rule in out, f"{rule} not reported:\n{out}"


# --- ansible-test sanity ------------------------------------------------------------

def built_tarball() -> Path:
    """The tarball `make collection` built (tools/build-collection.sh), the one users get."""
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    path = REPO / "dist" / f"vcloud-usage_meter-{version}.tar.gz"
    assert path.is_file(), f"{path} is missing: run `make build collection` (make test does) first"
    return path


def prepare_sanity_tree() -> Path:
    """The content of the built tarball, binaries included, plus tests/sanity/ (the
    ignore files, if any) and a .gitignore that keeps ansible-test's own
    tests/output/ out of the targets."""
    if SANITY_COLL.exists():
        shutil.rmtree(SANITY_COLL)
    SANITY_COLL.mkdir(parents=True)
    with tarfile.open(built_tarball()) as tar:
        tar.extractall(SANITY_COLL, filter="data")
    if (REPO / "tests" / "sanity").is_dir():
        shutil.copytree(REPO / "tests" / "sanity", SANITY_COLL / "tests" / "sanity", dirs_exist_ok=True)
    # ansible-test lists content with git when the nearest repository is the
    # collection's own; without one here it would find /work/main's and see nothing.
    subprocess.run(["git", "init", "-q", str(SANITY_COLL)], check=True)
    with open(SANITY_COLL / ".gitignore", "a", encoding="utf-8") as fh:
        fh.write("\n/tests/output/\n")
    home = SANITY / "home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("get_pip_24_2.py",):   # ansible-core 2.19's pip bootstrap version
        (cache / name).write_text(GET_PIP_SHIM)
    pipconf = home / ".config" / "pip" / "pip.conf"
    pipconf.parent.mkdir(parents=True, exist_ok=True)
    ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    pipconf.write_text(f"[global]\ncert = {ca}\n")
    (SANITY / "tmp").mkdir(parents=True, exist_ok=True)
    return SANITY_COLL


def run_sanity(coll: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update({"HOME": str(SANITY / "home"), "TMPDIR": str(SANITY / "tmp"),
                "PATH": f"{VENV_BIN}:{env.get('PATH', '')}"})
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return subprocess.run([str(VENV_BIN / "ansible-test"), "sanity", "--venv", "--python", py, "--color", "no", *args],
                          cwd=str(coll), env=env, capture_output=True, text=True, timeout=1800,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.slow  # first run: minutes (ansible-test builds its venvs from PyPI); then about 30 s
def test_ansible_test_sanity():
    coll = prepare_sanity_tree()
    assert (coll / "MANIFEST.json").is_file() and (coll / "roles").is_dir()
    assert not (coll / "Cargo.toml").exists() and not (coll / "library").exists()
    assert sorted(p.name for p in (coll / "plugins" / "bin").iterdir()) == [
        "usage_meter-linux-aarch64", "usage_meter-linux-x86_64"], "the binaries are part of what is checked"
    proc = run_sanity(coll)
    out = proc.stdout + proc.stderr
    errors = "\n".join(line for line in out.splitlines() if line.startswith("ERROR"))
    assert proc.returncode == 0, f"ansible-test sanity failed:\n{errors or out[-20000:]}"
    assert "Running sanity test" in out


def test_sanity_ignore_file_has_only_lines_ansible_lint_accepts(lint_bin, vmware_collections):
    ignore = REPO / "tests" / "sanity" / "ignore-2.19.txt"
    if not ignore.exists():
        pytest.skip("no tests/sanity/ignore-2.19.txt: nothing is ignored")
    proc = ansible_lint(lint_bin, vmware_collections, ["tests/sanity/ignore-2.19.txt"])
    assert proc.returncode == 0 and "sanity[" not in proc.stdout, proc.stdout + proc.stderr
