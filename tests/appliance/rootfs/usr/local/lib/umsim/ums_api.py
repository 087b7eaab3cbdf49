#!/usr/bin/env python3
"""Simulated Usage Meter appliance REST API (HTTPS, self-signed certificate).

Started by umsim-services when the GW service comes up, so it restarts with
every boot and reads the installed version from the appliance disk. Base URL
https://<appliance>:<UMSIM_API_PORT, default 8443>/api/v1. See
tests/appliance/README.md for what is [api] (published) and what is [guess].

The generation follows the installed version, read at start: 4.x as above
(login with a JSON body, answer `sessionid`, later calls with the `sessionid`
header); 9.x on port 443 unless UMSIM_API_PORT is set to another port than
4.x's 8443 (login with HTTP Basic only, answer `accessToken.tokenValue` (a
JWT) and a refresh token, later calls with `Authorization: Bearer`; no logout;
productType in the 9.x spelling, checked by accept_certificate).

Never logs a request body or a header: no password, session id or token reaches a log.
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import shlex
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CTL = "/run/umsim"
FAULTS = os.path.join(CTL, "faults")
UMS = "/opt/vmware/cloudusagemetering"
STATE = "/var/lib/ums-api"
ETC = "/etc/ums-api"
ACCESS_LOG = "/var/log/ums-api/access.log"

LOGIN_REQUIRED = {"errCode": "GW_LOGIN_REQUIRED",
                  "errMessage": "Your session not found or already expired. Please login"}

_lock = threading.Lock()
_sessions = {}          # token -> {"user", "created", "requests"}
_log_lock = threading.Lock()
_jwt_key = secrets.token_bytes(32)

PORT_4X = 8443
PORT_9X = 443
TOKEN_TTL_S = 3600
# productType as the 9.x accept_certificate documents it [api]; the 4.x names map onto it.
TYPES_9X = ("vCenter", "NSX-V", "NSX-T", "NSXALB", "VRNI", "VCD", "VCAV", "VROPS", "VRSLCM")
TYPE_9X_OF = {"VCENTER": "vCenter", "NSXV": "NSX-V", "NSX_V": "NSX-V", "NSXT": "NSX-T", "NSX_T": "NSX-T"}


def config():
    cfg = {}
    try:
        with open(os.path.join(CTL, "config")) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                k, v = line.split("=", 1)
                parts = shlex.split(v)
                cfg[k] = parts[0] if parts else ""
    except OSError:
        pass
    return cfg


def fault(name):
    try:
        with open(os.path.join(FAULTS, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def consume(name):
    try:
        os.unlink(os.path.join(FAULTS, name))
    except OSError:
        pass


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def event(ev, **kw):
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        fields = " ".join(f"{k}={v}" for k, v in kw.items())
        with open("/run/umsim-log", "a") as f:
            f.write(f"{ev} {time.time():.6f} boot_id={boot} {fields}\n")
    except OSError:
        pass


def installed_version():
    v = load_json(os.path.join(UMS, ".umsim", "version.json"), {})
    ver = v.get("version", "0.0.0")
    parts = (ver.split(".") + ["0", "0", "0"])[:3]
    agent = load_json(os.path.join(STATE, "agent.json"), {})
    return {
        "major_version": int(parts[0]),
        "minor_version": int(parts[1]),
        "patch_version": int(parts[2]),
        "hotfix_version": int(v.get("hotfix", 0)),
        "build_number": int(v.get("build", 0)),
        "uuid": agent.get("uuid", str(uuid.UUID(int=0))),
    }


def generation():
    """9 when the installed version's major is 9 or more, else 4."""
    return 9 if installed_version()["major_version"] >= 9 else 4


def api_port(gen, cfg):
    """4.x: UMSIM_API_PORT (default 8443). 9.x: 443, unless UMSIM_API_PORT names another port than 8443."""
    port = int(cfg.get("UMSIM_API_PORT", str(PORT_4X)) or PORT_4X)
    if gen == 9 and port == PORT_4X:
        return PORT_9X
    return port


def product_type(ptype, gen):
    return TYPE_9X_OF.get(ptype.upper(), ptype) if gen == 9 else ptype


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(user, now):
    """A JWT-shaped bearer token (HS256 with a key of this process)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": user, "iat": int(now), "exp": int(now) + TOKEN_TTL_S,
                              "jti": secrets.token_hex(8)}).encode())
    sig = b64url(hmac.new(_jwt_key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def basic_credentials(header):
    """(user, password) of an HTTP Basic Authorization header, or (None, None)."""
    if not header or not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password


def check_password(user, password):
    users = load_json(os.path.join(ETC, "users.json"), {})
    u = users.get(user)
    if not u or not isinstance(password, str):
        return False
    digest = hashlib.sha256((u["salt"] + password).encode()).hexdigest()
    return hmac.compare_digest(digest, u["sha256"])


def products():
    return load_json(os.path.join(STATE, "products.json"), [])


def pending_ids():
    return load_json(os.path.join(STATE, "pending-certs.json"), [])


def fingerprint(fp):
    fmt = config().get("UMSIM_FINGERPRINT_FORMAT", "colon")
    hexs = fp.replace(":", "").upper()
    if fmt == "hex":
        return hexs.lower()
    return ":".join(hexs[i:i + 2] for i in range(0, len(hexs), 2))


def public_product(p, pending, gen):
    out = {k: v for k, v in p.items() if k not in ("certData", "certificateId")}
    out["productType"] = product_type(p["productType"], gen)
    if p["id"] in pending:
        out["status"] = {"code": "CERT_NOT_ACCEPTED",
                         "text": "Certificate is not accepted",
                         "lastChanged": p.get("status", {}).get("lastChanged")}
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def setup(self):
        self.request.do_handshake()
        super().setup()

    # -- logging: method, path and status only (never headers or bodies)
    def log_request(self, code="-", size="-"):
        line = '%s %s "%s %s" %s\n' % (
            time.strftime("%Y-%m-%dT%H:%M:%S"), self.client_address[0],
            self.command, self.path.split("?")[0], code)
        with _log_lock:
            with open(ACCESS_LOG, "a") as f:
                f.write(line)

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n <= 0 or n > 1024 * 1024:
            return None
        try:
            return json.loads(self.rfile.read(n))
        except ValueError:
            return None

    def route(self):
        path = self.path.split("?")[0].rstrip("/")
        prefix = "/api/v1"
        if not path.startswith(prefix):
            return None
        return path[len(prefix):] or "/"

    @property
    def gen(self):
        return self.server.gen

    def send_unauthorized(self):
        if self.gen == 9:   # the 9.x reference documents no body for 401
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self.send_json(401, LOGIN_REQUIRED)

    def token(self):
        """The session id (4.x) or bearer token (9.x) of the request."""
        if self.gen == 9:
            auth = self.headers.get("Authorization") or ""
            return auth[7:] if auth.startswith("Bearer ") else None
        return self.headers.get("sessionid")

    def login(self, body):
        now = time.time()
        if self.gen == 9:
            user, password = basic_credentials(self.headers.get("Authorization"))
            if not check_password(user, password):
                return self.send_unauthorized()
            token = jwt(user, now)
            with _lock:
                _sessions[token] = {"user": user, "created": now, "requests": 0}
            return self.send_json(200, {
                "accessToken": {"tokenValue": token, "issuedAt": iso(now), "expiresAt": iso(now + TOKEN_TTL_S),
                                "tokenType": {"value": "Bearer"}, "scopes": []},
                "refreshToken": secrets.token_urlsafe(32), "additionalParameters": {}})
        if not isinstance(body, dict) or not check_password(body.get("user"), body.get("password")):
            return self.send_json(401, {"errCode": "GW_LOGIN_FAILED",
                                        "errMessage": "Invalid user name or password"})
        token = secrets.token_hex(16)
        with _lock:
            _sessions[token] = {"user": body["user"], "created": now, "requests": 0}
        return self.send_json(202, {"sessionid": token, "user": body["user"]})

    def authorized(self):
        token = self.token()
        with _lock:
            if fault("expire-sessions") is not None:
                _sessions.clear()
                consume("expire-sessions")
                event("fault-fired", fault="expire-sessions")
            s = _sessions.get(token) if token else None
            if s is None:
                return False
            limit = fault("session-expire")
            s["requests"] += 1
            if limit is not None:
                try:
                    n = int(limit or 3)
                except ValueError:
                    n = 3
                if s["requests"] > n:
                    del _sessions[token]
                    return False
            return True

    def do_POST(self):
        # Read the body before any early answer: an unread body on a kept-alive
        # connection would be parsed as the next request.
        body = self.read_json()
        r = self.route()
        if r == "/login":
            return self.login(body)
        if r == "/logout" and self.gen == 4:   # the 9.x API publishes no logout
            with _lock:
                _sessions.pop(self.headers.get("sessionid") or "", None)
            return self.send_json(202, {})
        return self.send_json(404, {"errCode": "NOT_FOUND", "errMessage": "Not found"})

    def do_GET(self):
        r = self.route()
        if r is None:
            return self.send_json(404, {"errCode": "NOT_FOUND", "errMessage": "Not found"})
        if not self.authorized():
            return self.send_unauthorized()
        pending = pending_ids()
        if r == "/agent_info":
            return self.send_json(200, installed_version())
        if r == "/product":
            return self.send_json(200, [public_product(p, pending, self.gen) for p in products()])
        if r.startswith("/product/"):
            pid = r.split("/", 2)[2]
            for p in products():
                if str(p["id"]) == pid:
                    return self.send_json(200, public_product(p, pending, self.gen))
            return self.send_json(404, {"errCode": "PRODUCT_NOT_FOUND", "errMessage": "Product not found"})
        if r == "/user_action":
            actions = []
            for p in products():
                if p["id"] not in pending:
                    continue
                cd = dict(p["certData"])
                cd["fingerprint_sha256"] = fingerprint(cd["fingerprint_sha256"])
                actions.append({"code": "Cert", "data": {
                    "productId": p["id"], "productType": product_type(p["productType"], self.gen),
                    "certificateId": p["certificateId"], "certData": cd}})
            return self.send_json(200, actions)
        return self.send_json(404, {"errCode": "NOT_FOUND", "errMessage": "Not found"})

    def do_PUT(self):
        body = self.read_json()  # first, for the same reason as in do_POST
        r = self.route()
        if r != "/accept_certificate":
            return self.send_json(404, {"errCode": "NOT_FOUND", "errMessage": "Not found"})
        if not self.authorized():
            return self.send_unauthorized()
        if not isinstance(body, dict):
            return self.send_json(400, {"errCode": "BAD_REQUEST", "errMessage": "Invalid JSON body"})
        if self.gen == 9 and body.get("productType") not in TYPES_9X:
            return self.send_json(400, {"errCode": "BAD_REQUEST",
                                        "errMessage": "productType must be one of " + ", ".join(TYPES_9X)})
        pid = body.get("productId")
        match = [p for p in products() if str(p["id"]) == str(pid)
                 and (self.gen == 4 or product_type(p["productType"], 9) == body.get("productType"))]
        if not match:
            return self.send_json(502, {"errCode": "PRODUCT_NOT_FOUND",
                                        "errMessage": "Product %s not found" % pid})
        p = match[0]
        if body.get("certificateId") not in (None, p["certificateId"]):
            return self.send_json(400, {"errCode": "CERT_MISMATCH",
                                        "errMessage": "certificateId does not match the product"})
        if body.get("accepted") is True:
            with _lock:
                pend = [i for i in pending_ids() if i != p["id"]]
                save_json(os.path.join(STATE, "pending-certs.json"), pend)
            event("api-cert-accepted", product=p["id"])
        return self.send_json(202, {})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx, gen):
        self.ctx, self.gen = ctx, gen
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        pass  # TLS handshake failures, resets: nothing worth a traceback

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(30)
        # the TLS handshake runs in the handler thread, so one slow client can't block accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def main():
    cfg = config()
    gen = generation()
    port = api_port(gen, cfg)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(ETC, "server.crt"), os.path.join(ETC, "server.key"))
    os.makedirs(os.path.dirname(ACCESS_LOG), exist_ok=True)
    srv = Server(("0.0.0.0", port), ctx, gen)
    event("api-listening", port=port, generation=gen)
    srv.serve_forever()


if __name__ == "__main__":
    main()
