"""The audit defects of issue 17, each on moto or, where moto cannot reach the state, on AWS-shaped answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from infra.alarms import TRAIL_FILTERS
from policies.catalog import by_id
from policies.cloud.checks.monitoring import CIS_EVENTS, matches
from policies.cloud.context import CloudContext
from tests.audit.account import ACCOUNT, COPY_REGION, REGION, STACK
from tests.audit.conftest import Clients
from tests.audit.test_audit_contract import FakeApi
from tests.audit.test_cloud_checks import audit

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_a_trail_homed_in_another_region_counts(clients: Clients, moto: str, account: dict) -> None:
    # Shadow trails were not listed: a stack outside the trail's home region failed "no CloudTrail trail".
    ids = account
    clients("cloudtrail").delete_trail(Name=ids["trail"])
    home = clients("cloudtrail", COPY_REGION)
    clients("s3", COPY_REGION).create_bucket(
        Bucket="org-trail-logs", CreateBucketConfiguration={"LocationConstraint": COPY_REGION}
    )
    home.create_trail(Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True, EnableLogFileValidation=True,
                      KmsKeyId=ids["key_logs"], CloudWatchLogsLogGroupArn=f"arn:aws:logs:{COPY_REGION}:{ACCOUNT}:log-group:trail:*",
                      CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/trail")  # fmt: skip
    home.start_logging(Name="org-trail")
    trail = {f.resource: f for f in audit(moto) if f.control == "AUD-CLOUDTRAIL"}
    assert trail["org-trail"].status == "pass", trail


def test_the_sse_s3_log_sink_is_not_reported_as_sse_kms(moto: str, account: dict) -> None:
    ids = account
    sink = next(f for f in audit(moto) if f.control == "ENC-S3-KMS" and f.resource == ids["bucket_accesslogs"])
    assert sink.status == "pass" and "SSE-S3" in sink.message and "SSE-KMS" not in sink.message


def test_every_prowler_equivalent_is_a_real_prowler_check() -> None:
    # BAK-VAULT-LOCK named backup_vaults_lock_enabled, which Prowler 5 does not have.
    from pathlib import Path

    from policies.catalog import controls

    known = set(
        (Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "prowler_checks.txt").read_text().split()
    )
    named = {(c.id, x.strip()) for c in controls() for x in c.equivalents.get("prowler", "").split(",") if x.strip()}
    assert not {n for n in named if n[1] not in known}
    assert "backup_vaults_lock_enabled" not in str(by_id("BAK-VAULT-LOCK").equivalents)


def test_the_stacks_trail_filters_meet_every_cis_alarm_the_audit_asks_for() -> None:
    for name, events in CIS_EVENTS.items():
        assert any(matches(p, events) for p in TRAIL_FILTERS.values()), name


def test_a_filter_missing_one_event_does_not_count() -> None:
    assert not matches("{ ($.eventName = CreateRouteTable) }", ["CreateRoute"])  # exact names


# --- backup selections: moto lacks the API, so AWS-shaped answers ------------------------------------------------

DB_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:pacsguard-prod-index"
FS_ARN = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-1"
STACK_TAGS = [{"Key": "pacsguard:stack", "Value": STACK}]


def _coverage(selection: dict[str, Any]) -> dict[str, str]:
    answers = {
        ("backup", "ListBackupPlans"): {"BackupPlansList": [{"BackupPlanId": "p1", "BackupPlanArn": "arn:p1"}]},
        ("backup", "ListTags"): {"Tags": {"pacsguard:stack": STACK}},
        ("backup", "GetBackupPlan"): {"BackupPlanId": "p1", "BackupPlan": {"BackupPlanName": "daily", "Rules": []}},
        ("backup", "ListBackupSelections"): {"BackupSelectionsList": [{"SelectionId": "s1"}]},
        ("backup", "GetBackupSelection"): {"BackupSelection": {"SelectionName": "s", **selection}},
        ("rds", "DescribeDBInstances"): {"DBInstances": [{"DBInstanceIdentifier": "index", "DBInstanceArn": DB_ARN, "TagList": STACK_TAGS}]},
        ("efs", "DescribeFileSystems"): {"FileSystems": [{"FileSystemId": "fs-1", "FileSystemArn": FS_ARN, "Tags": STACK_TAGS}]},
        ("ec2", "DescribeVolumes"): {"Volumes": []},
    }  # fmt: skip
    cx = CloudContext(api=FakeApi(answers), stack=STACK)  # type: ignore[arg-type]
    return {o.resource: o.status for o in by_id("BAK-COVERAGE").cloud.check(cx)}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"Resources": [DB_ARN, FS_ARN]}, {"index": "pass", "fs-1": "pass"}),
        ({"Resources": []}, {"index": "fail", "fs-1": "fail"}),  # a selection that covers nothing passed before
        ({"Resources": [f"arn:aws:rds:{REGION}:{ACCOUNT}:db:*"]}, {"index": "pass", "fs-1": "fail"}),
        ({"ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "pacsguard:stack", "ConditionValue": STACK}]},
         {"index": "pass", "fs-1": "pass"}),
        ({"Resources": ["*"], "NotResources": [DB_ARN]}, {"index": "fail", "fs-1": "pass"}),
    ],
)  # fmt: skip
def test_backup_selections_must_cover_the_database_and_the_image_store(selection: dict, expected: dict) -> None:
    assert _coverage(selection) == expected


# --- access keys: moto cannot age a key, so AWS-shaped answers -------------------------------------------------


@pytest.mark.parametrize(
    ("created", "last_used", "status"),
    [
        (NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=1), "pass"),
        (NOW - dt.timedelta(days=200), NOW - dt.timedelta(days=1), "fail"),  # older than 90 days
        (NOW - dt.timedelta(days=10), None, "fail"),  # never used
        (NOW - dt.timedelta(days=80), NOW - dt.timedelta(days=85), "pass"),
    ],
)
def test_user_access_keys_old_or_unused_fail(created: dt.datetime, last_used: dt.datetime | None, status: str) -> None:
    from policies.cloud.checks.principals import static_keys

    answers = {
        ("iam", "GetAccountSummary"): {"SummaryMap": {"AccountAccessKeysPresent": 0}},
        ("iam", "ListUsers"): {"Users": [{"UserName": "ci"}]},
        ("iam", "ListAccessKeys"): {"AccessKeyMetadata": [{"AccessKeyId": "AKIA1", "Status": "Active", "CreateDate": created}]},
        ("iam", "GetAccessKeyLastUsed"): {"AccessKeyLastUsed": {"LastUsedDate": last_used} if last_used else {}},
    }  # fmt: skip
    cx = CloudContext(api=FakeApi(answers), stack=STACK)  # type: ignore[arg-type]
    root, key = static_keys(cx, now=NOW)
    assert root.status == "pass" and key.resource == "user/ci:AKIA1" and key.status == status
