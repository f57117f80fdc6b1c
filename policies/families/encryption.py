"""Encryption at rest and in transit."""

from __future__ import annotations

from typing import Any

from policies import citations as c
from policies.cloud.checks import keys, snapshots
from policies.graph import PlanGraph, as_list, policy_doc, statements
from policies.model import Citations, CloudCheck, Control, Outcome, ResourceCheck, StackCheck, outcome, resource_outcome

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
LOG_SINK_TAG = "pacsguard:log-sink"  # the one bucket AWS log delivery requires on SSE-S3


def _customer_key(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("arn:") and ":key/" in value and "alias/aws/" not in value


def _bucket_encryption(g: PlanGraph) -> list[Outcome]:
    out = []
    for bucket in g.of("aws:s3/bucket:Bucket"):
        confs = g.parts(
            bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "bucket"
        )
        rules = [r for conf in confs for r in conf.inputs.get("rules") or []]
        default = (rules[0].get("applyServerSideEncryptionByDefault") or {}) if rules else {}
        if not rules:
            failure = "no default encryption configuration"
        elif default.get("sseAlgorithm") == "AES256" and bucket.tags.get(LOG_SINK_TAG):
            failure = None  # AWS delivers S3 server access and ALB logs only to SSE-S3 buckets
        elif default.get("sseAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
            failure = f"default encryption is {default.get('sseAlgorithm')}, not SSE-KMS with a stack key"
        elif not _customer_key(default.get("kmsMasterKeyId")):
            failure = "SSE-KMS without a customer-managed key"
        elif not rules[0].get("bucketKeyEnabled"):
            failure = "S3 bucket keys are off (every object costs a KMS call)"
        else:
            failure = None
        out.append(resource_outcome(bucket, failure, "SSE-KMS with a customer-managed key"))
    return out


def _tls_only_buckets(g: PlanGraph) -> list[Outcome]:
    out = []
    for bucket in g.of("aws:s3/bucket:Bucket"):
        docs = [
            policy_doc(p.inputs.get("policy")) for p in g.parts(bucket, "aws:s3/bucketPolicy:BucketPolicy", "bucket")
        ]
        denies = [
            st
            for d in docs
            for st in statements(d)
            if st.get("Effect") == "Deny"
            and str((st.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport", "")).lower() == "false"
            and {"s3:*"} & set(as_list(st.get("Action")))
        ]
        out.append(resource_outcome(bucket, None if denies else "no policy statement denies requests without TLS"))
    return out


def _rds_encrypted(i: dict[str, Any]) -> str | None:
    if not i.get("storageEncrypted"):
        return "storage is not encrypted"
    return None if _customer_key(i.get("kmsKeyId")) else "encrypted with the AWS-managed key, not a stack key"


def _efs_encrypted(i: dict[str, Any]) -> str | None:
    if not i.get("encrypted"):
        return "file system is not encrypted"
    return None if _customer_key(i.get("kmsKeyId")) else "encrypted with the AWS-managed key, not a stack key"


def _efs_tls(g: PlanGraph) -> list[Outcome]:
    out = []
    for fs in g.of("aws:efs/fileSystem:FileSystem"):
        docs = [
            policy_doc(p.inputs.get("policy"))
            for p in g.parts(fs, "aws:efs/fileSystemPolicy:FileSystemPolicy", "fileSystemId")
        ]
        ok = any(
            st.get("Effect") == "Deny"
            and str((st.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport", "")).lower() == "false"
            for d in docs
            for st in statements(d)
        )
        out.append(resource_outcome(fs, None if ok else "file system policy does not deny mounts without TLS"))
    return out


def _ebs_default(g: PlanGraph) -> list[Outcome]:
    enc = g.of("aws:ebs/encryptionByDefault:EncryptionByDefault")
    key = g.of("aws:ebs/defaultKmsKey:DefaultKmsKey")
    if not enc or not enc[0].inputs.get("enabled"):
        return [Outcome("account", "fail", "EBS encryption by default is not enabled")]
    if not key or not _customer_key(key[0].inputs.get("keyArn")):
        return [Outcome(enc[0].name, "fail", "EBS default key is the AWS-managed key, not a stack key")]
    return [Outcome(enc[0].name, "pass", "new volumes are encrypted with a stack key")]


def _launch_template_volumes(i: dict[str, Any]) -> str | None:
    for bdm in i.get("blockDeviceMappings") or []:
        ebs = bdm.get("ebs") or {}
        if str(ebs.get("encrypted")).lower() != "true":
            return f"volume {bdm.get('deviceName')} is not encrypted"
        if not _customer_key(ebs.get("kmsKeyId")):
            return f"volume {bdm.get('deviceName')} is not encrypted with a stack key"
    return None


def _log_group_key(i: dict[str, Any]) -> str | None:
    return None if _customer_key(i.get("kmsKeyId")) else "log group is not encrypted with a stack key"


def _rds_secret_key(i: dict[str, Any]) -> str | None:
    if i.get("password"):
        return "master password set in the program (it lands in state): let Secrets Manager manage it"
    if not i.get("manageMasterUserPassword"):
        return "master password is not managed by Secrets Manager"
    return None if _customer_key(i.get("masterUserSecretKmsKeyId")) else "master secret uses the AWS-managed key"


def _secret_key(i: dict[str, Any]) -> str | None:
    return None if _customer_key(i.get("kmsKeyId")) else "secret uses the AWS-managed key"


def _topic_key(i: dict[str, Any]) -> str | None:
    return None if i.get("kmsMasterKeyId") else "topic is not encrypted"


def _listener_tls(i: dict[str, Any]) -> str | None:
    protocol = i.get("protocol")
    actions = i.get("defaultActions") or []
    if protocol == "HTTPS":
        policy = i.get("sslPolicy")
        return None if policy in STRONG_LB_POLICIES else f"TLS policy {policy} allows TLS < 1.2 or weak ciphers"
    if protocol == "HTTP":
        redirect_only = actions and all(
            a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS" for a in actions
        )
        return None if redirect_only else "HTTP listener serves content instead of redirecting to HTTPS"
    return None  # TCP pass-through (DICOM TLS ends at Orthanc) and TLS listeners are judged elsewhere


def _db_tls(g: PlanGraph) -> list[Outcome]:
    out = []
    for db in g.of("aws:rds/instance:Instance"):
        groups = g.referenced(db, "parameterGroupName")
        params = {p.get("name"): str(p.get("value")) for grp in groups for p in grp.inputs.get("parameters") or []}
        failure = None if params.get("rds.force_ssl") == "1" else "parameter group does not set rds.force_ssl=1"
        out.append(resource_outcome(db, failure, "connections without TLS are refused"))
    return out


def _vault_key(i: dict[str, Any]) -> str | None:
    return None if _customer_key(i.get("kmsKeyArn")) else "vault uses the AWS-managed key"


def _trail_key(i: dict[str, Any]) -> str | None:
    return None if _customer_key(i.get("kmsKeyId")) else "trail logs are not encrypted with a stack key"


def _kms_rotation(i: dict[str, Any]) -> str | None:
    return None if i.get("enableKeyRotation") else "automatic key rotation is off"


def _kms_deletion_window(i: dict[str, Any]) -> str | None:
    days = i.get("deletionWindowInDays") or 30
    return None if days >= 30 else f"deletion window of {days} days leaves little time to notice a scheduled deletion"


def _kms_policy(i: dict[str, Any]) -> str | None:
    for st in statements(policy_doc(i.get("policy"))):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal in ("*", {"AWS": "*"}) and not st.get("Condition"):
            return f"statement {st.get('Sid')} allows anyone"
        actions = set(as_list(st.get("Action")))
        if "kms:*" in actions:
            return f"statement {st.get('Sid')} grants kms:* (administration and use together)"
    return None


# --- cloud checks: what the account runs -------------------------------------------------------------


def _c_s3_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import s3
    from policies.cloud.judge import customer_key, none_found

    out = []
    for b in s3.buckets(cx.api, cx.stack):
        rule = s3.encryption(cx.api, b["name"])
        default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = default.get("SSEAlgorithm")
        ok = "SSE-KMS with a customer-managed key"
        if rule is None:
            failure = "no default encryption"
        elif algorithm == "AES256" and b["tags"].get(LOG_SINK_TAG):
            failure, ok = None, "SSE-S3: the log sink AWS log delivery requires (exempt by its pacsguard:log-sink tag)"
        elif algorithm not in ("aws:kms", "aws:kms:dsse"):
            failure = f"default encryption is {algorithm}, not SSE-KMS"
        elif not customer_key(default.get("KMSMasterKeyID")):
            failure = "SSE-KMS without a customer-managed key"
        elif not rule.get("BucketKeyEnabled"):
            failure = "S3 bucket keys are off"
        else:
            failure = None
        out.append(outcome(b["name"], failure, ok))
    return out or none_found("bucket", cx.stack)


def _c_s3_tls(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import s3
    from policies.cloud.judge import denies_insecure_transport, none_found

    return [
        outcome(
            b["name"],
            None
            if denies_insecure_transport(s3.policy(cx.api, b["name"]), ("s3:*",))
            else "no statement denies requests without TLS",
        )
        for b in s3.buckets(cx.api, cx.stack)
    ] or none_found("bucket", cx.stack)


def _c_kms_rotation(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import kms
    from policies.cloud.judge import none_found

    return [
        outcome(k["id"], None if kms.rotation_enabled(cx.api, k["id"]) else "automatic key rotation is off")
        for k in kms.keys(cx.api, cx.stack)
    ] or none_found("KMS key", cx.stack)


def _c_kms_policy(cx: Any) -> list[Outcome]:
    import json

    from policies.cloud.collect import kms
    from policies.cloud.judge import none_found

    return [
        outcome(k["id"], _kms_policy({"policy": json.dumps(kms.key_policy(cx.api, k["id"]))}))
        for k in kms.keys(cx.api, cx.stack)
    ] or none_found("KMS key", cx.stack)


def _c_rds_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import data
    from policies.cloud.judge import customer_key, none_found

    out = []
    for db in data.db_instances(cx.api, cx.stack):
        if not db.get("StorageEncrypted"):
            failure = "storage is not encrypted"
        elif not customer_key(db.get("KmsKeyId")):
            failure = "encrypted with the AWS-managed key"
        else:
            failure = None
        out.append(outcome(db["DBInstanceIdentifier"], failure))
    return out or none_found("database", cx.stack)


def _c_efs_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import data
    from policies.cloud.judge import customer_key, none_found

    out = []
    for fs in data.file_systems(cx.api, cx.stack):
        if not fs.get("Encrypted"):
            failure = "file system is not encrypted"
        elif not customer_key(fs.get("KmsKeyId")):
            failure = "encrypted with the AWS-managed key"
        else:
            failure = None
        out.append(outcome(fs["FileSystemId"], failure))
    return out or none_found("file system", cx.stack)


def _c_efs_tls(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import data
    from policies.cloud.judge import denies_insecure_transport, none_found

    return [
        outcome(
            fs["FileSystemId"],
            None
            if denies_insecure_transport(data.file_system_policy(cx.api, fs["FileSystemId"]), ("elasticfilesystem:*",))
            else "file system policy does not deny mounts without TLS",
        )
        for fs in data.file_systems(cx.api, cx.stack)
    ] or none_found("file system", cx.stack)


def _c_ebs_default(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import ec2
    from policies.cloud.judge import customer_key

    if not ec2.ebs_encryption_by_default(cx.api):
        return [Outcome("account", "fail", "EBS encryption by default is off in this region")]
    key = ec2.ebs_default_key(cx.api)
    return [outcome("account", None if customer_key(key) else f"EBS default key is {key or 'the AWS-managed key'}")]


def _c_logs_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import audit_services
    from policies.cloud.judge import customer_key, none_found

    return [
        outcome(
            g["logGroupName"],
            None if customer_key(g.get("kmsKeyId")) else "log group is not encrypted with a stack key",
        )
        for g in audit_services.log_groups(cx.api, cx.stack)
    ] or none_found("log group", cx.stack)


def _c_secrets_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import audit_services
    from policies.cloud.judge import customer_key, none_found

    return [
        outcome(s["Name"], None if customer_key(s.get("KmsKeyId")) else "secret uses the AWS-managed key")
        for s in audit_services.secrets(cx.api, cx.stack)
    ] or none_found("secret", cx.stack)


def _c_sns_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import audit_services
    from policies.cloud.judge import none_found

    return [
        outcome(
            t["arn"].rsplit(":", 1)[-1], None if t["attributes"].get("KmsMasterKeyId") else "topic is not encrypted"
        )
        for t in audit_services.topics(cx.api, cx.stack)
    ] or none_found("topic", cx.stack)


def _c_lb_tls(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import edge
    from policies.cloud.judge import none_found

    out = []
    for lb in edge.load_balancers(cx.api, cx.stack):
        for listener in lb["listeners"]:
            actions = [
                {"type": a.get("Type"), "redirect": {"protocol": (a.get("RedirectConfig") or {}).get("Protocol")}}
                for a in listener.get("DefaultActions", [])
            ]
            failure = _listener_tls(
                {
                    "protocol": listener.get("Protocol"),
                    "sslPolicy": listener.get("SslPolicy"),
                    "defaultActions": actions,
                }
            )
            out.append(outcome(f"{lb['LoadBalancerName']}:{listener.get('Port')}", failure))
    return out or none_found("load balancer listener", cx.stack)


def _c_db_tls(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import data
    from policies.cloud.judge import none_found

    out = []
    for db in data.db_instances(cx.api, cx.stack):
        groups = [g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])]
        forced = any(data.db_parameters(cx.api, g).get("rds.force_ssl") == "1" for g in groups)
        out.append(outcome(db["DBInstanceIdentifier"], None if forced else "rds.force_ssl is not 1"))
    return out or none_found("database", cx.stack)


def _c_backup_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import backup
    from policies.cloud.judge import customer_key, none_found

    return [
        outcome(
            v["BackupVaultName"], None if customer_key(v.get("EncryptionKeyArn")) else "vault uses the AWS-managed key"
        )
        for v in backup.vaults(cx.api, cx.stack)
    ] or none_found("backup vault", cx.stack)


def _c_trail_kms(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import audit_services
    from policies.cloud.judge import customer_key

    trails = audit_services.trails(cx.api)
    return [
        outcome(
            t["Name"], None if customer_key(t.get("KmsKeyId")) else "trail logs are not encrypted with a customer key"
        )
        for t in trails
    ] or [Outcome("account", "fail", "no CloudTrail trail")]


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
        plan=StackCheck(_bucket_encryption),
        cloud=CloudCheck(_c_s3_kms),
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
        plan=StackCheck(_tls_only_buckets),
        cloud=CloudCheck(_c_s3_tls),
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
        plan=ResourceCheck(("aws:kms/key:Key",), _kms_rotation),
        cloud=CloudCheck(_c_kms_rotation),
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
        plan=ResourceCheck(("aws:kms/key:Key",), _kms_policy),
        cloud=CloudCheck(_c_kms_policy),
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
        plan=ResourceCheck(("aws:rds/instance:Instance",), _rds_encrypted),
        cloud=CloudCheck(_c_rds_kms),
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
        plan=ResourceCheck(("aws:efs/fileSystem:FileSystem",), _efs_encrypted),
        cloud=CloudCheck(_c_efs_kms),
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
        plan=StackCheck(_efs_tls),
        cloud=CloudCheck(_c_efs_tls),
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
        plan=StackCheck(_ebs_default),
        cloud=CloudCheck(_c_ebs_default),
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
        plan=ResourceCheck(("aws:ec2/launchTemplate:LaunchTemplate",), _launch_template_volumes),
        cloud=CloudCheck(snapshots.volumes),
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
        plan=ResourceCheck(("aws:cloudwatch/logGroup:LogGroup",), _log_group_key),
        cloud=CloudCheck(_c_logs_kms),
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
        plan=ResourceCheck(("aws:secretsmanager/secret:Secret",), _secret_key),
        cloud=CloudCheck(_c_secrets_kms),
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
        plan=ResourceCheck(("aws:sns/topic:Topic",), _topic_key),
        cloud=CloudCheck(_c_sns_kms),
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
        plan=ResourceCheck(("aws:lb/listener:Listener",), _listener_tls),
        cloud=CloudCheck(_c_lb_tls),
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
        plan=StackCheck(_db_tls),
        cloud=CloudCheck(_c_db_tls),
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
        plan=ResourceCheck(("aws:backup/vault:Vault",), _vault_key),
        cloud=CloudCheck(_c_backup_kms),
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
        plan=ResourceCheck(("aws:cloudtrail/trail:Trail",), _trail_key),
        cloud=CloudCheck(_c_trail_kms),
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
        cloud=CloudCheck(keys.key_state),
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
