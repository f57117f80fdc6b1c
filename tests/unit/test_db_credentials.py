"""The application role's rotated secret reaches Orthanc: the timer that follows it, and the rewrite of Orthanc's
connection URI (the rehearsal proves the whole path against PostgreSQL and Secrets Manager)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from orthanc_config import db_app_user
from orthanc_config.layout import HostLayout
from orthanc_config.profile import Database, HostProfile
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
