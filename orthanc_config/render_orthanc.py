"""Orthanc configuration from a host profile: closed by default, every relaxation named in the profile.

DICOM TLS ends at nginx (render_dicom_edge): Orthanc 1.10.1 cannot pin TLS versions or ciphers, offers only
RSA suites on TLS 1.2, binds no certificate to an AE title and serves one handshake at a time. Its own DICOM
port speaks plain DICOM on loopback, where nftables admits only nginx. Each modality's `Host` is the loopback
address nginx binds for that modality's certificate, so the AE allow-list binds AE title to certificate.

Two files: `orthanc.json` (no secret) and `credentials.json` (users and the index password), both
readable only by root and the orthanc group. The renderer knows the Orthanc version it targets and
emits options that only later versions understand only for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from orthanc_config.files import RenderedFile
from orthanc_config.profile import HostProfile

PLUGIN_DIR = "/usr/share/orthanc/plugins"
PLUGINS = ("libOrthancPython.so", "libOrthancPostgreSQLIndex.so", "libOrthancDicomWeb.so")
# GDCM decodes and transcodes what DCMTK inside Orthanc cannot (JPEG 2000): WADO-RS, rendered, frames and C-GET.
# Loaded only when Orthanc runs with the deeper-stack civetweb (http_stack.py), or it would crash Orthanc.
GDCM_PLUGIN = "libOrthancGdcm.so"
# At most this many GDCM decodes at once: a study of large JPEG 2000 images must not take every core and all memory.
GDCM_THROTTLING = 4
# GDCM only for what Orthanc's own DCMTK cannot decode. Without this list a loaded GDCM plugin decodes every image
# first (Orthanc tries plugins before its built-in decoder), uncompressed CT included: each rendered request then
# parses the whole file a second time. Debian's Orthanc links DCMTK's JPEG and JPEG-LS codecs; JPEG 2000 is GDCM's.
GDCM_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.92",  # JPEG 2000 Part 2 multi-component lossless
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 Part 2 multi-component
)
# Orthanc 1.11.2 adds "reject when full".
STORAGE_REJECT_SINCE = "1.11.2"
# Index connections per host (orthanc-postgresql 4.0). Measured (issue 18): with 4, parallel associations' writes
# collide in PostgreSQL's serializable transactions ("could not serialize access"), Orthanc 1.10 gives up after 10
# retries and the modality gets 0xA700 for an instance it sent; the viewer gained nothing measurable. One
# connection serialises the index, and no store is ever refused for a collision on one host. benchmarks.index_path
# re-measures 4 against 1 at 8 associations: retried statements, no fewer WAL flushes (no group commit gained).
INDEX_CONNECTIONS = 1


@dataclass(frozen=True)
class OrthancPaths:
    server_cert: str
    server_key: str
    trusted_ca: str
    plugin_script: str
    library_dir: str = ""  # set when http_stack.prepare() succeeded: GDCM is safe to load


@dataclass(frozen=True)
class OrthancSecrets:
    db_password: str
    http_users: dict[str, str]  # user -> password, for Orthanc's Basic authentication


def orthanc_settings(profile: HostProfile, paths: OrthancPaths) -> dict:
    """The non-secret configuration as a dict (tests assert on it option by option)."""
    cfg: dict = {
        "Name": profile.name,
        "StorageDirectory": profile.storage_dir,
        "IndexDirectory": profile.storage_dir,
        "StorageCompression": False,
        # Never evict: 1.10.1 deletes the OLDEST patients when a limit is hit (a C-STORE flood could erase data).
        "MaximumStorageSize": 0,
        "MaximumPatientCount": 0,
        "Plugins": [f"{PLUGIN_DIR}/{p}" for p in PLUGINS + ((GDCM_PLUGIN,) if paths.library_dir else ())],
        "LuaScripts": [],
        "ExecuteLuaEnabled": False,
        "HttpServerEnabled": True,
        "HttpPort": profile.orthanc_http_port,
        "SslEnabled": False,  # HTTPS ends at nginx: native HTTPS crashes Debian's 1.10.1 build
        "RemoteAccessAllowed": False,  # only nginx on loopback talks to Orthanc's HTTP port
        "AuthenticationEnabled": True,
        "HttpDescribeErrors": False,
        "HttpCompressionEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "WebDavDeleteAllowed": False,
        "WebDavUploadAllowed": False,
        "RestApiWriteToFileSystemEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": profile.dicom_aet,
        "DicomPort": profile.orthanc_dicom_port,
        "DicomCheckCalledAet": True,
        "StrictAetComparison": True,
        "DicomCheckModalityHost": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowFindWorklist": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomEchoChecksFind": False,
        "UnknownSopClassAccepted": False,
        # TLS is nginx's (mutual, TLS 1.2/1.3, ECDHE+AEAD, CRL); Orthanc's port is loopback-only plain DICOM.
        "DicomTlsEnabled": False,
        "DicomModalities": {
            m.aet: {
                "AET": m.aet,
                # Incoming: nginx connects from this address only for this modality's certificate.
                # Outgoing (C-MOVE/C-STORE): nginx listens here and carries the association on over TLS.
                "Host": profile.edge_address(m.aet),
                "Port": profile.dicom_relay_port,
                "UseDicomTls": False,
                "AllowEcho": "echo" in m.rights,
                "AllowStore": "store" in m.rights,
                "AllowFind": "find" in m.rights,
                "AllowGet": "get" in m.rights,
                "AllowMove": "move" in m.rights,
                "AllowFindWorklist": False,
                "AllowStorageCommitment": False,
                "AllowTranscoding": True,
            }
            for m in profile.modalities
        },
        "DicomModalitiesInDatabase": False,
        "OrthancPeers": {},
        "OrthancPeersInDatabase": False,
        "LimitFindResults": profile.find_limit,
        "LimitFindInstances": profile.find_limit,
        "DeidentifyLogs": True,
        "DeidentifyLogsDicomVersion": "2021b",
        "LogExportedResources": True,
        "OverwriteInstances": False,
        "SaveJobs": True,
        "CheckRevisions": True,
        "MetricsEnabled": False,
        "HttpsVerifyPeers": True,
        # orthanc-python 4.0 reads these at the top level (a nested "Python" section is silently ignored).
        "PythonScript": paths.plugin_script,
        "PythonVerbose": False,
        "HttpsCACertificates": "/etc/ssl/certs/ca-certificates.crt",
        "Gdcm": {
            "Enable": bool(paths.library_dir),
            "Throttling": GDCM_THROTTLING,
            "RestrictTransferSyntaxes": list(GDCM_TRANSFER_SYNTAXES),
        },
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Ssl": True,
        },
    }
    if profile.version_at_least(STORAGE_REJECT_SINCE):
        cfg["MaximumStorageMode"] = "Reject"
    return cfg


def connection_uri(profile: HostProfile, password: str) -> str:
    db = profile.database
    if db.over_socket:
        # The local cluster's Unix-domain socket: no network path, so no TLS (libpq ignores sslmode on sockets);
        # the role still signs in with SCRAM, and only postgres and the orthanc group can reach the directory.
        where = f"host={quote(db.host, safe='')}&port={db.port}"
        return f"postgresql://{quote(db.user)}:{quote(password, safe='')}@/{quote(db.name)}?{where}"
    params = f"sslmode={db.sslmode}"
    if db.ca_file:
        params += f"&sslrootcert={quote(db.ca_file)}"
    return f"postgresql://{quote(db.user)}:{quote(password, safe='')}@{db.host}:{db.port}/{quote(db.name)}?{params}"


def credential_settings(profile: HostProfile, secrets: OrthancSecrets) -> dict:
    return {
        "RegisteredUsers": dict(secrets.http_users),
        "PostgreSQL": {
            "EnableIndex": True,
            "EnableStorage": False,
            "ConnectionUri": connection_uri(profile, secrets.db_password),
            "Lock": False,  # several hosts share one index (orthanc-postgresql 4.0 retries conflicts)
            "MaximumConnectionRetries": 10,
            "ConnectionRetryInterval": 2,
            "IndexConnectionsCount": INDEX_CONNECTIONS,
        },
    }


def render_orthanc(profile: HostProfile, paths: OrthancPaths, secrets: OrthancSecrets) -> list[RenderedFile]:
    cfg_dir = Path(profile.config_dir)
    return [
        RenderedFile(
            str(cfg_dir / "orthanc.json"),
            json.dumps(orthanc_settings(profile, paths), indent=2),
            0o640,
            "root",
            "orthanc",
        ),
        RenderedFile(
            str(cfg_dir / "credentials.json"),
            json.dumps(credential_settings(profile, secrets), indent=2),
            0o640,
            "root",
            "orthanc",
            secret=True,
        ),
    ]
