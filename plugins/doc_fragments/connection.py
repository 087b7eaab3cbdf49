# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every module that talks to the appliance over SSH.
    DOCUMENTATION = r"""
options:
  connect_timeout:
    default: 10
    description:
      - Seconds to wait for the TCP connection and each SSH round trip before giving up.
    type: int
  host:
    description:
      - Address or DNS name of the Usage Meter appliance.
      - "With C(delegate_to: localhost) use C(\"{{ ansible_host }}\")."
    required: true
    type: str
  host_key_checking:
    choices:
      - strict
      - accept_new
      - "off"
    default: accept_new
    description:
      - "Host key policy. V(accept_new) records a key seen for the first time and refuses a changed one;
        V(strict) needs the key recorded beforehand; V(off) skips the check and returns a warning."
      - "V(strict): Connect only when the key is already in O(known_hosts)."
      - "V(accept_new): Record an unknown key in O(known_hosts); refuse a changed one."
      - "V(off): Do not check the key (a warning is returned). Only for labs."
    type: str
  known_hosts:
    default: "~/.ssh/known_hosts"
    description:
      - known_hosts file on the controller used to check the appliance's host key.
      - "Defaults to C(~/.ssh/known_hosts) of the user running Ansible."
    type: path
  password:
    description:
      - Password of O(username). Never shown in output or logs.
      - "Either O(password) or O(private_key) is needed; with neither, the keys of a running ssh-agent
        (E(SSH_AUTH_SOCK)) are tried, as AWX provides them."
    type: str
  port:
    default: 22
    description:
      - SSH port of the appliance.
    type: int
  private_key:
    description:
      - Path on the controller of a private key authorised for O(username).
      - Tried before O(password) when both are given.
    type: path
  private_key_passphrase:
    description:
      - Passphrase of O(private_key), if it has one.
    type: str
  username:
    default: root
    description:
      - Account to log in as. The upgrade must run as C(root).
    type: str
"""
