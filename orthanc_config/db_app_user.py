"""Orthanc's own database role: least privilege, its own password, untouched by the master secret's rotation.

RDS rotates the master user's secret every 7 days; a host that rendered the master password at boot fails at its
next reconnect. So the bootstrap reads the master secret fresh, only to create or update the application role
(login, no superuser, CONNECT/TEMPORARY on the stack's database, USAGE/CREATE on its public schema) with the
password kept in the stack's application secret (created once, by the first host, idempotently), and Orthanc
connects as that role. The master password is never written to the host's disk.

The application secret rotates too, by the hosts themselves: once its current version is older than
`database.app_rotation_days`, the first host whose credentials timer sees it writes a new version (a client request
token derived from the version it replaces, so racing hosts end with one new password; a loser reads the winner's).
Every host follows the secret on that timer (`follow`): sets the role to it (idempotent, under the role lock, so a
rotation that only wrote the secret still takes effect) and restarts Orthanc with it, so its next reconnect (a
failover, a restart) logs in. Why not a Secrets Manager rotation Lambda: it would need its own VPC placement,
network path to the database and use of the secrets key, all of which the hosts already have.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from orthanc_config import aws_api
from orthanc_config.profile import HostProfile

PSQL = "/usr/bin/psql"
FIRST_VERSION_TOKEN = "pacsguard-db-app-user-00000000001"  # noqa: S105 (an idempotency token, not a secret)
ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Two new hosts boot at once: without a lock both see no role and both CREATE it, and the second fails on the
# unique role name. A transaction-scoped advisory lock (this key, shared by every host) makes them take turns.
ROLE_LOCK_KEY = 0x5041435347  # "PACSG"

Say = Callable[[str], None]


class DatabaseUserError(Exception):
    """The application role could not be prepared; the message says which step."""


def _secret(client: aws_api.Client, secret_id: str) -> dict | None:
    try:
        return json.loads(client.call("secretsmanager", "GetSecretValue", {"SecretId": secret_id})["SecretString"])
    except aws_api.AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise DatabaseUserError(f"cannot read {secret_id}: {exc}") from None


def app_password(client: aws_api.Client, secret_id: str, user: str, say: Say) -> str:
    doc = _secret(client, secret_id)
    if doc is None:
        say(f"Database: creating the password of application role {user} in Secrets Manager")
        payload = {
            "SecretId": secret_id,
            "SecretString": json.dumps({"username": user, "password": secrets.token_urlsafe(32)}),
            "ClientRequestToken": FIRST_VERSION_TOKEN,
        }
        try:
            client.call("secretsmanager", "PutSecretValue", payload)
        except aws_api.AwsError as exc:
            if exc.code not in ("ResourceExistsException", "InvalidRequestException"):
                raise DatabaseUserError(f"cannot store the application password in {secret_id}: {exc}") from None
        doc = _secret(client, secret_id)
    if not doc or "password" not in doc:
        raise DatabaseUserError(f"{secret_id} holds no application password")
    return doc["password"]


def rotation_token(version_id: str) -> str:
    """The same for every host rotating the same version away: Secrets Manager keeps the first new version written
    under it and refuses other content (ResourceExistsException). 19 + 40 characters (the API allows 32-64)."""
    return "pacsguard-rotation-" + hashlib.sha256(version_id.encode()).hexdigest()[:40]


def rotate(client: aws_api.Client, secret_id: str, user: str, days: int, say: Say, *, force: bool = False,
           now: float | None = None) -> bool:  # fmt: skip
    """Write a new password version when the current one is `days` old (or `force`). True when the secret moved on
    (this host's version, or a racing host's); the role and Orthanc follow in `follow`."""
    try:
        current = client.call("secretsmanager", "GetSecretValue", {"SecretId": secret_id})
    except aws_api.AwsError as exc:
        raise DatabaseUserError(f"cannot read {secret_id}: {exc}") from None
    age_days = ((time.time() if now is None else now) - float(current["CreatedDate"])) / 86400
    if not force and age_days < days:
        return False
    say(f"Database: rotating the password of {user} (its secret's version is {age_days:.1f} days old)")
    payload = {
        "SecretId": secret_id,
        "SecretString": json.dumps({"username": user, "password": secrets.token_urlsafe(32)}),
        "ClientRequestToken": rotation_token(current["VersionId"]),
    }
    try:
        client.call("secretsmanager", "PutSecretValue", payload)
    except aws_api.AwsError as exc:
        if exc.code != "ResourceExistsException":  # a racing host's version under the same token
            raise DatabaseUserError(f"cannot store the rotated password in {secret_id}: {exc}") from None
        say(f"Database: another host rotated {secret_id} first; following its version")
    return True


def role_sql(user: str, database: str) -> str:
    """Idempotent, and safe when hosts run it at the same moment (one transaction under an advisory lock): run by
    every host at every boot. The password comes in as the psql variable :'pw'."""
    for name, value in (("database.app_user", user), ("database.name", database)):
        if not ROLE_RE.match(value):
            raise DatabaseUserError(f"{name}: {value!r} is not a plain PostgreSQL identifier")
    # Identifiers passed ROLE_RE above; the password is a psql variable, never spliced into the text.
    lines = [
        "BEGIN;",
        f"SELECT pg_advisory_xact_lock({ROLE_LOCK_KEY}) \\g /dev/null",
        f"SELECT format('CREATE ROLE %I LOGIN', '{user}') WHERE NOT EXISTS "  # noqa: S608 (checked identifiers)
        f"(SELECT FROM pg_roles WHERE rolname = '{user}')\\gexec",
        f"ALTER ROLE {user} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw';",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {user};",
        f"GRANT USAGE, CREATE ON SCHEMA public TO {user};",
        "COMMIT;",
    ]
    return "\n".join(lines) + "\n"


def ensure(profile: HostProfile, master_password: str, say: Say) -> str:
    """Create or update the application role with the master credentials; return the role's password."""
    db = profile.database
    client = aws_api.Client(profile.region)
    password = app_password(client, db.app_password_secret, db.app_user, say)
    say(f"Database: preparing application role {db.app_user} (least privilege)")
    env = {
        "PATH": "/usr/bin:/bin",
        "PGPASSWORD": master_password,
        "PGSSLMODE": db.sslmode,
        "PGSSLROOTCERT": db.ca_file,
        "PGCONNECT_TIMEOUT": "10",
    }
    res = subprocess.run(
        [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"pw={password}", "-h", db.host, "-p", str(db.port),
         "-U", db.user, "-d", db.name, "-f", "-"],
        input=role_sql(db.app_user, db.name), capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if res.returncode != 0:
        raise DatabaseUserError(f"cannot prepare role {db.app_user} as {db.user}: {res.stderr.strip()[:300]}")
    return password


def rendered_password(credentials_file: Path) -> str:
    """The password Orthanc was started with (its PostgreSQL connection URI)."""
    uri = json.loads(credentials_file.read_text())["PostgreSQL"]["ConnectionUri"]
    return unquote(urlsplit(uri).password or "")


def _rewrite_uri(credentials_file: Path, uri: str) -> None:
    settings = json.loads(credentials_file.read_text())
    settings["PostgreSQL"]["ConnectionUri"] = uri
    st = credentials_file.stat()
    tmp = credentials_file.with_name(credentials_file.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(settings, indent=2))
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o777)
    os.replace(tmp, credentials_file)  # Orthanc never reads a half-written file


def follow(
    profile: HostProfile, credentials_file: Path, say: Say, restart: Callable[[], None], *, rotate_now: bool = False
) -> bool:
    """The timer's step: rotate the application secret when it is due (or `rotate_now`: an operator's SSM
    session); when it holds another password than Orthanc's, set the role to it and restart Orthanc with it.
    True when Orthanc was given the new password."""
    from orthanc_config.host_secrets import read_password_source
    from orthanc_config.render_orthanc import connection_uri

    db = profile.database
    client = aws_api.Client(profile.region)
    rotate(client, db.app_password_secret, db.app_user, db.app_rotation_days, say, force=rotate_now)
    doc = _secret(client, db.app_password_secret)
    if not doc or "password" not in doc:
        raise DatabaseUserError(f"{db.app_password_secret} holds no application password")
    if doc["password"] == rendered_password(credentials_file):
        return False
    say(f"Database: the password of {db.app_user} was rotated; setting it and restarting Orthanc")
    password = ensure(profile, read_password_source(db.password_source, profile.region), say)
    app = dataclasses.replace(profile, database=dataclasses.replace(db, user=db.app_user))
    _rewrite_uri(credentials_file, connection_uri(app, password))
    restart()
    return True
