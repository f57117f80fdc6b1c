"""Least privilege: no wildcard actions anywhere; resources name the stack's own ARNs."""

from __future__ import annotations

import json

import pytest

from infra.policy_doc import statement
from infra.synth import Synthesis
from tests.infra.graph import KEY, as_list, statements

# AWS offers no resource-level permission for these; "*" is the only choice.
RESOURCE_WILDCARD_ALLOWED = {"SsmSessionChannels"}


def _role_policies(s: Synthesis):
    return [(r.name, json.loads(r.inputs["policy"])) for r in s.of_type("aws:iam/rolePolicy:RolePolicy")]


def test_no_wildcard_actions_in_any_policy(stack: Synthesis) -> None:
    docs = _role_policies(stack) + [(k.name, json.loads(k.inputs["policy"])) for k in stack.of_type(KEY)]
    for name, doc in docs:
        for st in statements(doc):
            if st["Effect"] != "Allow":
                continue
            for action in as_list(st["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{name}/{st.get('Sid')}: {action}"


def test_role_policies_scope_resources_to_stack_arns(stack: Synthesis) -> None:
    for name, doc in _role_policies(stack):
        for st in statements(doc):
            resources = as_list(st["Resource"])
            if st["Sid"] in RESOURCE_WILDCARD_ALLOWED:
                continue
            for res in resources:
                assert res != "*", f"{name}/{st['Sid']}"
                assert res.startswith("arn:aws:"), f"{name}/{st['Sid']}: {res}"


def test_host_role_names_its_own_log_groups_secret_keys_and_file_system(stack: Synthesis) -> None:
    (doc,) = [d for n, d in _role_policies(stack) if n == "hosts-least-privilege"]
    by_sid = {st["Sid"]: st for st in statements(doc)}
    logs = as_list(by_sid["WriteOwnLogs"]["Resource"])
    assert logs and all(f"log-group:/pacsguard/{stack.stack}/" in r for r in logs)
    assert as_list(by_sid["ReadDatabaseSecret"]["Resource"])[0].startswith("arn:aws:secretsmanager:")
    assert as_list(by_sid["DecryptOwnSecrets"]["Resource"]) == [
        k.outputs["arn"] for k in stack.of_type(KEY) if k.inputs["tags"]["pacsguard:key"] == "secrets"
    ]
    fs = by_sid["MountImageStoreThroughAccessPoint"]
    assert "elasticfilesystem:AccessPointArn" in fs["Condition"]["StringEquals"]


def test_hosts_move_the_staging_labels_of_the_application_secret_only(stack: Synthesis) -> None:
    """The rotation stages a password as AWSPENDING and makes it AWSCURRENT once the role has it
    (UpdateSecretVersionStage); hosts may do that on the database application secret and on no other secret."""
    (doc,) = [d for n, d in _role_policies(stack) if n == "hosts-least-privilege"]
    secrets = {
        r.outputs["arn"]: r.inputs.get("namePrefix", r.name)
        for r in stack.of_type("aws:secretsmanager/secret:Secret")
        if "arn" in r.outputs
    }
    granted = [
        res
        for st in statements(doc)
        if "secretsmanager:UpdateSecretVersionStage" in as_list(st["Action"])
        for res in as_list(st["Resource"])
    ]
    assert granted and all(secrets.get(res, "").split("/")[-1] == "db-app-" for res in granted), granted
    filled = [st for st in statements(doc) if st["Sid"] == "HostFilledSecrets"]
    assert {secrets.get(res, "").split("/")[-1] for res in as_list(filled[0]["Resource"])} == {"stack-ca-", "db-app-"}


def test_statement_helper_refuses_wildcard_actions() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        statement("Bad", ["s3:*"], ["arn:aws:s3:::x"])


def test_one_rotating_key_per_data_class(stack: Synthesis) -> None:
    keys = [k for k in stack.of_type(KEY) if k.inputs["tags"]["pacsguard:region"] == stack.settings.region]
    assert sorted(k.inputs["tags"]["pacsguard:key"] for k in keys) == [
        "backups",
        "database",
        "images",
        "logs",
        "secrets",
    ]
    for k in keys:
        assert k.inputs["enableKeyRotation"] is True and k.inputs["deletionWindowInDays"] == 30
    aliases = {a.inputs["name"] for a in stack.of_type("aws:kms/alias:Alias")}
    assert len(aliases) == 5 and all(a.startswith("alias/pacsguard-") for a in aliases)


def test_key_policies_separate_administration_from_use(stack: Synthesis) -> None:
    for key in stack.of_type(KEY):
        sts = statements(json.loads(key.inputs["policy"]))
        admin = next(st for st in sts if st["Sid"] == "KeyAdministration")
        assert "kms:Decrypt" not in admin["Action"] and "kms:Encrypt" not in admin["Action"]
        use = next(st for st in sts if st["Sid"] == "UseThroughStackServices")
        assert use["Condition"]["StringEquals"]["kms:ViaService"], key.name
        for st in sts:
            assert st.get("Principal") not in ("*", {"AWS": "*"}), f"{key.name}/{st['Sid']}"
