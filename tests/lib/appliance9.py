"""A simulated appliance at 9.x for the API tests (appliance_info, verify,
certificates), and a small client of its 9.x API (HTTP Basic login, bearer
token) to check what the modules did.

The simulator serves the 9.x API (port 443, bearer token) when the installed
version's major is 9 (tests/appliance/rootfs/usr/local/lib/umsim/ums_api.py):
the appliance here is provisioned at 9.0.0.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import urllib.error
import urllib.request

NINE = "9.0.0"
PORT_9X = 443
# The simulator's 9.x tokens are JWTs; its refresh tokens are token_urlsafe(32).
BEARER_RE = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


def start_9x(umsim, name: str, **kw):
    """A started appliance at 9.0.0 whose 9.x API listens on 443 (sshd running unless told)."""
    kw.setdefault("sshd", "running")
    a = umsim.start_appliance(name, version=NINE, **kw)
    if not umsim.wait_tcp(a.address, PORT_9X, 60):
        raise AssertionError(f"{a.name}: the 9.x API is not listening on {a.address}:{PORT_9X}")
    return a


def shared(umsim, tag: str, **kw):
    """A module-scoped fixture's body: one 9.x appliance for the tests of a
    file, stopped (and purged unless UMSIM_KEEP=1) when they are done."""
    name = f"t{os.getpid()}{secrets.token_hex(2)}-{tag}"
    try:
        yield start_9x(umsim, name, **kw)
    finally:
        umsim.stop(name, purge=os.environ.get("UMSIM_KEEP") != "1")


def url(a, path: str) -> str:
    return f"https://{a.host}:{PORT_9X}/api/v1{path}"


def call(a, method: str, path: str, token: str | None = None, body=None, basic: tuple[str, str] | None = None):
    """(status, parsed JSON or None) of one request to the 9.x API."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url(a, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if basic:
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
    try:
        with urllib.request.urlopen(req, context=a.api_context(), timeout=10) as r:
            raw, code = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, code = e.read(), e.code
    return code, (json.loads(raw) if raw else None)


def login(a) -> str:
    """A bearer token of the 9.x API."""
    code, body = call(a, "POST", "/login", basic=(a.api_user, a.api_password))
    assert code == 200, (code, body)
    return body["accessToken"]["tokenValue"]


def pending_ids(a) -> list[str]:
    """certificateIds the 9.x API lists as pending."""
    code, body = call(a, "GET", "/user_action", token=login(a))
    assert code == 200, body
    return sorted(x["data"]["certificateId"] for x in body if x["code"] == "Cert")


def access_log(a) -> list[str]:
    """The API's access log (time, client, method, path, status; never headers or bodies)."""
    return a.exec(["cat", "/var/log/ums-api/access.log"], check=True).stdout.splitlines()
