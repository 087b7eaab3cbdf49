"""The repository holds, in its own words, what its code relies on.

- No file of the repository refers to a file outside it (reference material a
  person who clones the repository does not have).
- Every `docs/<file>.md` named anywhere exists, and every section named as
  `docs/<file>.md, "Section"` (as code comments do) is a heading of that file.
- Every relative Markdown link to a `.md` file resolves.

- BENCHMARKS.md is the rendering of bench/results.json, short enough to read in
  two minutes, with every headline figure and verdict in its table.
- The demo finds each appliance's summary by what the role publishes, and fails
  when one is missing.

Fast: reads the files git lists (tracked, plus new files not ignored), no
appliance, no build. This file itself is left out of the scan: its examples of
bad references are deliberate, and the tests at its end prove the checker on them.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SELF = Path(__file__).resolve().relative_to(REPO).as_posix()

# The reference material that lies outside the repository: the folder beside the
# checkout and the notes in it. Spelled in pieces: this file names them only to
# forbid them, and must not itself read as a pointer to them.
_SIBLING = "sha" "red"
_OUTSIDE = ("APPLIANCE" ".md", "ANSIBLE_PROTOCOL" ".md", "HARNESS" "_NOTES", "README" "-static")
# A reference to that material: a path into the folder, or a note's name (the
# repository's own docs/appliance.md is told apart by _is_own_doc).
FOREIGN = re.compile(r"(?<![\w-])" + _SIBLING + "/|" + "|".join(re.escape(n) for n in _OUTSIDE), re.IGNORECASE)
# A docs/ path as the code and the docs spell it: `docs/x.md`, not `src/docs/x.md`.
DOC_PATH = re.compile(r"(?<![\w./-])docs/([\w.-]+)\.md\b")
# `docs/x.md, "Section"`, the quote possibly on the next comment line.
DOC_SECTION = re.compile(
    r"(?<![\w./-])docs/([\w.-]+)\.md`?,[ \t]*"
    r"(?:\n[ \t]*(?://[/!]?|#+|\*|--)?[ \t]*)?"
    r"\"([^\"\n]{1,100})\""
)
# [text](target.md) or [text](target.md#anchor), relative targets only.
MD_LINK = re.compile(r"\]\(([^)\s#]+\.md)(?:#[^)\s]*)?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def repo_files(root: Path) -> list[str]:
    """Files git knows in `root`: tracked ones and new ones not ignored."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout
    return sorted({p for p in out.decode("utf-8", "surrogateescape").split("\0") if p})


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary, unreadable or deleted file."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _is_own_doc(root: Path, rel: str, text: str, m: re.Match) -> bool:
    """A case-insensitive `appliance.md` hit that is the repository's own
    docs/appliance.md: spelled in lower case, and either `docs/appliance.md` or
    a relative name that resolves next to the referring file."""
    hit = m.group(0)
    if hit != "appliance.md":
        return False
    if text[max(0, m.start() - 5):m.start()] == "docs/":
        return (root / "docs" / hit).is_file()
    return (root / rel).parent.joinpath(hit).is_file()


def foreign_references(root: Path, rel: str, text: str) -> list[str]:
    found = []
    for m in FOREIGN.finditer(text):
        if _is_own_doc(root, rel, text, m):
            continue
        found.append(f"{rel}:{line_of(text, m.start())}: refers to {m.group(0)!r}, which is not in the repository")
    return found


def headings(text: str) -> list[str]:
    """Markdown headings, outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            h = HEADING.match(line)
            if h:
                out.append(h.group(1))
    return out


def doc_references(root: Path, rel: str, text: str) -> list[str]:
    problems = []
    for m in DOC_PATH.finditer(text):
        if not (root / "docs" / f"{m.group(1)}.md").is_file():
            problems.append(f"{rel}:{line_of(text, m.start())}: docs/{m.group(1)}.md does not exist")
    for m in DOC_SECTION.finditer(text):
        doc = root / "docs" / f"{m.group(1)}.md"
        section = m.group(2)
        if doc.is_file() and not any(section in h for h in headings(doc.read_text(encoding="utf-8"))):
            problems.append(f"{rel}:{line_of(text, m.start())}: docs/{m.group(1)}.md has no heading containing {section!r}")
    if rel.endswith(".md"):
        for m in MD_LINK.finditer(text):
            target = m.group(1)
            if "://" in target or target.startswith("/"):
                continue
            if not ((root / rel).parent / target).is_file():
                problems.append(f"{rel}:{line_of(text, m.start())}: link to {target} does not resolve")
    return problems


def problems(root: Path, files: list[str]) -> list[str]:
    out = []
    for rel in files:
        text = read_text(root / rel)
        if text is None:
            continue
        out += foreign_references(root, rel, text)
        out += doc_references(root, rel, text)
    return out


# --- the repository ---------------------------------------------------------------

def test_no_file_refers_outside_the_repository_and_every_docs_reference_resolves():
    files = [f for f in repo_files(REPO) if f != SELF]
    assert "docs/appliance.md" in files and "docs/ansible-protocol.md" in files
    found = problems(REPO, files)
    assert not found, "\n".join(found)


def test_the_sections_the_code_points_at_are_found():
    """The scan sees the section references it is meant to check (a regex that
    matched nothing would pass the test above vacuously)."""
    seen = set()
    for rel in repo_files(REPO):
        text = read_text(REPO / rel) if rel != SELF else None
        if text:
            seen |= {(m.group(1), m.group(2)) for m in DOC_SECTION.finditer(text)}
    assert {("appliance", "REST API"), ("ansible-protocol", "no_log"),
            ("ansible-protocol", "ansible-test offline"), ("DEVELOPING", "SSH transport")} <= seen, seen


def test_appliance_contract_marks_every_fact():
    """Each table row of the contract is marked documented or guess."""
    text = (REPO / "docs" / "appliance.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines()
            if line.startswith("|") and not re.match(r"^\|\s*(-+\s*\|\s*)+$", line)
            and not re.match(r"^\|\s*(#|fact)\s*\|", line)]
    assert len(rows) > 30, rows
    unmarked = [r for r in rows if not re.search(r"\|\s*(documented|guess)\b", r)]
    assert not unmarked, "\n".join(unmarked)


# --- the checker can fail -------------------------------------------------------------

@pytest.fixture()
def fake_repo(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "appliance.md").write_text("# The appliance\n\n## REST API\n```sh\n# Not a heading\n```\n")
    (tmp_path / "docs" / "DEVELOPING.md").write_text("# Dev\n\nSee [the contract](appliance.md).\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def check(root: Path, rel: str, text: str) -> list[str]:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    return problems(root, repo_files(root))


def test_a_clean_fake_repository_passes(fake_repo):
    assert check(fake_repo, "src/a.rs", '//! see docs/appliance.md, "REST API"; docs/DEVELOPING.md\n') == []


@pytest.mark.parametrize("text, expected", [
    (f"copied from ../{_SIBLING}/reference/appliance-sketch\n", f"'{_SIBLING}/'"),
    (f"# facts from /work/{_SIBLING}/reference/README.md\n", f"'{_SIBLING}/'"),
    (f"as {_OUTSIDE[0]} says\n", f"'{_OUTSIDE[0]}'"),
    (f"as {_OUTSIDE[0].capitalize()} says\n", f"'{_OUTSIDE[0].capitalize()}'"),
    (f"as {_OUTSIDE[0].lower()} says\n", f"'{_OUTSIDE[0].lower()}'"),  # lower case, but nothing of that name here
    (f"see {_OUTSIDE[1]}\n", f"'{_OUTSIDE[1]}'"),
    (f"{_OUTSIDE[2]}.md section C\n", f"'{_OUTSIDE[2]}'"),
    (f"see tools/{_OUTSIDE[3].lower()}.md\n", f"'{_OUTSIDE[3].lower()}'"),
])
def test_foreign_references_are_reported(fake_repo, text, expected):
    found = check(fake_repo, "src/a.rs", text)
    assert len(found) == 1 and expected in found[0] and found[0].startswith("src/a.rs:1:"), found


def test_own_docs_names_are_not_foreign(fake_repo):
    text = "docs/appliance.md and, from docs/, [x](appliance.md)\n"
    assert check(fake_repo, "docs/other.md", text) == []


def test_a_missing_doc_is_reported(fake_repo):
    found = check(fake_repo, "roles/x/tasks/main.yml", "# see docs/nothing-here.md\n")
    assert found == ["roles/x/tasks/main.yml:1: docs/nothing-here.md does not exist"], found


@pytest.mark.parametrize("text", [
    '//! docs/appliance.md, "REST APIs"\n',
    '# (docs/appliance.md, "Not a heading")\n',
    '//! see\n//! docs/appliance.md,\n//! "Missing section"). More.\n',
])
def test_a_missing_section_is_reported(fake_repo, text):
    found = check(fake_repo, "src/a.rs", text)
    assert len(found) == 1 and "has no heading containing" in found[0], found


def test_a_broken_markdown_link_is_reported(fake_repo):
    found = check(fake_repo, "docs/other.md", "[gone](gone.md) [ok](appliance.md#rest-api)\n")
    assert found == ["docs/other.md:1: link to gone.md does not resolve"], found


# --- the benchmark report: short, rendered from the committed raw results ---------------

def _load(rel: str):
    """A script of the repository (bench/render.py, demo/demo.py) as a module."""
    spec = importlib.util.spec_from_file_location(Path(rel).stem + "_under_test", REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod        # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench_results() -> dict:
    return json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def report() -> str:
    return (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")


def test_benchmarks_md_is_the_rendering_of_the_committed_results(bench_results, report):
    """No hand edits, no stale report: bench/render.py on bench/results.json gives BENCHMARKS.md
    byte for byte (after a change to either, run `.venv/bin/python bench/render.py`)."""
    assert _load("bench/render.py").render(bench_results) == report


def test_benchmarks_md_reads_in_two_minutes(report):
    lines = report.splitlines()
    assert len(lines) <= 150, f"BENCHMARKS.md has {len(lines)} lines"
    long = [f"{i}: {len(x)} characters" for i, x in enumerate(lines, 1) if len(x) > 300]
    assert not long, long
    refs = re.findall(r"(?<![\w&])#\d+\b|\bissues? \d+", report, re.IGNORECASE)
    assert not refs, f"issue numbers a user cannot look up: {refs}"
    assert "```json" not in report, "the raw results belong in bench/results.json"


def _table(report: str) -> dict:
    """{figure number: its table row} of the results table."""
    rows = {}
    for line in report.split("## Results", 1)[1].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 7 and re.fullmatch(r"\d+b?", cells[0]):
            rows[cells[0]] = cells
    return rows


def _expected(out: dict) -> dict:
    """Per figure: the headline figures and the verdict, worked out here from the raw results."""
    c, o, r, fl, co, d, pl, h = (out[k] for k in ("copy", "overhead", "reboot", "fleet", "cost", "distance",
                                                   "physical_limit", "hashes"))
    cm, om, rm, raw = c["median"], o["median"], r["median"], fl["raw"]
    mbs = {k: c["bytes"] / 1e6 / cm[k] for k in ("direct", "scp", "acopy_task")}
    st = c["streams"]
    st_mbs = [f"{c['bytes'] / 1e6 / st[k]['median'][w]:.0f} MB/s" for k in ("0", "50") for w in ("streams2", "scp")]
    st_ratio = {k: st[k]["median"]["scp"] / st[k]["median"]["streams2"] for k in ("0", "50")}
    cpu = {k: co["raw"][k]["cpu_per_appliance"] for k in co["runs"]}
    met = {True: "MET", False: "NOT MET"}
    share = pl["default"]["overhead_s"] / pl["default"]["wall"]

    def against(role, hand, bar):
        return ([f"{role['wall']:.1f} s", f"{hand['wall']:.1f} s", f"{role['wall'] / hand['wall']:.2f}×"],
                met[role["wall"] <= bar * hand["wall"]])

    w0, unstaged = d["window_local"], d["role_local"]["wall"]
    return {
        "1": (st_mbs + [f"{x:.2f}×" for x in st_ratio.values()] + [f"{mbs['direct'] / mbs['acopy_task']:.2f}×"],
              met[min(st_ratio.values()) >= 1.0 and mbs["direct"] >= 2 * mbs["acopy_task"]]),
        "2": ([f"{cm['recopy']:.3f} s", f"{cm['recopy'] / cm['direct']:.3f}"], met[cm["recopy"] <= 0.3 * cm["direct"]]),
        "3": ([f"{om[k] * 1000:.0f} ms" for k in ("ours_task", "ping_task")] + [f"{om['ours_task'] / om['ping_task']:.3f}"],
              met[om["ours_task"] <= 0.5 * om["ping_task"]]),
        "3b": ([f"{out['sizes']['binaries']['x86_64']['bytes'] / 2**20:.1f} MiB"],
               met[out["tarball"]["bytes"] <= 20e6]),
        "4": ([f"{rm['ours_direct']:.3f} s", f"{rm['builtin']:.3f} s"], met[rm["ours_direct"] <= 1 and rm["ours_task"] <= 1]),
        "5": ([f"{raw[str(n)]['wall']:.1f} s" for n in fl["sizes"]] + [f"{raw['10']['wall'] / raw['1']['wall']:.2f}×"],
              met[raw["10"]["wall"] <= 1.5 * raw["1"]["wall"]]),
        "6": ([f"{max(c['raw']['rss']) / 1024:.1f} MiB"], met[max(c["raw"]["rss"]) <= 32 * 1024]),
        "7": ([f"{raw['1']['wall']:.1f} s", f"{raw['1_no_settle']['wall']:.1f} s"], "—"),
        "8": ([f"{v:.2f} s" for v in cpu.values()] + [f"{cpu['50'] / cpu['1']:.2f}×"], met[cpu["50"] <= 1.2 * cpu["1"]]),
        "8b": ([f"{co['raw']['50']['peak_pss'] / 2**20:.0f} MiB"], "—"),
        "9": against(d["role"], d["hand"], 1.2),
        "9b": against(d["role_local"], d["hand_local"], 1.2),
        "10": ([f"{pl['default'][k]:.1f} s" for k in ("wall", "overhead_s", "floor_s")] + [f"{share * 100:.0f} %"],
               met[share <= 0.25]),
        "11": against(d["window"]["role"], d["window"]["hand"], 1.3),
        "11b": against(w0["role"], w0["hand"], 1.3),
        "12": ([f"{w0['stage']['wall']:.1f} s", f"{w0['role']['wall']:.1f} s", f"{unstaged:.1f} s",
                f"{w0['role']['wall'] / unstaged:.2f}×"], "—"),
        "13": ([f"{round(h['hashes'])} per file", f"{h['passes']:.2f}"], met[round(h["hashes"]) <= 1]),
    }


def test_every_headline_figure_and_verdict_is_in_the_table(bench_results, report):
    rows = _table(report)
    expected = _expected(bench_results["out"])
    assert sorted(rows) == sorted(expected), "one table row per figure, numbered as bench/README.md numbers them"
    for num, (figures, verdict) in expected.items():
        text = " | ".join(rows[num][2:5])
        missing = [x for x in figures if x not in text]
        assert not missing, f"figure {num}: {missing} not in {rows[num]}"
        assert rows[num][6] == verdict, f"figure {num}: verdict {rows[num][6]!r}, the results say {verdict!r}"


def test_every_bar_not_met_has_its_paragraph(report):
    not_met = [num for num, cells in _table(report).items() if cells[6] == "NOT MET"]
    section = report.split("## Bars not met", 1)[1].split("\n## ", 1)[0]
    assert not_met and all(f"**{num}. " in section for num in not_met), (not_met, section)


# --- the demo cannot break silently ----------------------------------------------------

def _summary(host: str) -> dict:
    return {"host": host, "result": "upgraded", "from_version": "4.2.0", "to_version": "4.3.0", "seconds": 61.5,
            "services": {"ums": "Running", "api": "Running"}, "sshd": "stopped, disabled", "rolled_back": False,
            "certificates_accepted": [], "logs": None, "manual_steps": [], "error": None}


def test_the_demo_prints_the_summary_the_role_publishes(tmp_path, capsys):
    """Found by what the role publishes (set_stats data, the fact), whatever its tasks are named."""
    records = [{"task": "renamed", "host": "um42", "status": "ok",
                "result": {"ansible_stats": {"data": {"usage_meter_summary": {"um42": _summary("um42")}}}}},
               {"task": "also renamed", "host": "um41", "status": "ok",
                "result": {"ansible_facts": {"usage_meter_summary": {**_summary("um41"), "line": "as the role says"}}}}]
    (tmp_path / "results.json").write_text(json.dumps(records))
    assert _load("demo/demo.py").main(["summary", str(tmp_path / "results.json"), "um41", "um42"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["  um41: as the role says",
                     "  um42: upgraded | 4.2.0 -> 4.3.0 | 61.5 s | services 2/2 Running | sshd stopped, disabled | "
                     "certificates accepted: 0 | rolled back: no"], lines


def test_the_demo_fails_loudly_without_a_summary(tmp_path, capsys):
    records = [{"task": "One line per appliance", "host": "localhost", "status": "ok", "result": {"msg": ["um41: upgraded"]}}]
    (tmp_path / "results.json").write_text(json.dumps(records))
    assert _load("demo/demo.py").main(["summary", str(tmp_path / "results.json"), "um41"]) == 1
    err = capsys.readouterr().err
    assert "demo: no usage_meter_summary for um41" in err, err
