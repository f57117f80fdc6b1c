"""A whole prod stack's worth of compliant resources, built with boto3 and tagged as the stack would tag them."""

from __future__ import annotations

import json
from typing import Any

STACK = "prod"
ACCOUNT = "123456789012"
REGION = "eu-central-1"
COPY_REGION = "eu-west-1"


def tags(data_class: str, **extra: str) -> list[dict[str, str]]:
    base = {"pacsguard:stack": STACK, "pacsguard:data-class": data_class, "pacsguard:environment": "prod", **extra}
    return [{"Key": k, "Value": v} for k, v in base.items()]


def key_policy() -> str:
    root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": root, "Action": ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"], "Resource": "*"},
        {"Sid": "UseThroughStackServices", "Effect": "Allow", "Principal": root, "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}},
    ]})  # fmt: skip


def deny_insecure(resource: list[str], action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"},
                       "Action": action, "Resource": resource, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})  # fmt: skip


def cis_alarms(c: Any, log_group: str, topic: str) -> None:
    """The stack's trail metric filters (infra/alarms.py), each with an alarm that notifies the topic."""
    from infra.alarms import TRAIL_FILTERS

    logs, cloudwatch = c("logs"), c("cloudwatch")
    for name, pattern in TRAIL_FILTERS.items():
        logs.put_metric_filter(logGroupName=log_group, filterName=name, filterPattern=pattern,
                               metricTransformations=[{"metricName": name, "metricNamespace": "PACSGuard", "metricValue": "1"}])  # fmt: skip
        cloudwatch.put_metric_alarm(AlarmName=f"pacsguard-{STACK}-{name}", MetricName=name, Namespace="PACSGuard", Statistic="Sum", Period=300,
                                    EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])  # fmt: skip


def build(c: Any) -> dict[str, Any]:
    """Create everything; return the names and ids tests break."""
    ids: dict[str, Any] = {}
    kms = c("kms")
    for name in ("images", "database", "logs", "backups", "secrets"):
        key = kms.create_key(
            Policy=key_policy(),
            Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags("phi", **{"pacsguard:key": name})],
        )
        kms.enable_key_rotation(KeyId=key["KeyMetadata"]["KeyId"])
        ids[f"key_{name}"] = key["KeyMetadata"]["Arn"]
        ids[f"key_{name}_id"] = key["KeyMetadata"]["KeyId"]

    s3 = c("s3")
    # As deployed: AWS refuses object lock on the access-log sink and on Config's destination.
    buckets = {
        "archive": ("phi", False),
        "logs": ("logs", True),
        "accesslogs": ("logs", False),
        "config": ("logs", False),
    }
    sinks = {"accesslogs": "s3-server-access-and-alb-logs", "config": "aws-config-delivery"}
    for short, (data_class, locked) in buckets.items():
        name = f"pacsguard-{STACK}-{short}"
        ids[f"bucket_{short}"] = name
        s3.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}, ObjectLockEnabledForBucket=locked
        )
        extra = {"pacsguard:log-sink": sinks[short]} if short in sinks else {}
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags(data_class, **extra)})
        default = (
            {"SSEAlgorithm": "AES256"}
            if short == "accesslogs"
            else {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ids["key_images"]}
        )
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": short != "accesslogs"}]
            },
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration=dict.fromkeys(
                ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
            ),
        )
        policy = json.loads(deny_insecure([f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"], "s3:*"))
        if short == "accesslogs":
            policy["Statement"].append({"Sid": "S3ServerAccessLogDelivery", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                                        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*"})  # fmt: skip
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if short in sinks:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": [
                        {"ID": "retention", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 2192}}
                    ]
                },
            )
        if locked:
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2192}},
                },
            )
    for short in ("archive", "logs", "config"):
        s3.put_bucket_logging(
            Bucket=ids[f"bucket_{short}"],
            BucketLoggingStatus={
                "LoggingEnabled": {"TargetBucket": ids["bucket_accesslogs"], "TargetPrefix": f"s3/{short}/"}
            },
        )
    c("s3control").put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        ),
    )

    ec2 = c("ec2")
    ec2.enable_ebs_encryption_by_default()
    ec2.modify_ebs_default_kms_key_id(KmsKeyId=ids["key_images"])
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags("none")}])[
        "Vpc"
    ]["VpcId"]
    ids["vpc"] = vpc
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]
    ids["default_sg"] = default_sg["GroupId"]
    if default_sg.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissions"])
    if default_sg.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissionsEgress"])
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    hosts_sg = ec2.create_security_group(GroupName="hosts", Description="hosts", VpcId=vpc)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=hosts_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.authorize_security_group_ingress(
        GroupId=hosts_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2762, "ToPort": 2762, "IpRanges": [{"CidrIp": "10.70.10.0/24"}]}
        ],
    )
    db_sg = ec2.create_security_group(GroupName="database", Description="db", VpcId=vpc)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=db_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.authorize_security_group_ingress(
        GroupId=db_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": hosts_sg}]}
        ],
    )
    ids.update(hosts_sg=hosts_sg, db_sg=db_sg, subnets=subnets)
    ec2.create_launch_template(
        LaunchTemplateName=f"pacsguard-{STACK}-host",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
                            "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [hosts_sg]}]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags("none")}],
    )  # fmt: skip
    ids["launch_template"] = f"pacsguard-{STACK}-host"

    logs = c("logs")
    for name in ("host", "orthanc-audit", "nginx", "vpc-flow-logs", "cloudtrail"):
        group = f"/pacsguard/{STACK}/{name}"
        logs.create_log_group(
            logGroupName=group, kmsKeyId=ids["key_logs"], tags={t["Key"]: t["Value"] for t in tags("logs")}
        )
        logs.put_retention_policy(logGroupName=group, retentionInDays=2192)
    ids["log_group"] = f"/pacsguard/{STACK}/host"
    ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs",
                         LogGroupName=f"/pacsguard/{STACK}/vpc-flow-logs", DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow")  # fmt: skip

    rds = c("rds")
    rds.create_db_parameter_group(
        DBParameterGroupName="pacsguard-index", DBParameterGroupFamily="postgres16", Description="tls"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="pacsguard-index",
        Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"}],
    )
    ids["db"] = f"pacsguard-{STACK}-index"
    rds.create_db_instance(
        DBInstanceIdentifier=ids["db"], Engine="postgres", EngineVersion="16.4", DBInstanceClass="db.r7g.large", AllocatedStorage=200,
        MasterUsername="orthanc_admin", ManageMasterUserPassword=True, MasterUserSecretKmsKeyId=ids["key_secrets"], StorageEncrypted=True, KmsKeyId=ids["key_database"],
        DBParameterGroupName="pacsguard-index", DeletionProtection=True, BackupRetentionPeriod=35, MultiAZ=True,
        PubliclyAccessible=False, VpcSecurityGroupIds=[db_sg], Tags=tags("phi"), EnableCloudwatchLogsExports=["postgresql", "upgrade"],
    )  # fmt: skip

    efs = c("efs")
    fs = efs.create_file_system(CreationToken="images", Encrypted=True, KmsKeyId=ids["key_images"], Tags=tags("phi"))[
        "FileSystemId"
    ]
    efs.put_file_system_policy(
        FileSystemId=fs,
        Policy=deny_insecure([f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{fs}"], "elasticfilesystem:*"),
    )
    ids["fs"] = fs

    ids["topic"] = c("sns").create_topic(
        Name=f"pacsguard-{STACK}-alarms", Attributes={"KmsMasterKeyId": ids["key_logs"]}, Tags=tags("logs")
    )["TopicArn"]
    c("secretsmanager").create_secret(
        Name=f"pacsguard-{STACK}-db", KmsKeyId=ids["key_secrets"], SecretString="x", Tags=tags("phi")
    )
    ids["secret"] = f"pacsguard-{STACK}-db"
    # The application role's secret, as the first host fills it (infra/host_filled_secrets.py names it).
    ids["app_secret"] = f"pacsguard-{STACK}/db-app-20261202"
    c("secretsmanager").create_secret(Name=ids["app_secret"], KmsKeyId=ids["key_secrets"], Tags=tags("phi"))
    c("secretsmanager").put_secret_value(SecretId=ids["app_secret"], SecretString='{"username": "orthanc_app"}',
                                         ClientRequestToken="pacsguard-db-app-user-00000000001")  # fmt: skip
    # AWS turns 7-day rotation on for an RDS-managed master secret; moto does not, so the fixture does what AWS does.
    master = rds.describe_db_instances(DBInstanceIdentifier=ids["db"])["DBInstances"][0]["MasterUserSecret"][
        "SecretArn"
    ]
    c("secretsmanager").rotate_secret(
        SecretId=master, RotationRules={"AutomaticallyAfterDays": 7}, RotateImmediately=False
    )
    ids["data_volume"] = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100, VolumeType="gp3", Encrypted=True, KmsKeyId=ids["key_images"],
                                           TagSpecifications=[{"ResourceType": "volume", "Tags": tags("phi")}])["VolumeId"]  # fmt: skip

    trail = c("cloudtrail")
    ids["trail"] = f"pacsguard-{STACK}-trail"
    trail.create_trail(Name=ids["trail"], S3BucketName=ids["bucket_logs"], IsMultiRegionTrail=True, EnableLogFileValidation=True,
                       KmsKeyId=ids["key_logs"], CloudWatchLogsLogGroupArn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/pacsguard/{STACK}/cloudtrail:*",
                       CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/trail")  # fmt: skip
    trail.start_logging(Name=ids["trail"])
    cis_alarms(c, f"/pacsguard/{STACK}/cloudtrail", ids["topic"])
    trail.put_event_selectors(TrailName=ids["trail"], AdvancedEventSelectors=[
        {"Name": "Management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "PHI data", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                                                 {"Field": "resources.ARN", "StartsWith": [f"arn:aws:s3:::{ids['bucket_archive']}/"]}]},
    ])  # fmt: skip

    ids["detector"] = c("guardduty").create_detector(
        Enable=True,
        Features=[
            {"Name": f, "Status": "ENABLED"} for f in ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS")
        ],
    )["DetectorId"]
    config = c("config")
    config.put_configuration_recorder(ConfigurationRecorder={"name": "pacsguard", "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config",
                                                             "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}})  # fmt: skip
    config.put_delivery_channel(DeliveryChannel={"name": "pacsguard", "s3BucketName": ids["bucket_config"]})
    config.start_configuration_recorder(ConfigurationRecorderName="pacsguard")

    backup = c("backup")
    ids["vault"] = f"pacsguard-{STACK}-{REGION}"
    backup.create_backup_vault(
        BackupVaultName=ids["vault"],
        EncryptionKeyArn=ids["key_backups"],
        BackupVaultTags={t["Key"]: t["Value"] for t in tags("phi")},
    )
    backup.put_backup_vault_lock_configuration(
        BackupVaultName=ids["vault"], MinRetentionDays=35, MaxRetentionDays=2192, ChangeableForDays=3
    )
    copy_vault = f"arn:aws:backup:{COPY_REGION}:{ACCOUNT}:backup-vault:pacsguard-{STACK}-{COPY_REGION}"
    plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": f"pacsguard-{STACK}", "Rules": [
        {"RuleName": "daily", "TargetBackupVaultName": ids["vault"], "ScheduleExpression": "cron(0 3 * * ? *)", "Lifecycle": {"DeleteAfterDays": 35},
         "EnableContinuousBackup": True, "CopyActions": [{"DestinationBackupVaultArn": copy_vault, "Lifecycle": {"DeleteAfterDays": 35}}]},
    ]}, BackupPlanTags={t["Key"]: t["Value"] for t in tags("none")})  # fmt: skip
    ids["plan"] = plan["BackupPlanId"]

    acm = c("acm")
    cert = acm.request_certificate(DomainName="pacs.example-hospital.eu", ValidationMethod="DNS")["CertificateArn"]
    elb = c("elbv2")
    alb = elb.create_load_balancer(
        Name=f"pacsguard-{STACK}-web",
        Subnets=subnets,
        SecurityGroups=[hosts_sg],
        Scheme="internet-facing",
        Type="application",
        Tags=tags("none"),
    )["LoadBalancers"][0]
    ids["alb"], ids["alb_arn"] = alb["LoadBalancerName"], alb["LoadBalancerArn"]
    elb.modify_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"], Attributes=[
        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}, {"Key": "access_logs.s3.enabled", "Value": "true"},
        {"Key": "access_logs.s3.bucket", "Value": ids["bucket_accesslogs"]}, {"Key": "deletion_protection.enabled", "Value": "true"},
    ])  # fmt: skip
    tg = elb.create_target_group(Name="hosts", Protocol="HTTPS", Port=443, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    ids["https_listener"] = elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}],
                        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]  # fmt: skip
    elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])  # fmt: skip

    waf = c("wafv2")
    visibility = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}
    rules = [
        {
            "Name": "Rate",
            "Priority": 0,
            "Action": {"Block": {}},
            "Statement": {"RateBasedStatement": {"Limit": 1000, "AggregateKeyType": "IP"}},
            "VisibilityConfig": visibility,
        }
    ]
    for i, group in enumerate(
        ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"), start=1
    ):
        rules.append(
            {
                "Name": group,
                "Priority": i,
                "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}},
                "VisibilityConfig": visibility,
            }
        )
    acl = waf.create_web_acl(
        Name="pacsguard-web", Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=rules, VisibilityConfig=visibility
    )["Summary"]
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=alb["LoadBalancerArn"])
    ids["web_acl"] = acl

    idp = c("cognito-idp")
    pool = idp.create_user_pool(PoolName=f"pacsguard-{STACK}-users", Policies={"PasswordPolicy": {"MinimumLength": 14, "RequireUppercase": True, "RequireLowercase": True, "RequireNumbers": True, "RequireSymbols": True},
                                "SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}}, UserPoolTier="PLUS",
                                AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}, UserPoolTags={t["Key"]: t["Value"] for t in tags("phi", **{"pacsguard:passkeys": "allowed"})})["UserPool"]  # fmt: skip
    idp.set_user_pool_mfa_config(
        UserPoolId=pool["Id"], SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="ON"
    )
    ids["pool"] = pool["Id"]
    identity_beyond_passwords(c, ids)

    c("iam").update_account_password_policy(
        MinimumPasswordLength=14, PasswordReusePrevention=24, RequireSymbols=True, RequireNumbers=True
    )
    return ids


def identity_beyond_passwords(c: Any, ids: dict[str, Any]) -> None:
    """Issue 16: the ALB's client (logoff), a machine client, the break-glass group, sealed secret and alarms."""
    idp, pool = c("cognito-idp"), ids["pool"]
    ids["alb_client"] = f"pacsguard-{STACK}-alb"
    idp.create_user_pool_client(UserPoolId=pool, ClientName=ids["alb_client"], GenerateSecret=True, AllowedOAuthFlows=["code"],
                                AllowedOAuthScopes=["openid"], AllowedOAuthFlowsUserPoolClient=True, AccessTokenValidity=15,
                                IdTokenValidity=15, RefreshTokenValidity=60, TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"},
                                RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 0})  # fmt: skip
    idp.create_user_pool_client(UserPoolId=pool, ClientName=f"pacsguard-{STACK}-machine-router", GenerateSecret=True,
                                AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["pacs/store"], AllowedOAuthFlowsUserPoolClient=True,
                                AccessTokenValidity=15, TokenValidityUnits={"AccessToken": "minutes"})  # fmt: skip
    idp.create_group(GroupName="emergency", UserPoolId=pool)
    c("secretsmanager").create_secret(
        Name=f"pacsguard-{STACK}-break-glass",
        KmsKeyId=ids["key_secrets"],
        Tags=tags("none", **{"pacsguard:purpose": "break-glass"}),
    )
    for metric in ("EmergencyAccessUsed", "BreakGlassCredentialRead"):
        c("cloudwatch").put_metric_alarm(AlarmName=f"pacsguard-{STACK}-{metric}", MetricName=metric, Namespace=f"PACSGuard/{STACK}",
                                         Statistic="Sum", Period=300, EvaluationPeriods=1, Threshold=1,
                                         ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[ids["topic"]])  # fmt: skip
