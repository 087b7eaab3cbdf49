# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/sshd.py runs this
# module's Rust code (the collection's static binary) on the controller.
# Only assignments, no import: ansible-test 2.16's boilerplate sanity tests
# accept a documentation-only file without the Python 2 future imports.

DOCUMENTATION = r"""
attributes:
  action:
    description: "Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller."
    support: full
  action_group:
    description: Use C(group/vcloud.usage_meter.usage_meter) in C(module_defaults) to set the shared options once.
    membership:
      - vcloud.usage_meter.usage_meter
    support: full
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: "Will return details on what has changed (or possibly needs changing in check_mode), when in diff
      mode."
    support: full
  platform:
    description: "Runs on the controller (Linux x86_64 or aarch64), never on the appliance, which it reaches over SSH
      or its HTTPS API. Without C(delegate_to) the connection comes from the inventory host; with
      C(delegate_to: localhost) too."
    platforms: posix
    support: full
author:
  - vcloud.usage_meter maintainers (@vcloud)
description:
  - "Manages the SSH service of a vCloud Usage Meter appliance, the first and last step of the in-place
    upgrade."
  - Uses C(systemctl) and falls back to C(service).
  - "Stopping sshd over the connection it serves is supported: the stop is issued detached, the session
    ends, and the module confirms that sshd no longer answers."
  - "\"sshd answers\" means a TCP connection gives an SSH identification line (C(SSH-2.0-...)) within 2
    s; refused, reset, closed before the banner, or no banner in time all mean it does not. So the
    module works the same through a port forward, a DNAT rule or a user-mode NAT (which accept every
    connection) and behind a firewall that drops packets."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: sshd
notes:
  - "When sshd cannot be reached at all, O(state=started) fails: start sshd on the appliance console
    (C(service sshd start)) or through VMware Tools first."
  - "When sshd is already stopped (the appliance refuses or resets SSH connections and gives no banner),
    O(state=stopped) succeeds unchanged and O(enabled) cannot be read; a warning says so. An appliance
    that does not answer at all (a timeout) is a failure: it may be down."
options:
  enabled:
    description:
      - Whether sshd should start at boot. Omit to leave it as it is.
      - "The 4.3 procedure never enables sshd; enable it only for the reboot window of an upgrade and disable
        it again afterwards."
    type: bool
  forget_original:
    default: false
    description:
      - "This task ends the record: O(original_file) is never written, and is removed once sshd is in the
        wanted state (before a stop, which ends the session). Needs O(original_file)."
    type: bool
  original_active:
    description:
      - "What to record as sshd's original running state instead of the state found, for when sshd was
        started by other means first (VMware Tools, the console). Needs O(original_file)."
    type: bool
  original_enabled:
    description:
      - "What to record as sshd's original start-at-boot setting instead of the setting found. Needs
        O(original_file)."
    type: bool
  original_file:
    description:
      - "File on the appliance that keeps sshd's state from before the first change, so that a play run again
        after an interrupted one (a killed controller) still knows how sshd was before any play touched it."
      - "When the file exists, its record is returned as RV(original) and is never overwritten. When it does
        not, and this task changes sshd, the state before the change (or
        O(original_active)/O(original_enabled)) is written to it first. With O(forget_original=true), it is
        removed instead."
      - The upgrade role uses C(/var/lib/vcloud-usage-meter/sshd.original).
    type: str
  service:
    default: sshd
    description:
      - "Name of the service unit. [guess] C(sshd) on Photon OS."
    type: str
  state:
    choices:
      - started
      - stopped
    description:
      - Whether sshd should be running. Omit to leave it as it is.
      - "V(started): sshd is running."
      - "V(stopped): sshd is not running (the listener is gone)."
    type: str
  stop_wait:
    default: 30
    description:
      - "Seconds to wait, after a stop, for sshd to stop answering (no SSH banner on the port: refused,
        reset, closed, or silent)."
    type: int
short_description: Start, stop, enable or disable sshd on a Usage Meter appliance
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Open SSH for the upgrade window and keep it across the reboot
  vcloud.usage_meter.sshd:
    state: started
    enabled: true

- name: Close SSH again, as the appliance ships
  vcloud.usage_meter.sshd:
    state: stopped
    enabled: false
"""

RETURN = r"""
active:
  description:
    - Whether sshd runs after the task.
  returned: always
  sample: false
  type: bool
enabled:
  description:
    - "Whether sshd starts at boot after the task; null when it could not be read because sshd was already
      stopped and unreachable."
  returned: always
  type: bool
manager:
  description:
    - Service manager used on the appliance, C(systemctl) or C(service).
  returned: when sshd was reachable
  type: str
original:
  contains:
    active:
      description:
        - Whether sshd was running.
      returned: always
      type: bool
    enabled:
      description:
        - "Whether sshd started at boot; null when it was not known."
      returned: when available
      type: bool
    recorded:
      description:
        - "Unix time (appliance clock) the record was written; null when it was not written."
      returned: when available
      type: int
  description:
    - "sshd's state before the first change: the record found in O(original_file), else what this task
      recorded (or found)."
  returned: when original_file is set and sshd was reachable
  type: dict
original_source:
  description:
    - "Where RV(original) comes from: C(record) (left by an earlier run that did not finish, or by an
      earlier task of this play), C(recorded) (written by this task; in check mode: would be), or C(found)
      (nothing changed, so nothing was recorded)."
  returned: when original_file is set and sshd was reachable
  type: str
"""
