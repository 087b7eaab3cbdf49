"""Later-release upgrade bundles for tests: a test CA, signing certificates (valid,
expired, from another CA) and an ISO set `Usage_Meter_Agent-<v>-<build>_Upgrade.{iso,mf,crt,sign}`
made the vendor's way (the `.mf` a SHA-1 line, the `.sign` from `openssl dgst -sha1 -sign`).

The ISO is a plain file of pseudo-random bytes: the controller's checks never read
inside it. Everything is made with the `cryptography` package ansible-core
already needs, and the host's `openssl` for the signature. A real ISO 9660 image
with an upgrade script for the simulated appliance is tests/appliance/umsim.py's
make_iso, signed by a CA of this file kept on disk (Pki.load_or_create).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DAY = dt.timedelta(days=1)


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "umsim test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """A CA (key, certificate) that issues signing certificates into `root`."""

    def __init__(self, root: Path, cn: str):
        self.root = root
        self.key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - 3650 * DAY).not_valid_after(now + 3650 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = root / f"{cn.replace(' ', '_')}.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def load_or_create(cls, root: Path, cn: str) -> "Pki":
        """The CA kept in `root`: made on the first call (its key saved beside it, 0600), read
        back on later ones, so that what it signed stays valid across runs (umsim.make_iso's cache)."""
        root.mkdir(parents=True, exist_ok=True)
        stem = cn.replace(" ", "_")
        key_file, ca_file = root / f"{stem}.key", root / f"{stem}.pem"
        with open(root / f".{stem}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if key_file.exists() and ca_file.exists():
                pki = cls.__new__(cls)
                pki.root, pki.ca_file = root, ca_file
                pki.key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
                pki.cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
                return pki
            pki = cls(root, cn)
            tmp = key_file.with_suffix(".tmp")
            tmp.write_bytes(pki.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
            os.chmod(tmp, 0o600)
            os.replace(tmp, key_file)
            return pki

    def signer(self, name: str, *, expired: bool = False, reuse: bool = False) -> tuple[Path, Path]:
        """(key PEM, certificate PEM) of a code-signing certificate; `expired` ended yesterday.
        `reuse`: the one already in root when it is still valid for a month (else a new one)."""
        kpath, cpath = self.root / f"{name}.key", self.root / f"{name}.crt"
        if reuse and not expired and kpath.exists() and cpath.exists():
            cert = x509.load_pem_x509_certificate(cpath.read_bytes())
            if cert.not_valid_after_utc > dt.datetime.now(dt.timezone.utc) + 30 * DAY:
                return kpath, cpath
        key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        start, end = (now - 400 * DAY, now - DAY) if expired else (now - DAY, now + 365 * DAY)
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .sign(self.key, hashes.SHA256()))
        kpath.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return kpath, cpath


def sha1(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def make_iso(dest: Path, version: str, build: str, signer: tuple[Path, Path], *, size: int = 5 << 20,
             mf_form: str = "gnu") -> dict[str, Path]:
    """An ISO set in `dest`: the ISO (`size` bytes, more than one 4 MiB read), its `.mf`
    (`gnu`: `hash  name`; `bsd`: `SHA1(name)= hash`), `.crt` and `.sign`. Returns the four paths."""
    dest.mkdir(parents=True, exist_ok=True)
    stem = dest / f"Usage_Meter_Agent-{version}-{build}_Upgrade"
    files = {ext: Path(f"{stem}.{ext}") for ext in ("iso", "mf", "crt", "sign")}
    files["iso"].write_bytes(os.urandom(size))
    digest, name = sha1(files["iso"]), files["iso"].name
    files["mf"].write_text(f"{digest}  {name}\n" if mf_form == "gnu" else f"SHA1({name})= {digest}\n")
    files["crt"].write_bytes(signer[1].read_bytes())
    subprocess.run(["openssl", "dgst", "-sha1", "-sign", str(signer[0]), "-out", str(files["sign"]), str(files["iso"])],
                   check=True, capture_output=True)
    return files
