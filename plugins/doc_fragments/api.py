# -*- coding: utf-8 -*-
# Generated from the Rust sources by tools/gen-docs.sh: do not edit.
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of the appliance's HTTPS API, shared by the modules that use it.
    DOCUMENTATION = r"""
options:
  api_generation:
    choices:
      - auto
      - "4"
      - "9"
    default: auto
    description:
      - "The generation of the appliance API: V(4) (Usage Meter 4.x: port 8443, a session id), V(9) (VCF
        Usage Meter 9.x: port 443, a bearer token), or V(auto): told from the login answer, which differs
        between the two."
      - A forced generation that the appliance's login answer contradicts is an error naming both.
      - "V(auto): Told from the login answer: a C(sessionid) is the 4.x API, an C(accessToken) the 9.x API."
      - "V(4): The 4.x API (Usage Meter 4.1 to 4.8): port 8443, the C(sessionid) header."
      - "V(9): The 9.x API (VCF Usage Meter 9): port 443, a bearer token."
    type: str
  api_password:
    description:
      - Password of O(api_username). Never shown in output or logs.
    type: str
  api_port:
    description:
      - "HTTPS port of the appliance API. Unset: C(8443) for O(api_generation=4), C(443) for
        O(api_generation=9); with O(api_generation=auto) C(8443), then C(443) when nothing accepts
        connections on 8443 (a 9.x appliance). Some public scripts reach the 4.x API on C(443) too."
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
