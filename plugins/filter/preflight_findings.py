# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vcloud.usage_meter.preflight_findings and vcloud.usage_meter.version_reaches:
what the preflight decides (the version and where it came from, whether the
target is reached, every problem that must stop the upgrade), from what
roles/preflight read. The one place where a version is compared with the target.

Pure: no I/O; tests/unit/test_preflight_findings.py covers every problem.
Several filters in one file: each is documented in its own sidecar file
(preflight_findings.yml, version_reaches.yml, preflight_line.yml,
bundle_checks.yml, bundle_stat.yml), as ansible-doc reads them."""

from __future__ import annotations

import re

from ansible.module_utils.common.text.formatters import bytes_to_human
from ansible.module_utils.parsing.convert_bool import boolean

_MINOR = re.compile(r"^(\d+\.\d+).*$")
_CHECKSUM = re.compile(r"^(sha256:)?[0-9a-fA-F]{64}$")


def _bool(value) -> bool:
    """As Ansible's bool filter reads a value: true, yes, on, 1 (any case) are true."""
    return boolean(value, strict=False)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def version_reaches(version, target) -> bool:
    """Whether `version` is the target version: the same, or the target followed by
    a dot or a space and more (4.3.0, 4.3.0.0 build 123, "4.3 (not read: ...)")."""
    version, target = str(version if version is not None else ""), str(target)
    return version == target or re.match("^" + re.escape(target) + r"([. ].*)?$", version) is not None


def _numbers(version: str) -> tuple:
    m = re.match(r"^v?(\d+(?:\.\d+)*)", version.strip())
    nums = [int(n) for n in m.group(1).split(".")] if m else []
    return tuple((nums + [0, 0, 0])[:3])


def _reaches_line(version: str, target: str) -> bool:
    """At the target: version_reaches, or the target's release line at or above the
    target (4.8.1 when the target is 4.8.0; "4.3" and "4.3.0" are the same target)."""
    if version_reaches(version, target):
        return True
    v, t = _numbers(version), _numbers(target)
    return bool(v) and bool(t) and v[:2] == t[:2] and v >= t


def preflight_findings(read: dict) -> dict:
    """The findings of the preflight (see preflight_findings.yml)."""
    read = dict(read or {})
    target = str(read.get("target_version"))
    app = read.get("appliance") or {}
    api_version = str(read.get("api_version") or "").strip()
    api_error = str(read.get("api_error") or "").strip()
    ssh_version = str(app.get("version") or "")
    version = api_version or ssh_version
    done_by_record = (_bool(app.get("upgrade_recorded", False)) and app.get("upgrade_rc") == 0
                      and not _bool(app.get("upgrade_awaits_reboot", True))
                      and _bool(app.get("old_install_present", False)))
    if api_version:
        source = "api"
    elif ssh_version:
        source = "appliance_info"
    elif done_by_record:
        source = "upgrade record"
    else:
        source = "unknown"
    at_target = _reaches_line(version, target) if version else done_by_record
    free = app.get("opt_free_bytes")
    expired = _bool(app.get("root_password_expired") or False)

    stat = read.get("bundle_stat") or {}
    bundle = str(read.get("bundle") or "")
    checksum = str(read.get("bundle_checksum") or "")
    factor = read.get("free_space_factor", 2)
    size = _int(stat.get("size", 0))
    needed = int(size * float(factor))
    sources = [str(s) for s in read.get("source_versions") or []]
    problems = []
    # The shar's sources; a later target's are the rules of vcloud.usage_meter.bundle_info.
    shar_target = _MINOR.sub(r"\1", target) == "4.3"
    if version and not at_target and shar_target and _MINOR.sub(r"\1", version) not in sources:
        problems.append("version " + version + " is not one this play upgrades from (" + ", ".join(sources)
                        + ") to " + target)
    if source == "unknown" and _bool(read.get("fail_on_unknown_version")):
        if api_error:
            problems.append("the version cannot be read through the appliance API (" + api_error.rstrip(".")
                            + ") and usage_meter_fail_on_unknown_version is true")
        else:
            problems.append("the version cannot be read (set usage_meter_api_password) and"
                            " usage_meter_fail_on_unknown_version is true")
    if not _bool(read.get("ssh_open")) and str(read.get("route", "none")) == "none" and not at_target:
        problems.append("SSH on " + str(read.get("host")) + ":" + str(read.get("port")) + " is closed ("
                        + str(read.get("probe_msg", "no answer")) + ") and no route to open it is configured:"
                        " either start sshd on the appliance console as root (service sshd start), or set"
                        " usage_meter_vmware_tools_sshd: true with the usage_meter_vcenter_* variables and"
                        " usage_meter_root_password so that the play starts it through VMware Tools")
    if not at_target and not bundle and not read.get("isos"):
        problems.append("no upgrade bundle: set usage_meter_bundle to the path of ums-system-upgrade.shar on the controller")
    if not at_target and bundle and not (_bool(stat.get("isreg", False)) and size > 0):
        problems.append("the upgrade bundle " + str(read.get("bundle_path") or "") + " does not exist on the controller"
                        " or is empty: download ums-system-upgrade.shar for 4.3 from the vendor portal and set"
                        " usage_meter_bundle to its path (a relative path is looked up in the playbook directory,"
                        " then where ansible-playbook was started)")
    if checksum and not _CHECKSUM.match(checksum):
        problems.append("usage_meter_bundle_checksum " + checksum + " is not sha256:<64 hex digits>")
    if (not at_target and checksum and "checksum" in stat
            and stat["checksum"] != re.sub("^sha256:", "", checksum).lower()):
        problems.append("the upgrade bundle " + bundle + " has sha256 " + str(stat["checksum"]) + ", not the expected "
                        + checksum + ": download the bundle again; never run a bundle that does not match")
    if not at_target and free is not None and str(free) != "" and size > 0 and _int(free) < needed:
        problems.append("not enough free space on /opt/vmware: " + bytes_to_human(_int(free)) + " free, "
                        + bytes_to_human(needed) + " needed (" + str(factor)
                        + " x the bundle; usage_meter_free_space_factor)")
    if expired:
        problems.append("the root password has expired: log in on the console as root, set a new one,"
                        " and update the inventory")
    return {
        "version": version,
        "version_source": source,
        "at_target": at_target,
        "free_bytes": free,
        "password_expired": expired,
        "problems": problems,
    }


def preflight_line(preflight: dict, name) -> str:
    """The one line per appliance that the role and the playbook print (see preflight_line.yml)."""
    p = dict(preflight or {})
    target = str(p.get("target_version"))
    ok, at_target = _bool(p.get("ok", False)), _bool(p.get("at_target", False))
    verdict = ("already at " + target + ": nothing to do") if ok and at_target else (
        ("ready to upgrade to " + target) if ok else "NOT READY")
    version = ("version " + str(p["version"]) + " (from " + str(p.get("version_source")) + ")"
               if p.get("version") else "version unknown")
    if p.get("api_error"):
        version += " (API: " + str(p["api_error"]) + ")"
    ssh = "SSH open" if _bool(p.get("ssh_open", False)) else "SSH closed, route " + str(p.get("route"))
    checked = "checked over SSH" if _bool(p.get("appliance_checked", False)) else "not checked over SSH yet"
    problems = p.get("problems") or []
    hops = [_hop_text(h) for h in p.get("hops") or [] if isinstance(h, dict)]
    found = ("problems: " + "; ".join(str(x) for x in problems)) if problems else "no problems"
    fields = [verdict, version, ssh, checked] + (["hops " + ", ".join(hops)] if hops else []) + [found]
    return str(name) + ": " + " | ".join(fields)


def _hop_text(hop: dict) -> str:
    """4.2.0 -> 4.3.0 (shar, staged 2026-12-01T09:00:00Z) / (iso, not staged)."""
    staged = ("staged " + str(hop["staged_at"])) if hop.get("staged_at") else "not staged"
    return str(hop.get("from")) + " -> " + str(hop.get("to")) + " (" + str(hop.get("kind")) + ", " + staged + ")"


def bundle_checks(hosts) -> list:
    """Each distinct bundle path of the play's hosts once, hashed when any host
    that names it gives a checksum (see bundle_checks.yml)."""
    checks: dict = {}
    for host in hosts or []:
        try:
            path = str(host.get("__usage_meter_pf_bundle_path") or "").strip()
            wanted = _bool(host.get("__usage_meter_pf_bundle_hash") or False)
        except (AttributeError, KeyError, TypeError):
            continue
        if path:
            checks[path] = checks.get(path, False) or wanted
    return [{"path": p, "checksum": checks[p]} for p in sorted(checks)]


def bundle_stat(stats, path) -> dict:
    """The stat of one host's bundle among the stats of bundle_checks (see bundle_stat.yml)."""
    for result in (stats or {}).get("results") or []:
        if isinstance(result, dict) and (result.get("item") or {}).get("path") == path and "stat" in result:
            return result["stat"]
    return {}


class FilterModule:
    """vcloud.usage_meter filters."""

    def filters(self):
        return {"preflight_findings": preflight_findings, "version_reaches": version_reaches,
                "preflight_line": preflight_line, "bundle_checks": bundle_checks, "bundle_stat": bundle_stat}
