"""The database application secret really rotates (issue 12). The hosts rotate it themselves every
`database.app_rotation_days` (orthanc_config/db_app_user.py), not Secrets Manager's rotation: RotationEnabled and
LastRotatedDate stay empty, so IAM-SECRET-ROTATION (the RDS master secret) and Config's
secretsmanager-rotation-enabled-check cannot tell a rotating secret from a forgotten one. What can: how old the
AWSCURRENT version is, as Config's secretsmanager-secret-periodic-rotation judges ("maximum number of days a secret
can remain unchanged"). A plan cannot know a version's age: cloud only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from orthanc_config.profile import Database
from policies.cloud.collect import audit_services
from policies.model import Outcome, outcome

# infra/host_filled_secrets.py: name_prefix f"{ctx.prefix}/db-app-"
APP_SECRET_MARK = "/db-app-"  # noqa: S105 (a name fragment, not a secret)
ROTATION_DAYS = Database().app_rotation_days  # the period every host of a stack uses (README: not a stack setting)
# Hosts rotate only while one runs, and check every minute: a day covers a fleet stopped overnight for maintenance.
SLACK_DAYS = 1


def app_secret_age(cx: Any, now: dt.datetime | None = None) -> list[Outcome]:
    now = now or dt.datetime.now(dt.UTC)
    limit = ROTATION_DAYS + SLACK_DAYS
    out = []
    for s in audit_services.secrets(cx.api, cx.stack):
        if APP_SECRET_MARK not in s["Name"]:
            continue
        versions = cx.api.pages("secretsmanager", "ListSecretVersionIds", "Versions", SecretId=s["ARN"])
        current = [v for v in versions if "AWSCURRENT" in v.get("VersionStages", [])]
        if not current:
            out.append(Outcome(s["Name"], "fail", "no current version: no host has written the password"))
            continue
        created = current[0]["CreatedDate"]
        age = (now - created.astimezone(dt.UTC)).days if isinstance(created, dt.datetime) else None
        failure = None
        if age is None:
            failure = "the current version has no creation date"
        elif age > limit:
            failure = f"unchanged for {age} days (the hosts rotate it every {ROTATION_DAYS}; allowed {limit})"
        out.append(outcome(s["Name"], failure, f"current version {age} days old (rotated every {ROTATION_DAYS})"))
    return out or [Outcome("stack", "skipped", "not applicable: no database application secret in this stack")]
