"""The ecosystem's own tools judge the built tarball (issue 12, section 4).

- galaxy-importer, the importer behind Galaxy and Automation Hub, on
  dist/vcloud-usage_meter-<version>.tar.gz as its README says
  (`python -m galaxy_importer.main <tarball>`), ansible-doc and ansible-lint
  included as Galaxy runs them, ansible-test off (it needs containers; sanity runs
  in tests/test_lint.py), and CHECK_REQUIRED_TAGS on, as Red Hat's partner
  certification runs it: galaxy.yml must carry one of Automation Hub's required tags.
- antsibull-docs, the docsite builder: `collection --use-current` renders a page per
  module and role from the installed collection; `lint-collection-docs --plugin-docs`
  checks the same docs.

Both come from tools/install-judges.sh (their own venv, .work/judges-venv, with the
pinned ansible-core) and run in a network namespace of their own (unshare --net): no
Galaxy server, no schema download, nothing reaches the network.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, VENV_BIN, WORK, ansible_env, collections_path, install_tool
from test_lint import built_tarball

FQCN = "vcloud.usage_meter"
JUDGES = WORK / "judges"


def module_names() -> list[str]:
    return sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


def role_names() -> list[str]:
    return sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/main.yml"))


def installed_collection() -> Path:
    coll = collections_path() / "ansible_collections" / "vcloud" / "usage_meter"
    assert (coll / "MANIFEST.json").is_file(), f"{coll} is not an installed collection: run `make test`"
    return coll


@pytest.fixture(scope="module")
def judges_bin() -> Path:
    return Path(install_tool("install-judges.sh"))


def judge_env(judges_bin: Path, home: Path) -> dict[str, str]:
    """No developer config leaks in (HOME, ANSIBLE_*, GALAXY_IMPORTER_*), the judges'
    own ansible-core first on PATH (both tools call `ansible-doc`)."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "GALAXY_IMPORTER_", "PYTHON"))}
    env.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "ANSIBLE_HOME": str(home / ".ansible"),
                "PATH": f"{judges_bin}:{env.get('PATH', '')}", "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1",
                # .work/ lies inside this checkout: lint-collection-docs would take the collection
                # for part of our git repository and copy only its tracked files (none), linting nothing.
                "GIT_CEILING_DIRECTORIES": f"{WORK}:{collections_path()}"})
    return env


def offline(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run `cmd` with no network at all (only a down loopback): a judge that tried to
    reach Galaxy or download a schema would fail or warn, and the test with it."""
    return subprocess.run(["unshare", "--map-current-user", "--net", *cmd], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False, **kw)


# ---------------------------------------------------------------------------------------------
# galaxy-importer

IMPORTER_CFG = """\
[galaxy-importer]
# ansible-test sanity needs containers (tests/test_lint.py runs it on the same content)
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_DOC = True
RUN_ANSIBLE_LINT = {lint}
OFFLINE_ANSIBLE_LINT = True
CHECK_CHANGELOG = True
# Red Hat's partner certification (and Automation Hub) import with this on
CHECK_REQUIRED_TAGS = True
LOG_LEVEL_MAIN = INFO
ANSIBLE_LOCAL_TMP = {tmp}
TMP_ROOT_DIR = {unpack}
"""

# Lines the importer's logger prints for a warning or an error (galaxy_importer.main's
# CustomFormatter: "LEVEL: message"; ansible-lint's findings are logged as warnings).
IMPORTER_COMPLAINT = re.compile(r"^\s*(WARNING|ERROR|CRITICAL):|Traceback", re.MULTILINE)


def run_importer(judges_bin: Path, tarball: Path, work: Path, unpack: Path,
                 lint: bool = True) -> tuple[subprocess.CompletedProcess, dict | None]:
    """`python -m galaxy_importer.main <tarball>` in `work` (where it writes
    importer_result.json). It unpacks the tarball under `unpack` and runs ansible-lint
    there: that must lie outside this checkout, or ansible-lint would find and use the
    repository's own .ansible-lint (which Galaxy never sees)."""
    if work.exists():
        shutil.rmtree(work)
    home = work / "home"
    env = judge_env(judges_bin, home)
    cfg = work / "galaxy-importer.cfg"
    cfg.write_text(IMPORTER_CFG.format(lint=lint, tmp=home / "tmp", unpack=unpack))
    env["GALAXY_IMPORTER_CONFIG"] = str(cfg)
    proc = offline([str(judges_bin / "python"), "-m", "galaxy_importer.main", str(tarball)],
                   cwd=str(work), env=env, timeout=300)
    result = work / "importer_result.json"
    return proc, json.loads(result.read_text()) if result.is_file() else None


@pytest.fixture(scope="module")
def galaxy_import(judges_bin, tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    proc, data = run_importer(judges_bin, built_tarball(), JUDGES / "galaxy-importer",
                              tmp_path_factory.mktemp("galaxy-importer"))
    assert proc.returncode == 0 and data, f"galaxy-importer failed:\n{proc.stdout}\n{proc.stderr}"
    return proc, data


def rewrite_tarball(src: Path, dst: Path, changes: dict[str, bytes | None],
                    collection_info: dict | None = None) -> None:
    """A copy of collection tarball `src` with files replaced (bytes) or removed (None),
    FILES.json and MANIFEST.json's checksum of it updated as `ansible-galaxy` writes them;
    `collection_info` overrides fields of MANIFEST.json's collection_info (galaxy.yml's)."""
    with tarfile.open(src) as tin:
        members = [(m, tin.extractfile(m).read() if m.isfile() else None) for m in tin.getmembers()]
    contents = dict((m.name, d) for m, d in members)
    files = json.loads(contents["FILES.json"])
    kept = []
    for entry in files["files"]:
        if entry["name"] in changes:
            if changes[entry["name"]] is None:
                continue
            entry["chksum_sha256"] = hashlib.sha256(changes[entry["name"]]).hexdigest()
        kept.append(entry)
    files["files"] = kept
    files_json = json.dumps(files, indent=4).encode()
    manifest = json.loads(contents["MANIFEST.json"])
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    manifest["collection_info"].update(collection_info or {})
    new = {**changes, "FILES.json": files_json, "MANIFEST.json": json.dumps(manifest, indent=4).encode()}
    with tarfile.open(dst, "w:gz") as tout:
        for m, d in members:
            if m.name in new:
                if new[m.name] is None:
                    continue
                d = new[m.name]
                m.size = len(d)
            tout.addfile(m, io.BytesIO(d) if d is not None else None)


def test_galaxy_importer_prints_no_warning_or_error(galaxy_import):
    proc, _ = galaxy_import
    out = proc.stdout + proc.stderr
    bad = [line for line in out.splitlines() if IMPORTER_COMPLAINT.search(line)]
    assert not bad, "galaxy-importer complained:\n" + "\n".join(bad) + f"\n--- full output:\n{out[-8000:]}"
    assert "Importer processing completed successfully" in out, out[-4000:]
    # Galaxy's checks ran (the config file was read): ansible-doc and ansible-lint, not ansible-test
    assert "Getting doc strings via ansible-doc" in out and "...ansible-lint run complete" in out, out[-4000:]
    assert "ansible-test" not in out.lower(), out[-4000:]


def test_galaxy_importer_lists_every_module_with_its_docs(galaxy_import):
    _, data = galaxy_import
    names = module_names()
    assert len(names) == 10, names
    listed = sorted(c["name"] for c in data["contents"] if c["content_type"] == "module")
    assert listed == names, data["contents"]
    blob = {c["content_name"]: c for c in data["docs_blob"]["contents"] if c["content_type"] == "module"}
    assert sorted(blob) == names
    for name in names:
        content = next(c for c in data["contents"] if c["name"] == name and c["content_type"] == "module")
        assert content["description"], f"{name}: no short description in the import"
        ds = blob[name]["doc_strings"]
        doc = ds["doc"]
        assert doc["module"] == name and doc["short_description"] == content["description"]
        assert doc["description"], name
        # options (galaxy-importer turns ansible-doc's dict into a list of named items)
        opts = {o["name"]: o for o in doc["options"]}
        assert opts, name
        assert all(o.get("description") for o in opts.values()), f"{name}: an option without a description"
        if name != "certificates":   # the one module without the shared SSH options
            assert {"host", "username", "password", "private_key", "host_key_checking"} <= set(opts), name
        assert ds["examples"] and FQCN + "." + name in ds["examples"], f"{name}: no EXAMPLES using the FQCN"
        assert ds["return"], f"{name}: no RETURN docs"


def test_galaxy_importer_lists_both_roles_with_a_description(galaxy_import):
    """galaxy-importer 0.4.x reads a role's description (meta/main.yml) and its README;
    it does not read meta/argument_specs.yml (antsibull-docs does: see below)."""
    _, data = galaxy_import
    roles = role_names()
    assert roles == ["inplace_upgrade", "preflight"]
    listed = {c["name"]: c for c in data["contents"] if c["content_type"] == "role"}
    assert sorted(listed) == roles, data["contents"]
    for role in roles:
        meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
        assert listed[role]["description"] == meta["galaxy_info"]["description"]
    blob = {c["content_name"]: c for c in data["docs_blob"]["contents"] if c["content_type"] == "role"}
    for role in roles:
        assert blob[role]["readme_file"] and blob[role]["readme_html"], f"{role}: no README in the import"


def test_galaxy_importer_reads_the_collection_metadata(galaxy_import):
    _, data = galaxy_import
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    meta = data["metadata"]
    assert (meta["namespace"], meta["name"], meta["version"]) == (galaxy["namespace"], galaxy["name"], galaxy["version"])
    # Automation Hub refuses a floor below 2.16 (issue 22); the importer reads what users get
    assert data["requires_ansible"] == ">=2.16.0", data["requires_ansible"]
    assert data["docs_blob"]["collection_readme"]["html"], "no README rendered"


def test_galaxy_importer_warns_about_what_issue_12_found(judges_bin, tmp_path_factory):
    """Control for the no-warning test (which passes on silence): the built tarball
    with 1.0.0's two content mistakes the issue reported, a role without a
    description and no changelog, makes the same importer print both warnings."""
    src = built_tarball()
    with tarfile.open(src) as tar:
        names = tar.getnames()
        meta = yaml.safe_load(tar.extractfile("roles/preflight/meta/main.yml").read())
    del meta["galaxy_info"]["description"]
    changes: dict[str, bytes | None] = {"roles/preflight/meta/main.yml": yaml.safe_dump(meta).encode()}
    changes.update({n: None for n in names if n in ("CHANGELOG.rst", "CHANGELOG.md", "changelogs/changelog.yaml")})
    assert len(changes) > 1, f"no changelog in {src}"
    tmp = tmp_path_factory.mktemp("galaxy-importer-control")
    broken = tmp / src.name
    rewrite_tarball(src, broken, changes)
    proc, _ = run_importer(judges_bin, broken, JUDGES / "galaxy-importer-control", tmp, lint=False)
    out = proc.stdout + proc.stderr
    complaints = "\n".join(line for line in out.splitlines() if IMPORTER_COMPLAINT.search(line))
    assert "No role description found in role metadata" in complaints, out[-4000:]
    assert "changelog" in complaints.lower(), out[-4000:]


def test_galaxy_importer_refuses_a_collection_without_a_required_tag(judges_bin, tmp_path_factory):
    """Control for CHECK_REQUIRED_TAGS: the built tarball whose galaxy.yml tags hold none
    of Automation Hub's required tags fails the import and says which it wants; the
    real tags hold at least one."""
    listed = subprocess.run([str(judges_bin / "python"), "-c",
                             "from galaxy_importer.schema import REQUIRED_TAG_LIST as t; print(' '.join(t))"],
                            capture_output=True, text=True, timeout=60, check=False).stdout.split()
    assert tuple(listed) == REQUIRED_TAGS, listed
    tags = yaml.safe_load((REPO / "galaxy.yml").read_text())["tags"]
    src = built_tarball()
    tmp = tmp_path_factory.mktemp("galaxy-importer-tags")
    untagged = tmp / src.name
    rewrite_tarball(src, untagged, {}, {"tags": [t for t in tags if t not in REQUIRED_TAGS] or ["vmware"]})
    proc, data = run_importer(judges_bin, untagged, JUDGES / "galaxy-importer-tags", tmp, lint=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and not data, out[-4000:]
    assert "At least one tag required from tag list" in out, out[-4000:]
    assert set(tags) & set(REQUIRED_TAGS), f"galaxy.yml's tags {tags} hold none of {REQUIRED_TAGS}"


# galaxy-importer's schema.REQUIRED_TAG_LIST (0.4.44), which CHECK_REQUIRED_TAGS enforces
REQUIRED_TAGS = ("ai", "application", "cloud", "database", "eda", "infrastructure", "linux", "monitoring",
                 "networking", "security", "storage", "tools", "windows")


# ---------------------------------------------------------------------------------------------
# antsibull-docs

@pytest.fixture(scope="module")
def antsibull_pages(judges_bin) -> tuple[subprocess.CompletedProcess, Path]:
    installed_collection()
    work = JUDGES / "antsibull-docs"
    if work.exists():
        shutil.rmtree(work)
    dest = work / "out"
    dest.mkdir(parents=True)
    env = judge_env(judges_bin, work / "home")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path())
    proc = offline([str(judges_bin / "antsibull-docs"), "collection", "--use-current", "--dest-dir", str(dest), FQCN],
                   cwd=str(work), env=env, timeout=300)
    assert proc.returncode == 0, f"antsibull-docs collection failed:\n{proc.stdout}\n{proc.stderr}"
    return proc, dest / "collections" / "vcloud" / "usage_meter"


# Texts of antsibull-docs 2.x's templates (data/docsite/ansible-docsite/): the error page
# (plugin-error.rst.j2) and the "Parsing errors" section of plugin.rst.j2 / role.rst.j2.
ERROR_MARKERS = ("was malformed", "The errors were:", "There were some errors parsing the documentation")


def test_error_markers_are_those_of_the_installed_antsibull_docs(judges_bin):
    """Guards the marker list below against a new antsibull-docs rewording its error pages."""
    site = next((judges_bin.parent / "lib").glob("python3*/site-packages/antsibull_docs/data/docsite/ansible-docsite"))
    templates = {p.name: p.read_text() for p in site.glob("*.rst.j2")}
    for marker in ERROR_MARKERS:
        assert any(marker in t for t in templates.values()), f"{marker!r} is in no template of {site}"
    assert "The errors were:" in templates["plugin-error.rst.j2"]


def test_antsibull_docs_renders_every_module_and_role_without_an_error_page(antsibull_pages):
    proc, pages = antsibull_pages
    assert pages.is_dir(), f"no pages under {pages}:\n{proc.stdout}\n{proc.stderr}"
    expected = {f"{m}_module.rst" for m in module_names()} | {f"{r}_role.rst" for r in role_names()}
    rendered = {p.name for p in pages.glob("*.rst")}
    assert expected <= rendered, f"missing pages: {sorted(expected - rendered)}"
    for name in sorted(expected) + ["index.rst"]:
        text = (pages / name).read_text()
        hits = [m for m in ERROR_MARKERS if m in text]
        assert not hits, f"{name} is an error page ({hits}):\n{text[-3000:]}"
    index = (pages / "index.rst").read_text()
    for name in sorted(expected):
        assert name.removesuffix(".rst") in index, f"{name} is not linked from the collection index"
    out = proc.stdout + proc.stderr
    assert not [line for line in out.splitlines() if re.search(r"\b(ERROR|WARNING|Traceback)\b", line)], out


def test_antsibull_docs_module_pages_carry_every_option_and_return_value(antsibull_pages):
    """Each module's page has an entry (its anchor) for every option and return value
    ansible-doc (the pinned ansible-core of .venv) reads from the installed collection."""
    _, pages = antsibull_pages
    names = module_names()
    proc = subprocess.run([str(VENV_BIN / "ansible-doc"), "--json", "-t", "module", *(f"{FQCN}.{n}" for n in names)],
                          capture_output=True, text=True, env=ansible_env(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    for name in names:
        doc = docs[f"{FQCN}.{name}"]
        text = (pages / f"{name}_module.rst").read_text()
        anchor = f".. _ansible_collections.{FQCN}.{name}_module__"
        assert f"{FQCN}.{name} module" in text, name
        assert doc["doc"]["options"] and doc["return"], name
        for opt in doc["doc"]["options"]:
            assert f"{anchor}parameter-{opt}:" in text, f"{name}: option {opt} is not rendered"
        for ret in doc["return"]:
            assert f"{anchor}return-{ret}:" in text, f"{name}: return value {ret} is not rendered"
        assert "Examples" in text and f"{FQCN}.{name}:" in text, f"{name}: no examples rendered"


def test_antsibull_docs_role_pages_carry_every_entry_point_and_option(antsibull_pages):
    """The role's argument specs as a docsite reader sees them: each entry point and
    each of its options (from the installed meta/argument_specs.yml) is on the page."""
    _, pages = antsibull_pages
    coll = installed_collection()
    for role in role_names():
        specs = yaml.safe_load((coll / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        assert specs.get("main", {}).get("options"), f"{role}: the main entry point documents no option"
        text = (pages / f"{role}_role.rst").read_text()
        for entry, spec in specs.items():
            assert f"Entry point ``{entry}``" in text, f"{role}: entry point {entry} is not rendered"
            for opt in spec.get("options") or {}:
                anchor = f".. _ansible_collections.{FQCN}.{role}_role__parameter-{entry}__{opt}:"
                assert anchor in text, f"{role}.{entry}: option {opt} is not rendered"


def lint_collection_docs(judges_bin: Path, coll: Path, collections_dir: Path) -> subprocess.CompletedProcess:
    env = judge_env(judges_bin, JUDGES / "antsibull-lint" / "home")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_dir)
    return offline([str(judges_bin / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", str(coll)],
                   cwd=str(coll), env=env, timeout=300)


def test_antsibull_docs_lint_collection_docs(judges_bin):
    proc = lint_collection_docs(judges_bin, installed_collection(), collections_path())
    assert proc.returncode == 0 and not proc.stdout.strip(), f"lint-collection-docs:\n{proc.stdout}\n{proc.stderr}"


def test_antsibull_docs_lint_reports_the_mistakes_issue_12_found(judges_bin):
    """Control for the test above (which passes on silence): the same command on a copy
    of the installed collection carrying 1.0.0's role-spec mistakes (a template string
    as an int's default, an entry point without a description) and a module doc that
    references an option that does not exist must fail and name each one."""
    root = JUDGES / "antsibull-lint" / "broken"
    if root.exists():
        shutil.rmtree(root)
    coll = root / "ansible_collections" / "vcloud" / "usage_meter"
    shutil.copytree(installed_collection(), coll, ignore=shutil.ignore_patterns("bin"))
    spec_file = coll / "roles" / "preflight" / "meta" / "argument_specs.yml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["argument_specs"]["main"]["options"]["usage_meter_port"]["default"] = "{{ ansible_port | default(22) }}"
    entry = next(e for e in spec["argument_specs"] if e != "main")
    spec["argument_specs"][entry].pop("description", None)
    spec_file.write_text(yaml.safe_dump(spec))
    module = coll / "plugins" / "modules" / "sshd.py"
    text = module.read_text()
    assert "short_description: " in text
    module.write_text(text.replace("short_description: ", "short_description: See O(no_such_option). ", 1))
    proc = lint_collection_docs(judges_bin, coll, root)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    for needle in ("usage_meter_port", f"{entry} -> description", "no_such_option"):
        assert needle in proc.stdout, f"{needle!r} not reported:\n{proc.stdout}\n{proc.stderr}"
