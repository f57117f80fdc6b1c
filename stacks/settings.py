"""The settings model every stack file is validated against before any resource is declared.

Secure values are the defaults. Anything weaker must be written in the stack file, and prod refuses
the weakest choices outright (a world-open DICOM port, no deletion protection, short backups, one AZ).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
PROD_MIN_DB_BACKUP_DAYS = 35
PROD_DEFAULT_LOG_RETENTION = 2192  # six years: HIPAA 164.316(b)(2) documentation retention
WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
PROD_MIN_MODALITY_PREFIX = 16
# Networks a hospital can own privately: RFC 1918, RFC 6598 shared space (carrier/SD-WAN) and IPv6 unique local.
# Python's is_private also counts documentation and benchmark ranges, which no modality lives in.
HOSPITAL_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
# RDS for PostgreSQL majors that can be created, with the end of RDS standard support (AWS documentation,
# "Supported PostgreSQL major versions on Amazon RDS"). Data, not code: refresh it with its date.
RDS_VERSIONS_CHECKED = "2026-12-01"
# Major -> RDS end of standard support (RDS for PostgreSQL release calendar). RDS offers 18 (18.1 is listed in the
# extension-versions page); its date follows RDS's pattern (end of February, five years after the major).
RDS_POSTGRES_MAJORS = {
    "14": "2027-02-28", "15": "2028-02-29", "16": "2029-02-28", "17": "2030-02-28", "18": "2031-02-28",
}  # fmt: skip

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModalitySettings(_Strict):
    """One entry of Orthanc's AE allow-list: a title bound to an address, with its DICOM rights."""

    aet: str = Field(pattern=r"^[A-Z0-9_\-]{1,16}$")
    host: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int = Field(104, ge=1, le=65535)
    rights: list[Literal["echo", "store", "find", "get", "move"]] = Field(["echo", "store"], min_length=1)


class DicomSettings(_Strict):
    port: int = Field(2762, ge=1, le=65535, description="DICOM TLS port (IANA 2762)")
    modality_cidrs: list[Network] = Field(
        min_length=1, description="networks of the modalities allowed to reach the DICOM port"
    )
    modalities: list[ModalitySettings] = Field([], description="the AE allow-list; empty admits no modality")
    internet_facing: bool = Field(False, description="a public DICOM load balancer (remote sites); internal by default")

    @field_validator("modality_cidrs", mode="before")
    @classmethod
    def _strict_networks(cls, v: object) -> object:
        return _parse_networks(v)

    @model_validator(mode="after")
    def _modalities_inside_cidrs(self) -> Self:
        for i, m in enumerate(self.modalities):
            if not any(m.host in net for net in self.modality_cidrs if net.version == m.host.version):
                raise _keyed(f"dicom.modalities.{i}.host", f"{m.host} ({m.aet}) is outside dicom.modality_cidrs")
        return self


class HttpsSettings(_Strict):
    cidrs: list[Network] = Field(min_length=1, description="admin and viewer networks allowed to reach HTTPS")

    @field_validator("cidrs", mode="before")
    @classmethod
    def _strict_networks(cls, v: object) -> object:
        return _parse_networks(v)


class HostSettings(_Strict):
    count: int = Field(2, ge=1, le=16)
    # Hosts reach AWS through VPC endpoints and S3 through its prefix list. The Debian mirrors need the NAT at
    # every boot (replacements too): "closed" only with an ami that carries the packages (README, first deploy).
    package_egress: Literal["open", "closed"] = "open"
    instance_type: str = Field("m7i.large", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    root_volume_gb: int = Field(30, ge=16, le=1024)
    # "" = Debian 12 (Debian's own account); "ami-..." = that image; else a name filter on this account's images
    # (e.g. an AMI baked with amazon-efs-utils and the Debian packages).
    ami: str = Field("", pattern=r"^(ami-[0-9a-f]{8,17}|[A-Za-z0-9 ._()/*\[\]-]{1,128})?$")


class DatabaseSettings(_Strict):
    instance_class: str = Field("db.t4g.medium", pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$")
    # A major version only: RDS creates the current minor and auto_minor_version_upgrade keeps it patched.
    # A pinned minor ages out (RDS stops creating 16.1-16.8) and fights the automatic upgrades.
    engine_version: str = Field("16", pattern=r"^\d{2}$", description="PostgreSQL major version, e.g. 16")
    multi_az: bool = True
    allocated_storage_gb: int = Field(50, ge=20, le=65536)
    backup_retention_days: int = Field(35, ge=1, le=35)

    @field_validator("engine_version", mode="before")
    @classmethod
    def _supported_major(cls, v: object) -> object:
        text = str(v)
        if re.fullmatch(r"\d{2}\.\d+", text):
            raise ValueError(
                f"{text} pins a minor version: give the major only ({text.split('.')[0]}); RDS creates the "
                "current minor and auto_minor_version_upgrade keeps it patched"
            )
        if text not in RDS_POSTGRES_MAJORS:
            raise ValueError(
                f"PostgreSQL {text} is not a major RDS supports as of {RDS_VERSIONS_CHECKED}; "
                f"use one of {sorted(RDS_POSTGRES_MAJORS)}"
            )
        return text


class StorageSettings(_Strict):
    mode: Literal["efs", "ebs"] = "efs"
    ebs_size_gb: int = Field(500, ge=10, le=16384)
    archive_transition_days: int = Field(90, ge=30)
    object_lock_days: int = Field(365, ge=1, le=36500)
    # The PHI archive: GOVERNANCE by default. COMPLIANCE would make a GDPR Art. 17 erasure (or removing a study
    # filed under the wrong patient) impossible until the retention ends; GOVERNANCE blocks every deletion except
    # one made by a principal holding s3:BypassGovernanceRetention, so erasure is a deliberate, audited act.
    archive_object_lock: Literal["governance", "compliance", "none"] = "governance"


class WebSettings(_Strict):
    """The HTTPS entry: an application load balancer that authenticates before it forwards."""

    domain_name: str = Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$")
    certificate_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$",
        description="an imported or already issued ACM certificate for domain_name",
    )
    route53_zone_id: str | None = Field(
        None,
        pattern=r"^Z[A-Z0-9]{1,31}$",
        description="the public hosted zone of domain_name: the stack requests a certificate and validates it by DNS",
    )
    internal: bool = Field(True, description="an internal ALB reached over the hospital network (see connectivity)")
    tls_policy: Literal["tls13", "fips"] = "tls13"
    session_timeout_minutes: int = Field(15, ge=5, le=720, description="HIPAA automatic logoff")
    allow_world: bool = Field(False, description="admit 0.0.0.0/0 on HTTPS: needs WAF and MFA")


class MachineClientSettings(_Strict):
    """A non-browser DICOMweb client (AI pipeline, router, script): client-credentials grant, one PACS scope."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    scope: Literal["read", "store"] = Field(description="read: query and retrieve (radiologist); store: STOW (service)")


class IdentitySettings(_Strict):
    mfa: bool = True
    domain_prefix: str | None = Field(None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
    # Phishing-resistant sign-in (WebAuthn, user verification required). required: password+TOTP is no longer a
    # first factor. Prod refuses off.
    passkeys: Literal["off", "allowed", "required"] = "allowed"
    machine_clients: list[MachineClientSettings] = Field([], description="DICOMweb clients without a browser")
    machine_token_minutes: int = Field(15, ge=5, le=60, description="lifetime of a machine client's access token")
    # Break-glass: how long one emergency access window stays open before the host refuses it (HIPAA 164.312(a)(2)(ii)).
    emergency_access_minutes: int = Field(60, ge=15, le=240, description="at most 4 hours")

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "passkeys_count_as_mfa" in data:
            raise ValueError(
                "passkeys_count_as_mfa is no longer a setting: `pulumi up` now makes passkeys count as MFA itself "
                "(infra/passkey_factor.py); delete the line"
            )
        return data

    @field_validator("passkeys")
    @classmethod
    def _deployable_passkeys(cls, v: str) -> str:
        if v == "required":
            raise ValueError(
                "required cannot be enforced: a user registers a passkey only while signed in "
                "(StartWebAuthnRegistration takes the user's access token), so every pool needs another first factor; "
                "the others AWS offers are PASSWORD, EMAIL_OTP and SMS_OTP, the two one-time codes are passwordless "
                "sign-in, to which Cognito adds no MFA (it adds MFA to users whose first factor is the password), and "
                "prod requires MFA; so the password stays a first factor; use allowed"
            )
        return v

    @field_validator("machine_clients")
    @classmethod
    def _unique_clients(cls, v: list[MachineClientSettings]) -> list[MachineClientSettings]:
        names = [c.name for c in v]
        if len(set(names)) != len(names):
            raise ValueError(f"machine client names must be unique: {names}")
        return v


class WafSettings(_Strict):
    enabled: bool = True
    # A viewer loading a 300-slice CT series makes 300+ DICOMweb requests: the limit stops floods, not reading.
    rate_limit: int = Field(20000, ge=100, le=2_000_000_000, description="requests per client IP per 5 minutes")
    stow_path_prefix: str = Field("/dicom-web/studies", pattern=r"^/[A-Za-z0-9/_-]+$")


AccountService = Literal["create", "existing", "off"]


class AccountSettings(_Strict):
    """Account-wide singletons an organisation baseline may already run: create them, use the existing one, or off.

    `existing` declares nothing (a second detector or recorder fails to create); plan and audit still judge them.
    """

    guardduty: AccountService = "create"
    config: AccountService = "create"
    security_hub: AccountService = "off"
    # The Auto Scaling service-linked role the images key policy names: absent in an account that never used
    # Auto Scaling, and a key policy naming a missing principal fails CreateKey; present in most accounts, where
    # creating it again fails ("has been taken"). `auto` looks it up at deploy time and creates it only if absent.
    autoscaling_service_role: Literal["auto", "create", "existing"] = "auto"


class ConnectivitySettings(_Strict):
    """How the hospital networks reach the VPC; private https/modality networks need one of these."""

    transit_gateway_id: str | None = Field(None, pattern=r"^tgw-[0-9a-f]{8,17}$")
    vpn_gateway_id: str | None = Field(None, pattern=r"^vgw-[0-9a-f]{8,17}$")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.transit_gateway_id and self.vpn_gateway_id:
            raise _keyed("connectivity", "choose transit_gateway_id or vpn_gateway_id, not both")
        return self

    @property
    def attached(self) -> bool:
        return bool(self.transit_gateway_id or self.vpn_gateway_id)


class DetectionSettings(_Strict):
    config_rules: bool = True
    alarm_emails: list[str] = Field([], description="subscribed to the alarm topic (confirmation needed)")
    auth_failure_threshold: int = Field(10, ge=1, description="PACS authentication failures per 5 minutes")

    @field_validator("alarm_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for e in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", e):
                raise ValueError(f"{e!r} is not an email address")
        return v


class BackupSettings(_Strict):
    daily_retention_days: int = Field(35, ge=1, le=36500)
    weekly_retention_days: int = Field(90, ge=7, le=36500)
    monthly_retention_days: int = Field(365, ge=30, le=36500)
    copy_region: str | None = Field(None, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    restore_testing: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.daily_retention_days <= self.weekly_retention_days <= self.monthly_retention_days:
            raise _keyed("backup", "retentions must grow: daily <= weekly <= monthly")
        return self


class Settings(_Strict):
    """Everything a stack file may say. Field names are the `pacsguard:` config keys."""

    environment: Literal["dev", "prod"]
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    availability_zones: int = Field(2, ge=2, le=3)
    vpc_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.40.0.0/16")
    nat_per_az: bool | None = None
    dicom: DicomSettings
    https: HttpsSettings
    hosts: HostSettings = HostSettings()
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    log_retention_days: int | None = None
    deletion_protection: bool = True
    web: WebSettings
    identity: IdentitySettings = IdentitySettings()
    waf: WafSettings = WafSettings()
    detection: DetectionSettings = DetectionSettings()
    account: AccountSettings = AccountSettings()
    connectivity: ConnectivitySettings = ConnectivitySettings()
    backup: BackupSettings = BackupSettings()
    allowed_regions: list[str] | None = Field(
        None,
        description="data residency: regions PHI may live in (GDPR Art. 44); defaults to the stack region",
    )

    @field_validator("vpc_cidr", mode="before")
    @classmethod
    def _strict_vpc(cls, v: object) -> object:
        net = ipaddress.IPv4Network(str(v), strict=True)
        if not net.is_private:
            raise ValueError(f"{v} is not a private (RFC 1918) range")
        if not 16 <= net.prefixlen <= 22:
            raise ValueError(f"{v}: the prefix must be between /16 and /22 to hold 3 tiers over 3 AZs")
        return net

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, v: int | None) -> int | None:
        if v is not None and v not in LOG_RETENTION_DAYS:
            raise ValueError(f"{v} is not a CloudWatch Logs retention period; use one of {LOG_RETENTION_DAYS}")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.storage.mode == "ebs" and self.hosts.count != 1:
            raise _keyed("storage.mode", "ebs keeps images on one host's volume: use efs for hosts.count > 1")
        if self.region.startswith("cn-"):
            # Hosts verify sign-ins with the ALB's keys, whose URL AWS documents for the aws and aws-us-gov
            # partitions only (infra/hosts.py alb_key_url); a China region would build a wrong one.
            raise _keyed("region", f"{self.region} is in the aws-cn partition: use a region of aws or aws-us-gov")
        regions = self.allowed_regions or [self.region]
        if self.region not in regions:
            raise _keyed("region", f"{self.region} is outside allowed_regions {regions} (data residency)")
        if self.backup.copy_region is not None:
            if self.backup.copy_region == self.region:
                raise _keyed("backup.copy_region", "an off-site copy must go to another region")
            if self.allowed_regions and self.backup.copy_region not in self.allowed_regions:
                raise _keyed(
                    "backup.copy_region", f"{self.backup.copy_region} is outside allowed_regions (data residency)"
                )
        world_https = [n for n in self.https.cidrs if n in WORLD]
        if world_https and not self.web.allow_world:
            raise _keyed("https.cidrs", f"{world_https[0]} opens the web entry to the world: set web.allow_world: true")
        if self.web.allow_world and not (self.waf.enabled and self.identity.mfa):
            raise _keyed("web.allow_world", "a world-open web entry needs waf.enabled and identity.mfa")
        if not (self.web.certificate_arn or self.web.route53_zone_id):
            raise _keyed(
                "web",
                "set web.certificate_arn (an issued ACM certificate) or web.route53_zone_id (the stack validates "
                "one by DNS): an unvalidated certificate stops the HTTPS listener from being created",
            )
        self._reachable()
        if self.environment == "prod":
            self._refuse_weak_prod()
        return self

    def _reachable(self) -> None:
        """Private client networks need a way into the VPC; a public ALB cannot serve them."""
        https_private = [n for n in self.https.cidrs if is_hospital_private(n)]
        if not self.web.internal and https_private and len(https_private) == len(self.https.cidrs):
            raise _keyed(
                "web.internal",
                f"an internet-facing ALB cannot be reached from private networks only ({https_private[0]}): "
                "set web.internal: true and connectivity, or list the public addresses in https.cidrs",
            )
        public = [n for n in self.https.cidrs if not is_hospital_private(n)]
        if self.web.internal and public:
            raise _keyed(
                "web.internal",
                f"{public[0]} cannot reach an internal ALB: set web.internal: false for users on public addresses",
            )
        outside = self.client_networks
        if outside and not self.connectivity.attached:
            raise _keyed(
                "connectivity",
                f"{outside[0]} is a private hospital network with no route into the VPC: set "
                "connectivity.transit_gateway_id or connectivity.vpn_gateway_id",
            )

    def _refuse_weak_prod(self) -> None:
        for net in self.dicom.modality_cidrs:
            if not is_hospital_private(net):
                raise _keyed(
                    "dicom.modality_cidrs", f"prod refuses DICOM open to {net}: list the private modality networks"
                )
            if net.prefixlen < PROD_MIN_MODALITY_PREFIX:
                raise _keyed(
                    "dicom.modality_cidrs",
                    f"prod refuses {net}: a modality network is /{PROD_MIN_MODALITY_PREFIX} or narrower",
                )
        for service in ("guardduty", "config", "security_hub"):
            if getattr(self.account, service) == "off":
                raise _keyed(f"account.{service}", "prod refuses off: use create, or existing for an organisation's")
        if not self.deletion_protection:
            raise _keyed("deletion_protection", "prod refuses false: PHI stores must not be deletable by one call")
        if self.database.backup_retention_days < PROD_MIN_DB_BACKUP_DAYS:
            raise _keyed(
                "database.backup_retention_days",
                f"prod needs at least {PROD_MIN_DB_BACKUP_DAYS} days, got {self.database.backup_retention_days}",
            )
        if not self.database.multi_az:
            raise _keyed("database.multi_az", "prod refuses a single-AZ index database")
        if not self.waf.enabled:
            raise _keyed("waf.enabled", "prod refuses a web entry without WAF")
        if not self.identity.mfa:
            raise _keyed("identity.mfa", "prod refuses sign-in without MFA")
        if self.identity.passkeys == "off":
            raise _keyed("identity.passkeys", "prod refuses off: offer passkeys (allowed) or require them (required)")
        if self.backup.daily_retention_days < PROD_MIN_DB_BACKUP_DAYS:
            raise _keyed(
                "backup.daily_retention_days", f"prod keeps daily backups at least {PROD_MIN_DB_BACKUP_DAYS} days"
            )
        if self.log_retention_days is not None and self.log_retention_days < PROD_DEFAULT_LOG_RETENTION:
            raise _keyed(
                "log_retention_days",
                f"prod keeps audit logs at least {PROD_DEFAULT_LOG_RETENTION} days (six years)",
            )

    # Derived values the components read, so the defaults live in one place.
    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def effective_log_retention(self) -> int:
        if self.log_retention_days is not None:
            return self.log_retention_days
        return PROD_DEFAULT_LOG_RETENTION if self.is_prod else 365

    @property
    def client_networks(self) -> list[Network]:
        """Private hospital networks outside the VPC that talk to the stack: HTTPS users and modalities."""
        nets = [*self.https.cidrs, *self.dicom.modality_cidrs]
        return [n for n in dict.fromkeys(nets) if is_hospital_private(n) and not _overlaps(n, self.vpc_cidr)]

    @property
    def effective_nat_per_az(self) -> bool:
        return self.is_prod if self.nat_per_az is None else self.nat_per_az


class SettingsKeyError(ValueError):
    """A rule that spans fields; carries the key it blames so messages can name it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.rule = message


def _keyed(key: str, message: str) -> SettingsKeyError:
    return SettingsKeyError(key, message)


def is_hospital_private(net: Network) -> bool:
    return any(net.version == p.version and net.subnet_of(p) for p in HOSPITAL_PRIVATE)  # type: ignore[arg-type]


def _overlaps(net: Network, vpc: ipaddress.IPv4Network) -> bool:
    return net.version == 4 and net.overlaps(vpc)


def _parse_networks(v: object) -> object:
    if not isinstance(v, list):
        return v
    out = []
    for item in v:
        text = str(item).strip()
        if not re.fullmatch(r"[0-9a-fA-F:.]+/\d{1,3}", text):
            raise ValueError(f"{item!r} is not a CIDR such as 192.0.2.0/24")
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ValueError(f"{item!r}: {exc}") from None
    return out
