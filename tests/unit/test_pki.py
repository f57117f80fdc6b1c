"""The PKI: a CA that signs only, server and client certificates with the right usages and SANs, private keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from orthanc_config import pki


def test_ca_server_and_client(tmp_path: Path) -> None:
    ca = pki.create_ca(tmp_path, "Test CA", 3650)
    server = pki.issue(
        ca, tmp_path, "server", "pacs", days=30, server=True, dns_names=("pacs.test",), addresses=("198.18.0.2",)
    )
    client = pki.issue(ca, tmp_path, "CT1", "CT1", days=30, server=False)

    ca_cert = pki.load_cert(ca.cert)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    srv = pki.load_cert(server.cert)
    sans = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["pacs.test"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("198.18.0.2")]
    assert srv.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    cli = pki.load_cert(client.cert)
    assert list(cli.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert (srv.not_valid_after_utc - srv.not_valid_before_utc).days == 30
    assert isinstance(pki.load_key(server.key), ec.EllipticCurvePrivateKey)
    # The chain verifies with the standard library's TLS stack.
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    ctx.load_cert_chain(str(client.cert), str(client.key))


def test_private_keys_are_0600(tmp_path: Path) -> None:
    ca = pki.create_ca(tmp_path, "Test CA", 10)
    leaf = pki.issue(ca, tmp_path, "leaf", "leaf", days=1, server=False)
    for key in (ca.key, leaf.key):
        assert key.stat().st_mode & 0o777 == 0o600


def test_group_readable_key_for_a_service(tmp_path: Path) -> None:
    import os

    ca = pki.create_ca(tmp_path, "Test CA", 10)
    gid = os.getgid()
    leaf = pki.issue(ca, tmp_path, "srv", "srv", days=1, server=True, key_gid=gid)
    st = leaf.key.stat()
    assert st.st_mode & 0o777 == 0o640 and st.st_gid == gid


def test_expiry_window(tmp_path: Path) -> None:
    ca = pki.create_ca(tmp_path, "Test CA", 10)
    old = pki.issue(
        ca, tmp_path, "old", "old", days=5, server=False, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=4)
    )
    assert pki.expires_within(old.cert, 30)
    assert not pki.expires_within(ca.cert, 1)
