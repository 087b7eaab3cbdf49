# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/iso_mount.py runs this
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
  - "Mounts an upgrade ISO (4.4 and later) that is on the appliance read-only (C(mount -o loop,ro)) at a
    private mount point (mode 0700), and returns the upgrade script to give
    M(vcloud.usage_meter.upgrade)."
  - "The same ISO already mounted there is no change. Anything else mounted there (another ISO, a device)
    is never touched: the task fails saying what is mounted there. A directory that is not empty is
    refused too (a mount would hide its files)."
  - "O(state=absent) unmounts it, lazily only as a last resort (a warning says so), removes the mount
    point and, with O(remove_iso=true), the ISO file. Run it also after a failed upgrade."
  - "One SSH login per task. Runs on the controller; the appliance is the inventory host: its
    C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or
    C(ansible_ssh_private_key_file) are used unless given as options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: iso_mount
notes:
  - "How the vendor's procedure mounts the ISO is only shown by a blog for 9.x (C(mount -o loop
    /dev/cdrom /root/upgrade)); the script name C(upgrade-um.sh) is in the vendor's KB. For 4.4-4.8 both
    are a [guess]: see O(script)."
  - "Needs C(mount) with loop devices and the iso9660 file system on the appliance; the 9.x procedure
    mounts the CD-ROM the same way, so the appliance has both [guess for 4.4-4.8]."
options:
  iso:
    description:
      - Path of the upgrade ISO on the appliance (copied there by M(vcloud.usage_meter.shar_copy)).
    required: true
    type: str
  path:
    default: "/root/upgrade"
    description:
      - "The mount point: a directory of its own, made with mode 0700 and removed again by O(state=absent).
        The default is the one a blog shows for the 9.x upgrade."
    type: str
  remove_iso:
    default: false
    description:
      - With O(state=absent), also delete the ISO file.
    type: bool
  script:
    description:
      - "The upgrade script, relative to the ISO's root. Default [guess]: C(upgrade-um.sh) when the ISO has
        it (the name the vendor's KB gives for 9.x), else the one C(*.sh) at the root with \"upgrade\" in
        its name; else the task fails listing the root."
    type: str
  state:
    choices:
      - mounted
      - absent
    default: mounted
    description:
      - "V(mounted): loop-mount the ISO read-only (C(mount -o loop,ro)) at O(path). V(absent): unmount it
        (lazily only when a process still uses it, with a warning) and remove O(path)."
      - "V(mounted): The ISO is mounted read-only at O(path)."
      - "V(absent): Nothing of this ISO is mounted at O(path), and O(path) is gone."
    type: str
short_description: Loop-mount a Usage Meter upgrade ISO read-only on the appliance and find its upgrade script
version_added: "1.2.0"
"""

EXAMPLES = r"""
- name: Mount the ISO copied by shar_copy
  vcloud.usage_meter.iso_mount:
    iso: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24342042_Upgrade.iso
  register: iso

- name: Run its upgrade script
  vcloud.usage_meter.upgrade:
    script: "{{ iso.script }}"
    checksum: "sha1:{{ iso_sha1 }}"

- name: Unmount it and delete the ISO
  vcloud.usage_meter.iso_mount:
    iso: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24342042_Upgrade.iso
    state: absent
    remove_iso: true
"""

RETURN = r"""
lazy:
  description:
    - "State=absent: the unmount had to be lazy (a process still used the mount point; the kernel detaches
      it once that process lets go)."
  returned: always
  sample: false
  type: bool
mount_point:
  description:
    - The mount point.
  returned: always
  sample: "/root/upgrade"
  type: str
removed_iso:
  description:
    - "State=absent: the ISO file was deleted (O(remove_iso))."
  returned: always
  sample: false
  type: bool
script:
  description:
    - "Absolute path of the upgrade script on the appliance, for M(vcloud.usage_meter.upgrade)'s C(script)
      option."
  returned: state=mounted, unless check mode found the ISO not mounted yet
  sample: "/root/upgrade/upgrade-um.sh"
  type: str
script_source:
  description:
    - "How the script was chosen: V(known) (C(upgrade-um.sh)), V(found) (the one upgrade script at the
      root) or V(given) (the O(script) option)."
  returned: when script is returned
  sample: known
  type: str
"""
