"""Throw-away X.509 material for TLS tests: a CA and the certificates it signs, as PEM files.

Made with the ``cryptography`` package when it is installed, else with the ``openssl`` command; tests
call ``require_backend()`` to skip when neither exists. Certificates are short-lived, EC P-256, and carry
the extensions a strict verifier (Python 3.13's VERIFY_X509_STRICT) wants: basic constraints, key
usage, subject and authority key identifiers.
"""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import secrets
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("cryptography", "openssl")


def available_backends() -> list[str]:
    """The certificate makers usable here."""
    found = []
    if importlib.util.find_spec("cryptography") is not None:
        found.append("cryptography")
    if shutil.which("openssl"):
        found.append("openssl")
    return found


def require_backend(backend: str | None = None) -> str:
    """``backend`` (or the first available one); skips the test when it cannot be used."""
    found = available_backends()
    if backend is None:
        if not found:
            pytest.skip("neither the cryptography package nor the openssl command is available")
        return found[0]
    if backend not in found:
        pytest.skip(f"{backend} is not available")
    return backend


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    cert_file: Path
    key_file: Path


class CertificateAuthority:
    """A self-signed CA in ``directory``: ``ca_file`` to trust it, ``issue`` to sign certificates."""

    def __init__(self, directory: Path, name: str = "logship-test-ca", backend: str | None = None) -> None:
        self.directory = directory
        self.name = name
        self.backend = backend or require_backend()
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / f"{name}.pem"
        self._key_file = directory / f"{name}.key"
        if self.backend == "cryptography":
            _Cryptography.make_ca(self)
        else:
            _OpenSsl.make_ca(self)

    def issue(self, common_name: str, *, server: bool = True) -> Issued:
        """A certificate for ``common_name``; a server one is also valid for localhost and 127.0.0.1."""
        stem = f"{self.name}-{common_name}-{'server' if server else 'client'}"
        issued = Issued(self.directory / f"{stem}.crt", self.directory / f"{stem}.key")
        if self.backend == "cryptography":
            _Cryptography.issue(self, common_name, server, issued)
        else:
            _OpenSsl.issue(self, common_name, server, issued)
        return issued

    def server_context(self, common_name: str = "127.0.0.1", *,
                       client_ca: CertificateAuthority | None = None) -> ssl.SSLContext:
        """The ``ssl`` context of a test server with a certificate for ``common_name`` issued here; with
        ``client_ca``, clients must present a certificate that CA issued (mutual TLS)."""
        issued = self.issue(common_name)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(issued.cert_file, issued.key_file)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca.ca_file)
        return context


class _Cryptography:
    @staticmethod
    def _name(common_name: str) -> Any:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    @classmethod
    def _builder(cls, common_name: str, public_key: Any) -> Any:
        from cryptography import x509

        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder()
                .subject_name(cls._name(common_name))
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    @staticmethod
    def _write_key(key: Any, path: Path) -> None:
        from cryptography.hazmat.primitives import serialization

        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    @classmethod
    def make_ca(cls, ca: CertificateAuthority) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = (cls._builder(ca.name, key.public_key())
                .issuer_name(cls._name(ca.name))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        ca.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cls._write_key(key, ca._key_file)

    @classmethod
    def issue(cls, ca: CertificateAuthority, common_name: str, server: bool, issued: Issued) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID

        ca_cert = x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(ca._key_file.read_bytes(), password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (cls._builder(common_name, key.public_key())
                   .issuer_name(ca_cert.subject)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        issued.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cls._write_key(key, issued.key_file)


class _OpenSsl:
    _NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

    @staticmethod
    def _run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    @classmethod
    def make_ca(cls, ca: CertificateAuthority) -> None:
        cls._run("req", "-x509", *cls._NEW_KEY, "-keyout", str(ca._key_file), "-out", str(ca.ca_file),
                 "-days", "1", "-subj", f"/CN={ca.name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash")

    @classmethod
    def issue(cls, ca: CertificateAuthority, common_name: str, server: bool, issued: Issued) -> None:
        request = issued.cert_file.with_name(issued.cert_file.name + ".csr")
        extensions = issued.cert_file.with_name(issued.cert_file.name + ".ext")
        lines = ["basicConstraints=critical,CA:FALSE", "subjectKeyIdentifier=hash",
                 "authorityKeyIdentifier=keyid", f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}"]
        if server:
            lines.append("subjectAltName=DNS:localhost,IP:127.0.0.1")
        extensions.write_text("\n".join(lines) + "\n")
        cls._run("req", *cls._NEW_KEY, "-keyout", str(issued.key_file), "-out", str(request),
                 "-subj", f"/CN={common_name}")
        cls._run("x509", "-req", "-in", str(request), "-CA", str(ca.ca_file), "-CAkey", str(ca._key_file),
                 "-set_serial", str(secrets.randbits(63)),
                 "-days", "1", "-out", str(issued.cert_file), "-extfile", str(extensions))
