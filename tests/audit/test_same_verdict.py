"""The same misconfiguration gives the same verdict at both layers: for every control that judges shared facts
(policies.facts.kinds.judged), the plan facts of the synthesised prod stack broken one way and the cloud facts of
the emulated prod account broken the same way are failed by the one judge with the same message."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from infra.synth import Synthesis
from policies.catalog import by_id, controls
from policies.cloud.api import ApiUnavailable, AwsApi, _snake
from policies.cloud.context import CloudContext
from policies.graph import PlanGraph
from tests.audit.account import ACCOUNT, REGION, STACK
from tests.audit.answer_key import ADMIN_DOC, BREAKS, EMULATOR_LIMITS, IDENTITY_BREAKS
from tests.audit.conftest import Clients
from tests.policies.mutations import (
    DELETE,
    Mutation,
    _rebuild,
    add,
    attach_aws_managed,
    chain,
    drop,
    edit,
    policy_statements,
    transform,
    urn_of,
)

CloudBreak = Callable[[Clients, dict], Any]


def _answer(name: str) -> CloudBreak:
    return next(b for b in (*BREAKS, *IDENTITY_BREAKS) if b.name == name).apply


def _without_dependency_on(name: str, prop: str, target: str, fn: Callable[[dict[str, Any]], None]) -> Mutation:
    """Change resource `name`'s inputs with fn and drop its `prop` dependency on `target` (the reference goes too)."""

    def apply(g: PlanGraph) -> PlanGraph:
        gone = urn_of(g, target)
        out = []
        for r in transform(name, fn)(g).resources:
            if r.name == name:
                deps = {
                    **r.property_dependencies,
                    prop: [u for u in r.property_dependencies.get(prop, []) if u != gone],
                }
                r = dataclasses.replace(r, property_dependencies=deps)
            out.append(r)
        return _rebuild(g, out)

    return apply


def _world_rule_on(group: str) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        rule = {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}
        return add(INGRESS, "hosts-https-world", rule, {"securityGroupId": [urn_of(g, group)]})(g)

    return apply


def _rds_login_events_off(c: Clients, ids: dict) -> None:
    """moto's UpdateDetector replaces the feature list (AWS updates the named ones): name all three."""
    states = {"S3_DATA_EVENTS": "ENABLED", "EBS_MALWARE_PROTECTION": "ENABLED", "RDS_LOGIN_EVENTS": "DISABLED"}
    features = [{"Name": name, "Status": status} for name, status in states.items()]
    c("guardduty").update_detector(DetectorId=ids["detector"], Features=features)


MANAGEMENT_ONLY = [
    {"name": "Management events", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}
]


def _no_sid(sid: str) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        owner = {"DenyInsecureTransport": "storage-archive-policy", "DenyWithoutTls": "storage-images-policy"}[sid]
        return policy_statements(owner, lambda sts: [s for s in sts if s.get("Sid") != sid])(g)

    return apply


def _database_group_open_to(cidr: str) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        group = urn_of(g, "database-sg")
        rule = {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": cidr}
        return add(INGRESS, "database-wide", rule, {"securityGroupId": [group]})(g)

    return apply


def _customer_managed_admin_policy_on(role: str) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        g = add("aws:iam/policy:Policy", "ops-everything", {"policy": ADMIN_DOC})(g)
        deps = {"role": [urn_of(g, role)], "policyArn": [urn_of(g, "ops-everything")]}
        return add("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ops-everything-attachment", {}, deps)(g)

    return apply


INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KMS_STAR = {"Sid": "Everything", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*", "Resource": "*"}  # fmt: skip

# control id[/case] -> (the misconfiguration in the program, the same misconfiguration in the account)
SAME: dict[str, tuple[Mutation, CloudBreak]] = {
    "ENC-S3-KMS": (
        edit("storage-archive-encryption", **{"rules.0.applyServerSideEncryptionByDefault.sseAlgorithm": "AES256"}),
        _answer("archive bucket switched to SSE-S3"),
    ),
    "ENC-S3-TLS": (_no_sid("DenyInsecureTransport"), _answer("archive policy replaced without the TLS deny")),
    "ENC-KMS-ROTATION": (
        edit("keys-images", enableKeyRotation=False),
        _answer("rotation turned off on the images key"),
    ),
    "ENC-KMS-POLICY": (
        policy_statements("keys-secrets", lambda sts: [*sts, KMS_STAR]),
        _answer("secrets key policy opened to kms:*"),
    ),
    "ENC-RDS-KMS": (edit("database-index", storageEncrypted=False), _answer("a second, unencrypted database")),
    "ENC-EFS-KMS": (edit("storage-images", encrypted=False), _answer("a second, unencrypted file system")),
    "ENC-EFS-TLS": (_no_sid("DenyWithoutTls"), _answer("file system policy without the TLS deny")),
    "ENC-EBS-DEFAULT": (
        edit("ebs-encryption-by-default", enabled=False),
        _answer("EBS encryption by default turned off"),
    ),
    "ENC-EBS-VOLUMES": (
        edit("hosts-lt", **{"blockDeviceMappings.0.ebs.encrypted": "false"}),
        _answer("unencrypted EBS data volume"),
    ),
    "ENC-LOGS-KMS": (edit("hosts-log-nginx", kmsKeyId=DELETE), _answer("log group without a key")),
    "ENC-SECRETS-KMS": (
        add("aws:secretsmanager/secret:Secret", "plain-secret", {"name": "plain-secret"}),
        _answer("secret on the AWS-managed key"),
    ),
    "ENC-SNS-KMS": (edit("alarms-topic", kmsMasterKeyId=DELETE), _answer("unencrypted alarm topic")),
    "ENC-LB-TLS": (
        edit("web-https", sslPolicy="ELBSecurityPolicy-2016-08"),
        _answer("HTTPS listener on the 2016 TLS policy"),
    ),
    "ENC-DB-TLS": (
        transform(
            "database-params",
            lambda i: i.update(
                parameters=[{**p, "value": "0"} if p["name"] == "rds.force_ssl" else p for p in i["parameters"]]
            ),
        ),
        _answer("rds.force_ssl set to 0"),
    ),
    "ENC-TRAIL-KMS": (edit("trail-trail", kmsKeyId=DELETE), _answer("a second trail without a key")),
    "NET-S3-PUBLIC": (
        edit("storage-archive-public-block", blockPublicPolicy=False),
        _answer("archive public access block loosened"),
    ),
    "NET-DB-PRIVATE": (_database_group_open_to("10.0.0.0/8"), _answer("database group opened to 10.0.0.0/8")),
    "NET-ALB-HEADERS": (edit("web-alb", dropInvalidHeaderFields=False), _answer("invalid headers passed on")),
    "AUD-LOG-RETENTION": (edit("hosts-log-host", retentionInDays=30), _answer("host logs kept 30 days")),
    "INT-S3-VERSIONING": (
        edit("storage-archive-versioning", **{"versioningConfiguration.status": "Suspended"}),
        _answer("archive versioning suspended"),
    ),
    "INT-LOG-OBJECT-LOCK": (
        edit("storage-logs-object-lock", **{"rule.defaultRetention.mode": "GOVERNANCE"}),
        _answer("log bucket lock in governance mode"),
    ),
    "INT-DB-DELETION-PROTECTION": (
        edit("database-index", deletionProtection=False),
        _answer("database deletion protection off"),
    ),
    "BAK-DB-MULTI-AZ": (edit("database-index", multiAz=False), _answer("database made single-AZ")),
    "ENC-KMS-KEY-STATE": (
        edit("keys-images", isEnabled=False),
        lambda c, i: c("kms").disable_key(KeyId=i["key_images_id"]),
    ),
    "IAM-SECRET-ROTATION": (
        add("aws:rds/instance:Instance", "plain-index", {"password": "p-not-used-1"}),
        _answer("a second, unencrypted database"),
    ),
    "IAM-NO-ADMIN": (
        attach_aws_managed("hosts-role", "AdministratorAccess"),
        _answer("role with AdministratorAccess"),
    ),
    "IAM-NO-ADMIN/inline": (
        lambda g: add(
            "aws:iam/rolePolicy:RolePolicy", "everything", {"policy": ADMIN_DOC}, {"role": [urn_of(g, "hosts-role")]}
        )(g),
        _answer("role with an inline *:* policy"),
    ),
    "NET-HOST-NO-PUBLIC-IP": (
        edit("hosts-lt", **{"networkInterfaces.0.associatePublicIpAddress": "true"}),
        _answer("launch template with a public IP and IMDSv1"),
    ),
    "NET-IMDSV2": (
        edit("hosts-lt", **{"metadataOptions.httpTokens": "optional"}),
        _answer("launch template with a public IP and IMDSv1"),
    ),
    "AUD-S3-ACCESS-LOGS": (drop("storage-archive-access-logging"), _answer("archive access logging off")),
    "AUD-ALB-LOGS": (edit("web-alb", **{"accessLogs.enabled": False}), _answer("ALB access logs off")),
    "BAK-VAULT-LOCK": (drop("backups-vault-lock"), _answer("backup vault unlocked")),
    "IAM-MFA": (edit("identity-users", mfaConfiguration="OFF"), _answer("user pool MFA turned off")),
    "IAM-PASSWORDS": (
        edit("identity-users", **{"passwordPolicy.minimumLength": 8}),
        _answer("user pool passwords of 8 characters"),
    ),
    "BAK-PITR": (edit("database-index", backupRetentionPeriod=7), _answer("database backups kept 7 days")),
    "BAK-OFFSITE": (
        transform("backups-plan", lambda i: [r.pop("copyActions", None) for r in i["rules"]]),
        _answer("a backup plan that never leaves the region, beside one that does"),
    ),
    "NET-FLOW-LOGS": (drop("network-flow-log"), _answer("flow logs deleted")),
    "NET-WAF": (drop("waf-alb"), _answer("WAF detached from the load balancer")),
    "IAM-NO-ADMIN/customer-managed": (
        _customer_managed_admin_policy_on("hosts-role"),
        _answer("role with a customer-managed *:* policy"),
    ),
    "AUD-RDS-LOGS": (
        edit("database-index", enabledCloudwatchLogsExports=[]),
        _answer("database log export turned off"),
    ),
    "NET-SG-WORLD": (_world_rule_on("hosts-sg"), _answer("HTTPS opened to the internet on the hosts' group")),
    "NET-DEFAULT-SG": (
        edit(
            "network-default-sg",
            ingress=[{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}],
        ),
        _answer("SSH rule on the default group"),
    ),
    "AUD-CLOUDTRAIL": (edit("trail-trail", isMultiRegionTrail=False), _answer("trail made single-region")),
    "AUD-PHI-DATA-EVENTS": (
        _without_dependency_on(
            "trail-trail",
            "advancedEventSelectors",
            "storage-archive",
            lambda i: i.update(advancedEventSelectors=MANAGEMENT_ONLY),
        ),
        _answer("PHI data events no longer recorded"),
    ),
    "AUD-GUARDDUTY": (
        edit("detection-guardduty-rds_login_events", status="DISABLED"),
        _rds_login_events_off,
    ),
    "AUD-CONFIG": (edit("detection-config-recording", isEnabled=False), _answer("AWS Config recorder stopped")),
    "IAM-MACHINE-TOKENS": (
        add(
            "aws:cognito/userPoolClient:UserPoolClient",
            "leaky-machine",
            {"allowedOauthFlows": ["client_credentials"], "allowedOauthScopes": ["pacs/read", "pacs/store"]},
        ),
        _answer("a machine client given every PACS scope"),
    ),
    # The account has no listener signing users in: its clients are held to 60 minutes; the program's is made so.
    "IAM-AUTO-LOGOFF": (
        chain(
            edit("web-https", **{"defaultActions.0.authenticateCognito.sessionTimeout": 3600}),
            edit("identity-alb-client", accessTokenValidity=1, **{"tokenValidityUnits.accessToken": "days"}),
        ),
        _answer("the ALB's access tokens made to last a day"),
    ),
    "IAM-EMERGENCY-ACCESS": (drop("alarms-EmergencyAccessUsed-alarm"), _answer("the emergency-access alarm deleted")),
}
# Judged controls whose misconfiguration the emulator cannot hold, with the reason.
NOT_ON_EMULATOR = {"ENC-BACKUP-KMS": "moto gives every backup vault a key: no vault on the AWS-managed key exists"}

# Where moto lacks the API (backup selections) or never returns the setting (a pool's WebAuthn configuration), the
# cloud side's answers for that one service are AWS-shaped responses through botocore's Stubber, which validates
# them against the service model; every other service the collector reads is the emulated account's.
PLAN_ID = "0b1c2d3e-1111-2222-3333-444455556666"
POOL_ID = f"{REGION}_AbCdEf123"
Answers = list[tuple[str, dict[str, Any]]]  # (operation, response) in the order the collector asks


def _backup_answers(selected: list[str]) -> Answers:
    plan_arn = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:{PLAN_ID}"
    plan = {"BackupPlanArn": plan_arn, "BackupPlanId": PLAN_ID}
    rule = {"RuleName": "daily", "TargetBackupVaultName": f"pacsguard-{STACK}-{REGION}"}
    selection = {"SelectionName": "phi", "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/backups", "Resources": selected}
    return [
        ("ListBackupPlans", {"BackupPlansList": [{**plan, "BackupPlanName": "pacsguard-prod"}]}),
        ("ListTags", {"Tags": {"pacsguard:stack": STACK}}),
        ("GetBackupPlan", {**plan, "BackupPlan": {"BackupPlanName": "pacsguard-prod", "Rules": [rule]}}),
        ("ListBackupSelections", {"BackupSelectionsList": [{"SelectionId": "phi", "BackupPlanId": PLAN_ID}]}),
        ("GetBackupSelection", {"BackupSelection": selection, "SelectionId": "phi", "BackupPlanId": PLAN_ID}),
    ]


def _pool_answers(user_verification: str) -> Answers:
    pool = {
        "Id": POOL_ID,
        "Name": "pacsguard-prod-users",
        "UserPoolTags": {"pacsguard:stack": STACK, "pacsguard:passkeys": "allowed"},
        "MfaConfiguration": "ON",
        "UserPoolTier": "PLUS",
        "Policies": {"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}},
    }
    webauthn = {
        "RelyingPartyId": "login.pacs.example-hospital.eu",
        "UserVerification": user_verification,
        "FactorConfiguration": "MULTI_FACTOR_WITH_USER_VERIFICATION",
    }
    return [
        ("ListUserPools", {"UserPools": [{"Id": POOL_ID, "Name": "pacsguard-prod-users"}]}),
        ("DescribeUserPool", {"UserPool": pool}),
        ("GetUserPoolMfaConfig", {"MfaConfiguration": "ON", "WebAuthnConfiguration": webauthn}),
    ]


ALB_CLIENT_ID = "1example23456789alb0client"


def _session_answers(tracking: str, reuse: int) -> Answers:
    """A pool whose ALB client signs users in: its session tracking, then the client's SSO-session reuse."""
    pool = {"Id": POOL_ID, "Name": "pacsguard-prod-users", "UserPoolTags": {"pacsguard:stack": STACK}}
    client = {
        "UserPoolId": POOL_ID,
        "ClientId": ALB_CLIENT_ID,
        "ClientName": "pacsguard-prod-alb",
        "AllowedOAuthFlows": ["code"],
        "AccessTokenValidity": 15,
        "IdTokenValidity": 15,
        "RefreshTokenValidity": 60,
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"},
        "RefreshTokenRotation": {"Feature": "ENABLED", "RetryGracePeriodSeconds": 0},
    }
    answers: Answers = [
        ("ListUserPools", {"UserPools": [{"Id": POOL_ID, "Name": "pacsguard-prod-users"}]}),
        ("DescribeUserPool", {"UserPool": pool}),
        (
            "GetUserPoolSessionConfiguration",
            {"UserPoolId": POOL_ID, "UserSessionTracking": tracking, "TokenSession": {"MaxPerUser": 20}},
        ),
        ("ListUserPoolClients", {"UserPoolClients": [{"ClientId": ALB_CLIENT_ID, "UserPoolId": POOL_ID}]}),
        ("DescribeUserPoolClient", {"UserPoolClient": client}),
    ]
    sso = {"UserPoolId": POOL_ID, "ClientId": ALB_CLIENT_ID, "SSOSession": {"MaxValidityMinutes": reuse}}
    return [*answers, ("GetUserPoolClientSessionConfiguration", sso)]


ALL_SELECTED = ["arn:aws:rds:*", "arn:aws:elasticfilesystem:*", "arn:aws:ec2:*:*:volume/*"]
# control id -> (the misconfiguration in the program, service, the account's answers when good, when broken)
STUBBED_SAME: dict[str, tuple[Mutation, str, Answers, Answers]] = {
    "BAK-COVERAGE": (
        _without_dependency_on(
            "backups-phi", "resources", "database-index", lambda i: i.update(resources=i["resources"][1:])
        ),
        "backup",
        _backup_answers(ALL_SELECTED),
        _backup_answers(ALL_SELECTED[1:]),
    ),
    "IAM-PASSKEYS": (
        edit("identity-users", **{"webAuthnConfiguration.userVerification": "preferred"}),
        "cognito-idp",
        _pool_answers("required"),
        _pool_answers("preferred"),
    ),
    # moto has no session-configuration operations. Its account has no listener signing users in (60 minutes then):
    # the program's is made so, and Cognito's own session reused for longer, or not limited (tracking off).
    "IAM-AUTO-LOGOFF/sso-reuse": (
        chain(
            edit("web-https", **{"defaultActions.0.authenticateCognito.sessionTimeout": 3600}),
            edit("identity-login-session", sso_reuse_minutes=120),
        ),
        "cognito-idp",
        _session_answers("ENABLED", 0),
        _session_answers("ENABLED", 120),
    ),
    "IAM-AUTO-LOGOFF/no-tracking": (
        chain(
            edit("web-https", **{"defaultActions.0.authenticateCognito.sessionTimeout": 3600}),
            edit("identity-login-session", tracking="DISABLED"),
        ),
        "cognito-idp",
        _session_answers("ENABLED", 0),
        _session_answers("DISABLED", 0),
    ),
}


def _judged() -> set[str]:
    return {c.id for c in controls() if c.cloud is not None and c.cloud.judge is not None}


def test_every_shared_judge_is_tried_on_both_layers() -> None:
    tried = {case.split("/")[0] for case in (*SAME, *STUBBED_SAME)} | set(NOT_ON_EMULATOR)
    assert tried == _judged()


def _failures(outcomes: list) -> set[str]:
    return {o.message for o in outcomes if o.status == "fail"}


@pytest.mark.parametrize("control_id", sorted(SAME))
def test_the_same_misconfiguration_gets_the_same_verdict_on_both_layers(
    control_id: str, prod: Synthesis, clients: Clients, moto: str, account: dict
) -> None:
    ctl = by_id(control_id.split("/")[0])  # a control may be tried with more than one misconfiguration
    mutation, cloud_break = SAME[control_id]
    good_graph = PlanGraph.from_synthesis(prod)
    ids = account

    def cloud() -> set[str] | None:
        cx = CloudContext(AwsApi(region=REGION, endpoint_url=moto, account_id=ACCOUNT), STACK, "prod")
        try:
            return _failures(ctl.cloud.check(cx))
        except ApiUnavailable:
            assert control_id in EMULATOR_LIMITS, f"{control_id}: the emulator cannot answer"
            return None  # the good state is out of the emulator's reach (EMULATOR_LIMITS); the broken one is not

    assert _failures(ctl.plan.check(good_graph)) == set()
    assert cloud() in (set(), None)
    cloud_break(clients, ids)
    plan_verdict = _failures(ctl.plan.check(mutation(good_graph)))
    assert plan_verdict, f"{control_id}: the program's misconfiguration passed the plan"
    assert plan_verdict == cloud(), f"{control_id}: the layers disagree on the same misconfiguration"


def _stubbed_context(moto: str, service: str, answers: Answers) -> tuple[CloudContext, Stubber]:
    api = AwsApi(region=REGION, endpoint_url=moto, account_id=ACCOUNT)
    stubber = Stubber(api.client(service))  # AwsApi keeps this client: the collector's calls reach the stubber
    for operation, response in answers:
        stubber.add_response(_snake(operation), response)
    stubber.activate()
    return CloudContext(api, STACK, "prod"), stubber


@pytest.mark.parametrize("control_id", sorted(STUBBED_SAME))
def test_the_same_misconfiguration_gets_the_same_verdict_with_aws_shaped_answers(
    control_id: str, prod: Synthesis, moto: str, account: dict
) -> None:
    ctl = by_id(control_id.split("/")[0])
    mutation, service, good, broken = STUBBED_SAME[control_id]
    good_graph = PlanGraph.from_synthesis(prod)

    def cloud(answers: Answers) -> set[str]:
        cx, stubber = _stubbed_context(moto, service, answers)
        verdict = _failures(ctl.cloud.check(cx))
        stubber.assert_no_pending_responses()  # every answer was asked for: the collector read what it was given
        return verdict

    assert _failures(ctl.plan.check(good_graph)) == set()
    assert cloud(good) == set()
    plan_verdict = _failures(ctl.plan.check(mutation(good_graph)))
    assert plan_verdict, f"{control_id}: the program's misconfiguration passed the plan"
    assert plan_verdict == cloud(broken), f"{control_id}: the layers disagree on the same misconfiguration"
