"""vcloud.usage_meter.inplace_upgrade (and preflight) end to end: real
`ansible-playbook playbooks/upgrade.yml` runs against simulated appliances
(tests/appliance/umsim.py), as an operations team would run them.

The appliances start as shipped: sshd stopped and disabled. The role opens SSH
through `usage_meter_console_sshd_tasks`, here the simulated appliance's
out-of-band console (files/umsim_console_sshd.yml), standing in for VMware
Tools guest operations, which the vCenter simulator cannot do
(test_snapshot.py covers the VMware side).

Secrets are vault-encrypted in the inventory, as the example inventory does,
and the first run is at -vvv so that a leak would show.

Runtime is kept low with a small bundle (4 MiB, ~1 s upgrade), short fault
timeouts set through role variables, and appliances that boot in ~1 s.
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from lib.playbook import REPO, WORK, ansible_env, run_playbook  # noqa: F401  (ansible_env: for debugging)
from lib.appliance_checks import api_version, sshd_state
from lib.timings import FAST

UPGRADE = REPO / "playbooks" / "upgrade.yml"
PREFLIGHT = REPO / "playbooks" / "preflight.yml"
CONSOLE = Path(__file__).resolve().parent / "files" / "umsim_console_sshd.yml"
UMSIM_PY = REPO / "tests" / "appliance" / "umsim.py"
VAULT_PASSWORD = "test-vault-password-for-um-roles"
UMS = "/opt/vmware/cloudusagemetering"

# --------------------------------------------------------------------------- helpers

class _Vault(str):
    """A value written as `!vault |` ciphertext in the YAML inventory."""


def _vault_representer(dumper, data):
    return dumper.represent_scalar("!vault", str(data), style="|")


yaml.SafeDumper.add_representer(_Vault, _vault_representer)


def vault(secret: str) -> _Vault:
    from ansible.parsing.vault import VaultLib, VaultSecret
    lib = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    return _Vault(lib.encrypt(secret).decode())


def write_inventory(tmp: Path, apps: dict, shar: Path, shar_sha: str, umsim_root: Path,
                    group_vars: dict | None = None, host_vars: dict | None = None) -> tuple[Path, Path]:
    """YAML inventory (group usage_meter) with vault-encrypted passwords; returns (inventory, vault file)."""
    hosts = {}
    for name, app in apps.items():
        hosts[name] = {
            "ansible_host": app.host,
            "ansible_user": "root",
            "ansible_password": vault(app.root_password),
            "usage_meter_api_password": vault(app.api_password),
            "usage_meter_api_ca_path": app.api_ca,
            "usage_meter_known_hosts": app.known_hosts,
            "umsim_name": app.name,
            **((host_vars or {}).get(name, {})),
        }
    gv = {
        "usage_meter_bundle": str(shar),
        "usage_meter_bundle_checksum": f"sha256:{shar_sha}",
        "usage_meter_console_sshd_tasks": str(CONSOLE),
        "usage_meter_log_dir": str(tmp / "logs"),
        "umsim_py": str(UMSIM_PY),
        "umsim_python": sys.executable,
        "umsim_root": str(umsim_root),
        **FAST,
        **(group_vars or {}),
    }
    inv = tmp / "inventory.yml"
    inv.write_text(yaml.safe_dump({"usage_meter": {"hosts": hosts, "vars": gv}}, sort_keys=False))
    vf = tmp / "vault-password"
    vf.write_text(VAULT_PASSWORD + "\n")
    vf.chmod(0o600)
    return inv, vf


# ansible-core 2.24 no longer injects facts as variables: the roles must not need it.
NO_FACT_VARS = {"ANSIBLE_INJECT_FACT_VARS": "False"}


def play(playbook: Path, inv: Path, vault_file: Path, **kw):
    kw["env"] = {**NO_FACT_VARS, **(kw.get("env") or {})}
    return run_playbook(playbook, inventory=inv, extra_args=["--vault-password-file", str(vault_file)], **kw)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def _records(res, task: str, host: str) -> list[dict]:
    """Records of the task named `task` (role tasks are shown as `<role> : <name>`)."""
    found = [r for r in res.records if r["host"] == host and (r["task"] == task or r["task"].endswith(" : " + task))]
    assert found, f"task {task!r} did not run on {host}\n{res.output[-3000:]}"
    return found


def result(res, task: str, host: str) -> dict:
    return _records(res, task, host)[-1]["result"]


def status(res, task: str, host: str) -> str:
    return _records(res, task, host)[-1]["status"]


def summary(res, host: str) -> dict:
    return result(res, "Report | Put the summary together", host)["ansible_facts"]["usage_meter_summary"]


def all_running(app) -> bool:
    cp = app.exec([f"{UMS}/scripts/status.sh"], timeout=30)
    return cp.returncode == 0 and "Running" in cp.stdout


def secrets_absent(output: str, apps) -> None:
    for app in apps:
        for secret in (app.root_password, app.api_password, VAULT_PASSWORD):
            assert secret not in output, f"a secret of {app.name} appears in the output"


@pytest.fixture
def tmp_play():
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "tmp").mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="roles-", dir=WORK / "tmp"))


@pytest.fixture(scope="module")
def bundle():
    sys.path.insert(0, str(UMSIM_PY.parent))
    import umsim  # noqa: PLC0415
    import hashlib
    path = umsim.make_shar(size="4M", seconds=1.0)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- tests

def test_fleet_41_and_42_upgraded_then_rerun_changes_nothing(appliance_factory, umsim_root, bundle, tmp_play):
    a41 = appliance_factory(version="4.1.0", sshd="off")
    a42 = appliance_factory(version="4.2.0", sshd="off")
    apps = {"um41": a41, "um42": a42}
    # um42 also runs the opt-in certificates phase; um41 leaves it to a person
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root,
                              host_vars={"um42": {"usage_meter_certificates": True}})

    res = play(UPGRADE, inv, vf, verbosity=3)
    assert res.rc == 0, res.output[-6000:]
    counts = recap(res.stdout)
    for host, app in apps.items():
        assert counts[host]["failed"] == 0 and counts[host]["changed"] > 0, counts
        s = summary(res, host)
        assert s["result"] == "upgraded", s
        assert s["from_version"] == app.version
        assert s["to_version"] == "4.3.0"
        phases = ["preflight", "sshd_access", "copy", "upgrade", "reboot", "verify"]
        assert s["phases"] == phases + (["certificates"] if host == "um42" else []), s
        # one hop, run through the hop loop, with its time
        assert [(h["from"], h["to"], h["result"]) for h in s["hops"]] == [(app.version, "4.3.0", "upgraded")], s
        assert s["hops"][0]["seconds"] > 0 and f"hops {app.version} -> 4.3.0 upgraded " in s["line"], s["line"]
        assert s["services"] and set(s["services"].values()) == {"Running"}, s
        assert s["sshd"].startswith("stopped, disabled"), s
        assert s["rolled_back"] is False
        cert_step = any("certificates" in step for step in s["manual_steps"])
        if host == "um42":
            assert s["certificates_accepted"] and not cert_step, s
            sid = app.api_login()
            assert app.api("GET", "/user_action", session=sid) == (200, []), "certificates still pending"
        else:
            assert s["certificates_accepted"] == [] and cert_step, s
        # the appliance itself: 4.3 through the API, services Running, the old
        # install kept, sshd back to stopped + disabled
        assert api_version(app) == "4.3.0"
        assert all_running(app)
        assert app.status()["cloudusagemetering_old"] is True
        assert sshd_state(app) == (False, False)
    secrets_absent(res.output, apps.values())
    assert "Summary of the fleet" in res.stdout and "um41: upgraded" in res.stdout

    again = play(UPGRADE, inv, vf)
    assert again.rc == 0, again.output[-4000:]
    counts = recap(again.stdout)
    for host, app in apps.items():
        assert counts[host]["changed"] == 0 and counts[host]["failed"] == 0, (host, counts)
        s = summary(again, host)
        assert s["result"] == "nothing to do", s
        # the opt-in certificates phase runs again (nothing pending: no change)
        assert s["phases"] == ["preflight"] + (["certificates"] if host == "um42" else []), s
        assert s["hops"] == [], s
        assert sshd_state(app) == (False, False)
    assert "nothing to do" in again.stdout


def test_check_mode_changes_nothing(appliance_factory, umsim_root, bundle, tmp_play):
    closed = appliance_factory(version="4.1.0", sshd="off")
    opened = appliance_factory(version="4.2.0", sshd="running")   # an admin ran `service sshd start`
    apps = {"closed": closed, "opened": opened}
    # "opened" logs in with its key (ansible_ssh_private_key_file), no password
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root, host_vars={
        "opened": {"ansible_password": None, "ansible_ssh_private_key_file": opened.client_key}})
    boot_ids = {h: a.boot_id() for h, a in apps.items()}

    res = play(UPGRADE, inv, vf, check=True)
    assert res.rc == 0, res.output[-6000:]
    counts = recap(res.stdout)
    for host, app in apps.items():
        assert counts[host]["failed"] == 0, counts
        assert summary(res, host)["result"] == "check mode: would upgrade"
        assert app.boot_id() == boot_ids[host], "check mode rebooted the appliance"
        assert api_version(app) == app.version
        cp = app.exec(["bash", "-c", f"ls {UMS}/ums-system-upgrade.shar* {UMS}-old 2>&1; ls /var/lib/vcloud-usage-meter 2>&1"])
        assert "No such file" in cp.stdout and "ums-system-upgrade.shar" not in cp.stdout.replace(
            f"cannot access '{UMS}/ums-system-upgrade.shar*'", ""), cp.stdout
    assert sshd_state(closed) == (False, False)
    assert sshd_state(opened) == (True, False)
    # the appliance with SSH open was looked at in check mode: the copy predicted a transfer
    assert result(res, "Copy | Put the upgrade bundle on the appliance", "opened")["changed"] is True
    # the closed one was not: its hops (4.1.0 -> 4.3.0 planned from the API's version) were not entered
    assert status(res, "Phases over SSH, hop by hop", "closed") == "skipped"
    assert summary(res, "closed")["hops"] == [{"from": "4.1.0", "to": "4.3.0", "seconds": None, "result": "not run"}]


# Each fault: (umsim fault, expected phase, extra group vars). All three are
# cheap here because the role's timeouts are variables: the shar fails at 50 %
# of a 1 s run, an Offline service costs usage_meter_verify_timeout (20 s), a
# reboot that never returns costs usage_meter_reboot_timeout (set to 20 s).
FAULTS = [
    pytest.param("shar-fail", "upgrade", {}, id="shar-fails"),
    pytest.param("service-offline", "verify", {}, id="service-stays-offline"),
    pytest.param("reboot-hang", "reboot", {"usage_meter_reboot_timeout": 20}, id="reboot-never-returns",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("fault,phase,extra", FAULTS)
def test_fleet_of_three_with_one_fault(appliance_factory, umsim_root, bundle, tmp_play, fault, phase, extra):
    good1 = appliance_factory(version="4.1.0", sshd="off")
    bad = appliance_factory(version="4.2.0", sshd="off", faults={fault: None})
    good2 = appliance_factory(version="4.2.0", sshd="off")
    apps = {"good1": good1, "bad": bad, "good2": good2}
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root, group_vars=extra)

    res = play(UPGRADE, inv, vf)
    assert res.rc != 0, res.output[-4000:]
    counts = recap(res.stdout)
    assert counts["bad"]["failed"] == 1, counts
    for host in ("good1", "good2"):
        assert counts[host]["failed"] == 0, counts
        assert summary(res, host)["result"] == "upgraded"
        assert api_version(apps[host]) == "4.3.0"
        assert sshd_state(apps[host]) == (False, False)

    s = summary(res, "bad")
    assert s["result"] == "failed"
    assert f"failed in phase {phase}" in s["error"], s["error"]
    logs = Path(s["logs"])
    assert logs == tmp_play / "logs" / "bad"
    failure = json.loads((logs / "failure.json").read_text())
    assert failure["failure"]["phase"] == phase
    text = (logs / "failure.txt").read_text()
    assert f"failed in phase {phase}" in text and (logs / "appliance_info.json").exists(), text
    fail_msg = result(res, "Fail the host when the upgrade failed", "bad")["msg"]
    assert phase in fail_msg and str(logs) in fail_msg
    if fault == "reboot-hang":
        # nobody can reach a host that never came back: the report says so and
        # what to do; sshd was left enabled for the reboot window
        assert s["sshd"].startswith("NOT restored"), s
        assert any("sshd could not be put back" in m for m in s["manual_steps"]), s
    else:
        assert s["sshd"].startswith("stopped, disabled"), s
        assert sshd_state(bad) == (False, False)
        # the full upgrade log was copied to the controller, under its
        # appliance path, and the failure message names it
        m = re.search(r"Full upgrade log saved as (\S+?)\.?(?:\s|$)", fail_msg)
        assert m, fail_msg
        saved = Path(m.group(1))
        assert saved.parent.parent.parent.name.startswith("cloudusagemetering"), saved
        assert saved.is_relative_to(logs) and saved.name.startswith("inplaceupgradeum-"), saved
        remote = "/" + str(saved.relative_to(logs))
        assert saved.read_bytes() == bad.exec(["cat", remote], check=True).stdout.encode(), remote
        assert f"# full upgrade log saved as: {saved}" in text, text
        assert str(saved) in s["error"], s["error"]
        if fault == "shar-fail":
            assert "# upgrade rc: 1" in text and "upgrade FAILED" in text, text
            assert remote == failure["result"]["upgrade_log"], failure
            assert "upgrade FAILED" in saved.read_text()
            assert (logs / "status.txt").exists()
        else:
            assert re.search(r"^vcdcol\s*:\s*Offline$", text, re.M | re.I), text
            status = json.loads((logs / "status.json").read_text())
            assert status.get("offline"), status


def test_preflight_alone_reports_and_changes_nothing(appliance_factory, umsim_root, bundle, tmp_play):
    ok = appliance_factory(version="4.2.0", sshd="running")
    small = appliance_factory(version="4.1.0", sshd="running", faults={"disk-small": "1M"})
    expired = appliance_factory(version="4.2.0", sshd="running", faults={"password-expired": None})
    apps = {"ok": ok, "small": small, "expired": expired}
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root)
    res = play(PREFLIGHT, inv, vf)
    counts = recap(res.stdout)
    assert counts["ok"]["failed"] == 0 and counts["ok"]["changed"] == 0, counts
    assert counts["small"]["failed"] == 1 and counts["expired"]["failed"] == 1, counts
    assert "not enough free space" in res.output
    assert "expired" in res.output
    for app in apps.values():
        assert sshd_state(app) == (True, False)
    assert "ok: ready" in res.stdout


def test_preflight_reads_the_version_through_the_api_with_ssh_closed(appliance_factory, umsim_root, bundle, tmp_play):
    """The version comes from vcloud.usage_meter.appliance_info (ssh: false) while SSH stays
    closed; a wrong API password and an API that does not answer are reported with what to do."""
    up = appliance_factory(version="4.1.0", sshd="off")
    wrong = appliance_factory(version="4.2.0", sshd="off")
    down = appliance_factory(version="4.2.0", sshd="off")
    apps = {"up": up, "wrong": wrong, "down": down}
    for app in apps.values():
        app.wait_api(60)
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root, host_vars={
        "wrong": {"usage_meter_api_password": "not-the-api-password", "usage_meter_fail_on_unknown_version": True},
        # nothing listens there: one try, reported at once (the verify phase retries after the reboot)
        "down": {"usage_meter_api_port": 8444}})
    res = play(PREFLIGHT, inv, vf)
    counts = recap(res.stdout)
    read = "Preflight | Read the version through the appliance API"
    found = {h: result(res, "Preflight | Record the findings", h)["ansible_facts"]["usage_meter_preflight"] for h in apps}

    assert counts["up"]["failed"] == 0 and counts["up"]["changed"] == 0, counts
    assert found["up"]["ssh_open"] is False and found["up"]["route"] == "console", found["up"]
    assert (found["up"]["version"], found["up"]["version_source"]) == ("4.1.0", "api"), found["up"]
    assert found["up"]["api_error"] is None and found["up"]["ok"] is True, found["up"]
    assert result(res, read, "up")["api"]["attempts"] == 1

    assert counts["wrong"]["failed"] == 1, counts
    assert found["wrong"]["version"] is None and found["wrong"]["version_source"] == "unknown", found["wrong"]
    assert "401" in found["wrong"]["api_error"] and "api_password" in found["wrong"]["api_error"], found["wrong"]
    assert result(res, read, "wrong")["api"]["attempts"] == 1     # an answer ends the retries
    assert any("cannot be read through the appliance API" in p and "What to do" in p
               for p in found["wrong"]["problems"]), found["wrong"]

    assert counts["down"]["failed"] == 0, counts
    assert result(res, read, "down")["api"]["attempts"] == 1
    assert "refused" in found["down"]["api_error"] and "api_port" in found["down"]["api_error"], found["down"]
    assert found["down"]["version_source"] == "unknown", found["down"]
    assert "API: appliance API" in res.stdout

    for app in apps.values():
        assert sshd_state(app) == (False, False)
    secrets_absent(res.output, apps.values())
    assert "not-the-api-password" not in res.output


def test_relative_bundle_of_the_installed_playbook_is_found_where_ansible_playbook_started(
        appliance_factory, umsim_root, bundle, tmp_play):
    """`ansible-playbook vcloud.usage_meter.preflight` with usage_meter_bundle relative:
    its playbook_dir is inside the installed collection, so the bundle is looked up
    in the folder ansible-playbook was started in; a missing one is named by the
    path that was looked at."""
    from lib.playbook import collections_path
    installed = collections_path() / "ansible_collections" / "vcloud" / "usage_meter" / "playbooks" / "preflight.yml"
    assert installed.is_file(), installed
    app = appliance_factory(version="4.2.0", sshd="running")
    shar, sha = bundle
    work = tmp_play / "operator"
    (work / "bundles").mkdir(parents=True)
    (work / "bundles" / "ums.shar").write_bytes(shar.read_bytes())
    inv, vf = write_inventory(tmp_play, {"um": app}, shar, sha, umsim_root,
                              group_vars={"usage_meter_bundle": "bundles/ums.shar"})
    res = play(installed, inv, vf, cwd=work)
    assert res.rc == 0, res.output[-4000:]
    found = result(res, "Preflight | Record the findings", "um")["ansible_facts"]["usage_meter_preflight"]
    assert found["bundle"] == str(work / "bundles" / "ums.shar") and found["ok"], found
    elsewhere = tmp_play / "elsewhere"
    elsewhere.mkdir()
    res = play(installed, inv, vf, cwd=elsewhere)
    assert res.rc != 0
    assert f"the upgrade bundle {elsewhere / 'bundles' / 'ums.shar'} does not exist" in res.output, res.output[-4000:]


# --------------------------------------------------------------------------- with vCenter (vcsim)

@pytest.fixture(scope="module")
def vmware_collections() -> Path:
    import subprocess
    proc = subprocess.run([str(REPO / "tools" / "install-vmware-deps.sh")], capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"tools/install-vmware-deps.sh failed:\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def vcenter(vmware_collections):
    from vcsim.vcsim import Vcsim, VcsimUnavailable
    try:
        sim = Vcsim.start()
    except VcsimUnavailable as exc:
        pytest.fail(f"vCenter simulator unavailable: {exc}")
    try:
        yield sim
    finally:
        sim.stop()


def test_snapshot_then_rollback_of_the_failed_host(appliance_factory, umsim_root, bundle, tmp_play,
                                                   vcenter, vmware_collections):
    """The whole role with the vCenter phases on: both VMs get the snapshot
    before anything changes; the one whose shar fails is reverted to it (and
    powered on again); the other is upgraded and its report says to delete the
    snapshot once metering is confirmed. The simulator's VMs are renamed to the
    appliances' inventory names (usage_meter_vm_name defaults to it)."""
    from lib.playbook import collections_path
    good = appliance_factory(version="4.1.0", sshd="off")
    bad = appliance_factory(version="4.2.0", sshd="off", faults={"shar-fail": None})
    apps = {"um-vm-good": good, "um-vm-bad": bad}
    vms = sorted(vcenter.vms())
    for vm, name in zip(vms[:2], apps):
        vcenter.rename_vm(vm, name)
    gv = {**vcenter.ansible_vars(), "usage_meter_snapshot": True, "usage_meter_rollback_on_failure": True}
    gv["usage_meter_vcenter_password"] = vault(gv["usage_meter_vcenter_password"])
    inv, vf = write_inventory(tmp_play, apps, *bundle, umsim_root, group_vars=gv)
    env = {"ANSIBLE_COLLECTIONS_PATH": f"{collections_path()}:{vmware_collections}"}

    res = play(UPGRADE, inv, vf, env=env)
    assert res.rc != 0, res.output[-4000:]
    counts = recap(res.stdout)
    assert counts["um-vm-good"]["failed"] == 0 and counts["um-vm-bad"]["failed"] == 1, counts
    # one snapshot per hop, named for it; the first hop's is taken before SSH is opened (the API gave
    # the version), so that a revert finds sshd as it was, and the hop reuses it by name
    snap = "usage-meter-inplace-upgrade 4.1.0 to 4.3.0"

    s = summary(res, "um-vm-good")
    assert s["result"] == "upgraded" and s["snapshot"] == snap and s["rolled_back"] is False, s
    assert s["phases"][:4] == ["preflight", "snapshot", "sshd_access", "snapshot"], s
    assert any(f"Delete snapshot {snap}" in m for m in s["manual_steps"]), s
    assert [x["name"] for x in vcenter.snapshot_tree("um-vm-good")] == [snap]
    assert api_version(good) == "4.3.0"

    snap = "usage-meter-inplace-upgrade 4.2.0 to 4.3.0"
    s = summary(res, "um-vm-bad")
    assert s["result"] == "failed" and s["rolled_back"] is True, s
    assert s["hops"] == [{"from": "4.2.0", "to": "4.3.0", "seconds": s["hops"][0]["seconds"], "result": "failed"}], s
    assert "failed in phase upgrade" in s["error"] and f"Rolled back to snapshot {snap}" in s["error"], s
    assert s["sshd"] == "back in its snapshot state", s
    step = next(m for m in s["manual_steps"] if m.startswith("The VM was reverted"))
    assert "sshd running and enabled" not in step, step      # its snapshot was taken with sshd closed
    tree = vcenter.snapshot_tree("um-vm-bad")
    assert [x["name"] for x in tree] == [snap] and tree[0]["current"], tree
    assert vcenter.power_state("um-vm-bad") == "poweredOn"
    assert (Path(s["logs"]) / "failure.json").exists()
    secrets_absent(res.output, apps.values())
    assert "vcsim-Passw0rd!" not in res.output
