"""What tests read from a simulated appliance behind the module's back: on its
console (not over SSH) and through its API, so they check the outcome, not
the module's own report."""
from __future__ import annotations

import subprocess


def sshd_state(app) -> tuple[bool, bool]:
    """(listening on 22, enabled at boot), read on the console, not over SSH."""
    app.refresh()
    listening = app.status()["sshd_listening"]
    cp = app.exec(["systemctl", "is-enabled", "sshd"], timeout=30)
    return listening, cp.stdout.strip() == "enabled"


def api_version(app) -> str:
    """major.minor.patch as the appliance API reports it."""
    app.wait_api(30)
    sid = app.api_login()
    code, body = app.api("GET", "/agent_info", session=sid)
    assert code == 200, body
    return f"{body['major_version']}.{body['minor_version']}.{body.get('patch_version', 0)}"


class Throttle:
    """Slows the controller -> appliance direction of one appliance's own veth
    (tc tbf on the host end, which only that appliance uses), so that a copy
    lasts long enough to be interrupted. Removed on exit."""

    def __init__(self, app, rate: str = "48mbit"):
        self.dev = app.host_veth
        self.rate = rate

    def __enter__(self):
        subprocess.run(["tc", "qdisc", "replace", "dev", self.dev, "root", "tbf", "rate", self.rate,
                        "burst", "64kb", "latency", "400ms"], check=True, capture_output=True, text=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["tc", "qdisc", "del", "dev", self.dev, "root"], capture_output=True, text=True)
