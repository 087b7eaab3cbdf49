# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vcloud.usage_meter.hop_plan: the hops of one appliance's upgrade, as the roles
run them (where each bundle goes on the appliance, whether it is staged there
already), and the preflight problem when vcloud.usage_meter.bundle_info refused.

Pure: no I/O; tests/unit/test_hop_plan.py covers it."""

from __future__ import annotations

import posixpath
import re

from ansible.module_utils.parsing.convert_bool import boolean

DOCUMENTATION = r"""
name: hop_plan
author: vcloud.usage_meter contributors
version_added: 1.2.0
short_description: The hops of one appliance's upgrade, where each bundle goes, and whether it is staged
description:
  - Used by the roles C(vcloud.usage_meter.preflight), C(vcloud.usage_meter.inplace_upgrade) and its C(stage) entry point.
  - Turns the result of M(vcloud.usage_meter.bundle_info) into the hops the roles loop over, each with the path of its
    bundle on the controller and on the appliance (the shar at C(usage_meter_shar_dest), an ISO in
    C(usage_meter_iso_dest_dir) under its own name), the checksum the copy checks, and when it was staged
    (a record of C(appliance.staged) of M(vcloud.usage_meter.appliance_info) for the same destination, file name and
    size), else null.
  - A refusal of M(vcloud.usage_meter.bundle_info) (a forbidden hop, a missing bundle and what to download, an ISO
    check that failed, naming the check and the file) becomes the preflight problem, its options named as the role
    variables that set them (C(access_token) is C(usage_meter_access_token)); a shar that does not exist is left to
    the preflight's own message about it.
positional: _input
options:
  _input:
    description: What the preflight read.
    type: dict
    required: true
    suboptions:
      plan:
        description: >-
          The registered result of M(vcloud.usage_meter.bundle_info) with C(failed_when: false): its C(hops), or its
          failure (no C(hops), a C(msg)), or skipped.
        type: dict
        default: {}
      shar:
        description: The resolved path of C(usage_meter_bundle) on the controller; empty when not given.
        type: str
        default: ""
      shar_checksum:
        description: C(usage_meter_bundle_checksum).
        type: str
        default: ""
      shar_dest:
        description: C(usage_meter_shar_dest).
        type: str
      iso_dest_dir:
        description: C(usage_meter_iso_dest_dir).
        type: str
      staged:
        description: The C(appliance.staged) records read on the appliance.
        type: list
        elements: dict
        default: []
      version:
        description: The version the preflight found; empty when unknown.
        type: str
        default: ""
      target:
        description: C(usage_meter_target_version).
        type: str
        default: ""
      at_target:
        description: Whether the appliance is at the target already.
        type: bool
        default: false
notes:
  - >-
    When no plan could be made because the version is unknown (C(usage_meter_fail_on_unknown_version) false), the
    shar makes one hop C(unknown) to the target, as the 4.3 upgrade always did; the upgrade module refuses an
    appliance that went through it already.
"""

EXAMPLES = r"""
- name: The hops
  ansible.builtin.set_fact:
    hops: "{{ (read | vcloud.usage_meter.hop_plan).hops }}"
  vars:
    read:
      plan: "{{ um_bundles }}"
      shar: /srv/bundles/ums-system-upgrade.shar
      shar_dest: /opt/vmware/cloudusagemetering/ums-system-upgrade.shar
      iso_dest_dir: /opt/vmware/upgrade
"""

RETURN = r"""
_value:
  description: The hops and the problem.
  type: dict
  contains:
    hops:
      description: The hops in the order to run them; empty when none was planned.
      type: list
      elements: dict
      contains:
        from:
          description: The version before the hop.
          type: str
        to:
          description: The version after it.
          type: str
        kind:
          description: C(shar) or C(iso).
          type: str
        path:
          description: The bundle on the controller.
          type: str
        name:
          description: Its file name.
          type: str
        dest:
          description: Where it goes on the appliance.
          type: str
        checksum:
          description: >-
            What the copy and the upgrade check the bundle against: C(usage_meter_bundle_checksum) for the shar,
            C(sha1:<hex>) of a verified ISO (its C(.mf)); empty when not known.
          type: str
        needs_token:
          description: Whether the hop needs the access token.
          type: bool
        rule:
          description: The rule that allows it, with its mark.
          type: str
        size:
          description: The ISO's size in bytes; null for the shar.
          type: int
        staged_at:
          description: When the bundle was staged on the appliance (UTC), else null.
          type: str
    problem:
      description: Why no plan could be made (the refusal of M(vcloud.usage_meter.bundle_info)), else null.
      type: str
"""

_HOST = re.compile(r"^host [^,]*, ")
# bundle_info's options as the roles' users set them.
_ROLE_VARS = {"access_token": "usage_meter_access_token", "ca_path": "usage_meter_iso_ca_path",
              "expired_certificate": "usage_meter_iso_expired_certificate", "target_version": "usage_meter_target_version"}
_OPTION = re.compile(r"(?<![\w/.-])(" + "|".join(_ROLE_VARS) + r")(?![\w/-]|\.\w)")


def _bool(value) -> bool:
    return boolean(value, strict=False)


def _text(value) -> str:
    return "" if value is None else str(value)


def _dest(bundle: dict, shar_dest: str, iso_dir: str) -> str:
    if _text(bundle.get("kind")) == "shar":
        return shar_dest
    return posixpath.join(iso_dir, posixpath.basename(_text(bundle.get("path"))))


def _staged_at(staged: list, dest: str, name: str, size) -> str | None:
    for rec in staged or []:
        if not isinstance(rec, dict) or _text(rec.get("dest")) != dest:
            continue
        if _text(rec.get("name")) != name:
            continue
        if size is not None and rec.get("size") is not None and int(rec["size"]) != int(size):
            continue
        return _text(rec.get("staged_at")) or None
    return None


def _refused(plan: dict) -> bool:
    """bundle_info ran and gave no hops: its failure (failed_when: false clears "failed")."""
    return bool(plan) and not plan.get("skipped") and "hops" not in plan


def _problem(plan: dict, shar: str) -> str | None:
    if not _refused(plan):
        return None
    if _text(plan.get("check")) == "read bundle" and shar and _text(plan.get("file")) == shar:
        return None  # preflight_findings names the missing shar already, with what to do
    msg = _HOST.sub("", _text(plan.get("msg")).strip()) or "vcloud.usage_meter.bundle_info failed"
    msg = _OPTION.sub(lambda m: _ROLE_VARS[m.group(1)], msg)
    return "bundles: " + msg


def hop_plan(read: dict) -> dict:
    """The hops and the problem (see DOCUMENTATION)."""
    read = dict(read or {})
    plan = read.get("plan") or {}
    shar = _text(read.get("shar"))
    hops = []
    planned = plan.get("hops") or []
    if not _refused(plan) and "hops" not in plan and not _text(read.get("version")) and shar \
            and not _bool(read.get("at_target")):
        planned = [{"from": "unknown", "to": read.get("target"), "bundle": {"kind": "shar", "path": shar}}]
    for hop in planned:
        bundle = hop.get("bundle") or {}
        kind = _text(bundle.get("kind"))
        dest = _dest(bundle, _text(read.get("shar_dest")), _text(read.get("iso_dest_dir")))
        name = posixpath.basename(_text(bundle.get("path")))
        size = bundle.get("size")
        sha1 = _text(bundle.get("sha1"))
        checksum = _text(read.get("shar_checksum")) if kind == "shar" else ("sha1:" + sha1 if sha1 else "")
        hops.append({
            "from": _text(hop.get("from")), "to": _text(hop.get("to")), "kind": kind,
            "path": _text(bundle.get("path")), "name": name, "dest": dest, "checksum": checksum,
            "needs_token": bool(hop.get("needs_token")), "rule": _text(hop.get("rule")), "size": size,
            "staged_at": _staged_at(read.get("staged") or [], dest, name, size),
        })
    return {"hops": hops, "problem": _problem(plan, shar)}


class FilterModule:
    """vcloud.usage_meter filters."""

    def filters(self):
        return {"hop_plan": hop_plan}
