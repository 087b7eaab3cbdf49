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
      - If not set, the inventory host's C(ansible_host), else its inventory name.
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
      - "Not set in the task: Ansible's own setting decides when it is set (C(host_key_checking) in
        C(ansible.cfg), E(ANSIBLE_HOST_KEY_CHECKING), or the host's C(ansible_host_key_checking)): false is
        V(off), true is V(strict); left at Ansible's default, V(accept_new)."
      - "V(strict): Connect only when the key is already in O(known_hosts)."
      - "V(accept_new): Record an unknown key in O(known_hosts); refuse a changed one."
      - "V(off): Do not check the key (a warning is returned). Only for labs."
    type: str
  keepalive_interval:
    default: 30
    description:
      - "Seconds between SSH keepalive messages while the module waits on a silent connection (an upgrade
        that prints nothing, the pause between two status checks)."
      - "A NAT, firewall or port forward drops a flow that stays idle too long, often after 300 s or less;
        the default of 30 s keeps the flow alive well within that."
    type: int
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
      - "If not set, the inventory host's C(ansible_password) or C(ansible_ssh_pass) (or C(--ask-pass), a
        Machine credential's password)."
    type: str
  port:
    default: 22
    description:
      - SSH port of the appliance.
      - If not set, the inventory host's C(ansible_port) when it has one.
    type: int
  private_key:
    description:
      - Path on the controller of a private key authorised for O(username).
      - Tried before O(password) when both are given.
      - "If not set, the inventory host's C(ansible_ssh_private_key_file) (or C(--private-key), a Machine
        credential's key)."
    type: path
  private_key_passphrase:
    description:
      - Passphrase of O(private_key), if it has one.
    type: str
  username:
    default: root
    description:
      - Account to log in as. The upgrade must run as C(root).
      - If not set, the inventory host's C(ansible_user) (or C(-u)) when it has one.
    type: str
"""
