"""ansible-lint (production profile) on the roles and playbooks, and
`ansible-test sanity` on the collection.

- ansible-lint: the pinned version in its own venv (tools/install-lint.sh), offline,
  configured by .ansible-lint; the collection under test and community.vmware are
  resolved through ANSIBLE_COLLECTIONS_PATH (so FQCNs resolve and community.vmware
  task arguments are checked).
- ansible-test sanity --venv: on the content of the built tarball (what users
  install, the two static binaries included), on each ansible-core line Red Hat's
  partner certification runs sanity with (SANITY_LINES: 2.16, 2.18, 2.20, 2.21; the
  pin from .venv, the others from tools/install-core.sh, each on its Python), one
  class per line so pytest-xdist can run two at once. Each line unpacks it under
  .work/sanity-<line>/src/ansible_collections/vcloud/usage_meter (ansible-test needs
  that parent path), plus tests/sanity/. HOME points into .work/sanity-<line>/home,
  which carries the two offline workarounds
  (docs/ansible-protocol.md, "ansible-test offline"): a get-pip shim under the name
  that line's ansible-test looks for, and a pip.conf with the CA bundle. The first
  run builds ansible-test's venvs from PyPI (minutes; one pip cache serves every
  line); later runs reuse them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, VENV_BIN, WORK, collections_path, install_tool

LINT_PATHS = ["roles", "playbooks"]
# The ansible-core lines of Red Hat's partner certification sanity runs (issue 22).
SANITY_LINES = ("2.16", "2.18", "2.20", "2.21")

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
    paths = LINT_PATHS + sorted(str(p.relative_to(REPO)) for p in (REPO / "tests" / "sanity").glob("ignore-*.txt"))
    proc = ansible_lint(lint_bin, vmware_collections, paths)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ansible-lint found problems:\n{out[-20000:]}"
    assert "Passed" in out and "production" in out, out[-3000:]


def test_ansible_lint_production_profile_on_the_tarball(lint_bin, vmware_collections):
    """As Red Hat's partner certification lints a collection: the whole unpacked
    tarball, production profile, with the configuration the tarball ships and no other."""
    top = WORK / "lint-tarball"
    shutil.rmtree(top, ignore_errors=True)
    root = top / "ansible_collections" / "vcloud" / "usage_meter"
    root.mkdir(parents=True)
    with tarfile.open(built_tarball()) as tar:
        tar.extractall(root, filter="data")
    assert (root / ".config" / "ansible-lint.yml").is_file(), "the tarball must ship .config/ansible-lint.yml"
    assert not (root / ".ansible-lint").exists(), "the repository's .ansible-lint needs community.vmware: not for users"
    subprocess.run(["git", "init", "-q", str(root)], check=True)   # ansible-lint lists files through git
    proc = ansible_lint(lint_bin, vmware_collections, ["--profile", "production"], cwd=root)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ansible-lint on the tarball found problems:\n{out[-20000:]}"
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


def sanity_core(line: str) -> tuple[Path, str]:
    """(bin dir, Python X.Y) of ansible-core `line`: .venv for the pin, else its matrix venv."""
    rows = {r[0]: r for r in (ln.split() for ln in (REPO / "tools" / "requirements-matrix.txt").read_text()
                              .splitlines() if ln.strip() and not ln.startswith("#"))}
    _, py, pin = rows[line]
    if pin in (REPO / "tools" / "requirements.txt").read_text().splitlines():
        return VENV_BIN, py
    return Path(install_tool("install-core.sh", line)), py


def get_pip_name(bin_dir: Path) -> str:
    """The cache file name under which this ansible-test looks for get-pip (its pinned
    pip version: 23.1.2 in 2.16, 24.2 in 2.18, 25.2 in 2.20 and 2.21)."""
    src = next((bin_dir.parent / "lib").glob("python3*/site-packages/ansible_test/_internal/python_requirements.py"))
    version = re.search(r"\bpip='([0-9.]+)'", src.read_text())
    assert version, f"no pinned pip in {src}"
    return f"get_pip_{version.group(1).replace('.', '_')}.py"


def prepare_sanity_tree(line: str, bin_dir: Path) -> Path:
    """The content of the built tarball, binaries included, plus tests/sanity/ (the
    ignore files, if any) and a .gitignore that keeps ansible-test's own
    tests/output/ out of the targets, in .work/sanity-<line>."""
    sanity = WORK / f"sanity-{line}"
    coll = sanity / "src" / "ansible_collections" / "vcloud" / "usage_meter"
    if coll.exists():
        shutil.rmtree(coll)
    coll.mkdir(parents=True)
    with tarfile.open(built_tarball()) as tar:
        tar.extractall(coll, filter="data")
    if (REPO / "tests" / "sanity").is_dir():
        shutil.copytree(REPO / "tests" / "sanity", coll / "tests" / "sanity", dirs_exist_ok=True)
    # ansible-test lists content with git when the nearest repository is the
    # collection's own; without one here it would find /work/main's and see nothing.
    subprocess.run(["git", "init", "-q", str(coll)], check=True)
    with open(coll / ".gitignore", "a", encoding="utf-8") as fh:
        fh.write("\n/tests/output/\n")
    home = sanity / "home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / get_pip_name(bin_dir)).write_text(GET_PIP_SHIM)
    pipconf = home / ".config" / "pip" / "pip.conf"
    pipconf.parent.mkdir(parents=True, exist_ok=True)
    ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    pipconf.write_text(f"[global]\ncert = {ca}\n")
    (sanity / "tmp").mkdir(parents=True, exist_ok=True)
    return coll


def run_sanity(coll: Path, bin_dir: Path, py: str, *args: str) -> subprocess.CompletedProcess:
    sanity = coll.parents[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHON"))}
    env.update({"HOME": str(sanity / "home"), "TMPDIR": str(sanity / "tmp"),
                # one pip cache for every line: their ansible-test venvs share many wheels
                "PIP_CACHE_DIR": str(WORK / "sanity-pip-cache"),
                "PATH": f"{bin_dir}:{env.get('PATH', '')}"})
    return subprocess.run([str(bin_dir / "ansible-test"), "sanity", "--venv", "--python", py, "--color", "no", *args],
                          cwd=str(coll), env=env, capture_output=True, text=True, timeout=1800,
                          stdin=subprocess.DEVNULL, check=False)


class _Sanity:
    """ansible-test sanity of one ansible-core line; the classes below set LINE."""
    LINE = ""

    @pytest.mark.slow  # first run: minutes (ansible-test builds its venvs from PyPI); then about 30 s
    def test_ansible_test_sanity(self):
        bin_dir, py = sanity_core(self.LINE)
        coll = prepare_sanity_tree(self.LINE, bin_dir)
        assert (coll / "MANIFEST.json").is_file() and (coll / "roles").is_dir()
        assert not (coll / "Cargo.toml").exists() and not (coll / "library").exists()
        assert sorted(p.name for p in (coll / "plugins" / "bin").iterdir()) == [
            "usage_meter-linux-aarch64", "usage_meter-linux-x86_64"], "the binaries are part of what is checked"
        version = subprocess.run([str(bin_dir / "ansible-test"), "--version"], capture_output=True, text=True,
                                 timeout=60, check=False).stdout
        assert version.startswith(f"ansible-test version {self.LINE}."), version
        proc = run_sanity(coll, bin_dir, py)
        out = proc.stdout + proc.stderr
        errors = "\n".join(line for line in out.splitlines() if line.startswith("ERROR"))
        assert proc.returncode == 0, f"ansible-test {self.LINE} sanity failed:\n{errors or out[-20000:]}"
        assert "Running sanity test" in out


for _line in SANITY_LINES:
    _name = "TestSanity" + _line.replace(".", "_")
    globals()[_name] = type(_name, (_Sanity,), {"LINE": _line, "__doc__": f"ansible-test sanity, ansible-core {_line}"})


def test_sanity_ignore_file_has_only_lines_ansible_lint_accepts(lint_bin, vmware_collections):
    ignores = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests" / "sanity").glob("ignore-*.txt"))
    if not ignores:
        pytest.skip("no tests/sanity/ignore-*.txt: nothing is ignored")
    proc = ansible_lint(lint_bin, vmware_collections, ignores)
    assert proc.returncode == 0 and "sanity[" not in proc.stdout, proc.stdout + proc.stderr
