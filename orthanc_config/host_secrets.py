"""The host's secrets: generated once and kept (local), or fetched at boot from Secrets Manager (AWS).

Nothing here is ever written to a file others can read: the secrets directory is 0700 root.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orthanc_config.profile import ROLES, HostProfile

GATEWAY_USER = "pacsguard-gateway"
# One sample user per role on a local stack; the name says the role.
LOCAL_USERS = {f"{role}1" if role != "admin" else "admin": role for role in ROLES}


class SecretsError(Exception):
    """A secret could not be read or fetched; the message names its source."""


@dataclass(frozen=True)
class HostSecrets:
    db_password: str
    gateway_password: str
    users: dict[str, dict[str, str]]  # name -> {"password", "role"}

    def http_users(self) -> dict[str, str]:
        users = {name: u["password"] for name, u in self.users.items()}
        users[GATEWAY_USER] = self.gateway_password
        return users

    def roles(self) -> dict[str, str]:
        roles = {name: u["role"] for name, u in self.users.items()}
        roles[GATEWAY_USER] = "gateway"
        return roles


def _new_password() -> str:
    return secrets.token_urlsafe(24)


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_password_source(source: str, region: str = "") -> str:
    kind, _, where = source.partition(":")
    if kind == "file":
        try:
            return Path(where).read_text().strip()
        except OSError as exc:
            raise SecretsError(f"cannot read password file {where}: {exc.strerror}") from None
    if kind == "aws-secretsmanager":
        from orthanc_config import aws_api

        try:
            value = aws_api.Client(region).call("secretsmanager", "GetSecretValue", {"SecretId": where})
            return json.loads(value["SecretString"])["password"]
        except (aws_api.AwsError, KeyError, ValueError) as exc:
            raise SecretsError(f"cannot fetch {where}: {exc}") from None
    raise SecretsError(f"unknown password source {source!r}")


def ensure_local_secrets(profile: HostProfile, credentials_file: Path, db_password_file: Path) -> HostSecrets:
    """Create missing secrets, keep existing ones: running `local up` twice changes no password."""
    if not db_password_file.exists():
        _write_private(db_password_file, _new_password() + "\n")
    existing: dict = {}
    if credentials_file.exists():
        existing = json.loads(credentials_file.read_text())
    users = dict(existing.get("users", {}))
    for name, role in LOCAL_USERS.items():
        users.setdefault(name, {"password": _new_password(), "role": role})
    gateway = existing.get("gateway_password") or _new_password()
    _write_private(credentials_file, json.dumps({"users": users, "gateway_password": gateway}, indent=2) + "\n")
    return HostSecrets(read_password_source(profile.database.password_source), gateway, users)


def aws_secrets(profile: HostProfile, gateway_file: Path, say: Callable[[str], None] = print) -> HostSecrets:
    """On EC2: the index password from the RDS-managed secret; only the gateway user exists (identity is the JWT)."""
    if not gateway_file.exists():
        _write_private(gateway_file, _new_password() + "\n")
    password = read_password_source(profile.database.password_source, profile.region)
    if profile.database.app_user:
        from orthanc_config import db_app_user

        try:
            password = db_app_user.ensure(profile, password, say)
        except db_app_user.DatabaseUserError as exc:
            raise SecretsError(str(exc)) from None
    return HostSecrets(password, gateway_file.read_text().strip(), {})
