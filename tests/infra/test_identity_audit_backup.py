"""Identity with MFA, the audit trail and its alarms, threat detection and locked backups."""

from __future__ import annotations

import json

from infra.alarms import AUDIT_FILTERS, TRAIL_FILTERS
from infra.detection import GUARDDUTY_FEATURES
from infra.identity import EMERGENCY_GROUP, PACS_GROUPS
from infra.synth import Synthesis
from tests.infra.graph import as_list, named, stack_key_arns, statements


def test_user_pool_requires_totp_mfa_and_admin_created_users(stack: Synthesis) -> None:
    (pool,) = stack.of_type("aws:cognito/userPool:UserPool")
    p = pool.inputs
    assert p["mfaConfiguration"] == "ON" and p["softwareTokenMfaConfiguration"]["enabled"] is True
    assert p["adminCreateUserConfig"]["allowAdminCreateUserOnly"] is True
    assert p["passwordPolicy"]["minimumLength"] >= 14
    groups = {g.inputs["name"] for g in stack.of_type("aws:cognito/userGroup:UserGroup")}
    assert groups == {*PACS_GROUPS, EMERGENCY_GROUP}


def test_app_client_cannot_write_the_role_attribute(stack: Synthesis) -> None:
    client = named(stack, "aws:cognito/userPoolClient:UserPoolClient", "identity-alb-client")
    c = client.inputs
    assert "custom:pacs_role" in c["readAttributes"] and "custom:pacs_role" not in c["writeAttributes"]
    assert c["generateSecret"] is True and c["allowedOauthFlows"] == ["code"]
    assert c["callbackUrls"] == [f"https://{stack.settings.web.domain_name}/oauth2/idpresponse"]


def test_trail_is_multi_region_validated_encrypted_and_watches_phi_buckets(stack: Synthesis) -> None:
    (trail,) = stack.of_type("aws:cloudtrail/trail:Trail")
    t = trail.inputs
    assert t["isMultiRegionTrail"] is True and t["enableLogFileValidation"] is True
    assert t["kmsKeyId"] == stack_key_arns(stack)["logs"]
    assert t["s3BucketName"] == named(stack, "aws:s3/bucket:Bucket", "storage-logs").outputs["bucket"]
    assert t["cloudWatchLogsGroupArn"].endswith(":*")
    data = next(s for s in t["advancedEventSelectors"] if s["name"].startswith("Data"))
    arn_selector = next(f for f in data["fieldSelectors"] if f["field"] == "resources.ARN")
    archive = named(stack, "aws:s3/bucket:Bucket", "storage-archive").outputs["arn"]
    assert arn_selector["startsWiths"] == [f"{archive}/"]


def test_logs_bucket_admits_cloudtrail_only_from_this_trail(stack: Synthesis) -> None:
    logs = named(stack, "aws:s3/bucket:Bucket", "storage-logs")
    pol = next(
        p for p in stack.of_type("aws:s3/bucketPolicy:BucketPolicy") if p.inputs["bucket"] == logs.outputs["bucket"]
    )
    write = next(st for st in statements(json.loads(pol.inputs["policy"])) if st["Sid"] == "CloudTrailWrite")
    assert write["Condition"]["StringEquals"]["aws:SourceArn"].endswith(f":trail/pacsguard-{stack.stack}-trail")


def test_every_required_alarm_exists_and_notifies_the_encrypted_topic(stack: Synthesis) -> None:
    (topic,) = stack.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == stack_key_arns(stack)["logs"]
    filters = {f.inputs["name"]: f.inputs for f in stack.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")}
    assert set(filters) == set(TRAIL_FILTERS) | set(AUDIT_FILTERS)
    audit_group = named(stack, "aws:cloudwatch/logGroup:LogGroup", "hosts-log-orthanc-audit").inputs["name"]
    assert filters["PacsAuthenticationFailures"]["logGroupName"] == audit_group
    for alarm in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]


def test_six_log_groups_of_the_issue_exist_encrypted(stack: Synthesis) -> None:
    names = {g.inputs["name"] for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for suffix in ("host", "orthanc-audit", "nginx", "vpc-flow-logs", "cloudtrail"):
        assert f"/pacsguard/{stack.stack}/{suffix}" in names
    assert f"aws-waf-logs-pacsguard-{stack.stack}" in names


def test_guardduty_with_s3_ebs_malware_and_rds_login_features(stack: Synthesis) -> None:
    (detector,) = stack.of_type("aws:guardduty/detector:Detector")
    assert detector.inputs["enable"] is True
    features = {
        f.inputs["name"]: f.inputs["status"] for f in stack.of_type("aws:guardduty/detectorFeature:DetectorFeature")
    }
    assert features == dict.fromkeys(GUARDDUTY_FEATURES, "ENABLED")


def test_config_records_everything_and_runs_the_mirroring_rules(stack: Synthesis) -> None:
    (rec,) = stack.of_type("aws:cfg/recorder:Recorder")
    assert rec.inputs["recordingGroup"]["allSupported"] is True
    rules = {r.inputs["source"]["sourceIdentifier"] for r in stack.of_type("aws:cfg/rule:Rule")}
    assert {"S3_BUCKET_SSL_REQUESTS_ONLY", "RDS_STORAGE_ENCRYPTED", "EC2_IMDSV2_CHECK", "CLOUD_TRAIL_ENABLED"} <= rules
    # Rules that check nothing here are gone: Classic ELB only, and one that flags the stack's own inline policies.
    assert not {"IAM_NO_INLINE_POLICY_CHECK", "ELB_TLS_HTTPS_LISTENERS_ONLY"} & rules
    assert {"ELBV2_ACM_CERTIFICATE_REQUIRED", "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS"} <= rules
    hubs = stack.of_type("aws:securityhub/account:Account")
    assert bool(hubs) is (stack.settings.account.security_hub == "create")


def test_backup_vault_is_encrypted_and_locked(stack: Synthesis) -> None:
    vaults = [v for v in stack.of_type("aws:backup/vault:Vault") if v.name == "backups-vault"]
    (vault,) = vaults
    assert vault.inputs["kmsKeyArn"] == stack_key_arns(stack)["backups"]
    lock = next(
        lk
        for lk in stack.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
        if lk.name == "backups-vault-lock"
    )
    if stack.settings.is_prod:
        assert lock.inputs["changeableForDays"] == 3  # compliance mode
    else:
        assert "changeableForDays" not in lock.inputs  # governance mode


def test_plan_has_daily_weekly_monthly_and_pitr(stack: Synthesis) -> None:
    (plan,) = stack.of_type("aws:backup/plan:Plan")
    rules = {r["ruleName"]: r for r in plan.inputs["rules"]}
    assert set(rules) == {"daily", "weekly", "monthly"}
    assert rules["daily"]["enableContinuousBackup"] is True
    assert rules["monthly"]["lifecycle"]["deleteAfter"] == stack.settings.backup.monthly_retention_days


def test_prod_copies_backups_to_the_second_region(prod: Synthesis) -> None:
    (plan,) = prod.of_type("aws:backup/plan:Plan")
    copy_vault = named(prod, "aws:backup/vault:Vault", "backups-copy-vault")
    for rule in plan.inputs["rules"]:
        assert [c["destinationVaultArn"] for c in rule["copyActions"]] == [copy_vault.outputs["arn"]]
    (provider,) = [r for r in prod.resources if r.type == "pulumi:providers:aws"]
    assert provider.inputs["region"] == prod.settings.backup.copy_region


def test_selection_covers_image_store_and_index_database(stack: Synthesis) -> None:
    (sel,) = stack.of_type("aws:backup/selection:Selection")
    db = named(stack, "aws:rds/instance:Instance", "database-index").outputs["arn"]
    fs = named(stack, "aws:efs/fileSystem:FileSystem", "storage-images").outputs["arn"]
    assert set(as_list(sel.inputs["resources"])) == {db, fs}


def test_restore_testing_where_enabled(stack: Synthesis) -> None:
    kinds = {
        s.inputs["protectedResourceType"]
        for s in stack.of_type("aws:backup/restoreTestingSelection:RestoreTestingSelection")
    }
    assert kinds == ({"RDS", "EFS"} if stack.settings.backup.restore_testing else set())
