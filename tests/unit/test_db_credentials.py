"""The application role's secret rotates and reaches Orthanc: the timer that rotates it when due and follows it,
and the rewrite of Orthanc's connection URI (the rehearsal proves the whole path against PostgreSQL and Secrets
Manager)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import boto3
import pytest

from orthanc_config import aws_api, db_app_user
from orthanc_config.layout import HostLayout
from orthanc_config.profile import Database, HostProfile, ProfileError
from orthanc_config.render_orthanc import connection_uri
from orthanc_config.systemd_units import DB_CREDENTIALS_TIMER, render_units

SECRET = "aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-x"


def _profile(app_user: str) -> HostProfile:
    return HostProfile(name="h", mode="aws", database=Database(password_source=SECRET, app_user=app_user))


def test_hosts_with_an_application_role_follow_its_secret_every_minute() -> None:
    units = {Path(u.path).name: u.content for u in render_units(HostLayout(_profile("orthanc_app")))}
    assert "OnUnitActiveSec=60s" in units[DB_CREDENTIALS_TIMER]
    assert "db-credentials --profile" in units["pacsguard-db-credentials.service"]
    assert not [u for u in render_units(HostLayout(_profile(""))) if DB_CREDENTIALS_TIMER in u.path]


def test_the_rewritten_uri_carries_the_new_password_and_keeps_the_file_private(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    profile = _profile("orthanc_app")
    settings = {"RegisteredUsers": {}, "PostgreSQL": {"ConnectionUri": connection_uri(profile, "old")}}
    creds.write_text(json.dumps(settings))
    creds.chmod(0o640)
    db_app_user._rewrite_uri(creds, connection_uri(profile, "n3w/p@ss"))
    assert db_app_user.rendered_password(creds) == "n3w/p@ss"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o640
    assert "RegisteredUsers" in json.loads(creds.read_text())


@pytest.fixture
def app_secret(moto_endpoint: str, request: pytest.FixtureRequest) -> tuple[aws_api.Client, str, object]:
    sm = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=moto_endpoint,
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    name = f"pacsguard-test/{request.node.name[:40]}"
    sm.create_secret(Name=name)  # as Pulumi creates it: no value yet; the first host writes the first password
    client = aws_api.Client("eu-west-1", endpoint=moto_endpoint, credentials=aws_api.Credentials("testing", "t"))
    db_app_user.app_password(client, name, "orthanc_app", print)
    return client, name, sm


def _password(sm, name: str) -> str:
    return json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]


def test_the_application_secret_is_rotated_once_it_is_due_and_not_before(app_secret) -> None:
    """Issue 12, defect 7: nothing ever rotated the application role's secret (the timer only followed a rotation
    someone else would have to make). A host's timer rotates it once its version is `app_rotation_days` old."""
    client, name, sm = app_secret
    first = _password(sm, name)
    assert not db_app_user.rotate(client, name, "orthanc_app", 30, print, now=time.time() + 29 * 86400)
    assert _password(sm, name) == first
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, now=time.time() + 30 * 86400 + 60)
    second = _password(sm, name)
    assert second != first and json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["username"] == (
        "orthanc_app"
    )
    assert not db_app_user.rotate(client, name, "orthanc_app", 30, print)  # the new version is fresh
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, force=True)  # an operator's --rotate-now
    assert _password(sm, name) not in (first, second)


def test_two_hosts_rotating_at_once_end_with_one_new_password(app_secret, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both hosts saw the same due version; the second one's new version loses (same token, other content) and
    the secret keeps the first one's password: no host is left with a password the role does not have."""
    client, name, sm = app_secret
    stale = client.call("secretsmanager", "GetSecretValue", {"SecretId": name})
    later = time.time() + 31 * 86400
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, now=later)  # the first host
    winner = _password(sm, name)
    real_call = client.call

    def saw_the_old_version(service: str, action: str, payload: dict) -> dict:
        return stale if action == "GetSecretValue" else real_call(service, action, payload)

    monkeypatch.setattr(client, "call", saw_the_old_version)
    said: list[str] = []
    assert db_app_user.rotate(client, name, "orthanc_app", 30, said.append, now=later)  # the second host
    assert any("another host rotated" in m for m in said), said
    assert _password(sm, name) == winner
    assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 2


def test_the_rotation_period_is_a_checked_profile_field() -> None:
    assert Database().app_rotation_days == 30
    with pytest.raises(ProfileError, match=r"database\.app_rotation_days"):
        Database(app_rotation_days=0)
