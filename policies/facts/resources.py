"""One frozen dataclass per resource kind, holding the properties the controls judge, in AWS's own terms.

`name` is what a finding names: the Pulumi resource name at plan time, the AWS name or id in the account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Policy = dict[str, Any]  # an IAM-style policy document


@dataclass(frozen=True)
class Bucket:
    name: str
    environment: str  # prod or dev: the stack's, which sets how strict some judges are
    data_class: str | None  # the pacsguard:data-class tag: phi, logs, ...
    sse_algorithm: str | None  # None: no default encryption configuration
    kms_key: str | None
    bucket_key: bool
    log_sink: bool  # tagged pacsguard:log-sink: the one bucket AWS log delivery requires on SSE-S3
    versioning: bool  # versioning Enabled (not Suspended, not never set)
    public_access_block: frozenset[str]  # the flags that are on, in the API's names (BlockPublicAcls, ...)
    object_lock: bool  # object lock enabled on the bucket
    lock_mode: str | None  # the default retention mode: COMPLIANCE, GOVERNANCE or None
    lifecycle_days: int | None  # the shortest enabled expiration rule (retention where no lock is allowed)
    access_logging: bool  # server access logging to a target bucket is on
    policy: Policy = field(default_factory=dict)


@dataclass(frozen=True)
class Key:
    name: str
    rotation: bool
    policy: Policy = field(default_factory=dict)


@dataclass(frozen=True)
class KeyLifecycle:
    """A stack key's state, whatever it is (the other key facts are only asked of keys not pending deletion)."""

    name: str
    state: str  # Enabled, Disabled, PendingDeletion, ...
    deletion_date: str | None = None


@dataclass(frozen=True)
class Database:
    name: str
    environment: str
    encrypted: bool
    kms_key: str | None
    force_ssl: bool  # a parameter group of the instance sets rds.force_ssl=1
    deletion_protection: bool
    multi_az: bool
    publicly_accessible: bool
    admitted_cidrs: tuple[str, ...]  # address ranges its security groups admit (the hosts' group is no range)
    log_exports: tuple[str, ...]  # log types exported to CloudWatch Logs
    password_managed: bool  # the master password is RDS-managed in Secrets Manager (not set by hand)
    secret_rotates: bool  # that secret rotates automatically (RDS turns 7-day rotation on when it creates it)
    backup_retention_days: int  # automated backups (point-in-time restore) kept this long; 0 is off


@dataclass(frozen=True)
class FileSystem:
    name: str
    encrypted: bool
    kms_key: str | None
    policy: Policy = field(default_factory=dict)


@dataclass(frozen=True)
class EbsDefault:
    """The region's EBS encryption default (an account setting the stack declares)."""

    name: str
    enabled: bool
    kms_key: str | None  # only asked of the account when encryption by default is on


@dataclass(frozen=True)
class Volume:
    name: str
    encrypted: bool
    kms_key: str | None
    stack_key: bool  # the key is one of the stack's keys (at plan time: a customer-managed key the program names)


@dataclass(frozen=True)
class EncryptedResource:
    """A resource whose only judged property is the KMS key it is encrypted with (secret, topic, trail)."""

    name: str
    kms_key: str | None


@dataclass(frozen=True)
class LogGroup:
    name: str
    environment: str
    kms_key: str | None
    retention_days: int | None  # None: never set (AWS keeps the events forever)


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    type: str  # application, network, gateway
    drops_invalid_headers: bool
    access_logs: bool  # access logs delivered to S3
    waf_groups: tuple[str, ...] | None = None  # managed rule groups of its WAF web ACL; None: no web ACL (or no ALB)
    waf_rate_limit: bool = False  # the web ACL has a rate-based rule


@dataclass(frozen=True)
class Listener:
    name: str
    protocol: str | None
    ssl_policy: str | None
    redirects_to_https: bool  # every default action is a redirect to HTTPS


@dataclass(frozen=True)
class Principal:
    """An IAM user, group or role with every policy it holds."""

    name: str  # role/NAME, user/NAME, group/NAME in the account; the Pulumi name at plan time
    documents: tuple[tuple[str, Policy], ...]  # (which policy, its document): inline, customer- and AWS-managed
    aws_managed: tuple[str, ...]  # names of the AWS-managed policies attached (the plan knows no document of them)


@dataclass(frozen=True)
class Host:
    """How a host is launched: a launch template (plan and cloud) or a running instance (cloud)."""

    name: str
    public_ip: bool  # gets, or has, a public IPv4 address
    public_address: str | None  # the address, when one is assigned
    imds_tokens: str | None  # "required" is IMDSv2 only
    imds_hop_limit: int | None


@dataclass(frozen=True)
class Vault:
    name: str
    environment: str
    kms_key: str | None
    locked: bool  # a vault lock is configured
    compliance_mode: bool  # the lock becomes immutable (changeable_for_days set; AWS then reports a LockDate)


@dataclass(frozen=True)
class UserPool:
    name: str
    mfa: str | None  # ON, OPTIONAL, OFF
    totp: bool  # software-token (TOTP) MFA enabled
    min_password_length: int | None
    admin_only_signup: bool  # users are created by administrators, nobody signs up


@dataclass(frozen=True)
class BackupPlan:
    name: str
    environment: str
    copy_regions: tuple[str, ...]  # regions other than the stack's that its rules copy recovery points to
    continuous: bool  # a rule with continuous backup (point-in-time restore)


@dataclass(frozen=True)
class Vpc:
    name: str
    flow_log_traffic: tuple[str, ...]  # the traffic type of each flow log on it (ALL, ACCEPT, REJECT)


@dataclass(frozen=True)
class DefaultGroup:
    """A VPC's default security group (named after the VPC when the program leaves it unmanaged)."""

    name: str
    rules: int | None  # ingress and egress rules; None: unmanaged, so AWS's allow-all rules stay (the account
    # always reports the group)


@dataclass(frozen=True)
class SecurityGroup:
    name: str
    world_ports: tuple[str, ...]  # each ingress port ("443", "8000-8100", "all") open to 0.0.0.0/0 or ::/0


@dataclass(frozen=True)
class Trail(EncryptedResource):
    """A CloudTrail trail: account-wide, so the account's every trail (shadow trails asked of their home region)."""

    multi_region: bool
    log_validation: bool
    cloudwatch_logs: bool  # delivered to a CloudWatch Logs group (what the alarms read)
    logging: bool


@dataclass(frozen=True)
class PhiBucket:
    """A PHI bucket and whether any trail records object reads and writes in it (data events)."""

    name: str
    object_events_recorded: bool


# Who runs an account-wide service: the program declares it, or the settings delegate it to the organisation
# (account.<service>: existing), in which case the plan has nothing to judge and the audit judges the live one.
DECLARED, DELEGATED = "declared", "delegated"


@dataclass(frozen=True)
class Detector:
    """The region's GuardDuty detector ("account" when there is none)."""

    name: str
    enabled: bool
    features: tuple[str, ...]  # the features that are ENABLED
    source: str = DECLARED


@dataclass(frozen=True)
class Recorder:
    """The region's AWS Config recorder ("account" when there is none)."""

    name: str
    exists: bool
    all_supported: bool
    recording: bool
    source: str = DECLARED


@dataclass(frozen=True)
class Protected:
    """A resource holding PHI that AWS Backup must select: the index database, the image store, a data volume."""

    name: str
    backup_plans: int  # the stack's backup plans
    selected: bool  # a selection of one of those plans covers it


@dataclass(frozen=True)
class AppClient:
    """A user pool app client: a machine client (client_credentials) or the browser's (the ALB's)."""

    name: str
    flows: tuple[str, ...]
    scopes: tuple[str, ...]
    secret: bool
    minutes: dict[str, float]  # access / id / refresh token lifetimes
    rotation: bool  # refresh tokens rotate
    session_minutes: float | None  # the shortest web session of the listeners that sign users in; None: none does
    jwt_verified: bool | None  # a listener rule verifies the pool's JWTs before forwarding; None: the endpoint
    # cannot hold such a rule (an emulator without the jwt-validation action)
    # How long Cognito's managed-login (SSO) session may sign this client's users in again without a fresh sign-in:
    # the client's SSOSession.MaxValidityMinutes while the pool tracks sessions; None: not set, or the pool does not
    # track sessions (the limit is dormant and AWS's 60-minute cookie holds).
    sso_reuse_minutes: float | None = None
    sso_known: bool = True  # False: the endpoint cannot answer the session configuration (moto lacks it)


@dataclass(frozen=True)
class ListenerRule:
    name: str
    forwards_unverified: bool  # forwards before any jwt-validation or authenticate action


@dataclass(frozen=True)
class LoginListener:
    """A listener that signs users in with Cognito (authenticate-cognito)."""

    name: str
    extra_params: dict[str, str]  # authentication request extra parameters (prompt=login, max_age)
    session_minutes: float  # the listener's session timeout (Cognito's 7-day default when not set)


@dataclass(frozen=True)
class EmergencyAccess:
    """The stack's break-glass arrangement, one per stack."""

    name: str
    sealed: tuple[tuple[str, bool], ...]  # each break-glass secret and whether a customer key seals it
    group: bool  # every user pool has the emergency group
    alarmed: tuple[str, ...]  # emergency metrics an alarm that notifies someone watches


@dataclass(frozen=True)
class Passkeys:
    """A user pool's passkey (WebAuthn) settings."""

    name: str
    mode: str | None  # the pool's pacsguard:passkeys tag: off, allowed, required
    tier: str
    first_factors: tuple[str, ...]
    webauthn: dict[str, Any] | None  # relying_party, user_verification, mfa_required, factor; None: not returned
