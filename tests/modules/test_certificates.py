"""vcloud.usage_meter.certificates against the simulated appliance's real HTTPS API.

Every case runs the real module through ansible-playbook (tests/lib/playbook.py)
against one simulated appliance (tests/appliance/umsim.py) started for this file.
The appliance lists a certificate as pending when its product id is in
/var/lib/ums-api/pending-certs.json (the upgrade writes it); the tests write it
through the appliance console instead of running a whole upgrade.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lib import appliance9
from lib.playbook import require_module, run_module, run_playbook

REPO = Path(__file__).resolve().parents[2]
MODULE = "certificates"
WRONG_PASSWORD = "Not-The-Api-Password-7"
# The simulator's session ids are secrets.token_hex(16).
SESSION_ID_RE = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{32}(?![0-9a-fA-F])")


def norm(fp: str) -> str:
    return fp.replace(":", "").lower()


@pytest.fixture
def app(appliance_factory):
    """A fresh appliance (tests/conftest.py) whose API lists both products'
    certificates as pending, with an empty API access log."""
    require_module(MODULE)
    a = appliance_factory(sshd="off")   # the API needs no SSH
    a.wait_api(60)
    set_pending(a, [p["id"] for p in a.products])
    a.exec(["sh", "-c", ": > /var/log/ums-api/access.log"])
    return a


def set_pending(app, ids) -> None:
    cp = app.exec(["sh", "-c", f"echo '{json.dumps(list(ids))}' > /var/lib/ums-api/pending-certs.json"])
    assert cp.returncode == 0, cp.stderr


def pending_ids(app) -> list[str]:
    """certificateIds the appliance lists as pending, read with our own client."""
    sid = app.api_login()
    code, body = app.api("GET", "/user_action", session=sid)
    assert code == 200, body
    return sorted(a["data"]["certificateId"] for a in body if a["code"] == "Cert")


def logins(app) -> int:
    cp = app.exec(["sh", "-c", "cat /var/log/ums-api/access.log"])
    return sum(1 for line in cp.stdout.splitlines() if '"POST /api/v1/login"' in line)


def args(app, **kw):
    a = {"host": app.host, "api_port": app.api_port, "api_password": app.api_password, "ca_path": app.api_ca}
    a.update(kw)
    return {k: v for k, v in a.items() if v is not None}


def ids(items) -> list[str]:
    return sorted(i["certificate_id"] for i in items)


def product(app, ptype: str) -> dict:
    return next(p for p in app.products if p["productType"] == ptype)


# --------------------------------------------------------------------------- cases

def test_accepts_all_pending_with_ca_path(app):
    before = pending_ids(app)
    assert len(before) == 2
    r = run_module(MODULE, args(app), diff=True)
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["changed"] is True
    assert ids(r["accepted"]) == before
    assert r["refused"] == [] and r["pending"] == []
    vc = next(c for c in r["accepted"] if c["product_type"] == "VCENTER")
    want = product(app, "VCENTER")
    assert vc["product_id"] == want["id"]
    assert norm(vc["fingerprint"]) == norm(want["fingerprint_sha256"])
    assert vc["subject"].startswith("CN=vc01.example.test")
    assert re.match(r"^\d{4}-\d\d-\d\dT", vc["expiry"])
    assert set(r["diff"]["before"].split()) >= set(before)
    assert r["diff"]["after"].strip() == ""
    assert pending_ids(app) == []
    assert "warnings" not in r
    assert r["api"] == {"generation": 4, "port": app.api_port}


def test_nothing_pending_is_unchanged(app):
    set_pending(app, [])
    r = run_module(MODULE, args(app))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["changed"] is False
    assert r["accepted"] == [] and r["refused"] == [] and r["pending"] == []


def test_second_run_is_idempotent(app):
    assert run_module(MODULE, args(app))["changed"] is True
    r = run_module(MODULE, args(app))
    assert r["_status"] == "ok" and r["changed"] is False


def test_check_mode_accepts_nothing(app):
    before = pending_ids(app)
    r = run_module(MODULE, args(app), check=True, diff=True)
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["changed"] is True
    assert ids(r["accepted"]) == before          # what it would accept
    assert r["pending"] == []                     # predicted
    assert r["diff"]["after"].strip() == ""
    assert pending_ids(app) == before             # nothing accepted for real


def test_pins_one_match_one_mismatch_fails_after_accepting_the_match(app):
    # the appliance serves plain lower-case hex, the pins are colon upper-case: normalised
    app.config_set(fingerprint_format="hex")
    vc, vcd = product(app, "VCENTER"), product(app, "VCD")
    wrong = "AB:" * 31 + "CD"
    pins = {vc["certificateId"].upper(): vc["fingerprint_sha256"].upper(), vcd["certificateId"]: wrong}
    r = run_module(MODULE, args(app, expected_fingerprints=pins), diff=True)
    assert r["_status"] == "failed", r["_output"][-3000:]
    assert r["changed"] is True
    assert ids(r["accepted"]) == [vc["certificateId"]]
    assert ids(r["refused"]) == [vcd["certificateId"]]
    refused = r["refused"][0]
    assert refused["reason"] == "fingerprint mismatch"
    assert norm(refused["expected_fingerprint"]) == norm(wrong)
    assert norm(refused["fingerprint"]) == norm(vcd["fingerprint_sha256"])
    assert ids(r["pending"]) == [vcd["certificateId"]]
    assert "fingerprint mismatch" in r["msg"] and "fail_on_refused" in r["msg"]
    # the refused certificate was never accepted
    assert pending_ids(app) == [vcd["certificateId"]]


def test_unpinned_is_refused_when_pins_are_given_and_fail_on_refused_false_warns(app):
    vc, vcd = product(app, "VCENTER"), product(app, "VCD")
    pins = {vc["certificateId"]: norm(vc["fingerprint_sha256"])}
    r = run_module(MODULE, args(app, expected_fingerprints=pins, fail_on_refused=False))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["changed"] is True
    assert ids(r["accepted"]) == [vc["certificateId"]]
    assert [(c["certificate_id"], c["reason"]) for c in r["refused"]] == [(vcd["certificateId"], "not pinned")]
    assert any("not pinned" in w for w in r.get("warnings", []))
    assert pending_ids(app) == [vcd["certificateId"]]
    # accept_unpinned: true lets it through
    r = run_module(MODULE, args(app, expected_fingerprints=pins, accept_unpinned=True))
    assert r["_status"] == "ok" and ids(r["accepted"]) == [vcd["certificateId"]]
    assert pending_ids(app) == []


def test_bad_pin_is_refused_before_any_request(app):
    r = run_module(MODULE, args(app, expected_fingerprints={"vc01.example.test:443": "abc"}))
    assert r["_status"] == "failed"
    assert "expected_fingerprints" in r["msg"] and "64 hex digits" in r["msg"]
    assert logins(app) == 0


def test_wrong_password_is_a_clear_credentials_message(app):
    r = run_module(MODULE, args(app, api_password=WRONG_PASSWORD), verbosity=3)
    assert r["_status"] == "failed"
    assert "401" in r["msg"]
    assert "api_username or api_password" in r["msg"]
    assert WRONG_PASSWORD not in r["_output"]
    assert WRONG_PASSWORD not in json.dumps({k: v for k, v in r.items() if k != "_output"})
    assert len(pending_ids(app)) == 2


def test_self_signed_without_ca_path_fails_naming_the_options(app):
    r = run_module(MODULE, args(app, ca_path=None))
    assert r["_status"] == "failed"
    assert "TLS" in r["msg"]
    assert "validate_certs" in r["msg"] and "ca_path" in r["msg"]
    assert len(pending_ids(app)) == 2


def test_validate_certs_false_works_and_warns(app):
    r = run_module(MODULE, args(app, ca_path=None, validate_certs=False))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert len(r["accepted"]) == 2
    assert any("validate_certs" in w for w in r.get("warnings", []))


def test_session_expiring_mid_run_is_renewed_once(app):
    # each session allows 2 requests: list (1), accept (2), accept (3: expired) -> one renewal
    app.fault_set("session-expire", "2")
    r = run_module(MODULE, args(app))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert len(r["accepted"]) == 2
    assert pending_ids(app) == []
    assert logins(app) - 1 == 2  # minus our own check's login: the module logged in twice


def test_session_refused_right_after_renewal_fails_clearly(app):
    # every session expires at its first request: renew once, then give up
    app.fault_set("session-expire", "0")
    r = run_module(MODULE, args(app))
    assert r["_status"] == "failed"
    assert "session" in r["msg"] and "again" in r["msg"]
    assert logins(app) == 2


def test_expire_all_sessions_action(app):
    app.fault_set("expire-sessions")
    r = run_module(MODULE, args(app))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert len(r["accepted"]) == 2


def test_password_and_session_id_never_shown_at_vvv(app):
    app.fault_set("session-expire", "1")   # several sessions in one run
    tasks = [
        {"name": "accept", f"vcloud.usage_meter.{MODULE}": args(app), "delegate_to": "localhost",
         "register": "certs"},
        {"name": "show", "ansible.builtin.debug": {"var": "certs"}},
    ]
    # invocation is off by default from ansible-core 2.21: asked for, it must be masked
    res = run_playbook(tasks, {"appliance": {"ansible_connection": "local"}}, verbosity=3, diff=True,
                       env={"ANSIBLE_INJECT_INVOCATION": "True"})
    assert res.rc == 0, res.output[-3000:]
    assert res.status("accept") == "ok"
    assert logins(app) >= 2
    assert SESSION_ID_RE.fullmatch(app.api_login())   # the pattern does match a real session id
    everything = res.output + json.dumps(res.records)
    assert app.api_password not in everything
    assert not SESSION_ID_RE.search(everything), SESSION_ID_RE.search(everything)
    inv = res.result("accept")["invocation"]["module_args"]
    assert inv["api_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "sessionid" not in json.dumps(inv).lower()


# --------------------------------------------------------------------------- the 9.x API (port 443, bearer token)

@pytest.fixture(scope="module")
def nine(umsim):
    """One appliance at 9.x for the 9.x cases of this file."""
    require_module(MODULE)
    yield from appliance9.shared(umsim, "cert9", sshd="off")


@pytest.fixture
def app9(nine):
    """The 9.x appliance with both products' certificates pending and no fault left on."""
    for fault in ("session-expire", "expire-sessions"):
        nine.fault_clear(fault)
    set_pending(nine, [p["id"] for p in nine.products])
    return nine


def args9(app, **kw):
    """No api_port: the module finds 443 by itself."""
    a = {"host": app.host, "api_password": app.api_password, "ca_path": app.api_ca}
    a.update(kw)
    return {k: v for k, v in a.items() if v is not None}


def test_9x_accepts_all_pending_with_the_bearer_token(app9):
    before = appliance9.pending_ids(app9)
    assert len(before) == 2
    r = run_module(MODULE, args9(app9))
    assert r["_status"] == "ok", r["_output"][-3000:]
    assert r["changed"] is True and ids(r["accepted"]) == before and r["pending"] == []
    assert r["api"] == {"generation": 9, "port": 443}
    # the 9.x spelling of productType went back as the appliance listed it (it checks it)
    assert sorted(c["product_type"] for c in r["accepted"]) == ["VCD", "vCenter"]
    assert appliance9.pending_ids(app9) == []
    again = run_module(MODULE, args9(app9))
    assert again["_status"] == "ok" and again["changed"] is False, again["_output"][-3000:]


def test_9x_forced_generation_mismatch_fails_clearly(app9):
    r = run_module(MODULE, args9(app9, api_generation="4", api_port=443))
    assert r["_status"] == "failed", r["_output"][-3000:]
    assert "api_generation is 4" in r["msg"] and "9.x" in r["msg"] and "api_generation: auto" in r["msg"], r["msg"]
    assert len(appliance9.pending_ids(app9)) == 2        # nothing accepted


def test_9x_bearer_token_never_shown_at_vvvv(app9):
    app9.fault_set("session-expire", "1")   # several tokens in one run
    tasks = [
        {"name": "accept", f"vcloud.usage_meter.{MODULE}": args9(app9), "delegate_to": "localhost",
         "register": "certs"},
        {"name": "show", "ansible.builtin.debug": {"var": "certs"}},
    ]
    res = run_playbook(tasks, {"appliance": {"ansible_connection": "local"}}, verbosity=4, diff=True,
                       env={"ANSIBLE_INJECT_INVOCATION": "True"})
    assert res.rc == 0, res.output[-3000:]
    assert res.status("accept") == "ok"
    assert res.output.count("logged in as usagemeter (the 9.x API") >= 2, res.output[-3000:]   # renewed: 2+ tokens
    assert appliance9.BEARER_RE.fullmatch(appliance9.login(app9))   # the pattern does match a real token
    everything = res.output + json.dumps(res.records)
    assert app9.api_password not in everything
    assert not appliance9.BEARER_RE.search(everything), appliance9.BEARER_RE.search(everything)
    assert "Bearer ey" not in everything

