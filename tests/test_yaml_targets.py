"""Targets for the YAML of roles/ and playbooks/ (issue 24): decisions live in
filter plugins and modules, so the Jinja left in the YAML stays short.

An expression is the templated part of one YAML value, from its first
`{{`/`{%` to its last `}}`/`%}`. Held here: none over 200 characters, at most
5 over 120, at most 80 `| default(` (templates/ counted too), one naming style
for the roles' internal variables (`__usage_meter_*`), and every registered
result read somewhere.

`python3 tests/test_yaml_targets.py` prints the counts (the closing note of the
issue gives them before and after)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

try:
    from lib.playbook import REPO
except ImportError:  # run as a script
    REPO = Path(__file__).resolve().parents[1]

TREES = [REPO / "roles", REPO / "playbooks"]
# Facts the roles publish for users, documented in the roles' README.md.
PUBLISHED = {"usage_meter_preflight", "usage_meter_summary", "usage_meter_snapshot_taken",
             "usage_meter_rolled_back", "usage_meter_sshd_started_by_vmware_tools"}
DEFAULT_RE = re.compile(r"\|\s*default\(")


def yaml_files() -> list[Path]:
    return sorted(p for t in TREES for p in t.rglob("*.yml"))


def all_files() -> list[Path]:
    return sorted(p for t in TREES for p in t.rglob("*") if p.is_file())


def scalars(node):
    """Every string in a YAML document (keys and values)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from scalars(k)
            yield from scalars(v)
    elif isinstance(node, list):
        for v in node:
            yield from scalars(v)
    elif isinstance(node, str):
        yield node


def expression(value: str) -> str | None:
    starts = [i for i in (value.find("{{"), value.find("{%")) if i >= 0]
    ends = [i + 2 for i in (value.rfind("}}"), value.rfind("%}")) if i >= 0]
    if not starts or not ends or max(ends) <= min(starts):
        return None
    return value[min(starts):max(ends)]


def expressions() -> list[tuple[str, str]]:
    out = []
    for path in yaml_files():
        for value in scalars(yaml.safe_load(path.read_text())):
            expr = expression(value)
            if expr is not None:
                out.append((str(path.relative_to(REPO)), expr))
    return out


def task_lists(node):
    """Every task (a dict with a name or an action) in a task file or a playbook."""
    if isinstance(node, list):
        for item in node:
            yield from task_lists(item)
    elif isinstance(node, dict):
        if "name" in node or "register" in node:
            yield node
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            if isinstance(node.get(key), list):
                yield from task_lists(node[key])


def internal_names() -> dict[str, set[str]]:
    """Variables the roles and playbooks set for themselves: registered results,
    set_fact names, task and block vars; by file."""
    names: dict[str, set[str]] = {}
    for path in yaml_files():
        if "tasks" not in path.parts and "playbooks" not in path.parts and "vars" not in path.parts:
            continue
        doc = yaml.safe_load(path.read_text())
        found = set(doc) if "vars" in path.parts and isinstance(doc, dict) else set()
        for task in task_lists(doc):
            if isinstance(task.get("register"), str):
                found.add(task["register"])
            found.update(task.get("vars") or {})
            facts = task.get("ansible.builtin.set_fact") or {}
            found.update(k for k in facts if k not in ("cacheable",))
        names[str(path.relative_to(REPO))] = found
    return names


def naming_styles(names: set[str]) -> set[str]:
    styles = set()
    for n in names:
        if n.startswith("__usage_meter_"):
            styles.add("__usage_meter_*")
        elif n.startswith("_um_"):
            styles.add("_um_*")
        else:
            styles.add("plain")
    return styles


def counts() -> dict[str, int]:
    exprs = expressions()
    internal = set().union(*internal_names().values()) - PUBLISHED
    return {
        "failure.yml lines": len((REPO / "roles/inplace_upgrade/tasks/failure.yml").read_text().splitlines()),
        "expressions > 120": sum(len(e) > 120 for _, e in exprs),
        "expressions > 200": sum(len(e) > 200 for _, e in exprs),
        "| default(": sum(len(DEFAULT_RE.findall(p.read_text())) for p in all_files()),
        "internal naming styles": len(naming_styles(internal)),
    }


def test_no_expression_over_200_characters():
    long = [(f, len(e)) for f, e in expressions() if len(e) > 200]
    assert long == []


def test_at_most_5_expressions_over_120_characters():
    long = [(f, len(e)) for f, e in expressions() if len(e) > 120]
    assert len(long) <= 5, long


def test_at_most_80_defaults():
    per_file = {str(p.relative_to(REPO)): len(DEFAULT_RE.findall(p.read_text())) for p in all_files()}
    assert sum(per_file.values()) <= 80, sorted(per_file.items(), key=lambda kv: -kv[1])


def test_failure_path_is_at_most_80_lines():
    assert counts()["failure.yml lines"] <= 80


def test_internal_variables_have_one_naming_style():
    odd = {f: sorted(n for n in ns - PUBLISHED if not n.startswith("__usage_meter_"))
           for f, ns in internal_names().items()}
    assert {f: ns for f, ns in odd.items() if ns} == {}


def test_every_registered_result_is_read():
    texts = {p: p.read_text() for p in all_files()}
    unread = []
    for path in yaml_files():
        for task in task_lists(yaml.safe_load(texts[path])):
            reg = task.get("register")
            if not isinstance(reg, str):
                continue
            uses = sum(len(re.findall(rf"\b{re.escape(reg)}\b", t)) for t in texts.values())
            if uses <= 1:  # the register line itself
                unread.append((str(path.relative_to(REPO)), reg))
    assert unread == []


# Inventory and magic variables the roles may read; anything else named ansible_*
# would be an injected fact, gone with INJECT_FACTS_AS_VARS=False (ansible-core
# 2.24): facts are read as ansible_facts[...] (the role tests run with injection off).
NOT_FACTS = {"ansible_check_mode", "ansible_failed_result", "ansible_failed_task", "ansible_host", "ansible_password",
             "ansible_play_hosts", "ansible_port", "ansible_ssh_pass", "ansible_ssh_private_key_file", "ansible_user",
             "ansible_facts"}


def test_no_fact_is_read_as_an_injected_variable():
    read = {(str(p.relative_to(REPO)), n) for p in all_files() for n in re.findall(r"\bansible_[a-z_]+", p.read_text())}
    assert {(f, n) for f, n in read if n not in NOT_FACTS} == set()


def test_the_counter_sees_what_it_counts():
    """The helpers find a long expression, a default and a plain internal name."""
    assert expression("a {{ x | default(1) }} b {% if y %}c{% endif %} d") == \
        "{{ x | default(1) }} b {% if y %}c{% endif %}"
    assert expression("no template") is None
    assert naming_styles({"__usage_meter_a", "_um_b", "c"}) == {"__usage_meter_*", "_um_*", "plain"}
    assert len(expressions()) > 50


if __name__ == "__main__":
    for k, v in counts().items():
        print(f"{k}: {v}")
