# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of the appliance's HTTPS API, shared by the modules that use it.
    DOCUMENTATION = r"""
options:
  api_password:
    description:
      - Password of O(api_username). Never shown in output or logs.
    type: str
  api_port:
    default: 8443
    description:
      - HTTPS port of the appliance API. Some public scripts reach it on C(443).
    type: int
  api_timeout:
    default: 30
    description:
      - Seconds to wait for each API request (connect, TLS, response) before giving up.
    type: int
  api_username:
    default: usagemeter
    description:
      - Account of the appliance's web UI and API (not root).
    type: str
  ca_path:
    description:
      - "PEM file on the controller with the CA certificates to trust for the appliance API, instead of the
        system store. It may hold the appliance's own self-signed certificate, which is then trusted
        exactly."
    type: path
  validate_certs:
    default: true
    description:
      - "Whether to check the appliance's TLS certificate against O(ca_path), or the controller's system CA
        store when O(ca_path) is not set."
      - "V(false) accepts any certificate and returns a warning; use it only in labs."
    type: bool
"""
