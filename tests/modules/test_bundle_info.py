"""vcloud.usage_meter.bundle_info through real ansible-playbook (tests/lib/playbook.py).

No appliance: the module works on the controller only. The bundles are made by
tests/lib/bundle_pki.py (a test CA, signing certificates, ISO sets signed with
`openssl dgst -sha1 -sign`); each refusal names its check and its file, and comes
before anything is copied (the module has no connection to copy with).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lib.bundle_pki import Pki, make_iso, sha1
from lib.playbook import require_module, run_module, run_playbook

MODULE = "bundle_info"
TOKEN = "UMA:not-a-real-token-4f1c9e"


@pytest.fixture(autouse=True)
def _built():
    require_module(MODULE)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca = Pki(root, "Test Vendor CA")
    other = Pki(root, "Other CA")
    return {"ca": ca, "other": other, "signer": ca.signer("signer"), "expired": ca.signer("expired", expired=True),
            "stranger": other.signer("stranger"), "root": root}


@pytest.fixture(scope="module")
def shar(pki):
    p = pki["root"] / "ums-system-upgrade.shar"
    p.write_bytes(b"#!/bin/sh\nexit 0\n")
    return p


def args(pki, bundles, **kw):
    a = {"current_version": "4.2.0.0 build 18320944", "ca_path": str(pki["ca"].ca_file),
         "bundles": [{"path": str(b)} for b in bundles]}
    a.update(kw)
    return a


def refused(r, check: str, file: Path):
    assert r["_status"] == "failed", r["_output"]
    assert r["check"] == check and r["file"] == str(file), r
    assert f"host appliance, step '{check}': {file}" in r["msg"], r["msg"]
    assert "What to do:" in r["msg"], r["msg"]
    assert "hops" not in r


def test_a_good_set_gives_the_hops_in_order_and_a_second_call_uses_the_cache(pki, shar, tmp_path):
    iso = make_iso(tmp_path, "4.8.0.0", "24087577", pki["signer"])
    spare = make_iso(tmp_path / "spare", "4.6.0.0", "1", pki["signer"], size=1024)
    r = run_module(MODULE, args(pki, [iso["iso"], shar, spare["iso"]], target_version="4.8"))
    assert r["_status"] == "ok", r["_output"]
    assert r["changed"] is False and r["upgrade_needed"] is True
    assert [(h["from"], h["to"]) for h in r["hops"]] == [("4.2.0", "4.3.0"), ("4.3.0", "4.8.0")]
    assert r["hops"][0]["bundle"]["kind"] == "shar" and r["hops"][0]["rule"].endswith("[doc]")
    b = r["hops"][1]["bundle"]
    assert b["kind"] == "iso" and b["build"] == "24087577" and b["verified"] is True
    assert b["sha1"] == sha1(iso["iso"]) and b["size"] == 5 << 20 and b["mf"] == str(iso["mf"])
    assert b["cached"] is False and b["certificate"]["expired"] is False
    assert "CN=signer" in b["certificate"]["subject"] and "CN=Test Vendor CA" in b["certificate"]["issuer"]
    assert r["hops"][1]["rule"].endswith("[guess]") and r["hops"][1]["needs_token"] is False
    assert r["unused"] == [str(spare["iso"])]          # not on the route, not verified

    again = run_module(MODULE, args(pki, [iso["iso"], shar], target_version="4.8"))
    assert again["_status"] == "ok", again["_output"]
    assert again["hops"][1]["bundle"]["cached"] is True and again["hops"][1]["bundle"]["sha1"] == b["sha1"]

    iso["iso"].write_bytes(iso["iso"].read_bytes()[:-1] + b"\0")    # changed since: read again, refused
    changed = run_module(MODULE, args(pki, [iso["iso"], shar], target_version="4.8"))
    refused(changed, "sha1", iso["iso"])


def test_bsd_manifest_token_hop_and_the_system_store(pki, tmp_path):
    iso = make_iso(tmp_path, "9.0.0.0", "24680", pki["signer"], mf_form="bsd")
    a = args(pki, [iso["iso"]], current_version="4.8.0", target_version="9.0", access_token=TOKEN)
    del a["ca_path"]
    # The CA found as the controller's store is (SSL_CERT_FILE first, as rustls-native-certs reads it).
    r = run_module(MODULE, a, env={"SSL_CERT_FILE": str(pki["ca"].ca_file)})
    assert r["_status"] == "ok", r["_output"]
    assert [(h["from"], h["to"], h["needs_token"]) for h in r["hops"]] == [("4.8.0", "9.0.0", True)]
    assert r["hops"][0]["bundle"]["verified"] is True
    assert TOKEN not in r["_output"] and "not-a-real-token" not in r["_output"]

    r = run_module(MODULE, a, env={"SSL_CERT_FILE": str(pki["other"].ca_file)})
    refused(r, "certificate", iso["crt"])

    del a["access_token"]
    r = run_module(MODULE, a, env={"SSL_CERT_FILE": str(pki["ca"].ca_file)})
    assert r["_status"] == "failed" and "needs the access token" in r["msg"] and "UMA:" in r["msg"], r


def _tamper_iso(f, pki):
    with open(f["iso"], "r+b") as h:
        h.seek(3 << 20)
        h.write(b"evil")


def _wrong_mf(f, pki):
    f["mf"].write_text(f"{'0' * 40}  {f['iso'].name}\n")


def _mf_for_another_file(f, pki):
    f["mf"].write_text(f"{sha1(f['iso'])}  Usage_Meter_Agent-4.7.0.0-1_Upgrade.iso\n")


def _other_ca(f, pki):
    shutil.copy(pki["stranger"][1], f["crt"])


def _expired(f, pki):
    shutil.copy(pki["expired"][1], f["crt"])


def _bad_signature(f, pki):
    f["sign"].write_bytes(bytes(256))


@pytest.mark.parametrize("spoil,check,file", [
    (_tamper_iso, "sha1", "iso"), (_wrong_mf, "sha1", "iso"), (_mf_for_another_file, "manifest", "mf"),
    (_other_ca, "certificate", "crt"), (_expired, "certificate dates", "crt"), (_bad_signature, "signature", "sign"),
])
def test_each_spoiled_file_is_refused_naming_the_check_and_the_file(pki, shar, tmp_path, spoil, check, file):
    f = make_iso(tmp_path, "4.5.0.0", "777", pki["signer"], size=2 << 20)
    spoil(f, pki)
    r = run_module(MODULE, args(pki, [f["iso"]], target_version="4.5"))
    refused(r, check, f[file])
    if spoil is _wrong_mf:
        assert str(f["mf"]) in r["msg"]


def test_an_expired_certificate_is_accepted_with_a_warning_when_asked(pki, tmp_path):
    f = make_iso(tmp_path, "4.5.0.0", "777", pki["expired"], size=1024)
    r = run_module(MODULE, args(pki, [f["iso"]], target_version="4.5", expired_certificate="warn"))
    assert r["_status"] == "ok", r["_output"]
    assert r["hops"][0]["bundle"]["verified"] is True and r["hops"][0]["bundle"]["certificate"]["expired"] is True
    assert any("expired" in w and str(f["crt"]) in w for w in r.get("warnings", [])), r


def test_a_forbidden_hop_is_refused_in_preflight_with_what_to_download(pki, tmp_path):
    f = make_iso(tmp_path, "4.6.0.0", "1", pki["signer"], size=1024)
    r = run_module(MODULE, args(pki, [f["iso"]], target_version="4.6"))
    assert r["_status"] == "failed", r["_output"]
    assert "plan hops" in r["msg"] and "4.2.0 → 4.6.0 needs 4.3 first" in r["msg"], r["msg"]
    assert "add the 4.3 shar (ums-system-upgrade.shar)" in r["msg"] and r["missing"] == ["4.3"], r


def test_hosts_in_parallel_read_the_iso_once(pki, tmp_path):
    """The role calls the module once per host; forks run them at the same time:
    one host makes the pass over the ISO, the others wait and take its verdict."""
    iso = make_iso(tmp_path, "4.5.0.0", "9", pki["signer"], size=16 << 20)
    hosts = {f"um{i}": {"ansible_connection": "local"} for i in range(4)}
    task = {"name": "plan", "vcloud.usage_meter.bundle_info": args(pki, [iso["iso"]], target_version="4.5"),
            "delegate_to": "localhost"}
    res = run_playbook([task], hosts, extra_args=["--forks", "4"])
    assert res.rc == 0, res.output
    cached = sorted(res.result("plan", h)["hops"][0]["bundle"]["cached"] for h in hosts)
    assert cached == [False, True, True, True], res.output
    assert {res.result("plan", h)["hops"][0]["bundle"]["sha1"] for h in hosts} == {sha1(iso["iso"])}
