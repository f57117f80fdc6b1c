"""Integrity: nothing PHI-bearing can be overwritten or deleted by one mistake."""

from __future__ import annotations

from typing import Any

from policies import citations as c
from policies.graph import PlanGraph
from policies.model import Citations, CloudCheck, Control, Outcome, ResourceCheck, StackCheck, outcome, resource_outcome

INTEGRITY = Citations(hipaa=(c.INTEGRITY, c.INTEGRITY_MECHANISM), gdpr=(c.GDPR_CIA,))
PHI_TYPES = (
    "aws:kms/key:Key", "aws:rds/instance:Instance", "aws:efs/fileSystem:FileSystem", "aws:s3/bucket:Bucket",
    "aws:backup/vault:Vault", "aws:cloudwatch/logGroup:LogGroup",
)  # fmt: skip


def _versioning(g: PlanGraph) -> list[Outcome]:
    out = []
    for b in g.of("aws:s3/bucket:Bucket"):
        parts = g.parts(b, "aws:s3/bucketVersioning:BucketVersioning", "bucket")
        on = any((p.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled" for p in parts)
        out.append(resource_outcome(b, None if on else "versioning is off: an overwrite or delete is final"))
    return out


def _object_lock(g: PlanGraph) -> list[Outcome]:
    out = []
    for b in g.of("aws:s3/bucket:Bucket"):
        if b.tags.get("pacsguard:data-class") != "logs":
            continue
        locks = g.parts(b, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "bucket")
        retention = ((locks[0].inputs.get("rule") or {}).get("defaultRetention") or {}) if locks else {}
        if b.tags.get("pacsguard:log-sink"):
            # AWS refuses object lock on a server access log destination: it is judged on the weaker guard it can
            # carry (versioning is INT-S3-VERSIONING's), retention kept by lifecycle.
            out.append(resource_outcome(b, _sink_retention(g, b), "log delivery destination: no lock allowed by AWS, "
                                        "retention by lifecycle"))  # fmt: skip
            continue
        if not b.inputs.get("objectLockEnabled") or not locks:
            failure = "log bucket without object lock: logs can be deleted to hide an intrusion"
        elif g.environment == "prod" and retention.get("mode") != "COMPLIANCE":
            failure = f"object lock in {retention.get('mode')} mode; prod needs COMPLIANCE"
        else:
            failure = None
        out.append(resource_outcome(b, failure, f"object lock, {retention.get('mode')} mode"))
    return out or [Outcome("stack", "fail", "no log bucket")]


def _sink_retention(g: PlanGraph, bucket: Any) -> str | None:
    for lc in g.parts(bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "bucket"):
        if any(
            (r.get("expiration") or {}).get("days") and r.get("status") == "Enabled"
            for r in lc.inputs.get("rules") or []
        ):
            return None
    return "log delivery destination without a lifecycle retention rule"


def _phi_object_lock(g: PlanGraph) -> list[Outcome]:
    out = []
    for b in g.of("aws:s3/bucket:Bucket"):
        if b.tags.get("pacsguard:data-class") != "phi":
            continue
        locks = g.parts(b, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "bucket")
        mode = (((locks[0].inputs.get("rule") or {}).get("defaultRetention") or {}) if locks else {}).get("mode")
        failure = None if b.inputs.get("objectLockEnabled") and mode else "PHI archive without object lock"
        out.append(resource_outcome(b, failure, f"object lock, {mode} mode (erasure needs a governance bypass)"))
    return out or [Outcome("stack", "skipped", "not applicable: no PHI bucket")]


def _rds_deletion(i: dict[str, Any]) -> str | None:
    return None if i.get("deletionProtection") else "deletion protection is off"


def _prod_deletion_protection(g: PlanGraph) -> list[Outcome]:
    if g.environment != "prod":
        return [Outcome("stack", "skipped", "dev stacks may be torn down")]
    out = []
    for lb in g.of("aws:lb/loadBalancer:LoadBalancer"):
        out.append(
            resource_outcome(lb, None if lb.inputs.get("enableDeletionProtection") else "deletion protection is off")
        )
    for pool in g.of("aws:cognito/userPool:UserPool"):
        out.append(
            resource_outcome(
                pool, None if pool.inputs.get("deletionProtection") == "ACTIVE" else "deletion protection is off"
            )
        )
    return out


def _protect(g: PlanGraph) -> list[Outcome]:
    if g.environment != "prod":
        return [Outcome("stack", "skipped", "dev stacks are not protected, so they can be torn down")]
    out = []
    for r in g.of(*PHI_TYPES):
        phi = r.tags.get("pacsguard:data-class") in ("phi", "logs")
        if phi:
            out.append(resource_outcome(r, None if r.protect else "not protected: `pulumi destroy` would delete it"))
    return out


# --- cloud checks -------------------------------------------------------------------------------------


def _c_versioning(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import s3
    from policies.cloud.judge import none_found

    return [
        outcome(b["name"], None if s3.versioning(cx.api, b["name"]) == "Enabled" else "versioning is off")
        for b in s3.buckets(cx.api, cx.stack)
    ] or none_found("bucket", cx.stack)


def _c_object_lock(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import s3

    out = []
    for b in s3.buckets(cx.api, cx.stack):
        if b["tags"].get("pacsguard:data-class") != "logs":
            continue
        if b["tags"].get("pacsguard:log-sink"):
            # As in the plan check: AWS refuses a locked log delivery destination, so retention is by lifecycle.
            days = s3.lifecycle_expiration_days(cx.api, b["name"])
            failure = None if days else "log delivery destination without a lifecycle retention rule"
            out.append(outcome(b["name"], failure, f"log delivery destination, retention by lifecycle ({days} days)"))
            continue
        lock = s3.object_lock(cx.api, b["name"]) or {}
        mode = ((lock.get("Rule") or {}).get("DefaultRetention") or {}).get("Mode")
        if lock.get("ObjectLockEnabled") != "Enabled":
            failure = "log bucket without object lock"
        elif cx.environment == "prod" and mode != "COMPLIANCE":
            failure = f"object lock in {mode or 'no default'} mode; prod needs COMPLIANCE"
        else:
            failure = None
        out.append(outcome(b["name"], failure, f"object lock, {mode} mode"))
    return out or [Outcome("stack", "fail", f"no log bucket tagged pacsguard:stack={cx.stack}")]


def _c_db_deletion(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import data
    from policies.cloud.judge import none_found

    return [
        outcome(db["DBInstanceIdentifier"], None if db.get("DeletionProtection") else "deletion protection is off")
        for db in data.db_instances(cx.api, cx.stack)
    ] or none_found("database", cx.stack)


CONTROLS = [
    Control(
        id="INT-S3-VERSIONING",
        title="Buckets keep every version",
        family="integrity",
        severity="high",
        rationale="Versioning makes an overwrite or deletion recoverable.",
        remediation="Declare BucketVersioning with status Enabled.",
        citations=INTEGRITY,
        equivalents={
            "aws_config": "S3_BUCKET_VERSIONING_ENABLED",
            "prowler": "s3_bucket_object_versioning",
            "checkov": "CKV_AWS_21",
        },
        plan=StackCheck(_versioning),
        cloud=CloudCheck(_c_versioning),
    ),
    Control(
        id="INT-LOG-OBJECT-LOCK",
        title="Log buckets are write-once (object lock)",
        family="integrity",
        severity="high",
        rationale="An intruder with admin rights must not be able to delete the trail of what they did.",
        remediation="Create the log buckets with object lock and a default retention (COMPLIANCE mode in prod).",
        citations=Citations(hipaa=(c.INTEGRITY, c.AUDIT), gdpr=(c.GDPR_CIA,)),
        equivalents={"prowler": "s3_bucket_object_lock"},
        plan=StackCheck(_object_lock),
        cloud=CloudCheck(_c_object_lock),
    ),
    Control(
        id="INT-PHI-OBJECT-LOCK",
        title="The PHI archive is write-once (object lock)",
        family="integrity",
        severity="medium",
        rationale="Ransomware or a stolen role must not be able to delete or overwrite archived studies. GOVERNANCE "
        "mode (the default) keeps a GDPR Art. 17 erasure possible for a principal allowed to bypass it; COMPLIANCE "
        "would make erasure impossible until the retention ends.",
        remediation="Keep storage.archive_object_lock at governance (or compliance); none is reported here.",
        citations=Citations(hipaa=(c.INTEGRITY,), gdpr=(c.GDPR_CIA,)),
        equivalents={"prowler": "s3_bucket_object_lock"},
        plan=StackCheck(_phi_object_lock),
    ),
    Control(
        id="INT-DB-DELETION-PROTECTION",
        title="The index database has deletion protection",
        family="integrity",
        severity="high",
        rationale="One API call must not be able to drop the index of every study.",
        remediation="Set deletion_protection=True (prod refuses false).",
        citations=INTEGRITY,
        equivalents={
            "aws_config": "RDS_INSTANCE_DELETION_PROTECTION_ENABLED",
            "prowler": "rds_instance_deletion_protection",
            "checkov": "CKV_AWS_293",
        },
        plan=ResourceCheck(("aws:rds/instance:Instance",), _rds_deletion),
        cloud=CloudCheck(_c_db_deletion),
    ),
    Control(
        id="INT-PROD-DELETION-PROTECTION",
        title="Prod load balancers and the user pool resist deletion",
        family="integrity",
        severity="medium",
        rationale="Deleting the user pool locks every clinician out; deleting the load balancers stops the PACS.",
        remediation="enable_deletion_protection on load balancers and deletion_protection ACTIVE on the pool in prod.",
        citations=INTEGRITY,
        equivalents={"prowler": "elbv2_deletion_protection"},
        plan=StackCheck(_prod_deletion_protection),
    ),
    Control(
        id="INT-PROTECT",
        title="PHI-bearing resources and keys are protected in prod",
        family="integrity",
        severity="high",
        rationale="Pulumi's protect flag stops `pulumi destroy` and replacements from deleting images, index, keys or logs.",
        remediation="Pass protect=True for PHI resources in prod (StackContext.opts does).",
        citations=INTEGRITY,
        equivalents={},
        plan=StackCheck(_protect),
    ),
]
