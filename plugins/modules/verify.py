# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/verify.py runs this
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
  - "Runs the appliance's status script (C(cd /opt/vmware/cloudusagemetering && ./scripts/status.sh)),
    the documented check after the 4.3 upgrade and its reboot, until every listed service is Running or
    O(timeout) has passed."
  - "Services come up Offline, then Running, over some time after a boot, so the module polls every
    O(interval) seconds."
  - "Healthy means every service Running and settled: by default, every service's systemd unit active for
    at least O(settle_seconds) with no restart since (O(settle_on)), which ends the wait as soon as it
    holds; where the appliance cannot tell, every service Running in O(settle_polls) consecutive checks
    spread over at least O(settle_seconds) (by default 3 checks over 20 s at the default interval). A
    service in a crash loop, Running for a moment after each restart, does not pass, and is named as
    flapping in the failure."
  - "The output is parsed defensively, because its format is not published [guess]: ANSI colours are
    removed, each line is read as one service, headers, rulers, blank lines and prose are ignored, and
    the name may stand before the status (C(gw : Running), a padded table, C(| gw | Running |), C(gw is
    running)) or after it."
  - "Fails, after the wait, when any service is Offline or no service is Running, with the names, the
    path of the newest upgrade log and its last lines."
  - "With O(api_password), once every service is Running, also reads the Usage Meter version through the
    appliance API (RV(api)): the version the upgrade left. Both API generations are spoken (4.x on port
    8443, 9.x on 443, see O(api_generation)), so the version after an upgrade to 9.x is read as well. An
    API problem is a warning and RV(api.error), not a failure."
  - "Read-only: it runs in check mode too and never reports a change."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
  - vcloud.usage_meter.api
module: verify
notes:
  - "When a service stays Offline after the 4.3 upgrade, the documented recovery is to revert the
    appliance to the snapshot taken before the upgrade and repeat it."
  - "O(running_pattern) and O(offline_pattern) are regular expressions in Rust syntax; the earlier match
    in a line decides, and a line matching O(offline_pattern) counts as Offline even when no service
    name can be read from it."
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
  service_unit:
    default: "{name}.service"
    description:
      - "The systemd unit of each service listed by O(command): C({name}) is the service's name in lower
        case."
      - "[guess] The unit names of the Usage Meter services are not published. With a name systemd does not
        know, the fixed window decides (see O(settle_on))."
    type: str
  settle_on:
    choices:
      - service_manager
      - window
    description:
      - What decides that the services have settled.
      - "V(service_manager): once every service is Running, ask systemd how long the unit of each service
        (O(service_unit)) has been active (C(systemctl show -p
        ActiveState,NRestarts,ActiveEnterTimestampMonotonic)); healthy as soon as every unit has been
        active, with no restart since, for O(settle_seconds), and not before, whatever the checks saw. A
        crash loop restarts its unit, so it never gets there. Where the appliance cannot tell (no
        C(systemctl show), a unit it does not know), the fixed window decides, as with V(window):
        O(settle_polls) consecutive checks over O(settle_seconds)."
      - "V(service_manager): The service manager's evidence where the appliance can tell, else the fixed
        window."
      - "V(window): Only the fixed window of consecutive checks."
    type: str
  settle_polls:
    default: 3
    description:
      - "How many consecutive runs of O(command) must show every service Running before the services count as
        healthy (the settle window)."
      - "A service in a crash loop (C(Restart=on-failure)) shows Running for a moment after each restart; one
        lucky run must not pass it."
    type: int
  settle_seconds:
    description:
      - "Seconds that must lie between the first and the last of those consecutive all-Running runs. Default
        4 x O(interval): 20 s at the default interval of 5 s."
      - "The wait goes on past O(timeout) while a settle window that started before it is still running; a
        run that is not all Running ends it. With O(timeout=0) the module checks once and does not settle."
    type: int
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
    timeout: 900
  register: um_status

- name: Show the services
  ansible.builtin.debug:
    var: um_status.services

- name: A status script that prints UP/DOWN
  vcloud.usage_meter.verify:
    running_pattern: '\bUP\b'
    offline_pattern: '\bDOWN\b'
"""

RETURN = r"""
all_running:
  description:
    - Whether at least one service is listed and all listed services are Running.
  returned: always
  sample: true
  type: bool
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
    - "The version the appliance API reported once every service was Running (login, C(GET /agent_info),
      logout; O(api_retries) waits out an API that does not listen yet); null when O(api_password) is not
      given. An API problem is a warning and C(api.error), not a failure."
  returned: success (null without api_password)
  type: dict
attempts:
  description:
    - How many times O(command) ran.
  returned: always
  sample: 3
  type: int
flapping:
  description:
    - Services seen Running and then not Running during the wait (a crash loop, or a restart).
  elements: str
  returned: always
  sample: []
  type: list
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
settled_by:
  description:
    - "What ended the wait for the services to settle: C(service manager) (every unit active for
      O(settle_seconds), see O(settle_on)) or C(window) (the consecutive checks); null when they did not
      settle."
  returned: always
  sample: service manager
  type: str
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
units:
  contains:
    active_seconds:
      description:
        - "Seconds since the unit last became active (C(ActiveEnterTimestampMonotonic)); null when it is not
          active."
      returned: always
      sample: 3721.4
      type: float
    active_state:
      description:
        - "systemd's C(ActiveState): C(active), C(activating), C(failed), ..."
      returned: always
      sample: active
      type: str
    restarts:
      description:
        - "How often systemd restarted it (C(NRestarts)); null when not reported."
      returned: always
      sample: 0
      type: int
    unit:
      description:
        - The unit's name.
      returned: always
      sample: gw.service
      type: str
  description:
    - "The service manager's evidence of the last read, service → its unit, C(active_state),
      C(active_seconds), C(restarts); null when it was not read or the appliance cannot tell."
  returned: always
  type: dict
upgrade_log:
  description:
    - "Path of the newest upgrade log (C(var/logs/inplaceupgradeum-*) under O(chdir) or
      O(old_install_dir)); null when there is none."
  returned: always
  sample: "/opt/vmware/cloudusagemetering/var/logs/inplaceupgradeum-20262511-19264531"
  type: str
upgrade_log_tail:
  description:
    - "The last O(log_tail_lines) lines of the upgrade log (C(upgrade_log)), when the services are not all
      Running at the end of the wait (the failure result, which carries the other fields too)."
  elements: str
  returned: failure
  sample:
    - INFO upgrade step 9/9 done
    - ERROR vcdcol did not start
  type: list
waited:
  description:
    - Seconds spent waiting for the services.
  returned: always
  sample: 4.2
  type: float
"""
