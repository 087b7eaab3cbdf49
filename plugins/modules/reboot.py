# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/reboot.py runs this
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
  - "Reboots the appliance, which completes the 4.3 in-place upgrade, and waits until it answers SSH
    again with a new boot id (C(/proc/sys/kernel/random/boot_id)) and O(test_command) succeeds."
  - "The reboot is issued detached, one second later, so the connection that issued it ends cleanly; the
    dropped connections that follow are expected."
  - "While waiting, a refused, timed-out or unreachable connection, or one dropped during the SSH
    handshake, means \"not yet\"; a refused login or a changed host key after the reboot fail at once.
    Attempts start every 0.1 s and back off to every 0.25 s, so the appliance is noticed well within a
    second of sshd listening again."
  - "Two SSH logins in all: one before (the boot id, the reboot issued), whose session is then watched
    until the old boot is gone, and one after, on the same connection as the attempt that first sees
    sshd's banner again (an attempt waits at most 1 s for it; a refused port costs nothing); the new
    boot id, O(test_command) and the clean-up all run over that session."
  - "sshd must be enabled at boot (M(vcloud.usage_meter.sshd) with
    O(vcloud.usage_meter.sshd#module:enabled=true)), or started on the console after the reboot, for the
    appliance to be reachable again; a warning says so when it is not enabled."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: reboot
notes:
  - "In check mode the module connects and reads the boot id, but does not reboot; it reports
    C(changed=true) and C(rebooted=false)."
  - "On timeout the failure names the last connection error seen. If the appliance does not boot after
    the upgrade, revert it to the snapshot taken before the upgrade."
options:
  post_reboot_delay:
    default: 0
    description:
      - Seconds to wait after the new boot is seen and before O(test_command) runs.
    type: int
  reboot_command:
    default: "systemctl reboot || reboot"
    description:
      - The command that reboots the appliance, run detached by the login shell.
      - Defaults to C(systemctl reboot), falling back to C(reboot).
    type: str
  reboot_timeout:
    default: 1200
    description:
      - "Seconds to wait, from issuing the reboot, for the appliance to answer SSH with a new boot id and
        pass O(test_command)."
    type: int
  state_dir:
    default: "/var/lib/vcloud-usage-meter"
    description:
      - "Directory on the appliance where M(vcloud.usage_meter.upgrade) records its runs; the reboot is
        refused while an upgrade run there holds its lock."
    type: path
  test_command:
    default: whoami
    description:
      - "A command that must succeed (exit 0) on the appliance once it is back; retried until
        O(reboot_timeout)."
    type: str
short_description: Reboot a Usage Meter appliance and wait until it is back
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Reboot to complete the 4.3 upgrade
  vcloud.usage_meter.reboot:
    reboot_timeout: 1800
  register: um_reboot

- name: Reboot, then wait until the status script can run
  vcloud.usage_meter.reboot:
    test_command: test -x /opt/vmware/cloudusagemetering/scripts/status.sh
"""

RETURN = r"""
boot_id_after:
  description:
    - "Boot id after the reboot; null in check mode."
  returned: always
  sample: "8f0c2c57-3f57-4a5a-8f2e-7b0b8a0f4c21"
  type: str
boot_id_before:
  description:
    - Boot id (C(/proc/sys/kernel/random/boot_id)) before the reboot.
  returned: always
  sample: "2b1f0e4a-5c1e-4f55-9a59-1b1c2e1a9d10"
  type: str
elapsed:
  description:
    - Seconds from issuing the reboot until the appliance was back and O(test_command) passed.
  returned: always
  sample: 48.3
  type: float
rebooted:
  description:
    - Whether the appliance was rebooted (false in check mode).
  returned: always
  sample: true
  type: bool
"""
