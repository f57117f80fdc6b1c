"""Encryption at rest and in transit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies import citations as c
from policies.cloud.checks import snapshots
from policies.facts import kinds
from policies.facts.kinds import judged
from policies.facts.predicates import customer_key, denies_insecure_transport
from policies.facts.resources import (
    Bucket,
    Database,
    EbsDefault,
    EncryptedResource,
    FileSystem,
    Key,
    KeyLifecycle,
    Listener,
    LogGroup,
    Vault,
    Volume,
)
from policies.graph import as_list, statements
from policies.model import Citations, CloudCheck, Control, ResourceCheck

AT_REST = Citations(hipaa=(c.ENC_AT_REST,), gdpr=(c.GDPR_ENCRYPTION,))
IN_TRANSIT = Citations(hipaa=(c.TRANSMISSION, c.TRANSMISSION_ENC), gdpr=(c.GDPR_ENCRYPTION,), dicom=(c.DICOM_TLS,))
STRONG_LB_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
)


# --- judges: one per control, over the facts both layers produce (policies.facts) ---------------------


def _s3_kms(b: Bucket) -> str | None:
    if b.sse_algorithm is None:
        return "no default encryption configuration"
    if b.sse_algorithm == "AES256" and b.log_sink:
        return None  # AWS delivers S3 server access and ALB logs only to SSE-S3 buckets
    if b.sse_algorithm not in ("aws:kms", "aws:kms:dsse"):
        return f"default encryption is {b.sse_algorithm}, not SSE-KMS with a stack key"
    if not customer_key(b.kms_key):
        return "SSE-KMS without a customer-managed key"
    return None if b.bucket_key else "S3 bucket keys are off (every object costs a KMS call)"


def _s3_kms_ok(b: Bucket) -> str:
    if b.sse_algorithm == "AES256":
        return "SSE-S3: the log sink AWS log delivery requires (exempt by its pacsguard:log-sink tag)"
    return "SSE-KMS with a customer-managed key"


def _s3_tls(b: Bucket) -> str | None:
    return None if denies_insecure_transport(b.policy, ("s3:*",)) else "no policy statement denies requests without TLS"


def _kms_rotation(k: Key) -> str | None:
    return None if k.rotation else "automatic key rotation is off"


def _kms_policy(k: Key) -> str | None:
    for st in statements(k.policy):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal in ("*", {"AWS": "*"}) and not st.get("Condition"):
            return f"statement {st.get('Sid')} allows anyone"
        if "kms:*" in set(as_list(st.get("Action"))):
            return f"statement {st.get('Sid')} grants kms:* (administration and use together)"
    return None


def _stack_key(what: str) -> Callable[[Any], str | None]:
    """Encrypted, and with a customer-managed key rather than the AWS-managed one (RDS, EFS)."""

    def judge(r: Database | FileSystem) -> str | None:
        if not r.encrypted:
            return f"{what} is not encrypted"
        return None if customer_key(r.kms_key) else "encrypted with the AWS-managed key, not a stack key"

    return judge


def _customer_key_for(failure: str) -> Callable[[EncryptedResource | LogGroup | Vault], str | None]:
    return lambda r: None if customer_key(r.kms_key) else failure


def _efs_tls(fs: FileSystem) -> str | None:
    tls_only = denies_insecure_transport(fs.policy, ("elasticfilesystem:*",))
    return None if tls_only else "file system policy does not deny mounts without TLS"


def _ebs_default(e: EbsDefault) -> str | None:
    if not e.enabled:
        return "EBS encryption by default is not enabled"
    return (
        None if customer_key(e.kms_key) else f"EBS default key is {e.kms_key or 'the AWS-managed key'}, not a stack key"
    )


def _volume(v: Volume) -> str | None:
    if not v.encrypted:
        return "not encrypted"
    return None if v.stack_key else f"encrypted with {v.kms_key or 'the AWS-managed key'}, not a key of the stack"


def _topic_key(t: EncryptedResource) -> str | None:
    return None if t.kms_key else "topic is not encrypted"


def _listener_tls(lst: Listener) -> str | None:
    if lst.protocol == "HTTPS":
        policy = lst.ssl_policy
        return None if policy in STRONG_LB_POLICIES else f"TLS policy {policy} allows TLS < 1.2 or weak ciphers"
    if lst.protocol == "HTTP":
        return None if lst.redirects_to_https else "HTTP listener serves content instead of redirecting to HTTPS"
    return None  # TCP pass-through (DICOM TLS ends at Orthanc) and TLS listeners are judged elsewhere


def _db_tls(db: Database) -> str | None:
    return None if db.force_ssl else "parameter group does not set rds.force_ssl=1"


def _key_state(k: KeyLifecycle) -> str | None:
    if k.state == "PendingDeletion":
        when = f" on {k.deletion_date}" if k.deletion_date else ""
        return f"scheduled for deletion{when}: cancel it (kms:CancelKeyDeletion) or every object it encrypts becomes unreadable"
    if k.state != "Enabled":
        return f"key is {k.state}: what it encrypts cannot be read until it is enabled"
    return None


# --- layer-specific checks: what only one layer can see ------------------------------------------------


def _kms_deletion_window(i: dict[str, Any]) -> str | None:
    days = i.get("deletionWindowInDays") or 30
    return None if days >= 30 else f"deletion window of {days} days leaves little time to notice a scheduled deletion"


def _rds_secret_key(i: dict[str, Any]) -> str | None:
    if i.get("password"):
        return "master password set in the program (it lands in state): let Secrets Manager manage it"
    if not i.get("manageMasterUserPassword"):
        return "master password is not managed by Secrets Manager"
    return None if customer_key(i.get("masterUserSecretKmsKeyId")) else "master secret uses the AWS-managed key"


CONTROLS = [
    Control(
        id="ENC-S3-KMS",
        title="S3 buckets encrypt with a customer-managed KMS key and bucket keys",
        family="encryption",
        severity="high",
        rationale="Images and logs at rest must be unreadable without a key the hospital controls and can revoke.",
        remediation="Set BucketServerSideEncryptionConfiguration to aws:kms with a stack key and bucket_key_enabled.",
        citations=AT_REST,
        equivalents={
            "aws_config": "S3_DEFAULT_ENCRYPTION_KMS",
            "prowler": "s3_bucket_kms_encryption",
            "checkov": "CKV_AWS_145",
        },
        **judged(kinds.BUCKETS, _s3_kms, _s3_kms_ok),
    ),
    Control(
        id="ENC-S3-TLS",
        title="S3 bucket policies deny requests without TLS",
        family="encryption",
        severity="high",
        rationale="A policy that denies aws:SecureTransport=false keeps PHI off plain HTTP even from a misconfigured client.",
        remediation="Add a Deny s3:* statement on the bucket and its objects when aws:SecureTransport is false.",
        citations=IN_TRANSIT,
        equivalents={"aws_config": "S3_BUCKET_SSL_REQUESTS_ONLY", "prowler": "s3_bucket_secure_transport_policy"},
        **judged(kinds.BUCKETS, _s3_tls),
    ),
    Control(
        id="ENC-KMS-ROTATION",
        title="KMS keys rotate automatically",
        family="encryption",
        severity="medium",
        rationale="Rotation limits how much data one key version protects.",
        remediation="Set enable_key_rotation=True on every customer-managed key.",
        citations=AT_REST,
        equivalents={
            "aws_config": "CMK_BACKING_KEY_ROTATION_ENABLED",
            "prowler": "kms_cmk_rotation_enabled",
            "checkov": "CKV_AWS_7",
        },
        **judged(kinds.KEYS, _kms_rotation),
    ),
    Control(
        id="ENC-KMS-DELETION-WINDOW",
        title="KMS keys keep a 30-day deletion window",
        family="encryption",
        severity="medium",
        rationale="A deleted key makes every image it protects unreadable: the window is the time to notice and cancel.",
        remediation="Set deletion_window_in_days=30.",
        citations=AT_REST,
        equivalents={"prowler": "kms_cmk_not_deleted_unintentionally"},
        plan=ResourceCheck(("aws:kms/key:Key",), _kms_deletion_window),
    ),
    Control(
        id="ENC-KMS-POLICY",
        title="KMS key policies grant no wildcard access",
        family="encryption",
        severity="high",
        rationale="A key policy that allows anyone, or kms:* to one principal, lets administration and decryption mix.",
        remediation="Separate administration from use; allow use only through the services that need it (kms:ViaService).",
        citations=AT_REST,
        equivalents={"prowler": "kms_key_not_publicly_accessible"},
        **judged(kinds.KEYS, _kms_policy),
    ),
    Control(
        id="ENC-RDS-KMS",
        title="The index database is encrypted with a stack key",
        family="encryption",
        severity="high",
        rationale="The Orthanc index holds patient names, IDs and study descriptions.",
        remediation="Set storage_encrypted=True and kms_key_id to the database key.",
        citations=AT_REST,
        equivalents={
            "aws_config": "RDS_STORAGE_ENCRYPTED",
            "prowler": "rds_instance_storage_encrypted",
            "checkov": "CKV_AWS_16",
        },
        **judged(kinds.DATABASES, _stack_key("storage")),
    ),
    Control(
        id="ENC-EFS-KMS",
        title="The image store is encrypted with a stack key",
        family="encryption",
        severity="critical",
        rationale="The EFS file system holds every image.",
        remediation="Set encrypted=True and kms_key_id to the images key.",
        citations=AT_REST,
        equivalents={
            "aws_config": "EFS_ENCRYPTED_CHECK",
            "prowler": "efs_encryption_at_rest_enabled",
            "checkov": "CKV_AWS_42",
        },
        **judged(kinds.FILE_SYSTEMS, _stack_key("file system")),
    ),
    Control(
        id="ENC-EFS-TLS",
        title="The image store admits TLS mounts only",
        family="encryption",
        severity="high",
        rationale="NFS traffic carries pixel data; the file system policy must refuse it unencrypted.",
        remediation="Add a file system policy denying elasticfilesystem:* when aws:SecureTransport is false.",
        citations=IN_TRANSIT,
        equivalents={},
        **judged(kinds.FILE_SYSTEMS, _efs_tls),
    ),
    Control(
        id="ENC-EBS-DEFAULT",
        title="EBS encryption by default with a stack key",
        family="encryption",
        severity="high",
        rationale="Every volume created in the region, including ones nobody planned for, is encrypted.",
        remediation="Declare ebs.EncryptionByDefault(enabled=True) and ebs.DefaultKmsKey with the images key.",
        citations=AT_REST,
        equivalents={"aws_config": "EC2_EBS_ENCRYPTION_BY_DEFAULT", "prowler": "ec2_ebs_default_encryption"},
        **judged(kinds.EBS_DEFAULT, _ebs_default, "new volumes are encrypted with a stack key"),
    ),
    Control(
        id="ENC-EBS-VOLUMES",
        title="Host volumes are encrypted with a stack key",
        family="encryption",
        severity="high",
        rationale="Hosts cache images and temporary files on their volumes.",
        remediation="Set encrypted and kms_key_id on every block device mapping of the launch template.",
        citations=AT_REST,
        equivalents={"aws_config": "ENCRYPTED_VOLUMES", "prowler": "ec2_ebs_volume_encryption"},
        **judged(kinds.VOLUMES, _volume, "encrypted with a stack key"),
    ),
    Control(
        id="ENC-LOGS-KMS",
        title="Log groups are encrypted with a stack key",
        family="encryption",
        severity="medium",
        rationale="Audit and access logs identify patients' clinicians and sometimes patients.",
        remediation="Set kms_key_id on every CloudWatch log group (create RDS and WAF groups before the service does).",
        citations=AT_REST,
        equivalents={
            "aws_config": "CLOUDWATCH_LOG_GROUP_ENCRYPTED",
            "prowler": "cloudwatch_log_group_kms_encryption_enabled",
            "checkov": "CKV_AWS_158",
        },
        **judged(kinds.LOG_GROUPS, _customer_key_for("log group is not encrypted with a stack key")),
    ),
    Control(
        id="ENC-DB-SECRET",
        title="The database password lives in Secrets Manager under a stack key",
        family="encryption",
        severity="high",
        rationale="A password in the program lands in the state file and in plan output.",
        remediation="Use manage_master_user_password with master_user_secret_kms_key_id.",
        citations=AT_REST,
        equivalents={"aws_config": "SECRETSMANAGER_USING_CMK", "checkov": "CKV_AWS_149"},
        plan=ResourceCheck(("aws:rds/instance:Instance",), _rds_secret_key),
    ),
    Control(
        id="ENC-SECRETS-KMS",
        title="Secrets use a customer-managed key",
        family="encryption",
        severity="medium",
        rationale="Secrets encrypted with the AWS-managed key cannot be revoked independently.",
        remediation="Set kms_key_id on every secretsmanager.Secret.",
        citations=AT_REST,
        equivalents={"aws_config": "SECRETSMANAGER_USING_CMK", "checkov": "CKV_AWS_149"},
        **judged(kinds.SECRETS, _customer_key_for("secret uses the AWS-managed key")),
    ),
    Control(
        id="ENC-SNS-KMS",
        title="Alarm topics are encrypted",
        family="encryption",
        severity="low",
        rationale="Alarm messages name resources and users.",
        remediation="Set kms_master_key_id on the topic.",
        citations=AT_REST,
        equivalents={"prowler": "sns_topics_kms_encryption_at_rest_enabled", "checkov": "CKV_AWS_26"},
        **judged(kinds.TOPICS, _topic_key),
    ),
    Control(
        id="ENC-LB-TLS",
        title="Load balancer listeners use TLS 1.2+ policies; HTTP only redirects",
        family="encryption",
        severity="high",
        rationale="The default ELB policy still accepts TLS 1.0; viewers send credentials and receive images.",
        remediation="Use ELBSecurityPolicy-TLS13-1-2-2021-06 (or a FIPS variant); make port 80 a 301 to HTTPS.",
        citations=IN_TRANSIT,
        equivalents={
            "aws_config": "ELB_TLS_HTTPS_LISTENERS_ONLY",
            "prowler": "elbv2_insecure_ssl_ciphers",
            "checkov": "CKV_AWS_103",
        },
        **judged(kinds.LISTENERS, _listener_tls),
    ),
    Control(
        id="ENC-DB-TLS",
        title="The index database refuses connections without TLS",
        family="encryption",
        severity="high",
        rationale="Queries carry patient names; rds.force_ssl makes TLS mandatory rather than optional.",
        remediation="Attach a parameter group with rds.force_ssl=1.",
        citations=IN_TRANSIT,
        equivalents={"prowler": "rds_instance_transport_encrypted"},
        **judged(kinds.DATABASES, _db_tls, "connections without TLS are refused"),
    ),
    Control(
        id="ENC-BACKUP-KMS",
        title="Backup vaults use a stack key",
        family="encryption",
        severity="high",
        rationale="Backups are a full copy of the PHI. The vault key covers EFS recovery points and the off-site "
        "copies; RDS recovery points in the local vault stay on the database key (AWS Backup inherits the source "
        "key for RDS), which is a stack key too.",
        remediation="Set kms_key_arn on every backup vault.",
        citations=AT_REST,
        equivalents={
            "aws_config": "BACKUP_RECOVERY_POINT_ENCRYPTED",
            "prowler": "backup_vaults_encrypted",
            "checkov": "CKV_AWS_166",
        },
        **judged(kinds.VAULTS, _customer_key_for("vault uses the AWS-managed key")),
    ),
    Control(
        id="ENC-TRAIL-KMS",
        title="CloudTrail logs are encrypted with a stack key",
        family="encryption",
        severity="medium",
        rationale="Trail logs reveal who accessed which PHI bucket.",
        remediation="Set kms_key_id on the trail.",
        citations=AT_REST,
        equivalents={
            "aws_config": "CLOUD_TRAIL_ENCRYPTION_ENABLED",
            "prowler": "cloudtrail_kms_encryption_enabled",
            "checkov": "CKV_AWS_35",
        },
        **judged(kinds.TRAILS, _customer_key_for("trail logs are not encrypted with a stack key")),
    ),
    Control(
        id="ENC-KMS-KEY-STATE",
        title="Stack keys are enabled and not scheduled for deletion",
        family="encryption",
        severity="critical",
        rationale="A disabled key makes every image, index row and backup it encrypts unreadable at once; a key pending deletion does so for good in 7-30 days, and nothing else warns.",
        remediation="Cancel the deletion (kms:CancelKeyDeletion) and enable the key; alarm on DisableKey/ScheduleKeyDeletion (AUD-ALARMS).",
        citations=Citations(hipaa=(c.ENC_AT_REST, c.DISASTER_RECOVERY), gdpr=(c.GDPR_ENCRYPTION, c.GDPR_RESTORE)),
        equivalents={
            "aws_config": "KMS_CMK_NOT_SCHEDULED_FOR_DELETION",
            "prowler": "kms_cmk_not_deleted_unintentionally",
        },
        **judged(kinds.KEY_LIFECYCLES, _key_state, "enabled"),
    ),
    Control(
        id="ENC-SNAPSHOTS",
        title="Snapshots of the stack's volumes and database are encrypted with a stack key and never public",
        family="encryption",
        severity="critical",
        rationale="A snapshot is a full copy of the images or the index: one shared with everyone, or encrypted with a key the hospital does not control, leaks all of it.",
        remediation="Remove createVolumePermission/restore 'all'; copy unencrypted snapshots with a stack key and delete the originals.",
        citations=Citations(hipaa=(c.ENC_AT_REST, c.ACCESS), gdpr=(c.GDPR_ENCRYPTION, c.GDPR_CIA)),
        equivalents={
            "aws_config": "EBS_SNAPSHOT_PUBLIC_RESTORABLE_CHECK",
            "prowler": "ec2_ebs_public_snapshot, ec2_ebs_snapshots_encrypted, rds_snapshots_public_access, rds_snapshots_encrypted",
        },
        cloud=CloudCheck(snapshots.snapshots),
    ),
]
