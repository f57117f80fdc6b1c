"""The DICOM edge (nginx stream): TLS policy, both server certificates, certificate-to-AE binding, revocation,
timeouts and the relays to TLS peers, asserted on the rendering and checked by the real nginx where present."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orthanc_config import pki
from orthanc_config.profile import HostProfile, Modality
from orthanc_config.render_dicom_edge import NGINX_STREAM_MODULE, DicomEdgePaths, EdgeCertificate, render_dicom_stream
from orthanc_config.render_nginx import NginxPaths, render_nginx

PROFILE = HostProfile(
    name="t",
    mode="local",
    modalities=(
        Modality("CT1", "198.18.0.1", 104, ("echo", "store")),
        Modality("WS1", "198.18.0.5", 11112, ("echo", "find", "move")),
    ),
)
CERTS = (EdgeCertificate("CT1", "aa" * 20), EdgeCertificate("WS1", "bb" * 20), EdgeCertificate("GONE", "cc" * 20))


def render(tmp_path: Path, certs: tuple[EdgeCertificate, ...] = CERTS) -> str:
    ca = pki.create_ca(tmp_path, "CA", 10)
    ec = pki.issue(ca, tmp_path, "server", "localhost", days=1, server=True, dns_names=("localhost",))
    rsa = pki.issue(ca, tmp_path, "server-rsa", "localhost", days=1, server=True, key_type="rsa")
    client = pki.issue(ca, tmp_path, "pacs-client", "PACSGUARD", days=1, server=False)
    pki.write_crl(ca, tmp_path / "crl.pem", {})
    paths = DicomEdgePaths(
        str(ec.cert), str(ec.key), str(rsa.cert), str(rsa.key), str(ca.cert), str(tmp_path / "crl.pem"),
        str(client.cert), str(client.key), str(tmp_path),
    )  # fmt: skip
    return render_dicom_stream(PROFILE, paths, certs, ("127.0.0.1",))


def public_server(conf: str) -> str:
    return conf.split("  server {", 1)[1].split("\n  }", 1)[0]


def test_tls_1_2_and_1_3_with_ecdhe_aead_only_and_both_certificates(tmp_path: Path) -> None:
    server = public_server(render(tmp_path))
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in server
    ciphers = re.search(r"ssl_ciphers (\S+);", server).group(1).split(":")
    assert ciphers and all(c.startswith("ECDHE-") and ("GCM" in c or "CHACHA20" in c) for c in ciphers)
    certs = re.findall(r"ssl_certificate (\S+);", server)
    assert [Path(c).name for c in certs] == ["server.crt", "server-rsa.crt"]


def test_client_certificate_required_from_the_stack_ca_and_checked_against_its_crl(tmp_path: Path) -> None:
    server = public_server(render(tmp_path))
    assert "ssl_verify_client on;" in server and "ssl_verify_depth 1;" in server
    assert re.search(r"ssl_client_certificate \S+/ca\.crt;", server)
    assert re.search(r"ssl_crl \S+/crl\.pem;", server)


def test_each_certificate_binds_to_its_own_loopback_address_from_its_own_host(tmp_path: Path) -> None:
    conf = render(tmp_path)
    assert f'"{"aa" * 20} 198.18.0.1" 127.0.64.1;' in conf
    assert f'"{"bb" * 20} 198.18.0.5" 127.0.64.2;' in conf
    assert "cc" * 20 not in conf  # a certificate of no listed modality is never admitted
    assert "proxy_bind $pacsguard_dicom_source;" in conf
    # Without a bound address there is no upstream at all.
    upstream_map = conf.split("$pacsguard_dicom_upstream {", 1)[1].split("}", 1)[0]
    assert '"" "";' in upstream_map and f"default 127.0.0.1:{PROFILE.orthanc_dicom_port};" in upstream_map


def test_timeouts_first_pdu_wait_and_per_source_limit(tmp_path: Path) -> None:
    server = public_server(render(tmp_path))
    assert f"ssl_handshake_timeout {PROFILE.dicom_handshake_timeout_s}s;" in server
    assert "ssl_preread on;" in server and f"preread_timeout {PROFILE.dicom_first_pdu_timeout_s}s;" in server
    assert f"limit_conn pacsguard_dicom {PROFILE.dicom_connections_per_source};" in server
    assert f"proxy_timeout {PROFILE.dicom_idle_timeout_s}s;" in server


def test_relays_originate_mutual_tls_to_each_modality(tmp_path: Path) -> None:
    conf = render(tmp_path)
    relay = conf.split(f"listen 127.0.64.2:{PROFILE.dicom_relay_port};", 1)[1].split("}", 1)[0]
    assert "proxy_pass 198.18.0.5:11112;" in relay
    for line in ("proxy_ssl on;", "proxy_ssl_verify on;", "proxy_ssl_name WS1;", "proxy_ssl_protocols TLSv1.2 TLSv1.3"):
        assert line in relay
    assert re.search(r"proxy_ssl_certificate \S+/pacs-client\.crt;", relay)
    assert re.search(r"proxy_ssl_crl \S+/crl\.pem;", relay)


def test_every_connection_is_logged_with_address_certificate_and_outcome(tmp_path: Path) -> None:
    conf = render(tmp_path)
    fmt = re.search(r"log_format pacsguard_dicom escape=json '([^']+)';", conf).group(1)
    for variable in ("$remote_addr", "$ssl_client_fingerprint", "$ssl_client_verify", "$status", "$upstream_addr"):
        assert variable in fmt


@pytest.mark.skipif(
    shutil.which("nginx") is None or os.geteuid() != 0 or not Path(NGINX_STREAM_MODULE).exists(),
    reason="needs root, nginx and libnginx-mod-stream (make setup)",
)
def test_nginx_accepts_the_rendered_edge(tmp_path: Path) -> None:
    stream = render(tmp_path)
    (tmp_path / "temp").mkdir()
    paths = NginxPaths(
        str(tmp_path), str(tmp_path / "server.crt"), str(tmp_path / "server.key"), str(tmp_path / "nginx.pid"),
        str(tmp_path), str(tmp_path / "temp"),
    )  # fmt: skip
    (f,) = render_nginx(PROFILE, paths, "gateway-secret", ("127.0.0.1",), stream)
    Path(f.path).write_text(f.content)
    res = subprocess.run(["nginx", "-t", "-c", f.path], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
