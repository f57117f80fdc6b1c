"""The index database: encrypted with its own key, isolated, TLS forced, no PHI in its logs."""

from __future__ import annotations

from infra.synth import Synthesis
from tests.infra.graph import INGRESS, stack_key_arns, subnet_ids


def _db(s: Synthesis):
    (db,) = s.of_type("aws:rds/instance:Instance")
    return db


def test_encrypted_with_the_database_key_and_private(stack: Synthesis) -> None:
    db = _db(stack).inputs
    keys = stack_key_arns(stack)
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == keys["database"]
    assert db["publiclyAccessible"] is False
    assert db["performanceInsightsKmsKeyId"] == keys["database"]


def test_master_password_is_managed_by_secrets_manager_with_the_secrets_key(stack: Synthesis) -> None:
    db = _db(stack).inputs
    assert db["manageMasterUserPassword"] is True and "password" not in db
    assert db["masterUserSecretKmsKeyId"] == stack_key_arns(stack)["secrets"]
    assert db["iamDatabaseAuthenticationEnabled"] is True


def test_in_isolated_subnets(stack: Synthesis) -> None:
    (group,) = stack.of_type("aws:rds/subnetGroup:SubnetGroup")
    isolated = subnet_ids(stack, "isolated")
    assert set(group.inputs["subnetIds"]) == isolated


def test_parameter_group_forces_tls_and_keeps_statements_out_of_logs(stack: Synthesis) -> None:
    (pg,) = stack.of_type("aws:rds/parameterGroup:ParameterGroup")
    params = {p["name"]: p["value"] for p in pg.inputs["parameters"]}
    assert params["rds.force_ssl"] == "1"
    assert params.get("log_statement") != "all"
    assert params["log_min_duration_statement"] == "-1"
    assert _db(stack).inputs["parameterGroupName"] == pg.outputs["name"]


def test_reachable_on_5432_only_from_the_hosts_group(stack: Synthesis) -> None:
    rules = [r for r in stack.of_type(INGRESS) if r.inputs["securityGroupId"] == "database-sg-id"]
    assert len(rules) == 1
    rule = rules[0].inputs
    assert (rule["fromPort"], rule["toPort"]) == (5432, 5432)
    assert rule["referencedSecurityGroupId"] == "hosts-sg-id" and not rule.get("cidrIpv4")


def test_log_exports_go_to_encrypted_groups_created_first(stack: Synthesis) -> None:
    db = _db(stack).inputs
    groups = {g.inputs["name"]: g for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for kind in db["enabledCloudwatchLogsExports"]:
        group = groups[f"/aws/rds/instance/{db['identifier']}/{kind}"]
        assert group.inputs["kmsKeyId"] == stack_key_arns(stack)["logs"]
    assert db["autoMinorVersionUpgrade"] is True


def test_prod_protections(prod: Synthesis) -> None:
    db = _db(prod).inputs
    assert db["deletionProtection"] is True
    assert db["backupRetentionPeriod"] >= 35
    assert db["multiAz"] is True
    assert db["skipFinalSnapshot"] is False and db["finalSnapshotIdentifier"]


def test_dev_still_encrypted_but_cheaper(dev: Synthesis) -> None:
    db = _db(dev).inputs
    assert db["storageEncrypted"] is True and db["multiAz"] is False and db["skipFinalSnapshot"] is True
