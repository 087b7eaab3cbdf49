# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/shar_copy.py runs this
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
  - "Copies C(ums-system-upgrade.shar) from the controller to the appliance over SSH, the copy step of
    the in-place upgrade to 4.3."
  - "Skips the transfer when O(dest) already has the same sha256. Checks the free space on the
    destination filesystem first."
  - "Writes to C(.<name>.part) next to O(dest) (with two streams, see O(streams), the upper half to
    C(.<name>.part.2), appended on the appliance); then, in one step on the appliance, hashes that file
    as it is on disk and renames exactly those bytes into place only when size and sha256 match, so the
    real name never holds a truncated or foreign bundle. A later run (or a retry after a dropped
    connection, see O(retries)) resumes the partial copy; if the resumed file does not verify, the copy
    starts over once."
  - "Copies to one appliance take turns (two plays at once): each holds a lock on the appliance (C(flock)
    on C(shar_copy.lock) under O(state_dir)) from before it looks at O(dest) until it ends, and the lock
    is released as soon as the copy ends or its SSH connection closes. The second copy waits (see
    O(lock_timeout)) and then finds the bundle in place (no change) or copies its own; when it gives up,
    it names the other copy (controller, source, age)."
  - "Staging ahead of the maintenance window: with O(record) the task leaves a record on the appliance of
    the bundle it put (or found) in place; later, O(staged=verify) copies nothing and only checks that
    the staged bundle is still there, unchanged, failing with the time it was staged when it is not."
  - "The appliance hashes the written file (with C(openssl dgst), else C(sha256sum)). That sum is
    compared with O(checksum) when given; else with the local file's, which the controller hashes while
    it sends."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: shar_copy
notes:
  - "The checksum of a copied bundle is cached on the appliance under O(state_dir) and on the controller
    in its temporary directory (private to the user), keyed by the file's identity and modification and
    change times, so an unchanged re-run costs no hashing."
  - "Needs C(flock) (util-linux) on the appliance, as vcloud.usage_meter.upgrade does. Check mode takes
    no lock and writes nothing."
options:
  checksum:
    description:
      - "Expected checksum of O(src), C(sha256:<64 hex digits>) as published with the bundle, or C(sha1:<40
        hex digits>) for an ISO (its C(.mf) is SHA-1: the appliance then hashes the bundle with sha1 as
        well, after the copy verified it with sha256 against the local file's). The copy on the appliance is
        checked against it; the local file is checked against it before a byte is sent when its checksum is
        known on the controller already (cached), in check mode, and when O(dest) has the bundle's size;
        else only when the copy does not verify, to tell a wrong local file (the task fails naming it; its
        copy is not put in place) from a transfer that went wrong (copied again once)."
    type: str
  create_dir:
    default: false
    description:
      - "Make the folder of O(dest) (and its parents, readable by root only) when it is missing, instead of
        failing. The inplace_upgrade role sets it for the later releases' ISOs, whose folder no appliance
        has at first."
    type: bool
  dest:
    default: "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
    description:
      - "Absolute path of the bundle on the appliance. The documented procedure runs it from
        C(/opt/vmware/cloudusagemetering)."
    type: str
  force:
    default: false
    description:
      - Copy even when O(dest) already has the same sha256.
    type: bool
  lock_timeout:
    default: 600
    description:
      - "Seconds to wait while another copy to the same appliance runs (two plays at once). Copies to one
        appliance take turns under a lock; the one that waited then finds the bundle in place (no change)
        when it is the same file. After this long the task fails, naming the other copy. With V(0) it fails
        at once."
    type: int
  record:
    default: false
    description:
      - "Leave a record on the appliance that the bundle is staged, once it is in place and verified (copied,
        or found identical): C(<state_dir>/staged/<name of dest>.json), readable by root only, with dest,
        sha256 (and sha1 when O(checksum) is one), size, the time (UTC) and the name of O(src). A record
        that already says the same keeps its time. M(vcloud.usage_meter.appliance_info) lists the records
        (RV(vcloud.usage_meter.appliance_info#module:appliance.staged))."
    type: bool
  retries:
    default: 2
    description:
      - "How many times to reconnect and resume when the SSH connection drops during the copy. With V(0) the
        task fails and a later run resumes."
    type: int
  src:
    description:
      - "Path on the controller of the upgrade bundle (C(ums-system-upgrade.shar) downloaded from the vendor
        portal)."
    required: true
    type: path
  staged:
    choices:
      - ignore
      - verify
    default: ignore
    description:
      - "V(verify): copy nothing, only check that O(dest) is there with the checksum and size its staging
        record says (one login; the appliance hashes it once, writes nothing), and that it is O(src) (size,
        and sha256 when known on the controller) and has O(checksum) when given; else fail naming O(dest)
        and the time it was staged (\"staged bundle changed on the appliance since ...\"). Fails too when
        there is no record. V(ignore): copy as usual (RV(staged) and RV(staged_at) still tell of a record)."
    type: str
  state_dir:
    default: "/var/lib/vcloud-usage-meter"
    description:
      - "Directory of this collection on the appliance, where the checksum of a copied bundle is cached
        (keyed by device, inode, size, mtime and ctime, so a changed file is hashed again) and where the
        copy lock lives. Must not be inside C(/opt/vmware/cloudusagemetering)."
    type: str
  streams:
    choices:
      - auto
      - "1"
      - "2"
    default: auto
    description:
      - "How many SSH streams send the bundle. V(2): two connections (a second login) on two threads, each
        sending one half into its own file on the appliance, which joins them before it hashes the whole; an
        interrupted copy resumes both halves. V(1): one connection, one login. V(auto): two streams when at
        least 512 MiB are still to be sent, else one. Measured at 1 GiB: almost half the time of one stream
        at 50 ms (the window per round trip bounds one stream there), on a local link from nothing to a
        fifth, depending on how busy the controller's CPUs are; at 256 MiB on a local link the two were
        even, so the second login is not taken below 512 MiB. A split copy needs room on the appliance for
        its upper half twice while the halves are joined."
    type: str
short_description: Copy the upgrade bundle to a Usage Meter appliance, verified and resumable
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Copy the bundle, verified against the published checksum
  vcloud.usage_meter.shar_copy:
    src: files/ums-system-upgrade.shar
    checksum: "sha256:{{ ums_bundle_sha256 }}"

- name: Stage an ISO days ahead (checked against the SHA-1 of its .mf), with a record
  vcloud.usage_meter.shar_copy:
    src: files/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    dest: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    checksum: "sha1:{{ um_iso_sha1 }}"
    record: true

- name: In the window, only check the staged bundle (nothing is sent)
  vcloud.usage_meter.shar_copy:
    src: files/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    dest: /opt/vmware/upgrade/Usage_Meter_Agent-4.8.0.0-24229441_Upgrade.iso
    staged: verify
  register: um_staged
"""

RETURN = r"""
checksum:
  description:
    - Checksum of the bundle (on both sides after the task).
  returned: always
  sample: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  type: str
dest:
  description:
    - Path of the bundle on the appliance.
  returned: always
  sample: "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar"
  type: str
resumed:
  description:
    - Whether this run continued a partial copy left by an interrupted one.
  returned: always
  sample: false
  type: bool
seconds:
  description:
    - Wall time of the task in seconds.
  returned: always
  sample: 3.2
  type: float
size:
  description:
    - Size of the bundle in bytes.
  returned: always
  sample: 1073741824
  type: int
staged:
  description:
    - "Whether a staging record on the appliance (see O(record)) says that O(dest) holds this bundle (in
      check mode: as it is before the task)."
  returned: always
  sample: true
  type: bool
staged_at:
  description:
    - "When the bundle was staged (UTC), from its record on the appliance; null when there is none."
  returned: always (null without a record)
  sample: "2026-12-01T18:30:05Z"
  type: str
transferred:
  description:
    - "Bytes sent by this run (0 when the appliance already had the file, less than RV(size) when a partial
      copy was resumed)."
  returned: always
  sample: 1073741824
  type: int
"""
