# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/certificates.py runs this
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
  - "After an in-place upgrade, vCloud Usage Meter waits until the certificate of every metered product
    server (vCenter, vCloud Director, NSX, ...) is accepted again; the documented way is to click
    through the web UI."
  - "This module does it through the appliance REST API: it logs in as O(api_username), lists the pending
    C(Cert) user actions, accepts those allowed by O(expected_fingerprints) and O(accept_unpinned), and
    lists again to confirm."
  - "With O(expected_fingerprints), a certificate is accepted only when the appliance reports exactly the
    pinned SHA-256 fingerprint; others are refused, reported in RV(refused) and left pending."
  - "Runs on the controller; the appliance is the inventory host: its C(ansible_host), C(ansible_port),
    C(ansible_user), C(ansible_password) or C(ansible_ssh_private_key_file) are used unless given as
    options. The session id (4.x) or bearer token (9.x) is never shown, and a session that expires
    mid-run is renewed once."
  - "Speaks both generations of the appliance API: 4.x (port 8443, a session id) and 9.x (port 443, a
    bearer token), told from the login answer unless O(api_generation) forces one; RV(api) says which."
extends_documentation_fragment:
  - vcloud.usage_meter.connection
  - vcloud.usage_meter.api
module: certificates
notes:
  - "The API works only after the appliance's initial setup is done, and it serves a self-signed
    certificate by default: give that certificate (PEM) in O(ca_path), or set O(validate_certs=false) in
    a lab."
  - "When any certificate is refused and O(fail_on_refused=true) (the default), the task fails after
    accepting the allowed ones; RV(accepted), RV(refused) and RV(pending) are still returned."
  - "In check mode nothing is accepted; RV(accepted) lists what would be accepted, and refusals fail the
    task as they would in a real run."
  - "The SSH options of the connection fragment are accepted so that C(module_defaults) for the
    C(group/vcloud.usage_meter.usage_meter) group works, but only O(host) is used."
options:
  accept_unpinned:
    description:
      - Whether to accept a pending certificate that has no pin in O(expected_fingerprints).
      - "Defaults to V(true) when O(expected_fingerprints) is empty (accept everything pending, as the web
        UI's \"accept\" does) and to V(false) when pins are given (refused with reason C(not pinned))."
    type: bool
  confirm_timeout:
    default: 30
    description:
      - "Seconds to wait, after accepting, for the accepted certificates to leave the appliance's pending
        list. [guess] The API answers 202 and may apply the acceptance shortly afterwards."
    type: int
  expected_fingerprints:
    default: {}
    description:
      - "SHA-256 fingerprints of the product servers' certificates, keyed by C(<host>:<port>) as the
        appliance names them (for example C(vc01.example.com:443)). A key without a port matches that host
        on any port."
      - "Case, colons, spaces and a C(sha256:) or C(SHA256 Fingerprint=) prefix are ignored, so the output of
        C(openssl x509 -noout -fingerprint -sha256) can be pasted."
      - "A pending certificate whose pin differs is refused (reason C(fingerprint mismatch)) and never
        accepted."
    type: dict
  fail_on_refused:
    default: true
    description:
      - Whether the task fails when any pending certificate was refused.
      - "The allowed certificates are accepted first either way; with V(false) the task succeeds and returns
        a warning listing the refused ones."
    type: bool
  state:
    choices:
      - accepted
    default: accepted
    description:
      - What to do with the pending certificates.
      - "V(accepted): Every allowed pending certificate is accepted."
    type: str
short_description: Accept the pending product-server certificates of a Usage Meter appliance
version_added: "1.0.0"
"""

EXAMPLES = r"""
- name: Accept every pending product-server certificate (lab)
  vcloud.usage_meter.certificates:
    api_password: "{{ um_api_password }}"
    ca_path: files/um01-api.pem

- name: Accept only the certificates we expect, report the rest
  vcloud.usage_meter.certificates:
    api_password: "{{ um_api_password }}"
    ca_path: files/um01-api.pem
    expected_fingerprints:
      "vc01.example.com:443": "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
      "vcd01.example.com:443": "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
    fail_on_refused: false
  register: certs

- name: Tell a person what still needs them
  ansible.builtin.debug:
    msg: "Still pending: {{ certs.pending | map(attribute='certificate_id') | list }}"
  when: certs.pending | length > 0
"""

RETURN = r"""
accepted:
  contains:
    certificate_id:
      description:
        - "C(<host>:<port>) of the product server."
      returned: always
      sample: "vc01.example.com:443"
      type: str
    expected_fingerprint:
      description:
        - "Only in RV(refused) with reason C(fingerprint mismatch): the pinned fingerprint."
      returned: when available
      type: str
    expiry:
      description:
        - Expiry of the certificate (notAfter), ISO 8601 UTC when the appliance gave epoch time.
      returned: when available
      sample: "2027-11-25T06:00:00Z"
      type: str
    fingerprint:
      description:
        - SHA-256 fingerprint reported by the appliance, upper-case colon-separated hex.
      returned: when available
      type: str
    issuer:
      description:
        - Issuer DN of the certificate.
      returned: when available
      type: str
    product_id:
      description:
        - The appliance's id of the product server.
      returned: always
      sample: 1
      type: raw
    product_type:
      description:
        - Product type as the appliance names it (for example C(VCENTER), C(VCD)).
      returned: always
      sample: VCENTER
      type: str
    reason:
      description:
        - "Only in RV(refused): C(fingerprint mismatch) or C(not pinned)."
      returned: when available
      type: str
    subject:
      description:
        - Subject DN of the certificate.
      returned: when available
      sample: CN=vc01.example.com, OU=VCENTER, O=VMware, C=US
      type: str
  description:
    - "Certificates accepted by this task (in check mode: that would be accepted)."
  elements: dict
  returned: always
  type: list
api:
  contains:
    generation:
      description:
        - "The generation of the appliance API, told from its login answer: C(4) or C(9)."
      returned: always
      sample: 4
      type: int
    port:
      description:
        - The port the appliance API answered on.
      returned: always
      sample: 8443
      type: int
  description:
    - "The appliance API spoken: its generation (C(4) or C(9), see O(api_generation)) and port."
  returned: always
  type: dict
pending:
  contains:
    certificate_id:
      description:
        - "C(<host>:<port>) of the product server."
      returned: always
      sample: "vc01.example.com:443"
      type: str
    expected_fingerprint:
      description:
        - "Only in RV(refused) with reason C(fingerprint mismatch): the pinned fingerprint."
      returned: when available
      type: str
    expiry:
      description:
        - Expiry of the certificate (notAfter), ISO 8601 UTC when the appliance gave epoch time.
      returned: when available
      sample: "2027-11-25T06:00:00Z"
      type: str
    fingerprint:
      description:
        - SHA-256 fingerprint reported by the appliance, upper-case colon-separated hex.
      returned: when available
      type: str
    issuer:
      description:
        - Issuer DN of the certificate.
      returned: when available
      type: str
    product_id:
      description:
        - The appliance's id of the product server.
      returned: always
      sample: 1
      type: raw
    product_type:
      description:
        - Product type as the appliance names it (for example C(VCENTER), C(VCD)).
      returned: always
      sample: VCENTER
      type: str
    reason:
      description:
        - "Only in RV(refused): C(fingerprint mismatch) or C(not pinned)."
      returned: when available
      type: str
    subject:
      description:
        - Subject DN of the certificate.
      returned: when available
      sample: CN=vc01.example.com, OU=VCENTER, O=VMware, C=US
      type: str
  description:
    - "Certificates still waiting for acceptance after the task (in check mode: predicted)."
  elements: dict
  returned: always
  type: list
refused:
  contains:
    certificate_id:
      description:
        - "C(<host>:<port>) of the product server."
      returned: always
      sample: "vc01.example.com:443"
      type: str
    expected_fingerprint:
      description:
        - "Only in RV(refused) with reason C(fingerprint mismatch): the pinned fingerprint."
      returned: when available
      type: str
    expiry:
      description:
        - Expiry of the certificate (notAfter), ISO 8601 UTC when the appliance gave epoch time.
      returned: when available
      sample: "2027-11-25T06:00:00Z"
      type: str
    fingerprint:
      description:
        - SHA-256 fingerprint reported by the appliance, upper-case colon-separated hex.
      returned: when available
      type: str
    issuer:
      description:
        - Issuer DN of the certificate.
      returned: when available
      type: str
    product_id:
      description:
        - The appliance's id of the product server.
      returned: always
      sample: 1
      type: raw
    product_type:
      description:
        - Product type as the appliance names it (for example C(VCENTER), C(VCD)).
      returned: always
      sample: VCENTER
      type: str
    reason:
      description:
        - "Only in RV(refused): C(fingerprint mismatch) or C(not pinned)."
      returned: when available
      type: str
    subject:
      description:
        - Subject DN of the certificate.
      returned: when available
      sample: CN=vc01.example.com, OU=VCENTER, O=VMware, C=US
      type: str
  description:
    - Pending certificates that were not accepted, with the reason.
  elements: dict
  returned: always
  type: list
"""
