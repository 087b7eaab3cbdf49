# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/verify.py runs this
# module's Rust code (the collection's static binary) on the controller.

from __future__ import annotations

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
    support: none
  platform:
    description: "Runs on the controller (Linux x86_64 or aarch64), never on the appliance, which it reaches over SSH
      or its HTTPS API. Without C(delegate_to) the connection comes from the inventory host; with
      C(delegate_to: localhost) too."
    platforms: posix
    support: full
author:
  - vcloud.usage_meter maintainers (@vcloud)
description:
  - "Runs the appliance's status script (C(cd /opt/vmware/cloudusagemetering && ./scripts/status.sh)),
    the documented check after the 4.3 upgrade and its reboot, until every listed service is Running or
    O(timeout) has passed."
  - "Services come up Offline, then Running, over some time after a boot, so the module polls every
    O(interval) seconds."
  - "The output is parsed defensively, because its format is not published [guess]: ANSI colours are
    removed, each line is read as one service, headers, rulers, blank lines and prose are ignored, and
    the name may stand before the status (C(gw : Running), a padded table, C(| gw | Running |), C(gw is
    running)) or after it."
  - "Fails, after the wait, when any service is Offline or no service is Running, with the names, the
    path of the newest upgrade log and its last lines."
  - "Read-only: it runs in check mode too and never reports a change."
  - "Runs on the controller; use C(delegate_to: localhost)."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: verify
notes:
  - "When a service stays Offline after the 4.3 upgrade, the documented recovery is to revert the
    appliance to the snapshot taken before the upgrade and repeat it."
  - "O(running_pattern) and O(offline_pattern) are regular expressions in Rust syntax; the earlier match
    in a line decides, and a line matching O(offline_pattern) counts as Offline even when no service
    name can be read from it."
options:
  chdir:
    default: "/opt/vmware/cloudusagemetering"
    description:
      - "Directory on the appliance to run O(command) in: the Usage Meter installation."
    type: path
  check_rc:
    default: false
    description:
      - Also treat a non-zero exit code of O(command) as unhealthy.
      - "[guess] The exit code of C(status.sh) is not published, so by default only its output counts (every
        listed service Running, at least one listed)."
    type: bool
  command:
    default: "./scripts/status.sh"
    description:
      - The status command, run by the login shell of O(username) in O(chdir).
      - The documented check is C(./scripts/status.sh).
    type: str
  command_timeout:
    default: 120
    description:
      - Seconds one run of O(command) may take.
    type: int
  interval:
    default: 5
    description:
      - Seconds between two runs of O(command) while waiting.
    type: int
  log_tail_lines:
    default: 20
    description:
      - Lines of the upgrade log returned when the check fails.
    type: int
  offline_pattern:
    default: "(?i)\\b(?:offline|not[ _-]?running|stopped|failed|inactive|dead)\\b"
    description:
      - Regular expression (Rust syntax) of a failed service's status in a line of output.
      - "[guess] The default matches C(Offline) (documented) and, to be safe, C(not running), C(stopped),
        C(failed), C(inactive), C(dead), in any letter case. When a line holds both patterns, the earlier
        match decides."
    type: str
  old_install_dir:
    default: "/opt/vmware/cloudusagemetering-old"
    description:
      - Where the previous installation is kept after a 4.3 upgrade.
    type: path
  running_pattern:
    default: "(?i)\\brunning\\b"
    description:
      - Regular expression (Rust syntax) of a healthy service's status in a line of output.
      - "[guess] The output format of C(status.sh) is not published; the default matches the word C(Running)
        in any letter case. Case-insensitive patterns use ASCII case folding."
    type: str
  timeout:
    default: 600
    description:
      - "Seconds to wait for every service to be Running. Services come up Offline, then Running, over some
        time after a boot. V(0) checks once."
    type: int
short_description: Wait until every Usage Meter service reports Running
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Wait until every Usage Meter service is Running
  vcloud.usage_meter.verify:
    host: "{{ ansible_host }}"
    password: "{{ ansible_password }}"
    timeout: 900
  delegate_to: localhost
  register: um_status

- name: Show the services
  ansible.builtin.debug:
    var: um_status.services

- name: A status script that prints UP/DOWN
  vcloud.usage_meter.verify:
    host: "{{ ansible_host }}"
    password: "{{ ansible_password }}"
    running_pattern: '\bUP\b'
    offline_pattern: '\bDOWN\b'
  delegate_to: localhost
"""

RETURN = r"""
all_running:
  description:
    - Whether at least one service is listed and all listed services are Running.
  returned: always
  sample: true
  type: bool
attempts:
  description:
    - How many times O(command) ran.
  returned: always
  sample: 3
  type: int
offline:
  description:
    - Names of the services not Running (empty on success).
  elements: str
  returned: always
  type: list
old_install_present:
  description:
    - "Whether O(old_install_dir) exists (the 4.3 upgrade moves the previous installation there at the
      reboot)."
  returned: always
  type: bool
services:
  description:
    - "Every service the status output listed, name → C(Running) or C(Offline)."
  returned: always
  sample:
    gw: Running
    vcdcol: Running
  type: dict
status_rc:
  description:
    - Exit code of the last run of O(command) (null when none was reported).
    - "Not named C(rc): Ansible fails a task whose result has a non-zero C(rc), and C(status.sh) may exit
      non-zero while every service is Running [guess]."
  returned: always
  type: int
stdout_lines:
  description:
    - Output of the last run of O(command), without colours and blank lines.
  elements: str
  returned: always
  type: list
upgrade_log:
  description:
    - "Path of the newest upgrade log (C(var/logs/inplaceupgradeum-*) under O(chdir) or
      O(old_install_dir)); null when there is none."
  returned: always
  sample: "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-19264531"
  type: str
waited:
  description:
    - Seconds spent waiting for the services.
  returned: always
  sample: 4.2
  type: float
"""
