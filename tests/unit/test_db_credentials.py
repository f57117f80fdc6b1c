"""The application role's secret rotates and reaches Orthanc: the timer that rotates it when due and follows it,
and the rewrite of Orthanc's connection URI (the rehearsal proves the whole path against PostgreSQL and Secrets
Manager)."""

from __future__ import annotations

import json
import stat
import subprocess
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
    # After a rotation each host restarts Orthanc once: at its own random moment, not all in the same second.
    assert "RandomizedDelaySec=30s" in units[DB_CREDENTIALS_TIMER]
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


def _password(sm, name: str, stage: str = "AWSCURRENT") -> str:
    return json.loads(sm.get_secret_value(SecretId=name, VersionStage=stage)["SecretString"])["password"]


def _stages(sm, name: str) -> dict[str, list[str]]:
    return {v["VersionId"]: sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}


class RoleSetter:
    """What `ensure` does with the master credentials (ALTER ROLE, then a login with the new password); it raises
    when the database refuses, as `ensure` does."""

    def __init__(self, fails: bool = False) -> None:
        self.fails, self.passwords = fails, []

    def __call__(self, password: str) -> None:
        if self.fails:
            raise db_app_user.DatabaseUserError("cannot prepare role orthanc_app as orthanc_admin: connection refused")
        self.passwords.append(password)


def test_the_application_secret_is_rotated_once_it_is_due_and_not_before(app_secret) -> None:
    """Issue 12, defect 7: nothing ever rotated the application role's secret (the timer only followed a rotation
    someone else would have to make). A host's timer rotates it once its version is `app_rotation_days` old."""
    client, name, sm = app_secret
    first = _password(sm, name)
    assert not db_app_user.rotate(client, name, "orthanc_app", 30, print, now=time.time() + 29 * 86400)
    assert not db_app_user.finish(client, name, print, RoleSetter())
    assert _password(sm, name) == first
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, now=time.time() + 30 * 86400 + 60)
    assert db_app_user.finish(client, name, print, RoleSetter())
    second = _password(sm, name)
    assert (
        second != first
        and json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])["username"]
        == "orthanc_app"
    )
    assert not db_app_user.rotate(client, name, "orthanc_app", 30, print)  # the new version is fresh
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, force=True)  # an operator's --rotate-now
    assert db_app_user.finish(client, name, print, RoleSetter())
    assert _password(sm, name) not in (first, second)


def test_a_rotation_makes_the_new_password_current_only_once_the_role_has_it(app_secret) -> None:
    """Review of 1f1a45f: the new password became AWSCURRENT before the role had it, so while ALTER ROLE kept failing
    (database down, master secret mid-rotation) new hosts booted with a password the database refused and the
    working one was only AWSPREVIOUS. Now it is staged as AWSPENDING; AWSCURRENT moves after the role took it."""
    client, name, sm = app_secret
    first = _password(sm, name)
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, force=True)
    assert _password(sm, name) == first  # what every host, a booting one too, reads: still the working password
    staged = _password(sm, name, "AWSPENDING")
    assert staged != first
    down = RoleSetter(fails=True)
    with pytest.raises(db_app_user.DatabaseUserError, match="connection refused"):
        db_app_user.finish(client, name, print, down)
    assert _password(sm, name) == first and _password(sm, name, "AWSPENDING") == staged
    other_host = RoleSetter()  # any host that finds AWSPENDING != AWSCURRENT finishes the move
    assert db_app_user.finish(client, name, print, other_host)
    assert other_host.passwords == [staged]
    assert _password(sm, name) == staged and _password(sm, name, "AWSPREVIOUS") == first
    assert not any("AWSPENDING" in stages for stages in _stages(sm, name).values())  # no rotation under way
    assert not db_app_user.finish(client, name, print, RoleSetter())


def test_a_host_boots_on_awscurrent_while_a_rotation_cannot_finish(app_secret, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pending password the database will not take (here: the login with it fails) must not stop a new host from
    booting: it prepares the role with AWSCURRENT, the working password, and the rotation stays pending."""
    client, name, sm = app_secret
    first = _password(sm, name)
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, force=True)
    monkeypatch.setattr(db_app_user.aws_api, "Client", lambda region: client)
    roles: list[str] = []

    def psql(db, user: str, password: str, sql: str, **variables: str):
        if user == "orthanc_app":  # the login with the new password
            return subprocess.CompletedProcess([], 2, "", "FATAL: password authentication failed")
        roles.append(variables["pw"])
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(db_app_user, "_psql", psql)
    db = Database(password_source=SECRET, app_user="orthanc_app", app_password_secret=name)
    profile = HostProfile(name="h", mode="aws", region="eu-west-1", database=db)
    said: list[str] = []
    assert db_app_user.ensure(profile, "master", said.append) == first
    assert roles[-1] == first and _password(sm, name) == first
    assert _password(sm, name, "AWSPENDING") != first  # still pending, for the next timer run
    assert any("cannot finish" in m and "password authentication failed" in m for m in said), said


def test_a_pending_version_that_does_not_replace_the_current_one_is_abandoned(app_secret) -> None:
    client, name, sm = app_secret
    first = _password(sm, name)
    stray = json.dumps({"username": "orthanc_app", "password": "stray"})
    sm.put_secret_value(SecretId=name, SecretString=stray, ClientRequestToken="someone-else-" + "0" * 22,
                        VersionStages=["AWSPENDING"])  # fmt: skip
    said: list[str] = []
    role = RoleSetter()
    assert not db_app_user.finish(client, name, said.append, role)
    assert role.passwords == [] and _password(sm, name) == first
    assert any("abandoning" in m for m in said), said
    assert not any("AWSPENDING" in stages for stages in _stages(sm, name).values())


def test_two_hosts_rotating_at_once_end_with_one_new_password(app_secret, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both hosts saw the same due version; the second one's new version loses (same token, other content) and
    the secret keeps the first one's password: no host is left with a password the role does not have."""
    client, name, sm = app_secret
    stale = client.call("secretsmanager", "GetSecretValue", {"SecretId": name, "VersionStage": "AWSCURRENT"})
    later = time.time() + 31 * 86400
    assert db_app_user.rotate(client, name, "orthanc_app", 30, print, now=later)  # the first host
    assert db_app_user.finish(client, name, print, RoleSetter())
    winner = _password(sm, name)
    real_call = client.call
    reads = []

    def saw_the_old_version(service: str, action: str, payload: dict) -> dict:
        if action == "GetSecretValue" and not reads:  # its first read came before the first host's rotation
            reads.append(payload)
            return stale
        return real_call(service, action, payload)

    monkeypatch.setattr(client, "call", saw_the_old_version)
    said: list[str] = []
    assert db_app_user.rotate(client, name, "orthanc_app", 30, said.append, now=later)  # the second host
    assert any("another host rotated" in m for m in said), said
    assert not db_app_user.finish(client, name, print, RoleSetter())
    assert _password(sm, name) == winner
    assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 2


@pytest.mark.parametrize("action", ["PutSecretValue", "rotate"])
def test_a_refused_write_is_reported_as_what_it_is_not_as_a_race(action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review of 1f1a45f: InvalidRequestException (e.g. a secret scheduled for deletion) was read as "another host
    wrote first": the host said nothing true and never wrote. Only ResourceExistsException is a lost race."""
    client = aws_api.Client("eu-west-1", endpoint="http://127.0.0.1:9", credentials=aws_api.Credentials("a", "b"))
    deleted = "You can't perform this operation on the secret because it was marked for deletion."
    version = {"VersionId": "v1", "CreatedDate": 0, "SecretString": json.dumps({"password": "p"})}

    def secrets_manager(service: str, call: str, payload: dict) -> dict:
        if call == "PutSecretValue":
            raise aws_api.AwsError(deleted, "InvalidRequestException")
        if action == "PutSecretValue":  # the first host: no version yet
            raise aws_api.AwsError("Secrets Manager can't find the specified secret value", "ResourceNotFoundException")
        return version

    monkeypatch.setattr(client, "call", secrets_manager)
    with pytest.raises(db_app_user.DatabaseUserError, match=r"InvalidRequestException.*marked for deletion"):
        if action == "PutSecretValue":
            db_app_user.app_password(client, "db-app", "orthanc_app", print)
        else:
            db_app_user.rotate(client, "db-app", "orthanc_app", 30, print, force=True)


def test_the_rotation_period_is_a_checked_profile_field() -> None:
    assert Database().app_rotation_days == 30
    with pytest.raises(ProfileError, match=r"database\.app_rotation_days"):
        Database(app_rotation_days=0)
