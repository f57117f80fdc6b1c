"""The same misconfiguration gives the same verdict at both layers: for every control that judges shared facts
(policies.facts.kinds.judged), the plan facts of the synthesised prod stack broken one way and the cloud facts of
the emulated prod account broken the same way are failed by the one judge with the same message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.synth import Synthesis
from policies.catalog import by_id, controls
from policies.cloud.api import ApiUnavailable, AwsApi
from policies.cloud.context import CloudContext
from policies.graph import PlanGraph
from tests.audit.account import ACCOUNT, REGION, STACK, build
from tests.audit.answer_key import ADMIN_DOC, BREAKS, EMULATOR_LIMITS
from tests.audit.conftest import Clients
from tests.policies.mutations import (
    DELETE,
    Mutation,
    add,
    attach_aws_managed,
    drop,
    edit,
    policy_statements,
    transform,
    urn_of,
)

CloudBreak = Callable[[Clients, dict], Any]


def _answer(name: str) -> CloudBreak:
    return next(b for b in BREAKS if b.name == name).apply


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
}
# Judged controls whose misconfiguration the emulator cannot hold, with the reason.
NOT_ON_EMULATOR = {"ENC-BACKUP-KMS": "moto gives every backup vault a key: no vault on the AWS-managed key exists"}


def _judged() -> set[str]:
    return {c.id for c in controls() if c.cloud is not None and c.cloud.judge is not None}


def test_every_shared_judge_is_tried_on_both_layers() -> None:
    assert {case.split("/")[0] for case in SAME} | set(NOT_ON_EMULATOR) == _judged()


def _failures(outcomes: list) -> set[str]:
    return {o.message for o in outcomes if o.status == "fail"}


@pytest.mark.parametrize("control_id", sorted(SAME))
def test_the_same_misconfiguration_gets_the_same_verdict_on_both_layers(
    control_id: str, prod: Synthesis, clients: Clients, moto: str
) -> None:
    ctl = by_id(control_id.split("/")[0])  # a control may be tried with more than one misconfiguration
    mutation, cloud_break = SAME[control_id]
    good_graph = PlanGraph.from_synthesis(prod)
    ids = build(clients)

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
