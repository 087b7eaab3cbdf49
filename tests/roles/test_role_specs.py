"""Static checks of the roles (no appliance): every variable of defaults/main.yml
is documented in meta/argument_specs.yml with the same default, the variables the
two roles share have the same defaults, secrets are marked no_log, and every
task file the role includes exists or is the vCenter engineer's documented file."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO

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
    tasks = ROLES / "inplace_upgrade" / "tasks"
    main = (tasks / "main.yml").read_text()
    for phase in ("preflight", "snapshot_phase", "sshd_access", "copy", "upgrade", "reboot", "verify",
                  "certificates", "failure", "restore_sshd", "report"):
        assert f"import_tasks: {phase}.yml" in main, phase
        assert (tasks / f"{phase}.yml").is_file(), phase
    for tag in ("preflight", "snapshot", "sshd_access", "copy", "upgrade", "reboot", "verify",
                "certificates", "restore_sshd", "report"):
        assert f"tags: [{tag}" in main, tag
