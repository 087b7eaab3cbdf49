# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/bundle_info.py runs this
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
    description: "Runs on the controller (Linux x86_64 or aarch64) and opens no connection: it reads files on the
      controller only. The connection options of the action group are accepted and ignored."
    platforms: posix
    support: full
author:
  - vcloud.usage_meter maintainers (@vcloud)
description:
  - "From the version the appliance reports, the target version and the bundles downloaded (the 4.3 shar,
    an ISO per later release), works out the shortest sequence of in-place upgrades (hops) that the
    documented rules allow, such as 4.2 to 4.3 to 4.8 to 9.0; refuses a forbidden hop or a missing
    bundle, saying what to download."
  - "Verifies each ISO the plan uses, on the controller: its SHA-1 against its C(.mf) (a line of the GNU
    form, hash, two spaces, file name, or of the BSD/OVF form SHA1(file name)= hash), its signing
    certificate (C(.crt): chain to O(ca_path) or the system store, validity dates), and its signature
    (C(.sign)) with the certificate's key. A failure names the check and the file."
  - "The pass over an ISO is cached on the controller (keyed on the files' path, inode, size and times),
    so the task run once per host reads each ISO once."
  - "Read-only: runs in check mode too and never reports a change. Opens no connection to the appliance."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
module: bundle_info
notes:
  - "Each item of O(bundles) is a dict: C(path) (required), C(version) (when the file name does not carry
    it), and for an ISO C(mf), C(crt), C(sign) (default: beside the ISO, same name). Relative paths are
    taken from the directory Ansible runs in: give absolute paths (C({{ playbook_dir }}/files/...))."
  - "The rules: 4.3 from 4.1 or 4.2 (the shar); 4.4 and 4.5 on top of 4.x; 4.6 and 4.7 on top of 4.3 and
    later; 4.8 not published (O(min_source_4_8)); 9.x from 4.8 with an access token, from 9.0 and later
    without; other 9.x sources not published (O(min_source_9))."
options:
  access_token:
    description:
      - "The access token (it starts with C(UMA:)) that a hop from 4.x to 9.x needs. Never shown."
    type: str
  bundles:
    description:
      - "The bundles downloaded: a list of dicts with the keys C(path) (required), C(version), C(mf), C(crt),
        C(sign) (see the notes)."
      - Only the bundles the plan uses are verified.
    elements: dict
    type: list
  ca_path:
    description:
      - A PEM file of CA certificates to which the ISOs' signing certificates must chain.
      - "Default: the controller's system store (E(SSL_CERT_FILE), E(SSL_CERT_DIR), else the distribution's
        CA bundle)."
    type: path
  current_version:
    description:
      - "The version the appliance reports (RV(vcloud.usage_meter.appliance_info#module:api.version)), such
        as C(4.2.0.0 build 18320944) or C(4.2.0)."
    required: true
    type: str
  expired_certificate:
    choices:
      - fail
      - warn
    default: fail
    description:
      - "An ISO whose signing certificate has expired since it was signed. The vendor says nothing about it;
        the default refuses it, as an expired certificate is no longer looked after by its issuer; V(warn)
        accepts it, the chain and the signature still checked."
      - "V(fail): Refuse the ISO."
      - "V(warn): Accept it with a warning (the chain and the signature are still checked)."
    type: str
  min_source_4_8:
    default: "4.3.0"
    description:
      - "[guess] The lowest version 4.8 installs on top of (not published; 4.6 and 4.7 say 4.3)."
    type: str
  min_source_9:
    default: "4.8.0"
    description:
      - "[guess] The lowest 4.x version 9.x installs on top of, with the access token (only 4.8 is
        published)."
    type: str
  signature_digest:
    choices:
      - sha1
      - sha256
    default: sha1
    description:
      - The digest of the C(.sign) signature.
      - "V(sha1): As the vendor's command (C(openssl dgst -sha1 -verify))."
      - "V(sha256): [guess] For an ISO signed with SHA-256."
    type: str
  target_version:
    default: "4.3.0"
    description:
      - "The version to reach. Hops are planned up to its release line (C(4.8) is reached by any 4.8 ISO at
        or above it)."
    type: str
short_description: Verify upgrade bundles on the controller and plan the upgrade hops
version_added: "1.2.0"
"""

EXAMPLES = r"""
- name: Plan the hops to 4.8 and verify the ISOs
  vcloud.usage_meter.bundle_info:
    current_version: "{{ um_api.api.version }}"
    target_version: "4.8"
    bundles:
      - path: "{{ playbook_dir }}/files/ums-system-upgrade.shar"
      - path: "{{ playbook_dir }}/files/Usage_Meter_Agent-4.8.0.0-24087577_Upgrade.iso"
    access_token: "{{ usage_meter_access_token | default(omit) }}"
  delegate_to: localhost
  register: um_bundles

- name: Show the hops
  ansible.builtin.debug:
    msg: "{{ um_bundles.hops | map(attribute='to') | list }}"
"""

RETURN = r"""
current_version:
  description:
    - The appliance's version as planned from (C(major.minor.patch)).
  returned: always
  sample: "4.2.0"
  type: str
hops:
  contains:
    bundle:
      contains:
        build:
          description:
            - "The build from the ISO's name; null for the shar."
          returned: always
          type: str
        cached:
          description:
            - "Whether the pass over the ISO (SHA-1, signature) came from the controller's cache, the files
              unchanged since it was made."
          returned: always
          type: bool
        certificate:
          contains:
            expired:
              description:
                - Whether it has expired (accepted only with O(expired_certificate=warn)).
              returned: always
              type: bool
            issuer:
              description:
                - The certificate's issuer.
              returned: always
              type: str
            not_after:
              description:
                - End of its validity.
              returned: always
              sample: "Jan  1 00:00:00 2027 GMT"
              type: str
            not_before:
              description:
                - Start of its validity.
              returned: always
              sample: "Jan  1 00:00:00 2025 GMT"
              type: str
            subject:
              description:
                - The certificate's subject.
              returned: always
              sample: CN=Usage Meter Signing, O=VMware
              type: str
          description:
            - The signing certificate of the ISO.
          returned: for an ISO
          type: dict
        crt:
          description:
            - The ISO's signing certificate that was checked.
          returned: always (null for the shar)
          type: str
        kind:
          description:
            - C(shar) or C(iso).
          returned: always
          type: str
        mf:
          description:
            - The ISO's manifest that was read.
          returned: always (null for the shar)
          type: str
        path:
          description:
            - The bundle's path, as given.
          returned: always
          type: str
        sha1:
          description:
            - The ISO's SHA-1 (it matched the C(.mf)).
          returned: for a verified ISO
          type: str
        sign:
          description:
            - The ISO's signature that was checked.
          returned: always (null for the shar)
          type: str
        size:
          description:
            - The ISO's size in bytes.
          returned: for a verified ISO
          type: int
        verified:
          description:
            - "Whether the C(.mf) SHA-1, the certificate and the signature were all checked and good (false for the
              shar: M(vcloud.usage_meter.shar_copy) checks its sha256)."
          returned: always
          type: bool
        version:
          description:
            - "The bundle's version (from its name, or as given; C(4.3.0) for the shar)."
          returned: always
          sample: "4.8.0"
          type: str
      description:
        - The bundle that makes the hop, and what was checked.
      returned: always
      type: dict
    from:
      description:
        - The version before the hop.
      returned: always
      sample: "4.2.0"
      type: str
    needs_token:
      description:
        - Whether the hop needs the access token (4.x to 9.x).
      returned: always
      type: bool
    rule:
      description:
        - "The rule that allows it, with its mark: C(on top of 4.x [doc])."
      returned: always
      type: str
    to:
      description:
        - The version after the hop.
      returned: always
      sample: "4.3.0"
      type: str
  description:
    - "The hops, in the order to run them, each bundle verified; empty when no upgrade is needed."
  elements: dict
  returned: always
  type: list
target_version:
  description:
    - The target version (C(major.minor.patch)).
  returned: always
  sample: "4.3.0"
  type: str
unused:
  description:
    - The bundles given that the plan does not use (not verified).
  elements: str
  returned: always
  type: list
upgrade_needed:
  description:
    - Whether the appliance is below the target.
  returned: always
  type: bool
"""
