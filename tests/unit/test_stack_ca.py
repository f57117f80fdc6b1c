"""One CA per stack (defect 4): created once even when hosts race, modality certificates issued once, never
replaced by a later host; the application role's password likewise (defect 7). Against the moto server."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from cryptography import x509

from orthanc_config import aws_api, db_app_user, pki, stack_ca

CREDS = aws_api.Credentials("testing", "testing")


@pytest.fixture
def secret(moto_endpoint: str, request: pytest.FixtureRequest) -> tuple[aws_api.Client, str]:
    sm = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=moto_endpoint,
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    name = f"pacsguard-test/{request.node.name[:40]}"
    sm.create_secret(Name=name)  # as Pulumi creates it: no value yet
    return aws_api.Client("eu-west-1", endpoint=moto_endpoint, credentials=CREDS), name


def test_a_second_host_reuses_the_ca_and_the_modality_certificates(secret, tmp_path: Path) -> None:
    client, name = secret
    first = stack_ca.load_or_create(client, name, "CA", print)
    with stack_ca.CaKey(first, _write(tmp_path / "ca.crt", first["ca_cert"]), tmp_path / "w") as ca:
        first = stack_ca.issue_modalities(client, name, first, ca, ["CT_DEV"], 30, print)
    second = stack_ca.load_or_create(client, name, "CA", print)
    with stack_ca.CaKey(second, tmp_path / "ca.crt", tmp_path / "w") as ca:
        second = stack_ca.issue_modalities(client, name, second, ca, ["CT_DEV", "WS_2"], 30, print)
    assert second["ca_cert"] == first["ca_cert"]
    assert second["modalities"]["CT_DEV"] == first["modalities"]["CT_DEV"]  # never reissued
    leaf = x509.load_pem_x509_certificate(second["modalities"]["WS_2"]["cert"].encode())
    assert leaf.issuer == pki.load_cert(tmp_path / "ca.crt").subject
    assert not (tmp_path / "w" / ".stack-ca.key").exists()  # the CA key existed for the issuance only


def test_two_hosts_creating_the_ca_at_once_end_with_one(secret, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both saw an empty secret; the second PutSecretValue (same token, other content) loses and reads the first."""
    client, name = secret
    winner = stack_ca._new_ca("CA")
    stack_ca._put(client, name, winner, stack_ca.FIRST_VERSION_TOKEN)
    real_read, reads = stack_ca._read, []

    def read_empty_first(c: aws_api.Client, s: str) -> dict | None:
        reads.append(s)
        return None if len(reads) == 1 else real_read(c, s)  # this host looked before the winner wrote

    monkeypatch.setattr(stack_ca, "_read", read_empty_first)
    assert stack_ca.load_or_create(client, name, "CA", print)["ca_cert"] == winner["ca_cert"]


def test_the_application_password_is_created_once(secret) -> None:
    client, name = secret
    one = db_app_user.app_password(client, name, "orthanc_app", print)
    assert db_app_user.app_password(client, name, "orthanc_app", print) == one


def test_role_sql_refuses_identifiers_that_are_not_plain() -> None:
    with pytest.raises(db_app_user.DatabaseUserError, match=r"database\.app_user"):
        db_app_user.role_sql("app; DROP TABLE x", "orthanc")
    assert ":'pw'" in db_app_user.role_sql("orthanc_app", "orthanc")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
