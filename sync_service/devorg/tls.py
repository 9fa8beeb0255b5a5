"""Key material of the stand-in org, generated locally on first start and kept in its data directory:
a throwaway certificate authority for HTTPS (clients trust it explicitly; nothing disables verification)
and the connected app's JWT signing key pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def load_or_create_ca(directory: Path) -> trustme.CA:
    cert, key = directory / "ca.pem", directory / "ca-key.pem"
    if cert.exists() and key.exists():
        return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Renewals stand-in org")
    ca.cert_pem.write_to_path(str(cert))
    _write_private(key, ca.private_key_pem.bytes())
    return ca


def server_certificate(ca: trustme.CA, hosts: list[str], directory: Path) -> tuple[Path, Path]:
    """(certificate chain, private key) files of a fresh server certificate for these hosts."""
    leaf = ca.issue_cert(*dict.fromkeys(["localhost", "127.0.0.1", *hosts]))
    chain, key = directory / "server.pem", directory / "server-key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_private(key, leaf.private_key_pem.bytes())
    return chain, key


def load_or_create_jwt_pair(directory: Path) -> tuple[Path, Path]:
    """(private key path, certificate path) of the connected app's JWT bearer key pair."""
    key_path, cert_path = directory / "jwt-key.pem", directory / "jwt-cert.pem"
    if key_path.exists() and cert_path.exists():
        return key_path, cert_path
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "renewals-connected-app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
