"""Static checks of the roles (no appliance): every variable of defaults/main.yml
is documented in meta/argument_specs.yml with the same default, the variables the
two roles share have the same defaults, secrets are marked no_log, and every
task file the role includes exists or is the vCenter engineer's documented file."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, run_playbook

ROLES = REPO / "roles"


def load(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("role", ["preflight", "inplace_upgrade"])
def test_defaults_are_documented_with_the_same_default(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    spec = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec), (set(defaults) ^ set(spec))
    for name, value in defaults.items():
        assert name.startswith("usage_meter_"), name
        assert spec[name].get("default") == value, (name, value, spec[name].get("default"))
        assert spec[name].get("description"), name


def test_shared_variables_have_the_same_defaults():
    pf = load(ROLES / "preflight" / "defaults" / "main.yml")
    up = load(ROLES / "inplace_upgrade" / "defaults" / "main.yml")
    assert set(pf) <= set(up)
    for name in pf:
        assert pf[name] == up[name], name


def test_derived_values_both_roles_keep_are_the_same():
    """A value both roles derive (vars/main.yml) is worked out the same way in each:
    the upgrade role runs the preflight role as its first phase."""
    pf = load(ROLES / "preflight" / "vars" / "main.yml")
    up = load(ROLES / "inplace_upgrade" / "vars" / "main.yml")
    shared = set(pf) & set(up)
    assert {"__usage_meter_ssh_port", "__usage_meter_connection"} <= shared
    for name in shared:
        assert pf[name] == up[name], name
    for name in [*pf, *up]:
        assert name.startswith("__usage_meter_"), name


@pytest.mark.parametrize("role", ["preflight", "inplace_upgrade"])
def test_secrets_are_strings_without_role_level_no_log(role):
    """Before ansible-core 2.19, role argument validation of a no_log option crashes
    on an inline-vaulted value ("Unknown parameter type: AnsibleVaultEncryptedUnicode"),
    so a vaulted inventory could not run the role there. Validation prints no values,
    and a str conversion cannot fail (the only error that would quote a value), so the
    secrets are plain str options; the modules mask them (test_full_play_at_vvv_shows_no_secret,
    tests/test_core_matrix.py test_whole_upgrade_play on every ansible-core line)."""
    spec = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    secrets = [n for n in spec if n.endswith(("password", "passphrase"))]
    assert len(secrets) >= 4, secrets
    for name in secrets:
        assert spec[name].get("type") == "str" and "no_log" not in spec[name], name


def test_phase_files_exist():
    """main.yml runs the phases around the hops, hop.yml (looped over the hops) the
    phases of one hop; each phase keeps its tag."""
    tasks = ROLES / "inplace_upgrade" / "tasks"
    main = (tasks / "main.yml").read_text()
    hop = (tasks / "hop.yml").read_text()
    assert "include_tasks: hop.yml" in main and "loop_var: __usage_meter_hop" in main
    for text, phases, tags in (
            (main, ("preflight", "sshd_access", "certificates", "failure", "restore_sshd", "report"),
             ("preflight", "sshd_access", "certificates", "restore_sshd", "report")),
            (hop, ("snapshot_phase", "copy", "upgrade", "reboot", "verify"),
             ("snapshot", "copy", "upgrade", "reboot", "verify"))):
        for phase in phases:
            assert f"import_tasks: {phase}.yml" in text, phase
            assert (tasks / f"{phase}.yml").is_file(), phase
        for tag in tags:
            assert f"tags: [{tag}" in text, tag


# --------------------------------------------------------------------------- one hash per bundle (issue 23)

def _bundle_play(tmp_path: Path, bundles: dict[str, str]):
    """preflight's bundle.yml for a fleet of local hosts, each with its bundle (a
    relative name resolves where ansible-playbook started: tmp_path)."""
    digest = "sha256:" + "0" * 64
    hosts = {h: {"ansible_connection": "local", "usage_meter_bundle": b, "usage_meter_bundle_checksum": digest}
             for h, b in bundles.items()}
    tasks = [
        {"name": "Look at the bundle", "ansible.builtin.include_role": {
            "name": "vcloud.usage_meter.preflight", "tasks_from": "bundle.yml", "public": True}},
        {"name": "The bundle each host sees", "ansible.builtin.debug": {"msg": "{{ __usage_meter_pf_bundle }}"}},
    ]
    res = run_playbook(tasks, hosts, env={"ANSIBLE_INJECT_FACT_VARS": "False"}, cwd=tmp_path, timeout=120)
    assert res.rc == 0, res.output[-3000:]
    looked = [r for r in res.records if r["task"].endswith("Look at each distinct upgrade bundle on the controller once")]
    hashed = [i["stat"]["path"] for r in looked for i in r["result"]["results"] if i["stat"].get("checksum")]
    seen = {r["host"]: r["result"]["msg"] for r in res.records if r["task"] == "The bundle each host sees"}
    return hashed, seen


def test_a_fleet_sharing_one_bundle_hashes_it_once(tmp_path):
    shar = tmp_path / "ums-system-upgrade.shar"
    shar.write_bytes(b"#!/bin/sh\n" * 100)
    hashed, seen = _bundle_play(tmp_path, {"um1": str(shar), "um2": shar.name, "um3": str(shar)})
    assert hashed == [str(shar)]
    assert sorted(seen) == ["um1", "um2", "um3"]
    for stat in seen.values():
        assert stat["exists"] is True and stat["size"] == 1000 and len(stat["checksum"]) == 64, stat


def test_two_bundles_are_hashed_once_each(tmp_path):
    one, two = tmp_path / "one.shar", tmp_path / "two.shar"
    one.write_bytes(b"1")
    two.write_bytes(b"22")
    hashed, seen = _bundle_play(tmp_path, {"um1": str(one), "um2": str(two), "um3": str(two), "um4": str(one)})
    assert sorted(hashed) == [str(one), str(two)]
    assert {h: s["size"] for h, s in seen.items()} == {"um1": 1, "um2": 2, "um3": 2, "um4": 1}
