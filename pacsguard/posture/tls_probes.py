"""TLS probes of the DICOM edge as an outside tester would run them: suite by suite, DCMTK's BCP 195 profiles,
sslyze against Mozilla's intermediate configuration, idle and silent peers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

# What the edge may negotiate on TLS 1.2: forward secrecy and AEAD (BCP 195, Mozilla intermediate).
ALLOWED_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}
BCP195_PROFILES = {"+py": "BCP 195 non-downgrading", "+px": "BCP 195", "+pz": "BCP 195 extended (TLS 1.2 only)"}


def tls12_suites() -> list[str]:
    """Every TLS 1.2 suite this machine's OpenSSL can offer (pre-shared-key and SRP suites need secrets we lack)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    names = {c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"}
    return sorted(n for n in names if "PSK" not in n and "SRP" not in n)


def tls12_handshake(host: str, port: int, suite: str, cert: str, key: str) -> str | None:
    """The negotiated suite when a TLS 1.2 handshake offering only `suite` (with a valid client certificate)
    completes, else None."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(f"{suite}:@SECLEVEL=0")
    except ssl.SSLError:
        return None  # this OpenSSL build cannot offer it
    ctx.load_cert_chain(cert, key)
    with socket.create_connection((host, port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                negotiated = tls.cipher()
                return negotiated[0] if negotiated else None
        except (ssl.SSLError, OSError):
            return None


def dcmtk_echo(stack: dict, aet: str, cert: str, key: str, profile: str = "+py") -> subprocess.CompletedProcess:
    d = stack["dicom"]
    cmd = ["echoscu", profile, "-aet", aet, "-aec", d["called_aet"], "+tls", key, cert, "+cf", stack["ca_cert"],
           "-to", "5", "-ta", "5", d["host"], str(d["port"])]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def mozilla_intermediate_issues(host: str, port: int, ca: str, cert: str | None = None, key: str | None = None) -> dict:
    """sslyze's verdict against Mozilla's intermediate configuration: {} when compliant, else the issues."""
    from sslyze import (
        CertificateInfoExtraArgument,
        ClientAuthenticationCredentials,
        ScanCommandsExtraArguments,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
    )
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    credentials = ClientAuthenticationCredentials(Path(cert), Path(key)) if cert and key else None
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(host, port),
        network_configuration=ServerNetworkConfiguration(
            tls_server_name_indication=host, tls_client_auth_credentials=credentials
        ),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(ca))
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    try:
        check_server_against_tls_configuration(
            result, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
        )
    except ServerNotCompliantWithTlsConfiguration as exc:
        return exc.issues
    return {}


@contextlib.contextmanager
def idle_and_silent_peers(
    stack: dict, count: int, cert: str, key: str, idle_from: str | None, silent_from: str | None
) -> Iterator[None]:
    """`count` TCP connections that never start TLS, and `count` TLS sessions (valid certificate) that never
    send an A-ASSOCIATE-RQ, held open for the length of the block."""
    d = stack["dicom"]
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            held.append(
                socket.create_connection((d["host"], d["port"]), timeout=5, source_address=(idle_from or "", 0))
            )
        ctx = ssl.create_default_context(cafile=stack["ca_cert"])
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        for _ in range(count):
            raw = socket.create_connection((d["host"], d["port"]), timeout=5, source_address=(silent_from or "", 0))
            held.append(ctx.wrap_socket(raw, server_hostname=d["host"]))
        yield
    finally:
        for s in held:
            with contextlib.suppress(OSError):
                s.close()
