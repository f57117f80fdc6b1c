"""Integrity: nothing PHI-bearing can be overwritten or deleted by one mistake."""

from __future__ import annotations

from policies import citations as c
from policies.facts import kinds
from policies.facts.kinds import judged
from policies.facts.resources import Bucket, Database
from policies.graph import PlanGraph
from policies.model import Citations, Control, Outcome, StackCheck, resource_outcome

INTEGRITY = Citations(hipaa=(c.INTEGRITY, c.INTEGRITY_MECHANISM), gdpr=(c.GDPR_CIA,))
PHI_TYPES = (
    "aws:kms/key:Key", "aws:rds/instance:Instance", "aws:efs/fileSystem:FileSystem", "aws:s3/bucket:Bucket",
    "aws:backup/vault:Vault", "aws:cloudwatch/logGroup:LogGroup",
)  # fmt: skip


# --- judges over facts both layers produce (policies.facts) ------------------------------------------


def _versioning(b: Bucket) -> str | None:
    return None if b.versioning else "versioning is off: an overwrite or delete is final"


def _is_log_bucket(b: Bucket) -> bool:
    return b.data_class == "logs"


def _log_object_lock(b: Bucket) -> str | None:
    if b.log_sink:
        # AWS refuses object lock on a log delivery destination: it is judged on the weaker guard it can carry
        # (versioning is INT-S3-VERSIONING's), retention kept by lifecycle.
        return None if b.lifecycle_days else "log delivery destination without a lifecycle retention rule"
    if not b.object_lock or b.lock_mode is None:
        return "log bucket without object lock (and a default retention): logs can be deleted to hide an intrusion"
    if b.environment == "prod" and b.lock_mode != "COMPLIANCE":
        return f"object lock in {b.lock_mode} mode; prod needs COMPLIANCE"
    return None


def _log_object_lock_ok(b: Bucket) -> str:
    if b.log_sink:
        return f"log delivery destination: no lock allowed by AWS, retention by lifecycle ({b.lifecycle_days} days)"
    return f"object lock, {b.lock_mode} mode"


def _db_deletion(db: Database) -> str | None:
    return None if db.deletion_protection else "deletion protection is off"


# --- plan-only checks ----------------------------------------------------------------------------------


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
        **judged(kinds.BUCKETS, _versioning),
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
        **judged(
            kinds.BUCKETS,
            _log_object_lock,
            _log_object_lock_ok,
            applies=_is_log_bucket,
            missing="no log bucket",
            none_applies="no log bucket",
        ),
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
        **judged(kinds.DATABASES, _db_deletion),
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
