# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/appliance_info.py runs this
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
  - "Reads, over SSH and in one remote command, what the in-place upgrade to 4.3 depends on: the boot id,
    whether sshd runs and starts at boot, free space on the filesystem of C(/opt/vmware), whether the
    previous installation was kept (C(cloudusagemetering-old), present after the 4.3 reboot), the
    upgrade logs, the root password's expiry (C(chage -l root)), and what M(vcloud.usage_meter.upgrade)
    recorded (an upgrade run, whether it awaits the reboot), and the bundles staged by
    M(vcloud.usage_meter.shar_copy)."
  - "With O(api_password), also reads the Usage Meter version through the appliance API (login, C(GET
    /agent_info), logout), of either generation: 4.x (port 8443, a session id) or 9.x (port 443, a
    bearer token), told from the login answer (O(api_generation)); RV(api.generation) and RV(api.port)
    say which. With O(ssh=false) only that, for an appliance whose SSH is closed. O(api_retries) waits
    out an API that does not listen yet after a boot. An API problem is a warning and RV(api.error),
    never a failure."
  - "Read-only: runs in check mode too and never reports a change."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
  - vcloud.usage_meter.api
module: appliance_info
notes:
  - "Unless O(ssh=false), sshd must be running: start it on the appliance console as root with C(service
    sshd start), or through VMware Tools as the upgrade role does when vCenter variables are set."
options:
  api_retries:
    default: 0
    description:
      - "How many more times to try the appliance API while nothing answers (not listening yet right after a
        boot, connection refused or timed out), O(api_retry_delay) seconds apart. Any answer, even a refused
        login, ends the tries."
    type: int
  api_retry_delay:
    default: 3
    description:
      - Seconds between two tries of the appliance API (see O(api_retries)).
    type: int
  install_dir:
    default: "/opt/vmware/cloudusagemetering"
    description:
      - The Usage Meter installation directory.
    type: path
  old_install_dir:
    default: "/opt/vmware/cloudusagemetering-old"
    description:
      - Where the 4.3 upgrade keeps the previous installation after its reboot.
    type: path
  ssh:
    default: true
    description:
      - "Whether to read the appliance over SSH. V(false) reads only the version through the appliance API
        (O(api_password) is then required), for an appliance whose SSH is closed; RV(appliance) is then
        null."
    type: bool
  ssh_probe:
    default: false
    description:
      - "Also probe the SSH port, without logging in (RV(ssh_port)): it answers at once when the port is
        refused or reset, and waits up to O(connect_timeout) only when nothing answers. With O(ssh=false)
        and no O(api_password), only that."
    type: bool
  sshd_service:
    default: sshd
    description:
      - "Name of the SSH service unit. [guess] C(sshd) on Photon OS."
    type: str
  state_dir:
    default: "/var/lib/vcloud-usage-meter"
    description:
      - Directory on the appliance where M(vcloud.usage_meter.upgrade) records its runs.
    type: path
short_description: Read the upgrade-relevant state of a Usage Meter appliance
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Read the appliance's state
  vcloud.usage_meter.appliance_info:
  register: um_info

- name: Stop unless there is room for the bundle
  ansible.builtin.assert:
    that: um_info.appliance.opt_free_bytes > 2 * 1024 * 1024 * 1024
    fail_msg: /opt/vmware needs at least 2 GiB free

- name: Read only the version, through the API (SSH may be closed)
  vcloud.usage_meter.appliance_info:
    ssh: false
    api_password: "{{ usage_meter_api_password }}"
    ca_path: files/um01-ca.pem
    api_retries: 10          # the API may not listen yet right after a boot
  register: um_api

- name: Show it
  ansible.builtin.debug:
    msg: "{{ um_api.api.version or um_api.api.error }}"
"""

RETURN = r"""
api:
  contains:
    attempts:
      description:
        - "Tries made: 1, plus one per retry of O(api_retries) used."
      returned: always
      sample: 1
      type: int
    error:
      description:
        - "Why the version could not be read, and what to do; null when it was read. Never holds the password
          or the session id."
      returned: always
      sample: "appliance API um01:8443: login as usagemeter was refused (HTTP 401): wrong api_username or
        api_password. What to do: check api_username and api_password"
      type: str
    generation:
      description:
        - "The generation of the appliance API, told from its login answer: C(4) (a session id) or C(9) (a
          bearer token); null when no login was answered."
      returned: always
      sample: 4
      type: int
    port:
      description:
        - "The port the appliance API answered on; null when nothing answered."
      returned: always
      sample: 8443
      type: int
    version:
      description:
        - "The Usage Meter version as C(major.minor.patch), the form the roles compare with their target; null
          when it could not be read."
      returned: always
      sample: "4.3.0"
      type: str
    version_info:
      contains:
        build:
          description:
            - The build number, as the API gave it.
          returned: when available
          type: str
        hotfix:
          description:
            - hotfix
          returned: always
          type: int
        major:
          description:
            - major
          returned: always
          type: int
        minor:
          description:
            - minor
          returned: always
          type: int
        patch:
          description:
            - patch
          returned: always
          type: int
      description:
        - "The version as numbers (C(major), C(minor), C(patch), C(hotfix), C(build)); null when not read."
      returned: always
      type: dict
  description:
    - "The version read through the appliance API (login, C(GET /agent_info), logout); null when
      O(api_password) is not given."
  returned: always (null without api_password)
  type: dict
appliance:
  contains:
    boot_id:
      description:
        - "The kernel's boot id; it changes at every boot."
      returned: always
      sample: "2b1f0e4a-5c1e-4f55-9a59-1b1c2e1a9d10"
      type: str
    hostname:
      description:
        - The appliance's host name.
      returned: always
      sample: um01
      type: str
    install_is_symlink:
      description:
        - "Whether O(install_dir) is a symbolic link (unknown whether 4.3 makes it one [guess])."
      returned: always
      type: bool
    install_present:
      description:
        - Whether O(install_dir) exists.
      returned: always
      type: bool
    old_install_present:
      description:
        - "Whether O(old_install_dir) exists: the 4.3 upgrade has been completed by its reboot."
      returned: always
      type: bool
    opt_free_bytes:
      description:
        - "Free bytes on the filesystem that holds C(/opt/vmware); null when C(df) gave nothing readable."
      returned: always
      sample: 5738097664
      type: int
    root_password_expired:
      description:
        - "Whether the root password has expired (an expired root password breaks non-interactive SSH); null
          when it cannot be computed."
      returned: always
      type: bool
    root_password_expires_in_days:
      description:
        - "Days until the root password expires (negative: expired that many days ago); null when it never
          expires or cannot be computed."
      returned: always
      type: int
    root_password_expiry:
      description:
        - "When the root password expires, from C(chage -l root): C(never), a date (C(YYYY-MM-DD)), C(password
          must be changed), or chage's own wording; null when chage is not available."
      returned: always
      sample: "2027-02-23"
      type: str
    sshd_active:
      description:
        - Whether sshd is running.
      returned: always
      type: bool
    sshd_enabled:
      description:
        - "Whether sshd starts at boot; null when it could not be read."
      returned: always
      type: bool
    staged:
      contains:
        dest:
          description:
            - Path of the bundle on the appliance.
          returned: always
          sample: "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
          type: str
        name:
          description:
            - Name of the file on the controller it was copied from.
          returned: when available
          sample: ums-system-upgrade.shar
          type: str
        sha1:
          description:
            - "Its SHA-1 (hex), when it was checked against one (an ISO's C(.mf)); else null."
          returned: always (null when not checked)
          sample: "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
          type: str
        sha256:
          description:
            - Its sha256 (hex) when it was staged.
          returned: always
          sample: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
          type: str
        size:
          description:
            - Its size in bytes.
          returned: always
          sample: 1073741824
          type: int
        staged_at:
          description:
            - When it was staged (UTC).
          returned: always
          sample: "2026-12-01T18:30:05Z"
          type: str
      description:
        - "The bundles staged on the appliance: the records M(vcloud.usage_meter.shar_copy) left with
          O(vcloud.usage_meter.shar_copy#module:record=true) under O(state_dir), by dest. Read as recorded,
          not hashed: M(vcloud.usage_meter.shar_copy) with
          O(vcloud.usage_meter.shar_copy#module:staged=verify) checks a bundle is unchanged."
      elements: dict
      returned: always
      type: list
    upgrade_awaits_reboot:
      description:
        - "Whether a successful upgrade run finished in the current boot, so the reboot that completes it is
          still due."
      returned: always
      type: bool
    upgrade_in_progress:
      description:
        - Whether an upgrade run is in progress now.
      returned: always
      type: bool
    upgrade_logs:
      description:
        - "Upgrade logs (C(var/logs/inplaceupgradeum-*) under O(install_dir) and O(old_install_dir)), newest
          first."
      elements: str
      returned: always
      type: list
    upgrade_rc:
      description:
        - "Exit code of the recorded upgrade run; null when none is recorded."
      returned: always
      type: int
    upgrade_recorded:
      description:
        - Whether a finished run of M(vcloud.usage_meter.upgrade) is recorded on the appliance.
      returned: always
      type: bool
    version:
      description:
        - "The Usage Meter version from the appliance API (C(GET /agent_info)), as C(major.minor.patch.hotfix
          build N); only when O(api_password) is given and the API answered (otherwise a warning says why)."
      returned: when api_password is given and the API answered
      sample: "4.2.0.0 build 18320944"
      type: str
    version_info:
      contains:
        build:
          description:
            - The build number, as the API gave it.
          returned: when available
          type: str
        hotfix:
          description:
            - hotfix
          returned: always
          type: int
        major:
          description:
            - major
          returned: always
          type: int
        minor:
          description:
            - minor
          returned: always
          type: int
        patch:
          description:
            - patch
          returned: always
          type: int
      description:
        - The same version as numbers (C(major), C(minor), C(patch), C(hotfix), C(build)).
      returned: when api_password is given and the API answered
      type: dict
  description:
    - "The appliance's state, read over SSH; null when O(ssh) is false. (The version read through the
      appliance API is added here as well.)"
  returned: always (null when ssh is false)
  type: dict
ssh_port:
  contains:
    banner:
      description:
        - sshd's identification line when C(open).
      returned: always (null unless open)
      sample: SSH-2.0-OpenSSH_8.8
      type: str
    msg:
      description:
        - What was seen, in words.
      returned: always
      sample: sshd answers on um01.example.com (SSH-2.0-OpenSSH_8.8)
      type: str
    state:
      description:
        - "C(open), C(closed) or C(silent). Only C(open) means sshd answers: a port forward or NAT that accepts
          the connection and then resets it is C(closed)."
      returned: always
      sample: open
      type: str
  description:
    - "What the probe of the SSH port found; null unless O(ssh_probe) is true."
  returned: always (null without ssh_probe)
  type: dict
"""
