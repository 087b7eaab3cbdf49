# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/upgrade.py runs this
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
  - "Runs C(bash <shar>) in O(chdir) on a vCloud Usage Meter appliance, as the documented 4.3 in-place
    upgrade does, and waits for it."
  - "The bundle runs detached on the appliance (new session, output to a log under O(state_dir)), so a
    dropped SSH connection does not stop it; the module reconnects with backoff and keeps waiting until
    O(timeout)."
  - "A task that finds an upgrade already running attaches to it instead of starting another. A lock on
    the appliance (C(flock) on a file under O(state_dir), held by the run) makes sure the bundle never
    runs twice at once, even from two plays."
  - "The outcome (bundle sha256, exit code, boot id at completion, log paths) is recorded under
    O(state_dir). A re-run after success reports C(changed=false), with RV(reboot_required) true until
    the appliance has rebooted. Without a record, an existing C(<chdir>-old) means the appliance already
    has the 4.3 layout: nothing is done."
  - "A previous run of the same bundle that failed or was interrupted is not repeated unless
    O(force=true): restore the snapshot first."
  - "With O(script) it runs an upgrade ISO's script (4.4 and later, mounted by
    M(vcloud.usage_meter.iso_mount)) the same way: C(bash <script>) from the script's directory,
    detached, locked, recorded under the ISO's O(checksum) (never twice for the same ISO), re-attached
    after a dropped connection. The run answers the access token prompt by itself (O(access_token),
    O(token_input), O(token_prompt)); a prompt nobody expected stops the run and fails the task at once
    with its text (O(prompt_timeout)). A script that reboots the appliance is no failure: RV(rebooted)
    says so."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: upgrade
notes:
  - "The 4.3 upgrade is completed by a reboot (M(vcloud.usage_meter.reboot)); this module does not
    reboot."
  - "ISO mode needs C(mkfifo), C(pgrep)/C(pkill) and, for O(token_input=pty), util-linux C(script) on the
    appliance."
  - Needs C(flock) (util-linux) on the appliance.
options:
  access_token:
    description:
      - "The access token an upgrade to 9.x asks for (it starts with C(UMA:)). Given to the script when its
        output shows O(token_prompt); it travels only over the SSH connection's standard input into a
        root-only file that the run reads into a shell variable and removes at once: never a command line,
        an environment, a log or the output. When the prompt comes and no token was given, the run is
        stopped and the task fails."
    type: str
  chdir:
    default: "/opt/vmware/cloudusagemetering"
    description:
      - "Directory the bundle is run from, as the documented procedure does (C(cd
        /opt/vmware/cloudusagemetering && bash ums-system-upgrade.shar)). Its C(var/logs/inplaceupgradeum-*)
        files are the upgrade logs, and C(<chdir>-old) existing means the appliance already went through the
        4.3 upgrade."
    type: str
  checksum:
    description:
      - "sha256 the bundle on the appliance must have, C(sha256:<64 hex digits>); a different bundle is
        refused."
      - "With O(script) it is required: the ISO's checksum, C(sha1:<40 hex digits>) (as in its C(.mf)) or
        C(sha256:<64 hex digits>). It names the ISO in the run record, so that the same ISO never runs
        twice; it is not computed here (M(vcloud.usage_meter.shar_copy) verified the copy)."
    type: str
  force:
    default: false
    description:
      - "Run the bundle even when the same bundle already ran successfully, a previous run failed or was
        interrupted, or the appliance already has the 4.3 layout. Never starts a second run while one is in
        progress."
    type: bool
  poll_interval:
    default: 10
    description:
      - "Longest time in seconds one status check waits on the appliance; the end of the run is noticed
        within a quarter of a second either way."
    type: int
  prompt_timeout:
    default: 60
    description:
      - "Seconds the output's last line may stand without a line break and with no further output before it
        counts as a prompt nobody expected (not O(token_prompt)): the script is then stopped (its process
        group killed) and the task fails at once with the prompt's text. Too low a value stops a script that
        only prints C(Working... ) and works quietly."
    type: int
  reboot_wait:
    default: 10
    description:
      - "With O(script): seconds to watch, after a successful run that did not reboot, whether the appliance
        goes down anyway (a script that ends with C(reboot), which returns before the system stops) [guess].
        When it does, the task waits for it to come back (within O(timeout)) and returns RV(rebooted=true).
        V(0) does not watch."
    type: int
  script:
    description:
      - "Absolute path of an upgrade ISO's script on the appliance (4.4 and later), as
        M(vcloud.usage_meter.iso_mount) returns it in RV(vcloud.usage_meter.iso_mount#module:script). It
        runs as C(bash <script>) from its own directory instead of the bundle, detached, under the same lock
        and record; O(chdir) is then only where the upgrade logs are looked for. Mutually exclusive with
        O(shar)."
    type: str
  shar:
    default: "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
    description:
      - Path of the upgrade bundle on the appliance (see M(vcloud.usage_meter.shar_copy)).
    type: str
  state_dir:
    default: "/var/lib/vcloud-usage-meter"
    description:
      - "Directory of this collection on the appliance: the lock, the record of the last run and the run's
        output. Must survive the reboot, so it must not be inside O(chdir)."
    type: str
  tail_lines:
    default: 20
    description:
      - How many lines of the run's output to return in RV(stdout_lines).
    type: int
  timeout:
    default: 3600
    description:
      - "Seconds to wait for the upgrade to finish. When they run out the task fails but the upgrade keeps
        running on the appliance; run the task again to attach to it."
    type: int
  token_input:
    choices:
      - stdin
      - pty
    default: stdin
    description:
      - "How the script reads the token [guess]: V(stdin), or V(pty) for a script that reads its terminal
        (C(/dev/tty)); it then runs under util-linux C(script), with echo off."
      - "V(stdin): From its standard input (C(read -r))."
      - "V(pty): From its terminal (C(/dev/tty)): the script runs under util-linux C(script), with echo off."
    type: str
  token_prompt:
    default: "access token[^:]*:[[:space:]]*$"
    description:
      - "The token prompt [guess]: an extended regular expression (bash C(=~)), matched case-insensitively
        against the output's last line while that line has no line break yet."
    type: str
short_description: Run the Usage Meter in-place upgrade bundle, detached, locked and recorded
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Run the upgrade bundle copied by shar_copy
  vcloud.usage_meter.upgrade:
    checksum: "sha256:{{ ums_bundle_sha256 }}"
  register: upgrade

- name: Reboot to complete it
  vcloud.usage_meter.reboot:
  when: upgrade.reboot_required

- name: Run a mounted ISO's upgrade script, answering the token prompt
  vcloud.usage_meter.upgrade:
    script: "{{ iso.script }}"
    checksum: "sha1:{{ iso_sha1 }}"
    access_token: "{{ usage_meter_access_token }}"
  register: upgrade
"""

RETURN = r"""
attached:
  description:
    - "Whether this task found the upgrade already running (started by an earlier task or another play) and
      waited for it instead of starting it."
  returned: always
  sample: false
  type: bool
checksum:
  description:
    - "sha256 of the bundle (C(sha256:<hex>)), when it is on the appliance or recorded."
  returned: when known
  sample: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  type: str
log:
  description:
    - "Output of the run on the appliance (stdout and stderr), under O(state_dir). Also returned when the
      task fails because the run failed."
  returned: when a run is recorded, also on failure
  sample: "/var/lib/vcloud-usage-meter/runs/1795000000-4242.log"
  type: str
rc:
  description:
    - "Exit code of C(bash <shar>). Absent when no run is recorded (nothing ran, or check mode): Ansible
      counts any other C(rc) than 0 as a failure. Also returned when the task fails because the run
      failed."
  returned: when a run is recorded, also on failure
  sample: 0
  type: int
reboot_required:
  description:
    - "Whether the appliance must be rebooted to complete the upgrade (a successful run is recorded in the
      current boot)."
  returned: always
  sample: true
  type: bool
rebooted:
  description:
    - "The appliance rebooted during the run (its boot id changed): an ISO's script that reboots by itself.
      Not a failure; verify the version after."
  returned: always
  sample: false
  type: bool
seconds:
  description:
    - Wall time of the task in seconds.
  returned: always
  sample: 312.5
  type: float
status:
  description:
    - "What happened: V(ran), V(attached), V(already_ran) (this bundle already succeeded),
      V(already_upgraded) (4.3 layout, no record), V(would_run), V(would_attach) (check mode)."
  returned: always
  sample: ran
  type: str
stdout_lines:
  description:
    - "The last O(tail_lines) lines of the run's output. Also returned when the task fails because the run
      failed (not when it fails before a run, e.g. at the connection)."
  elements: str
  returned: success, and on failure of the run
  sample:
    - "INFO  upgrade to 4.3.0 staged; reboot the appliance to complete the upgrade"
  type: list
upgrade_log:
  description:
    - "The newest C(var/logs/inplaceupgradeum-*) file under O(chdir). Also returned when the task fails
      because the run failed."
  returned: when one exists, also on failure
  sample: "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-12345"
  type: str
"""
