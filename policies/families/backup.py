"""Contingency: backups that cover the PHI, restore to a point in time, leave the region, cannot be erased,
and are tested."""

from __future__ import annotations

from policies import citations as c
from policies.facts import kinds
from policies.facts.kinds import judged, judged_each
from policies.facts.resources import BackupPlan, Database, Protected, Vault
from policies.graph import PlanGraph
from policies.model import Citations, Control, Outcome, StackCheck, resource_outcome

CONTINGENCY = Citations(hipaa=(c.BACKUP_PLAN, c.DISASTER_RECOVERY), gdpr=(c.GDPR_RESTORE,))
MIN_DB_BACKUP_DAYS = {"prod": 35, "dev": 1}


def _coverage(p: Protected) -> str | None:
    if not p.backup_plans:
        return "no backup plan"
    return None if p.selected else "not in any backup selection of the stack's backup plans"


def _db_pitr(db: Database) -> str | None:
    minimum = MIN_DB_BACKUP_DAYS[db.environment]
    days = db.backup_retention_days
    return None if days >= minimum else f"automated backups kept {days} days; {db.environment} needs {minimum}"


def _continuous(p: BackupPlan) -> str | None:
    return None if p.continuous else "no rule with continuous backup (point-in-time restore)"


def _offsite(p: BackupPlan) -> str | None:
    if p.copy_regions:
        return None
    return "no copy to a vault in another region (a regional outage or a region-wide compromise loses every backup)"


def _vault_lock(v: Vault) -> str | None:
    if not v.locked:
        return "vault is not locked: recovery points can be deleted"
    if v.environment == "prod" and not v.compliance_mode:
        return "vault lock in governance mode; prod needs compliance mode (changeable_for_days)"
    return None


def _restore_testing(g: PlanGraph) -> list[Outcome]:
    plans = g.of("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    kinds = {
        s.inputs.get("protectedResourceType")
        for s in g.of("aws:backup/restoreTestingSelection:RestoreTestingSelection")
    }
    if not plans:
        severity_note = "restores are never tested" if g.environment == "prod" else None
        return [
            Outcome(
                "stack", "fail" if severity_note else "skipped", severity_note or "dev stack without restore testing"
            )
        ]
    wanted = {"RDS"} | ({"EFS"} if g.of("aws:efs/fileSystem:FileSystem") else set())
    missing = wanted - kinds
    return [
        resource_outcome(
            plans[0], f"no restore test for {', '.join(sorted(missing))}" if missing else None, "restores tested weekly"
        )
    ]


def _multi_az(db: Database) -> str | None:
    return None if db.multi_az else "single-AZ: an AZ outage stops the PACS"


# --- cloud checks -------------------------------------------------------------------------------------


CONTROLS = [
    Control(
        id="BAK-COVERAGE",
        title="A backup plan covers the image store and the index database",
        family="backup",
        severity="critical",
        rationale="Images without their index, or an index without images, cannot be restored to a working PACS.",
        remediation="Select the RDS instance and the image store (EFS file system or EBS image volume) in an AWS Backup "
        "plan; a resource named in a selection must also carry the tags its conditions ask for (AWS ANDs them).",
        citations=CONTINGENCY,
        equivalents={"prowler": "backup_plans_exist", "aws_config": "RESOURCES_PROTECTED_BY_BACKUP_PLAN"},
        **judged(
            kinds.PROTECTED,
            _coverage,
            "selected by a backup plan",
            missing="no database, file system or volume of the stack to back up was found",
        ),
    ),
    Control(
        id="BAK-PITR",
        title="The index restores to any point in time",
        family="backup",
        severity="high",
        rationale="Corruption is usually noticed late: restore to the minute before it.",
        remediation="backup_retention_period >= 35 in prod and a backup rule with continuous backup.",
        citations=CONTINGENCY,
        equivalents={
            "aws_config": "DB_INSTANCE_BACKUP_ENABLED",
            "prowler": "rds_instance_backup_enabled",
            "checkov": "CKV_AWS_133",
        },
        **judged_each(judged(kinds.DATABASES, _db_pitr), judged(kinds.BACKUP_PLANS, _continuous)),
    ),
    Control(
        id="BAK-OFFSITE",
        title="Backups are copied to a second region",
        family="backup",
        severity="high",
        rationale="A regional outage or a compromised region must not take every copy.",
        remediation="Set backup.copy_region (inside allowed_regions).",
        citations=Citations(hipaa=(c.BACKUP_PLAN, c.DISASTER_RECOVERY), gdpr=(c.GDPR_RESTORE,)),
        equivalents={},
        **judged(
            kinds.BACKUP_PLANS,
            _offsite,
            lambda p: f"copied to {', '.join(p.copy_regions)}",
            applies=lambda p: p.environment == "prod" or bool(p.copy_regions),
            applies_to="prod stacks (dev stacks may keep backups in-region)",
            missing="no backup plan",
        ),
    ),
    Control(
        id="BAK-VAULT-LOCK",
        title="Backup vaults are locked (compliance mode in prod)",
        family="backup",
        severity="critical",
        rationale="Ransomware deletes backups first; a compliance-mode lock makes that impossible, even for root.",
        remediation="Add VaultLockConfiguration; set changeable_for_days in prod.",
        citations=CONTINGENCY,
        equivalents={
            "aws_config": "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED"
        },  # Prowler 5 has no vault-lock check
        **judged(kinds.VAULTS, _vault_lock, "locked", missing="no backup vault"),
    ),
    Control(
        id="BAK-RESTORE-TESTING",
        title="Restores are tested on a schedule",
        family="backup",
        severity="medium",
        rationale="A backup never restored is a hope, not a plan.",
        remediation="Keep backup.restore_testing on: a restore testing plan with selections for RDS and EFS.",
        citations=Citations(hipaa=(c.CONTINGENCY_TESTING,), gdpr=(c.GDPR_TESTING, c.GDPR_RESTORE)),
        equivalents={},
        plan=StackCheck(_restore_testing),
    ),
    Control(
        id="BAK-DB-MULTI-AZ",
        title="The index database is multi-AZ",
        family="backup",
        severity="medium",
        rationale="Availability of ePHI is part of the Security Rule; a single AZ is a single point of failure.",
        remediation="Set database.multi_az (prod refuses false).",
        citations=Citations(hipaa=(c.DISASTER_RECOVERY,), gdpr=(c.GDPR_CIA,)),
        equivalents={
            "aws_config": "RDS_MULTI_AZ_SUPPORT",
            "prowler": "rds_instance_multi_az",
            "checkov": "CKV_AWS_157",
        },
        **judged(kinds.DATABASES, _multi_az, applies=lambda db: db.environment == "prod", applies_to="prod stacks"),
    ),
]
