"""The typed host profile: the one input every renderer and the bootstrap take.

Plain dataclasses (no pydantic) because this runs on the host's Debian Python with no venv.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

RIGHTS = ("echo", "store", "find", "get", "move")
ROLES = ("admin", "radiologist", "technologist", "auditor", "service")
AET_RE = re.compile(r"^[A-Z0-9_\-]{1,16}$")
MAX_CERT_VALIDITY_DAYS = 398  # CA/Browser Forum limit for TLS leaf certificates
EDGE_NETWORK = "127.0.64.0/18"  # loopback addresses nginx binds per modality; Orthanc's allow-list checks them


class ProfileError(ValueError):
    """A host profile that cannot be rendered safely; the message names the field."""


@dataclass(frozen=True)
class Modality:
    aet: str
    host: str
    port: int = 104
    rights: tuple[str, ...] = ("echo", "store")

    def __post_init__(self) -> None:
        if not AET_RE.match(self.aet):
            raise ProfileError(f"modalities[{self.aet}].aet: 1-16 of A-Z 0-9 _ - (upper case, no spaces)")
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ProfileError(f"modalities[{self.aet}].host: {self.host!r} is not an IP address") from None
        bad = set(self.rights) - set(RIGHTS)
        if bad or not self.rights:
            raise ProfileError(f"modalities[{self.aet}].rights: {sorted(bad) or 'empty'}; choose from {RIGHTS}")


@dataclass(frozen=True)
class Database:
    # An address or name (TCP, TLS per sslmode), or on a local stack an absolute path: the directory of the
    # cluster's Unix-domain socket (libpq's convention), a connection with no network path at all.
    host: str = "127.0.0.1"
    port: int = 5432
    name: str = "orthanc"
    user: str = "orthanc"
    # Where the password comes from at boot, never the password itself: "file:/path" or
    # "aws-secretsmanager:<arn>" (the RDS-managed secret, fetched with the instance role).
    password_source: str = "file:/etc/pacsguard/secrets/db-password"  # noqa: S105 (a path)
    ca_file: str = ""
    # Where the host fetches ca_file from at boot (https only): AWS's RDS trust store for the region.
    ca_bundle_url: str = ""
    # On AWS: Orthanc's own role (created by the bootstrap with the master secret) and its password's secret.
    app_user: str = ""
    app_password_secret: str = ""
    # The application secret's age at which a host's credentials timer rotates it (no Lambda: the hosts hold the
    # master secret already, see orthanc_config/db_app_user.py).
    app_rotation_days: int = 30
    sslmode: Literal["verify-full", "verify-ca", "require"] = "verify-full"

    def __post_init__(self) -> None:
        if not re.match(r"^(file:/|aws-secretsmanager:arn:)", self.password_source):
            raise ProfileError("database.password_source: use file:/path or aws-secretsmanager:<secret arn>")
        if self.ca_bundle_url and not self.ca_bundle_url.startswith("https://"):
            raise ProfileError(f"database.ca_bundle_url: {self.ca_bundle_url!r} must be an https:// URL")
        if not 1 <= self.app_rotation_days <= 365:
            raise ProfileError(f"database.app_rotation_days: {self.app_rotation_days} is not within 1-365 days")

    @property
    def over_socket(self) -> bool:
        """The index connection is a Unix-domain socket on this host (no TCP, so no TLS to require)."""
        return self.host.startswith("/")


@dataclass(frozen=True)
class HostProfile:
    name: str
    mode: Literal["local", "aws"]
    orthanc_version: str = "1.10.1"
    dicom_aet: str = "PACSGUARD"
    dicom_port: int = 2762  # nginx: DICOM TLS, the only DICOM port a network reaches
    orthanc_dicom_port: int = 4242  # Orthanc's plain DICOM port, loopback only, behind nginx
    dicom_relay_port: int = 4243  # nginx on each modality's loopback address: Orthanc's way out to TLS peers
    dicom_handshake_timeout_s: int = 5
    dicom_first_pdu_timeout_s: int = 10  # a TLS session that sends nothing never reaches Orthanc
    dicom_idle_timeout_s: int = 120
    dicom_connections_per_source: int = 32  # a modality may open several associations; a flood cannot exhaust nginx
    https_port: int = 443
    orthanc_http_port: int = 8042
    server_names: tuple[str, ...] = ("localhost",)
    server_addresses: tuple[str, ...] = ("127.0.0.1",)
    https_cidrs: tuple[str, ...] = ("127.0.0.1/32",)
    modality_cidrs: tuple[str, ...] = ("127.0.0.1/32",)
    health_check_cidrs: tuple[str, ...] = ()  # on AWS: the subnets the DICOM load balancer checks targets from
    # Subnets of the load balancers in front of the host: admitted on HTTPS and DICOM (health checks, ALB
    # traffic) and trusted for X-Forwarded-For, so limits and audit lines see the real client.
    lb_cidrs: tuple[str, ...] = ()
    # hosts.package_egress. Closed (AWS): HTTPS from any user but the identity-key service reaches only
    # https_egress_cidrs, the VPC (interface endpoints) and the S3 gateway endpoint's prefix list.
    package_egress: Literal["open", "closed"] = "open"
    https_egress_cidrs: tuple[str, ...] = ()
    modalities: tuple[Modality, ...] = ()
    database: Database = field(default_factory=Database)
    identity: Literal["basic", "jwt", "basic+jwt"] = "basic+jwt"
    jwt_public_key_file: str = "/etc/pacsguard/jwt-public.pem"
    jwt_signer: str = ""  # on AWS: the ARN of the stack's own load balancer
    jwt_key_url: str = ""  # on AWS: https://public-keys.auth.elb.<region>.amazonaws.com/{kid}
    # Machine clients (bearer tokens, RS256): the issuer, its JWKS (https URL or file) and the admitted client ids.
    machine_issuer: str = ""
    machine_jwks: str = ""
    machine_clients: tuple[str, ...] = ()
    machine_resource_server: str = "pacs"
    session_timeout_minutes: int = 15  # automatic logoff: a signed-in session older than this is refused
    emergency_access_minutes: int = 60  # the longest break-glass window (at most 240)
    break_glass_secret: str = ""  # on AWS: the sealed secret whose window tags every host follows
    cert_validity_days: int = 365
    find_limit: int = 500
    max_body_mb: int = 512
    # Per signed-in user: a viewer issues a request per image, so the burst holds a whole 1,000-image study.
    rate_limit_per_second: int = 100
    rate_limit_burst: int = 2000
    viewer: bool = True  # the OHIF web viewer at /viewer/ (orthanc_config/viewer.py pins the build)
    # Paths: every file the host owns lives under these roots.
    config_dir: str = "/etc/orthanc-pacsguard"
    pki_dir: str = "/etc/pacsguard/pki"
    state_dir: str = "/var/lib/pacsguard"
    storage_dir: str = "/var/lib/orthanc/db-pacsguard"
    log_dir: str = "/var/log/pacsguard"
    ebs_volume_id: str = ""  # storage.mode ebs: the stack's persistent image volume (orthanc_config/ebs_volume.py)
    efs: dict[str, str] = field(default_factory=dict)  # {"file_system_id", "access_point_id"} on AWS
    log_groups: dict[str, str] = field(default_factory=dict)  # host/audit/nginx -> CloudWatch group
    region: str = ""
    # RFC 5425: {"host", "port", "ca", optional "cert", "key", "server_name"}; empty keeps the trail local.
    audit_forward: dict[str, str] = field(default_factory=dict)
    # On AWS: the Secrets Manager secret of the stack's one CA (see orthanc_config/stack_ca.py).
    stack_ca_secret: str = ""

    def __post_init__(self) -> None:
        if not AET_RE.match(self.dicom_aet):
            raise ProfileError("dicom_aet: 1-16 of A-Z 0-9 _ - (upper case, no spaces)")
        if self.package_egress not in ("open", "closed"):
            raise ProfileError(f"package_egress: {self.package_egress!r}; choose open or closed")
        for key in ("https_cidrs", "modality_cidrs", "health_check_cidrs", "lb_cidrs", "https_egress_cidrs"):
            for cidr in getattr(self, key):
                try:
                    ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    raise ProfileError(f"{key}: {cidr!r}: {exc}") from None
        aets = [m.aet for m in self.modalities]
        if len(set(aets)) != len(aets):
            raise ProfileError(f"modalities: duplicate AE titles in {aets}")
        if self.dicom_aet in aets:
            raise ProfileError(f"modalities: {self.dicom_aet} is the server's own AE title")
        if not re.fullmatch(r"\d+\.\d+\.\d+", self.orthanc_version):
            raise ProfileError(f"orthanc_version: {self.orthanc_version!r} is not a version such as 1.10.1")
        if not 1 <= self.emergency_access_minutes <= 240:
            raise ProfileError("emergency_access_minutes: 1 to 240 (four hours at most)")
        if self.machine_clients and not (self.machine_issuer.startswith("https://") and self.machine_jwks):
            raise ProfileError("machine_clients need machine_issuer (https://...) and machine_jwks")
        ports = ("dicom_port", "https_port", "orthanc_http_port", "orthanc_dicom_port", "dicom_relay_port")
        for port_key in ports:
            if not 1 <= getattr(self, port_key) <= 65535:
                raise ProfileError(f"{port_key}: not a TCP port")
        if len({getattr(self, k) for k in ports}) != len(ports):
            raise ProfileError(f"{', '.join(ports)}: each needs its own port")
        if self.audit_forward:
            missing = [k for k in ("host", "port", "ca") if not self.audit_forward.get(k)]
            unknown = set(self.audit_forward) - {"host", "port", "ca", "cert", "key", "server_name"}
            if missing or unknown:
                raise ProfileError(
                    f"audit_forward: needs host, port and ca (RFC 5425 over TLS); missing {missing}, unknown "
                    f"{sorted(unknown)}"
                )
        if not 1 <= self.cert_validity_days <= MAX_CERT_VALIDITY_DAYS:
            raise ProfileError(f"cert_validity_days: 1-{MAX_CERT_VALIDITY_DAYS} (CA/Browser Forum limit)")
        for key in ("dicom_handshake_timeout_s", "dicom_first_pdu_timeout_s", "dicom_idle_timeout_s"):
            if not 1 <= getattr(self, key) <= 3600:
                raise ProfileError(f"{key}: 1-3600 seconds")
        if not 1 <= self.dicom_connections_per_source <= 1000:
            raise ProfileError("dicom_connections_per_source: 1-1000")
        if self.database.over_socket and self.mode != "local":
            raise ProfileError(
                f"database.host: {self.database.host!r} is a socket directory, which only a local stack's own "
                "cluster has; an AWS host reaches RDS by name over TLS (verify-full)"
            )

    @property
    def audit_log(self) -> str:
        return f"{self.log_dir}/audit.jsonl"

    @property
    def credentials_file(self) -> str:
        return f"{self.config_dir}/credentials.json"

    def edge_address(self, aet: str) -> str:
        """The loopback address nginx binds when it forwards this modality's certificate, and listens on for
        Orthanc's associations to it. Stable while the modality keeps its place in the list."""
        index = [m.aet for m in self.modalities].index(aet)
        base = ipaddress.ip_network(EDGE_NETWORK).network_address + 1
        return str(base + index)

    def version_at_least(self, version: str) -> bool:
        return _vtuple(self.orthanc_version) >= _vtuple(version)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostProfile:
        data = dict(data)
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ProfileError(f"unknown profile keys {sorted(unknown)}")
        try:
            data["modalities"] = tuple(
                Modality(**{**m, "rights": tuple(m.get("rights", ("echo", "store")))})
                for m in data.get("modalities", ())
            )
            data["database"] = Database(**data.get("database", {}))
        except TypeError as exc:
            raise ProfileError(f"modalities/database: {exc}") from None
        for key in (
            "server_names",
            "server_addresses",
            "https_cidrs",
            "modality_cidrs",
            "health_check_cidrs",
            "lb_cidrs",
            "https_egress_cidrs",
            "machine_clients",
        ):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> HostProfile:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{path}: not JSON ({exc})") from None


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))
