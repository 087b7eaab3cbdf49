"""The changelog, kept the ecosystem's way: antsibull-changelog (pinned, in its own
venv: tools/install-changelog.sh) accepts the config, the fragments and
changelogs/changelog.yaml; CHANGELOG.rst is what it generates from them; and the
newest release is the version galaxy.yml builds."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, WORK, install_tool


@pytest.fixture(scope="module")
def changelog_bin() -> Path:
    return Path(install_tool("install-changelog.sh"))


def antsibull(bin_dir: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "antsibull-changelog"), *args], cwd=str(cwd), capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)


def test_changelog_and_fragments_lint_clean(changelog_bin):
    for args in (["lint-changelog-yaml", "changelogs/changelog.yaml"], ["lint"]):
        p = antsibull(changelog_bin, *args)
        assert p.returncode == 0 and not p.stdout.strip(), (args, p.stdout + p.stderr)


def test_newest_release_is_the_version_galaxy_builds():
    releases = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())["releases"]
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    newest = max(releases, key=lambda v: tuple(int(x) for x in v.split(".")))
    assert newest == version, (newest, version)
    assert releases[version]["changes"].get("release_summary")


def test_changelog_rst_is_generated_from_changelog_yaml(changelog_bin):
    """Regenerating in a scratch copy gives the committed CHANGELOG.rst: the two cannot drift."""
    scratch = WORK / "tmp" / "changelog-check"
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "changelogs").mkdir(parents=True)
    shutil.copy(REPO / "galaxy.yml", scratch / "galaxy.yml")
    for name in ("config.yaml", "changelog.yaml"):
        shutil.copy(REPO / "changelogs" / name, scratch / "changelogs" / name)
    (scratch / "changelogs" / "fragments").mkdir()
    p = antsibull(changelog_bin, "generate", cwd=scratch)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (scratch / "CHANGELOG.rst").read_text() == (REPO / "CHANGELOG.rst").read_text(), \
        "CHANGELOG.rst is stale: run antsibull-changelog generate"
