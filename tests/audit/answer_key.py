"""The answer key: one emulated prod account (tests/audit/account.py) broken in many ways at once, as hurried
admins would break it, and for each break the control(s) that must fail naming the resource.

The same key drives three things: the per-control breaking tests (test_cloud_checks.py takes the first break
that names a control), the whole-account test (every break caught, nothing else fails), and the side-by-side run
against Prowler (benchmarks/prowler_compare.py, docs/audit-vs-prowler.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.audit.account import ACCOUNT, REGION, STACK, tags

Clients = Any  # tests.audit.conftest.Clients: a boto3 client factory bound to the emulator


@dataclass(frozen=True)
class Break:
    name: str  # what a hurried admin did
    apply: Callable[[Clients, dict], Any]
    expect: tuple[tuple[str, str], ...]  # (control, ids key or literal the failing finding names)


def _policy_without_tls_deny(c: Clients, ids: dict) -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyDelete",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:DeleteBucket",
                "Resource": f"arn:aws:s3:::{ids['bucket_archive']}",
            }
        ],
    }
    c("s3").put_bucket_policy(Bucket=ids["bucket_archive"], Policy=json.dumps(doc))


def _open_key_policy(c: Clients, ids: dict) -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Everything",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    c("kms").put_key_policy(KeyId=ids["key_secrets_id"], PolicyName="default", Policy=json.dumps(doc))


def _launch_template_public_imdsv1(c: Clients, ids: dict) -> None:
    c("ec2").create_launch_template_version(
        LaunchTemplateName=ids["launch_template"],
        LaunchTemplateData={
            "MetadataOptions": {"HttpTokens": "optional"},
            "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}],
        },
    )


def _in_region_plan_beside_the_good_one(c: Clients, ids: dict) -> None:
    """A second plan that never copies out of the region, while the first one does (BAK-OFFSITE passed on any one)."""
    c("backup").create_backup_plan(
        BackupPlan={
            "BackupPlanName": "in-region",
            "Rules": [
                {"RuleName": "hourly", "TargetBackupVaultName": ids["vault"], "ScheduleExpression": "cron(0 * * * ? *)"}
            ],
        },
        BackupPlanTags={t["Key"]: t["Value"] for t in tags("none")},
    )


def _world_open_group_in_untagged_vpc(c: Clients, ids: dict) -> None:
    ec2 = c("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(
        GroupName="dicom-direct",
        Description="x",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags("none")}],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 104, "ToPort": 104, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    ids["untagged_vpc_sg"] = sg


def _role(c: Clients, name: str) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    c("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


ADMIN_DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _role_inline_admin(c: Clients, ids: dict) -> None:
    _role(c, "ops-inline")
    c("iam").put_role_policy(RoleName="ops-inline", PolicyName="everything", PolicyDocument=ADMIN_DOC)


def _role_customer_admin(c: Clients, ids: dict) -> None:
    _role(c, "ops-custom")
    arn = c("iam").create_policy(PolicyName="ops-everything", PolicyDocument=ADMIN_DOC)["Policy"]["Arn"]
    c("iam").attach_role_policy(RoleName="ops-custom", PolicyArn=arn)


def _role_administrator_access(c: Clients, ids: dict) -> None:
    _role(c, "break-glass")
    c("iam").attach_role_policy(RoleName="break-glass", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")


def _console_user_without_mfa(c: Clients, ids: dict) -> None:
    c("iam").create_user(UserName="radiology-admin")
    c("iam").create_login_profile(UserName="radiology-admin", Password="Summer-2026-radiology!")


def _user_access_key(c: Clients, ids: dict) -> None:
    c("iam").create_user(UserName="ci-deployer")
    c("iam").create_access_key(UserName="ci-deployer")


def _unencrypted_data_volume(c: Clients, ids: dict) -> None:
    ids["plain_volume"] = c("ec2").create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=200,
        Encrypted=False,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags("phi")}],
    )["VolumeId"]


def _public_volume_snapshot(c: Clients, ids: dict) -> None:
    ec2 = c("ec2")
    snap = ec2.create_snapshot(
        VolumeId=ids["data_volume"], TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags("phi")}]
    )["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snap, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    ids["public_snapshot"] = snap


def _public_db_snapshot(c: Clients, ids: dict) -> None:
    rds = c("rds")
    rds.create_db_snapshot(
        DBInstanceIdentifier=ids["db"], DBSnapshotIdentifier="index-before-upgrade", Tags=tags("phi")
    )
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="index-before-upgrade", AttributeName="restore", ValuesToAdd=["all"]
    )


def _drop_nacl_alarm_filter(c: Clients, ids: dict) -> None:
    c("logs").delete_metric_filter(logGroupName="/pacsguard/prod/cloudtrail", filterName="NaclChanges")


S3 = "s3"
BREAKS: list[Break] = [
    Break("archive bucket switched to SSE-S3", lambda c, i: c(S3).put_bucket_encryption(Bucket=i["bucket_archive"], ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}), (("ENC-S3-KMS", "bucket_archive"),)),
    Break("archive policy replaced without the TLS deny", _policy_without_tls_deny, (("ENC-S3-TLS", "bucket_archive"),)),
    Break("rotation turned off on the images key", lambda c, i: c("kms").disable_key_rotation(KeyId=i["key_images_id"]), (("ENC-KMS-ROTATION", "key_images_id"),)),
    Break("secrets key policy opened to kms:*", _open_key_policy, (("ENC-KMS-POLICY", "key_secrets_id"),)),
    Break("backups key scheduled for deletion", lambda c, i: c("kms").schedule_key_deletion(KeyId=i["key_backups_id"], PendingWindowInDays=7), (("ENC-KMS-KEY-STATE", "key_backups_id"),)),
    Break("a second, unencrypted database", lambda c, i: c("rds").create_db_instance(DBInstanceIdentifier="plain-index", Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20, MasterUsername="u", MasterUserPassword="p-not-used-1", StorageEncrypted=False, Tags=tags("phi")), (("ENC-RDS-KMS", "plain-index"), ("IAM-SECRET-ROTATION", "plain-index"))),
    Break("a second, unencrypted file system", lambda c, i: c("efs").create_file_system(CreationToken="plain", Encrypted=False, Tags=tags("phi")), (("ENC-EFS-KMS", "fs-"),)),
    Break("file system policy without the TLS deny", lambda c, i: c("efs").put_file_system_policy(FileSystemId=i["fs"], Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Mount", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount", "Resource": "*"}]})), (("ENC-EFS-TLS", "fs"),)),
    Break("EBS encryption by default turned off", lambda c, i: c("ec2").disable_ebs_encryption_by_default(), (("ENC-EBS-DEFAULT", "account"),)),
    Break("unencrypted EBS data volume", _unencrypted_data_volume, (("ENC-EBS-VOLUMES", "plain_volume"),)),
    Break("public snapshot of the data volume", _public_volume_snapshot, (("ENC-SNAPSHOTS", "public_snapshot"),)),
    Break("public snapshot of the index database", _public_db_snapshot, (("ENC-SNAPSHOTS", "index-before-upgrade"),)),
    Break("log group without a key", lambda c, i: c("logs").create_log_group(logGroupName="/pacsguard/prod/plain", tags={t["Key"]: t["Value"] for t in tags("logs")}), (("ENC-LOGS-KMS", "/pacsguard/prod/plain"),)),
    Break("secret on the AWS-managed key", lambda c, i: c("secretsmanager").create_secret(Name="plain-secret", SecretString="x", Tags=tags("phi")), (("ENC-SECRETS-KMS", "plain-secret"),)),
    Break("unencrypted alarm topic", lambda c, i: c("sns").create_topic(Name="plain-topic", Tags=tags("logs")), (("ENC-SNS-KMS", "plain-topic"),)),
    Break("HTTPS listener on the 2016 TLS policy", lambda c, i: c("elbv2").modify_listener(ListenerArn=i["https_listener"], SslPolicy="ELBSecurityPolicy-2016-08"), (("ENC-LB-TLS", "alb"),)),
    Break("rds.force_ssl set to 0", lambda c, i: c("rds").modify_db_parameter_group(DBParameterGroupName="pacsguard-index", Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "immediate"}]), (("ENC-DB-TLS", "db"),)),
    Break("a second trail without a key", lambda c, i: c("cloudtrail").create_trail(Name="plain-trail", S3BucketName=i["bucket_logs"]), (("ENC-TRAIL-KMS", "plain-trail"),)),
    Break("archive public access block loosened", lambda c, i: c(S3).put_public_access_block(Bucket=i["bucket_archive"], PublicAccessBlockConfiguration={"BlockPublicAcls": True, "BlockPublicPolicy": False, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}), (("NET-S3-PUBLIC", "bucket_archive"),)),
    Break("account public access block removed", lambda c, i: c("s3control").delete_public_access_block(AccountId=ACCOUNT), (("NET-S3-ACCOUNT-PAB", "account"),)),
    Break("HTTPS opened to the internet on the hosts' group", lambda c, i: c("ec2").authorize_security_group_ingress(GroupId=i["hosts_sg"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]), (("NET-SG-WORLD", "hosts_sg"),)),
    Break("DICOM opened to the internet on a tagged group in an untagged VPC", _world_open_group_in_untagged_vpc, (("NET-SG-WORLD", "untagged_vpc_sg"),)),
    Break("SSH rule on the default group", lambda c, i: c("ec2").authorize_security_group_ingress(GroupId=i["default_sg"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]), (("NET-DEFAULT-SG", "default_sg"),)),
    Break("launch template with a public IP and IMDSv1", _launch_template_public_imdsv1, (("NET-HOST-NO-PUBLIC-IP", "launch_template"), ("NET-IMDSV2", "launch_template"))),
    Break("flow logs deleted", lambda c, i: c("ec2").delete_flow_logs(FlowLogIds=[f["FlowLogId"] for f in c("ec2").describe_flow_logs()["FlowLogs"]]), (("NET-FLOW-LOGS", "vpc"),)),
    Break("database group opened to 10.0.0.0/8", lambda c, i: c("ec2").authorize_security_group_ingress(GroupId=i["db_sg"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]), (("NET-DB-PRIVATE", "db"),)),
    Break("WAF detached from the load balancer", lambda c, i: c("wafv2").disassociate_web_acl(ResourceArn=i["alb_arn"]), (("NET-WAF", "alb"),)),
    Break("invalid headers passed on", lambda c, i: c("elbv2").modify_load_balancer_attributes(LoadBalancerArn=i["alb_arn"], Attributes=[{"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "false"}]), (("NET-ALB-HEADERS", "alb"),)),
    Break("user pool MFA turned off", lambda c, i: c("cognito-idp").set_user_pool_mfa_config(UserPoolId=i["pool"], MfaConfiguration="OFF"), (("IAM-MFA", "pool"),)),
    Break("user pool passwords of 8 characters", lambda c, i: c("cognito-idp").update_user_pool(UserPoolId=i["pool"], Policies={"PasswordPolicy": {"MinimumLength": 8}}, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}, UserPoolTags={t["Key"]: t["Value"] for t in tags("phi")}), (("IAM-PASSWORDS", "pool"),)),
    Break("account password policy deleted", lambda c, i: c("iam").delete_account_password_policy(), (("IAM-ACCOUNT-PASSWORD-POLICY", "account"),)),
    Break("role with an inline *:* policy", _role_inline_admin, (("IAM-NO-ADMIN", "role/ops-inline"),)),
    Break("role with a customer-managed *:* policy", _role_customer_admin, (("IAM-NO-ADMIN", "role/ops-custom"),)),
    Break("role with AdministratorAccess", _role_administrator_access, (("IAM-NO-ADMIN", "role/break-glass"),)),
    Break("console user without MFA", _console_user_without_mfa, (("IAM-CONSOLE-MFA", "user/radiology-admin"),)),
    Break("IAM user with a long-lived access key", _user_access_key, (("IAM-NO-STATIC-KEYS", "user/ci-deployer"),)),
    Break("trail made single-region", lambda c, i: c("cloudtrail").update_trail(Name=i["trail"], IsMultiRegionTrail=False), (("AUD-CLOUDTRAIL", "trail"),)),
    Break("PHI data events no longer recorded", lambda c, i: c("cloudtrail").put_event_selectors(TrailName=i["trail"], AdvancedEventSelectors=[{"Name": "Management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]), (("AUD-PHI-DATA-EVENTS", "bucket_archive"),)),
    Break("archive access logging off", lambda c, i: c(S3).put_bucket_logging(Bucket=i["bucket_archive"], BucketLoggingStatus={}), (("AUD-S3-ACCESS-LOGS", "bucket_archive"),)),
    Break("ALB access logs off", lambda c, i: c("elbv2").modify_load_balancer_attributes(LoadBalancerArn=i["alb_arn"], Attributes=[{"Key": "access_logs.s3.enabled", "Value": "false"}]), (("AUD-ALB-LOGS", "alb"),)),
    Break("host logs kept 30 days", lambda c, i: c("logs").put_retention_policy(logGroupName=i["log_group"], retentionInDays=30), (("AUD-LOG-RETENTION", "log_group"),)),
    Break("NACL-change metric filter deleted", _drop_nacl_alarm_filter, (("AUD-ALARMS", "nacl-changes"),)),
    Break("GuardDuty RDS login events off", lambda c, i: c("guardduty").update_detector(DetectorId=i["detector"], Features=[{"Name": "RDS_LOGIN_EVENTS", "Status": "DISABLED"}]), (("AUD-GUARDDUTY", "detector"),)),
    Break("AWS Config recorder stopped", lambda c, i: c("config").stop_configuration_recorder(ConfigurationRecorderName="pacsguard"), (("AUD-CONFIG", "pacsguard"),)),
    Break("database log export turned off", lambda c, i: c("rds").modify_db_instance(DBInstanceIdentifier=i["db"], CloudwatchLogsExportConfiguration={"DisableLogTypes": ["postgresql", "upgrade"]}, ApplyImmediately=True), (("AUD-RDS-LOGS", "db"),)),
    Break("archive versioning suspended", lambda c, i: c(S3).put_bucket_versioning(Bucket=i["bucket_archive"], VersioningConfiguration={"Status": "Suspended"}), (("INT-S3-VERSIONING", "bucket_archive"),)),
    Break("log bucket lock in governance mode", lambda c, i: c(S3).put_object_lock_configuration(Bucket=i["bucket_logs"], ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}}), (("INT-LOG-OBJECT-LOCK", "bucket_logs"),)),
    Break("database deletion protection off", lambda c, i: c("rds").modify_db_instance(DBInstanceIdentifier=i["db"], DeletionProtection=False, ApplyImmediately=True), (("INT-DB-DELETION-PROTECTION", "db"),)),
    Break("database backups kept 7 days", lambda c, i: c("rds").modify_db_instance(DBInstanceIdentifier=i["db"], BackupRetentionPeriod=7, ApplyImmediately=True), (("BAK-PITR", "db"),)),
    Break("a backup plan that never leaves the region, beside one that does", _in_region_plan_beside_the_good_one, (("BAK-OFFSITE", "in-region"),)),
    Break("backup vault unlocked", lambda c, i: c("backup").delete_backup_vault_lock_configuration(BackupVaultName=i["vault"]), (("BAK-VAULT-LOCK", "vault"),)),
    Break("database made single-AZ", lambda c, i: c("rds").modify_db_instance(DBInstanceIdentifier=i["db"], MultiAZ=False, ApplyImmediately=True), (("BAK-DB-MULTI-AZ", "db"),)),
]  # fmt: skip

# What the emulator cannot reach on the good account: an operation moto lacks (skipped, cause "endpoint") or a state
# it cannot express (root MFA cannot be enabled). Each is checked against AWS-shaped answers in test_audit_contract.py.
EMULATOR_LIMITS = {
    "ENC-EBS-DEFAULT": ("skipped", "moto lacks GetEbsDefaultKmsKeyId"),
    "BAK-COVERAGE": ("skipped", "moto lacks ListBackupSelections/CreateBackupSelection"),
    "IAM-ROOT-MFA": ("fail", "moto cannot enable MFA on the root user"),
    "IAM-PASSKEYS": ("skipped", "moto accepts WebAuthnConfiguration but never returns it"),
    "IAM-MACHINE-TOKENS": ("skipped", "moto's ELBv2 refuses the jwt-validation action: no rule can verify the tokens"),
    "IAM-AUTO-LOGOFF": (
        "skipped",
        "moto lacks Get(UserPool|UserPoolClient)SessionConfiguration: Cognito's own session",
    ),
}
# Controls no break here can reach on moto, checked with AWS-shaped answers instead (test_audit_contract.py).
STUBBED = {
    "IAM-ROOT-MFA": "root MFA",
    "ENC-BACKUP-KMS": "a vault on an AWS-managed key",
    "BAK-COVERAGE": "backup selections",
    "IAM-APP-SECRET-ROTATION": "an application secret unchanged past its period (moto cannot age a version)",
}


def _client_id(c: Clients, ids: dict, name: str) -> str:
    clients = c("cognito-idp").list_user_pool_clients(UserPoolId=ids["pool"], MaxResults=60)["UserPoolClients"]
    return next(x["ClientId"] for x in clients if x["ClientName"] == name)


# Breaks of the identity-beyond-passwords controls (issue 16). Kept apart from BREAKS, the answer key the Prowler
# comparison in docs/audit-vs-prowler.md was measured on, until that comparison is run again with them.
IDENTITY_BREAKS: list[Break] = [
    Break("a machine client given every PACS scope", lambda c, i: c("cognito-idp").create_user_pool_client(UserPoolId=i["pool"], ClientName="leaky-machine", AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["pacs/read", "pacs/store"], AllowedOAuthFlowsUserPoolClient=True), (("IAM-MACHINE-TOKENS", "leaky-machine"),)),
    Break("the ALB's access tokens made to last a day", lambda c, i: c("cognito-idp").update_user_pool_client(UserPoolId=i["pool"], ClientId=_client_id(c, i, i["alb_client"]), ClientName=i["alb_client"], AllowedOAuthFlows=["code"], AccessTokenValidity=1, TokenValidityUnits={"AccessToken": "days"}), (("IAM-AUTO-LOGOFF", "alb_client"),)),
    Break("the emergency-access alarm deleted", lambda c, i: c("cloudwatch").delete_alarms(AlarmNames=[f"pacsguard-{STACK}-EmergencyAccessUsed"]), (("IAM-EMERGENCY-ACCESS", "EmergencyAccessUsed"),)),
    Break("passkeys removed from the first factors", lambda c, i: c("cognito-idp").update_user_pool(UserPoolId=i["pool"], Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD"]}}, UserPoolTags={t["Key"]: t["Value"] for t in tags("phi", **{"pacsguard:passkeys": "allowed"})}), (("IAM-PASSKEYS", "pool"),)),
]  # fmt: skip


def resource_name(ids: dict, key: str) -> str:
    return str(ids.get(key, key))
