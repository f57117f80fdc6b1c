"""Orthanc's own database role: least privilege, its own password, untouched by the master secret's rotation.

RDS rotates the master user's secret every 7 days; a host that rendered the master password at boot fails at its
next reconnect. So the bootstrap reads the master secret fresh, only to create or update the application role
(login, no superuser, CONNECT/TEMPORARY on the stack's database, USAGE/CREATE on its public schema) with the
password kept in the stack's application secret (created once, by the first host, idempotently), and Orthanc
connects as that role. The master password is never written to the host's disk.

The application secret rotates too, by the hosts themselves, in the steps AWS's rotation functions take (create,
set, test, finish): once the AWSCURRENT version is older than `database.app_rotation_days`, the first host whose
credentials timer sees it stages a new password as AWSPENDING (a client request token derived from the version it
replaces, so racing hosts stage one password; a loser reads the winner's), sets the role to it under the role lock,
logs in with it, and only then moves AWSCURRENT to it. Until that move the working password stays AWSCURRENT, so a
rotation that stops half-way (database down, master secret mid-rotation) leaves every host, new ones included, with a
password that works; the next host to see AWSPENDING != AWSCURRENT finishes the move (or abandons a pending version
that does not replace the current one). Every host follows AWSCURRENT on that timer (`follow`): sets the role to it
(idempotent) and restarts Orthanc with it, so its next reconnect (a failover, a restart) logs in. Why not a Secrets
Manager rotation Lambda: it would need its own VPC placement, network path to the database and use of the secrets
key, all of which the hosts already have.
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
from orthanc_config.profile import Database, HostProfile

PSQL = "/usr/bin/psql"
FIRST_VERSION_TOKEN = "pacsguard-db-app-user-00000000001"  # noqa: S105 (an idempotency token, not a secret)
ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Two new hosts boot at once: without a lock both see no role and both CREATE it, and the second fails on the
# unique role name. A transaction-scoped advisory lock (this key, shared by every host) makes them take turns.
ROLE_LOCK_KEY = 0x5041435347  # "PACSG"

Say = Callable[[str], None]


class DatabaseUserError(Exception):
    """The application role could not be prepared; the message says which step."""


CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"


def _version(client: aws_api.Client, secret_id: str, stage: str) -> dict | None:
    """The version carrying `stage`, or None when no version does (always asked by stage: AWSCURRENT is the one the
    role must have, AWSPENDING a rotation under way)."""
    try:
        return client.call("secretsmanager", "GetSecretValue", {"SecretId": secret_id, "VersionStage": stage})
    except aws_api.AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise DatabaseUserError(f"cannot read {secret_id} ({stage}): {exc.code or 'error'}: {exc}") from None


def _secret(client: aws_api.Client, secret_id: str) -> dict | None:
    current = _version(client, secret_id, CURRENT)
    return None if current is None else json.loads(current["SecretString"])


def _password_of(version: dict, secret_id: str) -> str:
    doc = json.loads(version["SecretString"])
    if "password" not in doc:
        raise DatabaseUserError(f"{secret_id} version {version['VersionId']} holds no application password")
    return doc["password"]


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
            # Only ResourceExistsException is a racing host's first version (same token, other content); any other
            # refusal (a secret scheduled for deletion, a KMS key disabled...) is reported as what it is.
            if exc.code != "ResourceExistsException":
                raise DatabaseUserError(
                    f"cannot store the application password in {secret_id}: {exc.code or 'error'}: {exc}"
                ) from None
        doc = _secret(client, secret_id)
    if not doc or "password" not in doc:
        raise DatabaseUserError(f"{secret_id} holds no application password")
    return doc["password"]


def rotation_token(version_id: str) -> str:
    """The same for every host rotating the same version away: Secrets Manager keeps the first new version written
    under it and refuses other content (ResourceExistsException). 19 + 40 characters (the API allows 32-64)."""
    return "pacsguard-rotation-" + hashlib.sha256(version_id.encode()).hexdigest()[:40]


def _move_stage(client: aws_api.Client, secret_id: str, stage: str, *, to: str = "", away: str = "") -> None:
    payload = {"SecretId": secret_id, "VersionStage": stage}
    if to:
        payload["MoveToVersionId"] = to
    if away:
        payload["RemoveFromVersionId"] = away
    client.call("secretsmanager", "UpdateSecretVersionStage", payload)


def rotate(client: aws_api.Client, secret_id: str, user: str, days: int, say: Say, *, force: bool = False,
           now: float | None = None) -> bool:  # fmt: skip
    """Stage a new password as AWSPENDING when the current version is `days` old (or `force`). True when a rotation
    of the current version is pending (this host's version, or a racing host's); `finish` sets and moves it."""
    current = _version(client, secret_id, CURRENT)
    if current is None:
        raise DatabaseUserError(f"{secret_id} holds no current version to rotate")
    age_days = ((time.time() if now is None else now) - float(current["CreatedDate"])) / 86400
    if not force and age_days < days:
        return False
    token = rotation_token(current["VersionId"])
    pending = _version(client, secret_id, PENDING)
    if pending is not None and pending["VersionId"] == token:
        return True  # staged already (by this host or another); `finish` has yet to make it current
    say(f"Database: rotating the password of {user} (its secret's version is {age_days:.1f} days old)")
    payload = {
        "SecretId": secret_id,
        "SecretString": json.dumps({"username": user, "password": secrets.token_urlsafe(32)}),
        "ClientRequestToken": token,
        "VersionStages": [PENDING],  # AWSCURRENT moves only once the role has the password (`finish`)
    }
    try:
        client.call("secretsmanager", "PutSecretValue", payload)
    except aws_api.AwsError as exc:
        if exc.code != "ResourceExistsException":
            raise DatabaseUserError(
                f"cannot stage the rotated password in {secret_id}: {exc.code or 'error'}: {exc}"
            ) from None
        # A racing host's version under the same token: it must be the pending one, or already current.
        staged = {
            v["VersionId"] for v in (_version(client, secret_id, PENDING), _version(client, secret_id, CURRENT)) if v
        }
        if token not in staged:
            raise DatabaseUserError(
                f"{secret_id}: version {token} exists but is neither AWSPENDING nor AWSCURRENT; rotate again later"
            ) from None
        say(f"Database: another host rotated {secret_id} first; following its version")
    return True


def finish(client: aws_api.Client, secret_id: str, say: Say, set_role: Callable[[str], None]) -> bool:
    """Finish a rotation under way: set the role to the AWSPENDING password and log in with it (`set_role` raises
    otherwise), then move AWSCURRENT to it. A pending version that does not replace the current one (a leftover) is
    abandoned. True when AWSCURRENT moved."""
    pending = _version(client, secret_id, PENDING)
    if pending is None:
        return False
    current = _version(client, secret_id, CURRENT)
    pending_id = pending["VersionId"]
    if current is not None and current["VersionId"] == pending_id:  # moved; the label was left behind
        _drop_pending(client, secret_id, pending_id)
        return False
    if current is None or pending_id != rotation_token(current["VersionId"]):
        say(f"Database: abandoning the pending version {pending_id} of {secret_id}: not a rotation of the current one")
        _drop_pending(client, secret_id, pending_id)
        return False
    set_role(_password_of(pending, secret_id))
    try:
        _move_stage(client, secret_id, CURRENT, to=pending_id, away=current["VersionId"])
    except aws_api.AwsError as exc:
        moved = _version(client, secret_id, CURRENT)
        if moved is None or moved["VersionId"] != pending_id:  # not a racing host finishing first
            raise DatabaseUserError(f"cannot make the rotated password of {secret_id} current: {exc}") from None
    _drop_pending(client, secret_id, pending_id)
    say(f"Database: the rotated password of {secret_id} is set, tested and now AWSCURRENT")
    return True


def _drop_pending(client: aws_api.Client, secret_id: str, version_id: str) -> None:
    """AWSPENDING stays only while a rotation is under way. A racing host may have dropped it first."""
    try:
        _move_stage(client, secret_id, PENDING, away=version_id)
    except aws_api.AwsError as exc:
        left = _version(client, secret_id, PENDING)
        if left is not None and left["VersionId"] == version_id:
            raise DatabaseUserError(f"cannot clear AWSPENDING of {secret_id}: {exc}") from None


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


def _psql(db: Database, user: str, password: str, sql: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PGPASSWORD": password,
        "PGSSLMODE": db.sslmode,
        "PGSSLROOTCERT": db.ca_file,
        "PGCONNECT_TIMEOUT": "10",
    }
    return subprocess.run(
        [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", *(a for k, v in variables.items() for a in ("-v", f"{k}={v}")),
         "-h", db.host, "-p", str(db.port), "-U", user, "-d", db.name, "-f", "-"],
        input=sql, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def ensure(profile: HostProfile, master_password: str, say: Say) -> str:
    """Finish a rotation under way, then create or update the application role with the master credentials to
    AWSCURRENT's password; return that password."""
    db = profile.database
    client = aws_api.Client(profile.region)

    def set_role(password: str) -> None:
        say(f"Database: preparing application role {db.app_user} (least privilege)")
        res = _psql(db, db.user, master_password, role_sql(db.app_user, db.name), pw=password)
        if res.returncode != 0:
            raise DatabaseUserError(f"cannot prepare role {db.app_user} as {db.user}: {res.stderr.strip()[:300]}")

    def set_and_test(password: str) -> None:
        set_role(password)
        res = _psql(db, db.app_user, password, "SELECT 1;\n")
        if res.returncode != 0:
            raise DatabaseUserError(f"{db.app_user} cannot log in with its new password: {res.stderr.strip()[:300]}")

    try:
        finish(client, db.app_password_secret, say, set_and_test)
    except DatabaseUserError as exc:
        # AWSCURRENT still works: a rotation that cannot finish must not stop a host from booting on it. `follow`
        # reports the rotation left pending.
        say(f"Database: the pending rotation of {db.app_password_secret} cannot finish, keeping AWSCURRENT: {exc}")
    password = app_password(client, db.app_password_secret, db.app_user, say)
    set_role(password)
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
    pending = _version(client, db.app_password_secret, PENDING)
    doc = _secret(client, db.app_password_secret)
    if not doc or "password" not in doc:
        raise DatabaseUserError(f"{db.app_password_secret} holds no application password")
    if pending is None and doc["password"] == rendered_password(credentials_file):
        return False
    # A rotation under way (this host's, or one another host left half-way) is finished by `ensure`, which then
    # sets the role to AWSCURRENT's password.
    password = ensure(profile, read_password_source(db.password_source, profile.region), say)
    restarted = password != rendered_password(credentials_file)
    if restarted:
        say(f"Database: the password of {db.app_user} was rotated; restarting Orthanc with it")
        app = dataclasses.replace(profile, database=dataclasses.replace(db, user=db.app_user))
        _rewrite_uri(credentials_file, connection_uri(app, password))
        restart()
    left = _version(client, db.app_password_secret, PENDING)
    if left is not None and left["VersionId"] != (_version(client, db.app_password_secret, CURRENT) or {}).get(
        "VersionId"
    ):
        raise DatabaseUserError(
            f"the rotation of {db.app_password_secret} is still pending (see above); retried next run"
        )
    return restarted
