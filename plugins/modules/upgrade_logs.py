# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/upgrade_logs.py runs this
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
  - "Copies the in-place upgrade logs (C(var/logs/inplaceupgradeum-*) of the current and, after the 4.3
    reboot, the previous installation), the output and record of M(vcloud.usage_meter.upgrade) runs, and
    the output of the status script to a directory on the controller: the evidence to keep when an
    upgrade fails."
  - "One SSH command lists the matching files with their size and sha256; each file is then streamed over
    SSH into a temporary file in O(dest) and renamed into place, so a partial copy never has the final
    name and no file is held in memory."
  - "A file that O(dest) already holds with the same sha256 is not copied again (C(changed=false) when no
    file was copied; a status output that differs from the C(status.txt) already in O(dest) is saved
    again without counting as a change, since the script's output varies from run to run)."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options. When the appliance cannot be reached the task fails with the usual connection message (in a
    rescue, use C(ignore_errors: true))."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: upgrade_logs
notes:
  - "Files larger than O(max_bytes) keep their last O(max_bytes) bytes; RV(files[].sha256) is then the
    checksum of that tail."
  - A log still growing while it is copied is saved as it was when listed (the listed size).
options:
  dest:
    description:
      - "Directory on the controller to save the logs in (absolute; C(~) is expanded). Created with mode
        C(0700) when missing. Each file is saved under its path on the appliance, as
        M(ansible.builtin.fetch) does, e.g.
        C(<dest>/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-<date>-<build>)."
    required: true
    type: path
  install_dir:
    default: "/opt/vmware/cloudusagemetering"
    description:
      - The Usage Meter installation directory on the appliance.
    type: str
  max_bytes:
    default: 52428800
    description:
      - "Most bytes saved per file. A larger file keeps its last O(max_bytes) bytes (the end of a log says
        why it failed) and is returned with C(truncated=true). V(0) means no limit."
    type: int
  old_install_dir:
    default: "/opt/vmware/cloudusagemetering-old"
    description:
      - "Where the 4.3 upgrade keeps the previous installation after its reboot (with the upgrade log of the
        run that staged it)."
    type: str
  patterns:
    description:
      - "Absolute paths or shell globs (C(*), C(?), C([...])) of the files to copy; directories and
        non-matching patterns are skipped."
      - "Default: C(<install_dir>/var/logs/inplaceupgradeum-*),
        C(<old_install_dir>/var/logs/inplaceupgradeum-*), C(<state_dir>/runs/*.log),
        C(<state_dir>/upgrade.record) and C(<state_dir>/upgrade.current)."
    elements: str
    type: list
  state_dir:
    default: "/var/lib/vcloud-usage-meter"
    description:
      - "Directory on the appliance where M(vcloud.usage_meter.upgrade) records its runs (the run outputs
        C(runs/*.log), C(upgrade.record) and C(upgrade.current))."
    type: str
  status:
    default: true
    description:
      - "Also run O(status_command) in O(install_dir) and save its output (stdout, then stderr) as
        C(status.txt) in O(dest). A failing command is not an error: its exit code is returned as
        RV(status_rc)."
    type: bool
  status_command:
    default: "./scripts/status.sh"
    description:
      - The status command, run in O(install_dir) when O(status) is true.
    type: str
short_description: Copy the Usage Meter upgrade logs from the appliance to the controller
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Save the upgrade logs of the appliance on the controller
  vcloud.usage_meter.upgrade_logs:
    dest: "{{ playbook_dir }}/usage-meter-logs/{{ inventory_hostname }}"
    connect_timeout: 10
  ignore_errors: true

- name: Only the newest upgrade log, at most 5 MiB of it
  vcloud.usage_meter.upgrade_logs:
    dest: /srv/um-logs
    patterns:
      - /opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-*
    status: false
    max_bytes: 5242880
"""

RETURN = r"""
dest:
  description:
    - The directory on the controller.
  returned: always
  sample: "/srv/logs/um01"
  type: str
fetched:
  description:
    - "How many files were copied by this run (in check mode: would be)."
  returned: always
  sample: 2
  type: int
files:
  contains:
    fetched:
      description:
        - "Whether this run copied it (false: the controller already had it)."
      returned: always
      type: bool
    local:
      description:
        - Path on the controller.
      returned: always
      sample: "/srv/logs/um01/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-2026-25-11-24000000"
      type: str
    remote:
      description:
        - Path on the appliance.
      returned: always
      sample: "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-2026-25-11-24000000"
      type: str
    sha256:
      description:
        - "sha256 of the saved content (the whole file, or its tail when RV(files[].truncated))."
      returned: always
      sample: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      type: str
    size:
      description:
        - Size of the file on the appliance, in bytes.
      returned: always
      sample: 4096
      type: int
    truncated:
      description:
        - Whether only the last O(max_bytes) bytes were saved.
      returned: always
      type: bool
  description:
    - "The files matching O(patterns), in pattern order (in check mode: what would be saved)."
  elements: dict
  returned: always
  type: list
status_file:
  description:
    - "Path of the saved status output; null when O(status) is false or the command could not run."
  returned: always
  sample: "/srv/logs/um01/status.txt"
  type: str
status_rc:
  description:
    - "Exit code of O(status_command); null when it did not run or gave none."
  returned: always
  sample: 0
  type: int
"""
