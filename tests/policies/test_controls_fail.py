"""Every control with a plan check fails when exactly its property is broken, naming the resource.

A check that cannot fail is a defect: this table must name every control (see the coverage test).
"""

from __future__ import annotations

import pytest

from infra.synth import Synthesis
from policies import host_profile
from policies.catalog import by_id, controls
from policies.evaluate import evaluate
from policies.graph import PlanGraph
from tests.policies.mutations import (
    DELETE,
    add,
    attach_aws_managed,
    chain,
    drop,
    edit,
    policy_statements,
    profile,
    retarget,
    transform,
    urn_of,
    with_regions,
    without_dependency,
    without_order,
)

LT = "hosts-lt"


def _no_sid(sid: str):
    return lambda sts: [s for s in sts if s.get("Sid") != sid]


def _plus(statement: dict):
    return lambda sts: [*sts, statement]


def _route_out_of_isolated(g: PlanGraph) -> PlanGraph:
    table = urn_of(g, "network-isolated-rt")
    return add(
        "aws:ec2/route:Route",
        "rogue-route",
        {"destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"},
        {"routeTableId": [table]},
    )(g)


# control id -> (mutation, resource the failure must name)
MUTATIONS = {
    "ENC-S3-KMS": (
        edit("storage-archive-encryption", **{"rules.0.applyServerSideEncryptionByDefault.sseAlgorithm": "AES256"}),
        "storage-archive",
    ),
    "ENC-S3-TLS": (policy_statements("storage-archive-policy", _no_sid("DenyInsecureTransport")), "storage-archive"),
    "ENC-KMS-ROTATION": (edit("keys-images", enableKeyRotation=False), "keys-images"),
    "ENC-KMS-DELETION-WINDOW": (edit("keys-images", deletionWindowInDays=7), "keys-images"),
    "ENC-KMS-POLICY": (
        policy_statements(
            "keys-secrets",
            _plus(
                {
                    "Sid": "Open",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Decrypt"],
                    "Resource": "*",
                }
            ),
        ),
        "keys-secrets",
    ),
    "ENC-RDS-KMS": (edit("database-index", kmsKeyId=DELETE), "database-index"),
    "ENC-EFS-KMS": (edit("storage-images", kmsKeyId=DELETE), "storage-images"),
    "ENC-EFS-TLS": (policy_statements("storage-images-policy", _no_sid("DenyWithoutTls")), "storage-images"),
    "ENC-EBS-DEFAULT": (edit("ebs-encryption-by-default", enabled=False), "account"),
    "ENC-EBS-VOLUMES": (edit(LT, **{"blockDeviceMappings.0.ebs.encrypted": "false"}), LT),
    "ENC-KMS-KEY-STATE": (edit("keys-images", isEnabled=False), "keys-images"),
    "IAM-SECRET-ROTATION": (edit("database-index", manageMasterUserPassword=False), "database-index"),
    "AUD-RDS-LOGS": (edit("database-index", enabledCloudwatchLogsExports=["upgrade"]), "database-index"),
    "IAM-NO-ADMIN": (
        attach_aws_managed("hosts-role", "AdministratorAccess"),
        "hosts-role",
    ),
    "ENC-LOGS-KMS": (edit("hosts-log-nginx", kmsKeyId=DELETE), "hosts-log-nginx"),
    "ENC-DB-SECRET": (
        edit("database-index", manageMasterUserPassword=False, password="hunter2hunter2"),
        "database-index",
    ),
    "ENC-SECRETS-KMS": (
        add("aws:secretsmanager/secret:Secret", "orthanc-api-secret", {"name": "x"}),
        "orthanc-api-secret",
    ),
    "ENC-SNS-KMS": (edit("alarms-topic", kmsMasterKeyId=DELETE), "alarms-topic"),
    "ENC-LB-TLS": (edit("web-https", sslPolicy="ELBSecurityPolicy-2016-08"), "web-https"),
    "ENC-DB-TLS": (
        transform(
            "database-params",
            lambda i: i.update(parameters=[p for p in i["parameters"] if p["name"] != "rds.force_ssl"]),
        ),
        "database-index",
    ),
    "ENC-BACKUP-KMS": (edit("backups-vault", kmsKeyArn=DELETE), "backups-vault"),
    "ENC-TRAIL-KMS": (edit("trail-trail", kmsKeyId=DELETE), "trail-trail"),
    "NET-S3-PUBLIC": (edit("storage-archive-public-block", blockPublicPolicy=False), "storage-archive"),
    # The group a rule opens is what a finding names, at both layers.
    "NET-SG-WORLD": (edit("web-in-443-0", cidrIpv4="0.0.0.0/0"), "web-sg"),
    "NET-DEFAULT-SG": (
        edit(
            "network-default-sg", ingress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["10.0.0.0/8"]}]
        ),
        "network-default-sg",
    ),
    "NET-HOST-NO-PUBLIC-IP": (edit(LT, **{"networkInterfaces.0.associatePublicIpAddress": "true"}), LT),
    "NET-SUBNET-NO-PUBLIC-IP": (edit("network-public-0", mapPublicIpOnLaunch=True), "network-public-0"),
    "NET-IMDSV2": (edit(LT, **{"metadataOptions.httpTokens": "optional"}), LT),
    "NET-FLOW-LOGS": (edit("network-flow-log", trafficType="REJECT"), "network-vpc"),
    "NET-DB-PRIVATE": (edit("database-index", publiclyAccessible=True), "database-index"),
    "NET-DB-ISOLATED": (_route_out_of_isolated, "database-subnets"),
    "NET-WAF": (drop("waf-alb"), "web-alb"),
    "NET-VPC-ENDPOINTS": (drop("network-kms"), "network-vpc"),
    "NET-HOST-EGRESS": (edit("hosts-egress-endpoints", cidrIpv4="0.0.0.0/0"), "hosts-egress-endpoints"),
    "NET-ALB-HEADERS": (edit("web-alb", dropInvalidHeaderFields=False), "web-alb"),
    "IAM-NO-WILDCARD-ACTIONS": (
        policy_statements(
            "hosts-least-privilege",
            _plus({"Sid": "Lazy", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::x"]}),
        ),
        "hosts-least-privilege",
    ),
    "IAM-SCOPED-RESOURCES": (
        policy_statements(
            "hosts-least-privilege",
            _plus({"Sid": "Broad", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}),
        ),
        "hosts-least-privilege",
    ),
    "IAM-ROLE-ARNS": (
        policy_statements(
            "hosts-least-privilege",
            _plus(
                {
                    "Sid": "AnyAccount",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": ["arn:aws:kms:eu-central-1:*:key/x"],
                }
            ),
        ),
        "hosts-least-privilege",
    ),
    "IAM-NO-STATIC-KEYS": (add("aws:iam/accessKey:AccessKey", "ci-key", {"user": "ci"}), "ci-key"),
    "IAM-MFA": (edit("identity-users", mfaConfiguration="OPTIONAL"), "identity-users"),
    "IAM-PASSWORDS": (edit("identity-users", **{"passwordPolicy.minimumLength": 8}), "identity-users"),
    "IAM-SESSION-TIMEOUT": (
        edit("web-https", **{"defaultActions.0.authenticateCognito.sessionTimeout": 604800}),
        "web-https",
    ),
    "IAM-WEB-AUTH": (
        transform(
            "web-https", lambda i: i.update(defaultActions=[a for a in i["defaultActions"] if a["type"] == "forward"])
        ),
        "web-https",
    ),
    "AUD-CLOUDTRAIL": (edit("trail-trail", isMultiRegionTrail=False), "trail-trail"),
    "AUD-PHI-DATA-EVENTS": (
        chain(
            transform("trail-trail", lambda i: i.update(advancedEventSelectors=i["advancedEventSelectors"][:1])),
            without_dependency("trail-trail", "advancedEventSelectors", "storage-archive"),
        ),
        "storage-archive",
    ),
    "AUD-S3-ACCESS-LOGS": (drop("storage-archive-access-logging"), "storage-archive"),
    "AUD-ALB-LOGS": (edit("web-alb", **{"accessLogs.enabled": False}), "web-alb"),
    "AUD-LOG-RETENTION": (edit("hosts-log-host", retentionInDays=30), "hosts-log-host"),
    "AUD-ALARMS": (drop("alarms-RootAccountUse"), "RootAccountUse"),
    "AUD-GUARDDUTY": (drop("detection-guardduty-rds_login_events"), "detection-guardduty"),
    "AUD-CONFIG": (
        edit("detection-config-recorder", **{"recordingGroup.allSupported": False}),
        "detection-config-recorder",
    ),
    "INT-S3-VERSIONING": (
        edit("storage-archive-versioning", **{"versioningConfiguration.status": "Suspended"}),
        "storage-archive",
    ),
    "INT-LOG-OBJECT-LOCK": (
        edit("storage-logs-object-lock", **{"rule.defaultRetention.mode": "GOVERNANCE"}),
        "storage-logs",
    ),
    "INT-PHI-OBJECT-LOCK": (drop("storage-archive-object-lock"), "storage-archive"),
    "INT-DB-DELETION-PROTECTION": (edit("database-index", deletionProtection=False), "database-index"),
    "INT-PROD-DELETION-PROTECTION": (edit("dicom-nlb", enableDeletionProtection=False), "dicom-nlb"),
    "INT-PROTECT": (transform("storage-images", lambda _i: None, protect=False), "storage-images"),
    "BAK-COVERAGE": (without_dependency("backups-phi", "resources", "storage-images"), "storage-images"),
    "BAK-PITR": (edit("database-index", backupRetentionPeriod=7), "database-index"),
    "BAK-OFFSITE": (
        transform("backups-plan", lambda i: [r.pop("copyActions", None) for r in i["rules"]]),
        "backups-plan",
    ),
    "BAK-VAULT-LOCK": (drop("backups-vault-lock"), "backups-vault"),
    "BAK-RESTORE-TESTING": (drop("backups-restore-test-efs"), "backups-restore-test"),
    "BAK-DB-MULTI-AZ": (edit("database-index", multiAz=False), "database-index"),
    "PACS-DICOM-EXPOSURE": (edit("hosts-sg-dicom-0", cidrIpv4="0.0.0.0/0"), "hosts-sg-dicom-0"),
    "PACS-DICOM-TLS": ({"DicomPort": 2762}, LT),
    "PACS-AE-ALLOWLIST": ({"DicomAlwaysAllowStore": True}, LT),
    "PACS-HTTP-AUTH": (profile(LT, jwt_signer=""), LT),
    "PACS-NO-DEFAULT-CREDENTIALS": (profile(LT, identity="basic+jwt"), LT),
    "PACS-DANGEROUS-FEATURES": ({"WebDavEnabled": True}, LT),
    "PACS-ATNA-AUDIT": (drop("hosts-log-orthanc-audit"), LT),
    "PACS-DATA-RESIDENCY": (with_regions(["eu-central-1"]), "eu-west-1"),
    # Deployability: each mutation is a change AWS rejects (or that deploys a PACS nobody can use).
    "DEP-CERT-ISSUED": (retarget("web-https", "certificateArn", "web-certificate"), "web-https"),
    "DEP-RDS-VERSION": (edit("database-index", engineVersion="16.4"), "database-index"),
    "DEP-SLR-BEFORE-KEY": (drop("keys-autoscaling-service-role"), "keys-images"),
    "DEP-S3-LOG-DESTINATION": (edit("storage-accesslogs", objectLockEnabled=True), "storage-accesslogs"),
    "DEP-ALB-LOG-DESTINATION": (retarget("web-alb", "accessLogs", "storage-logs"), "storage-logs"),
    "DEP-CONFIG-DESTINATION": (edit("storage-config", objectLockEnabled=True), "detection-config-delivery-channel"),
    "DEP-ORDER-S3-LOGGING": (
        without_order("storage-archive-access-logging", "storage-accesslogs-policy"),
        "storage-archive-access-logging",
    ),
    "DEP-ORDER-ALB-LOGS": (without_order("web-alb", "storage-accesslogs-policy"), "web-alb"),
    "DEP-ORDER-TRAIL": (without_order("trail-trail", "trail-to-logs-write"), "trail-to-logs-write"),
    "DEP-ORDER-FLOW-LOGS": (without_order("network-flow-log", "network-flow-logs-write"), "network-flow-logs-write"),
    "DEP-ORDER-CONFIG": (
        without_order("detection-config-delivery-channel", "storage-config-policy"),
        "detection-config-delivery-channel",
    ),
    "DEP-COGNITO-SCOPES": (
        edit("web-https", **{"defaultActions.0.authenticateCognito.scope": "openid email"}),
        "web-https",
    ),
    "DEP-COGNITO-DOMAIN": (edit("identity-domain", domain="pacsguard-prod-login"), "identity-domain"),
    "DEP-COGNITO-REFRESH-ROTATION": (
        edit("identity-alb-client", explicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]),
        "identity-alb-client",
    ),
    "DEP-ALB-IDP-EGRESS": (drop("web-to-idp"), "web-alb"),
    "DEP-HEALTH-CHECK-SOURCES": (profile(LT, lb_cidrs=[]), "dicom-nlb"),
    "DEP-HOSPITAL-ROUTES": (drop("network-hospital-0-0"), "network-private-rt-0"),
    "DEP-CMOVE-EGRESS": (drop("hosts-egress-move-0"), "READING_WS1"),
    "DEP-BACKUP-COPY-KEY": (
        policy_statements(
            "keys-backups",
            lambda sts: [
                {
                    **st,
                    "Condition": {
                        **st.get("Condition", {}),
                        "StringEquals": {
                            **st.get("Condition", {}).get("StringEquals", {}),
                            "kms:ViaService": ["backup.eu-central-1.amazonaws.com"],
                        },
                    },
                }
                if "kms:ViaService" in st.get("Condition", {}).get("StringEquals", {})
                else st
                for st in sts
            ],
        ),
        "keys-backups",
    ),
    "DEP-OBJECT-LOCK-CHECKSUM": (edit("hosts-bundle", checksumAlgorithm=DELETE), "hosts-bundle"),
    "DEP-CONFIG-RULES-APPLY": (
        add(
            "aws:cfg/rule:Rule",
            "inline-check",
            {"source": {"owner": "AWS", "sourceIdentifier": "IAM_NO_INLINE_POLICY_CHECK"}},
        ),
        "inline-check",
    ),
    "DEP-API-ENUMS": (edit("web-certificate", keyAlgorithm="EC_prime256"), "web-certificate"),
    "IAM-MACHINE-TOKENS": (
        add(
            "aws:cognito/userPoolClient:UserPoolClient",
            "leaky-machine",
            {"allowedOauthFlows": ["client_credentials"], "allowedOauthScopes": ["pacs/read", "pacs/store"]},
        ),
        "leaky-machine",
    ),
    "IAM-AUTO-LOGOFF": (edit("identity-alb-client", refreshTokenRotation=DELETE), "identity-alb-client"),
    "IAM-EMERGENCY-ACCESS": (drop("alarms-EmergencyAccessUsed-alarm"), "EmergencyAccessUsed"),
    # Passkeys declared as a first factor before they count as MFA: AWS refuses the pool on the first deploy.
    "IAM-PASSKEYS": (
        edit("identity-users", **{"signInPolicy.allowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}),
        "identity-users",
    ),
}
# Where one mistake is, by nature, two findings (a world-open DICOM rule is also a world-open rule).
ALSO_FAILS = {
    # A password the program does not hand to Secrets Manager is also one nothing rotates.
    "ENC-DB-SECRET": {"IAM-SECRET-ROTATION"},
    "IAM-SECRET-ROTATION": {"ENC-DB-SECRET"},
    "PACS-DICOM-EXPOSURE": {"NET-SG-WORLD"},
    # Logging the ALB to another bucket also skips waiting for that bucket's policy.
    "DEP-ALB-LOG-DESTINATION": {"DEP-ORDER-ALB-LOGS"},
}


@pytest.fixture(scope="module")
def prod_graph(prod: Synthesis) -> PlanGraph:
    return PlanGraph.from_synthesis(prod)


def test_every_control_with_a_plan_check_has_a_breaking_test() -> None:
    assert set(MUTATIONS) == {c.id for c in controls() if c.plan is not None}


def test_catalog_is_large_enough_and_well_formed() -> None:
    assert len(controls()) >= 40
    for c in controls():
        if c.family == "deployability":  # AWS's own constraints: each cites the AWS page it comes from
            assert c.citations.aws and all(u.startswith("https://docs.aws.amazon.com/") for u in c.citations.aws), c.id
        else:
            assert c.citations.hipaa or c.citations.gdpr, c.id
        assert c.rationale and c.remediation and c.layers, c.id
    assert len([c for c in controls() if c.family == "deployability"]) >= 12


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_shipped_stacks_pass_every_plan_check(stack_name: str, dev: Synthesis, prod: Synthesis) -> None:
    graph = PlanGraph.from_synthesis({"dev": dev, "prod": prod}[stack_name])
    bad = [f for f in evaluate(graph) if f.status in ("fail", "error")]
    assert bad == []


@pytest.mark.parametrize("control_id", sorted(MUTATIONS))
def test_breaking_the_property_fails_exactly_that_control(
    control_id: str, prod_graph: PlanGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutation, resource = MUTATIONS[control_id]
    graph = prod_graph
    if isinstance(mutation, dict):
        # Host controls guard the renderer: make it render the broken option, as a regression would.
        real = host_profile.orthanc_settings
        monkeypatch.setattr(host_profile, "orthanc_settings", lambda p, paths: {**real(p, paths), **mutation})
    else:
        graph = mutation(prod_graph)
    findings = evaluate(graph)
    failed = {f.control for f in findings if f.status in ("fail", "error")}
    assert failed == {control_id} | ALSO_FAILS.get(control_id, set())
    mine = [f for f in findings if f.control == control_id and f.status == "fail"]
    assert any(resource in (f.resource + " " + f.message) for f in mine), mine
    assert mine[0].severity == by_id(control_id).severity


@pytest.mark.parametrize(
    ("resource", "path", "value"),
    [
        ("detection-guardduty", "findingPublishingFrequency", "EVERY_MINUTE"),
        ("web-https", "protocol", "HTTPS2"),
        ("alarms-RootAccountUse-alarm", "comparisonOperator", "GreaterOrEqual"),
        (LT, "blockDeviceMappings.0.ebs.volumeType", "gp4"),
        (
            "waf-acl",
            "rules.5.statement.andStatement.statements.1.notStatement.statement.andStatement.statements.0"
            ".byteMatchStatement.positionalConstraint",
            "BEGINS_WITH",
        ),
    ],
)
def test_values_outside_the_botocore_models_fail_dep_api_enums(
    prod_graph: PlanGraph, resource: str, path: str, value: str
) -> None:
    graph = edit(resource, **{path: value})(prod_graph)
    failing = [f for f in evaluate(graph) if f.control == "DEP-API-ENUMS" and f.status == "fail"]
    assert failing and failing[0].resource == resource and value in failing[0].message


def _statuses(graph: PlanGraph, control_id: str) -> set[str]:
    return {f.status for f in evaluate(graph) if f.control == control_id}


def test_openid_profile_keeps_custom_attributes_so_the_scope_rule_accepts_it(prod_graph: PlanGraph) -> None:
    graph = chain(
        edit("web-https", **{"defaultActions.0.authenticateCognito.scope": "openid profile"}),
        edit("identity-alb-client", allowedOauthScopes=["openid", "profile"]),
    )(prod_graph)
    assert _statuses(graph, "DEP-COGNITO-SCOPES") == {"pass"}


def test_elb_logging_rule_evaluates_albs_so_the_config_rules_rule_accepts_it(prod_graph: PlanGraph) -> None:
    graph = add(
        "aws:cfg/rule:Rule", "alb-logging", {"source": {"owner": "AWS", "sourceIdentifier": "ELB_LOGGING_ENABLED"}}
    )(prod_graph)
    assert "fail" not in _statuses(graph, "DEP-CONFIG-RULES-APPLY")


def test_an_in_region_plan_beside_one_that_copies_off_site_fails_bak_offsite(prod_graph: PlanGraph) -> None:
    # As in the account (issue 17): one plan's copy does not protect what another plan backs up.
    graph = add("aws:backup/plan:Plan", "in-region", {"rules": [{"ruleName": "daily", "targetVaultName": "v"}]})(
        prod_graph
    )
    verdicts = {f.resource: f.status for f in evaluate(graph) if f.control == "BAK-OFFSITE"}
    assert verdicts == {"backups-plan": "pass", "in-region": "fail"}
