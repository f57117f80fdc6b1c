"""nginx's stream block: the DICOM edge. It terminates DICOM TLS in front of Orthanc and originates it to peers.

In (modality -> PACS): TLS 1.2/1.3 with ECDHE+AEAD only, an ECDSA and an RSA server certificate side by side
(RSA-only TLS 1.2 modalities connect), a client certificate from the stack's CA that is not on its CRL. The
certificate's fingerprint and the client's address pick the loopback address nginx binds towards Orthanc;
Orthanc's AE allow-list binds each AE title to exactly that address, so a certificate works only under its own
AE title. A certificate of no listed modality gets no upstream at all. A TLS session that sends nothing is held
by nginx (preread) and never reaches Orthanc, whose 1.10.1 accept loop serves one association set-up at a time.

Out (PACS -> modality, C-MOVE/C-STORE): nginx listens on each modality's loopback address at the relay port and
carries Orthanc's plain association on over TLS with the PACS's client certificate, verifying the peer's.

Every connection, accepted or refused, is one JSON line with its client address, certificate and outcome; the
Orthanc plugin turns those lines into audit records (pacsguard_dicomedge).
"""

from __future__ import annotations

from dataclasses import dataclass

from orthanc_config.profile import HostProfile
from orthanc_config.render_nginx import CIPHERS, NGINX_STREAM_MODULE, syslog_target

__all__ = ["NGINX_STREAM_MODULE", "DicomEdgePaths", "EdgeCertificate", "render_dicom_stream"]

DICOM_CIPHERS = CIPHERS
CONNECTION_LOG = "dicom-connections.jsonl"
CONNECTION_FORMAT = (
    '{"time":"$time_iso8601","listener":"$server_addr:$server_port","client":"$remote_addr",'
    '"client_port":"$remote_port","status":"$status","verify":"$ssl_client_verify",'
    '"fingerprint":"$ssl_client_fingerprint","serial":"$ssl_client_serial","subject":"$ssl_client_s_dn",'
    '"certificate_aet":"$pacsguard_dicom_cert_aet","bound":"$pacsguard_dicom_source",'
    '"protocol":"$ssl_protocol","cipher":"$ssl_cipher","upstream":"$upstream_addr",'
    '"bytes_in":"$bytes_received","bytes_out":"$bytes_sent","duration":"$session_time"}'
)


@dataclass(frozen=True)
class EdgeCertificate:
    """A modality certificate nginx admits: its AE title and SHA-1 fingerprint ($ssl_client_fingerprint)."""

    aet: str
    fingerprint: str


@dataclass(frozen=True)
class DicomEdgePaths:
    server_cert: str  # ECDSA
    server_key: str
    rsa_cert: str
    rsa_key: str
    client_ca: str
    crl: str
    relay_cert: str  # the PACS's client certificate towards TLS peers
    relay_key: str
    log_dir: str
    audit_socket: str = ""  # the audit sink: every connection's line goes there too


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render_dicom_stream(
    profile: HostProfile, paths: DicomEdgePaths, certificates: tuple[EdgeCertificate, ...], listen: tuple[str, ...]
) -> str:
    known = {m.aet: m for m in profile.modalities}
    admitted = [c for c in certificates if c.aet in known]
    sources = "\n".join(f'    "{c.fingerprint} {known[c.aet].host}" {profile.edge_address(c.aet)};' for c in admitted)
    aets = "\n".join(f"    {c.fingerprint} {c.aet};" for c in admitted)
    listens = "\n".join(f"    listen {_hostport(a, profile.dicom_port)} ssl;" for a in listen)
    relays = "\n".join(_relay(profile, paths, m.aet) for m in profile.modalities)
    return f"""
stream {{
  log_format pacsguard_dicom escape=json '{CONNECTION_FORMAT}';
  access_log {paths.log_dir}/{CONNECTION_LOG} pacsguard_dicom;
{f"  access_log {syslog_target(paths.audit_socket, 'pacsguard_dicom')} pacsguard_dicom;" if paths.audit_socket else ""}
  limit_conn_zone $binary_remote_addr zone=pacsguard_dicom:1m;
  map_hash_bucket_size 128;  # keys are a 40-character fingerprint and an address

  # Certificate (fingerprint) and client address -> the loopback address Orthanc binds that AE title to.
  map "$ssl_client_fingerprint $remote_addr" $pacsguard_dicom_source {{
    default "";
{sources}
  }}
  map $ssl_client_fingerprint $pacsguard_dicom_cert_aet {{
    default "";
{aets}
  }}
  # No bound address, no upstream: the session ends in nginx and is logged as refused.
  map $pacsguard_dicom_source $pacsguard_dicom_upstream {{
    "" "";
    default 127.0.0.1:{profile.orthanc_dicom_port};
  }}

  server {{
{listens}
    ssl_certificate {paths.server_cert};
    ssl_certificate_key {paths.server_key};
    ssl_certificate {paths.rsa_cert};
    ssl_certificate_key {paths.rsa_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {DICOM_CIPHERS};
    ssl_prefer_server_ciphers off;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_tickets off;
    ssl_session_cache shared:pacsguard_dicom_tls:1m;
    ssl_client_certificate {paths.client_ca};
    ssl_verify_client on;
    ssl_verify_depth 1;
    ssl_crl {paths.crl};
    ssl_handshake_timeout {profile.dicom_handshake_timeout_s}s;
    # Wait for the first bytes of the association before connecting to Orthanc.
    ssl_preread on;
    preread_timeout {profile.dicom_first_pdu_timeout_s}s;
    limit_conn pacsguard_dicom {profile.dicom_connections_per_source};
    proxy_bind $pacsguard_dicom_source;
    proxy_pass $pacsguard_dicom_upstream;
    proxy_buffer_size 256k;  # images arrive in large PDUs: fewer, larger copies through the extra hop
    proxy_connect_timeout 5s;
    proxy_timeout {profile.dicom_idle_timeout_s}s;
  }}
{relays}
}}
"""


def _relay(profile: HostProfile, paths: DicomEdgePaths, aet: str) -> str:
    m = next(x for x in profile.modalities if x.aet == aet)
    return f"""
  # Orthanc -> {aet}: plain on loopback, TLS with the PACS's client certificate on the wire.
  server {{
    listen {_hostport(profile.edge_address(aet), profile.dicom_relay_port)};
    proxy_pass {_hostport(m.host, m.port)};
    proxy_buffer_size 256k;
    proxy_ssl on;
    proxy_ssl_protocols TLSv1.2 TLSv1.3;
    proxy_ssl_ciphers {DICOM_CIPHERS};
    proxy_ssl_certificate {paths.relay_cert};
    proxy_ssl_certificate_key {paths.relay_key};
    proxy_ssl_trusted_certificate {paths.client_ca};
    proxy_ssl_crl {paths.crl};
    proxy_ssl_verify on;
    proxy_ssl_verify_depth 1;
    proxy_ssl_name {aet};
    proxy_ssl_session_reuse off;
    proxy_connect_timeout 5s;
    proxy_timeout {profile.dicom_idle_timeout_s}s;
  }}"""
