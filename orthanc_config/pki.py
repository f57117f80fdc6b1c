"""The host's PKI: a CA, ECDSA and RSA server certificates, one certificate per modality, and the CA's CRL.

Built with `cryptography` (Debian's python3-cryptography 38 on the host: no `*_utc` accessors). Keys are
written 0600 (or 0640 to a service group) before a single byte of key material goes in.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CURVE = ec.SECP256R1()
RSA_BITS = 2048  # Mozilla intermediate / BCP 195: RSA 2048 for clients that cannot do ECDSA
MAX_VALIDITY_DAYS = 398  # CA/Browser Forum limit for TLS leaf certificates; BCP 195 follows it
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PACSGuard"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def write_key(path: Path, key: PrivateKey, *, mode: int = 0o600, gid: int | None = None) -> None:
    """Create the file with its final mode first, so the key is never readable by others, even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    if gid is not None:
        os.chown(tmp, 0, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: neither an EC nor an RSA private key")
    return key


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER, lower-case hex: what nginx puts in $ssl_client_fingerprint."""
    return cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 (an identifier nginx computes, not a signature)


def create_ca(directory: Path, name: str, days: int) -> Issued:
    key = ec.generate_private_key(CURVE)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = Issued(directory / "ca.crt", directory / "ca.key")
    write_key(issued.key, key)
    write_cert(issued.cert, cert)
    return issued


def issue(
    ca: Issued,
    directory: Path,
    stem: str,
    common_name: str,
    *,
    days: int,
    server: bool,
    client: bool | None = None,
    key_type: str = "ec",
    dns_names: tuple[str, ...] = (),
    addresses: tuple[str, ...] = (),
    key_gid: int | None = None,
    not_before: dt.datetime | None = None,
) -> Issued:
    """Issue a leaf certificate signed by `ca`.

    Usages: server (serverAuth) and/or client (clientAuth; by default the opposite of `server`). A modality
    that also receives C-MOVE/C-STORE over TLS needs both; the PACS's own outbound certificate only clientAuth.
    """
    if days > MAX_VALIDITY_DAYS:
        raise ValueError(f"certificate validity {days} days exceeds {MAX_VALIDITY_DAYS}")
    client = (not server) if client is None else client
    ca_cert, ca_key = load_cert(ca.cert), load_key(ca.key)
    key: PrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        if key_type == "rsa"
        else ec.generate_private_key(CURVE)
    )
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    start = not_before or (_now() - dt.timedelta(minutes=5))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, key_type == "rsa", False, key_type != "rsa", False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    issued = Issued(directory / f"{stem}.crt", directory / f"{stem}.key")
    write_key(issued.key, key, mode=0o640 if key_gid is not None else 0o600, gid=key_gid)
    write_cert(issued.cert, cert)
    return issued


def not_after(cert: x509.Certificate) -> dt.datetime:
    """The expiry as an aware UTC datetime, on Debian 12's cryptography 38 (no `not_valid_after_utc`) and later."""
    aware = getattr(cert, "not_valid_after_utc", None)
    return aware if aware is not None else cert.not_valid_after.replace(tzinfo=dt.UTC)


def expires_within(path: Path, days: int) -> bool:
    return not_after(load_cert(path)) < _now() + dt.timedelta(days=days)


def write_crl(ca: Issued, path: Path, revoked: dict[int, dt.datetime], *, days: int = MAX_VALIDITY_DAYS) -> None:
    """The CA's CRL (serial -> revocation time). nginx refuses every client once a CRL expires, so the next
    update lies far ahead and every revocation rewrites it."""
    ca_cert, ca_key = load_cert(ca.cert), load_key(ca.key)
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
