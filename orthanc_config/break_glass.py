"""Break-glass on a host: a sealed credential for a read-only emergency role, and the window that lets it work.

How it is obtained: a second person (root on the host; on AWS the administrator who reads the sealed secret)
opens a window with a reason; the command prints the unsealed credential. How long it lasts: the window's
minutes, at most the profile's emergency_access_minutes and never more than four hours (the plugin enforces
both). Every use is an audit record marked emergency and an alarm line. How it is closed: `close` removes the
window and reseals (rotates) the credential, so the one handed out is worthless afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path

from orthanc_config.layout import HostLayout
from orthanc_config.plugin import pacsguard_audit as audit
from orthanc_config.plugin import pacsguard_emergency as emergency

BREAK_GLASS_USER = "break-glass"
# On AWS the second administrator opens a window by tagging the sealed secret (a CloudTrail event that alarms);
# every host copies those tags into its window file (pacsguard-break-glass.timer), and removing them closes it.
WINDOW_TAGS = {
    "opened_at": "pacsguard:window-opened",
    "expires_at": "pacsguard:window-expires",
    "reason": "pacsguard:window-reason",
    "opened_by": "pacsguard:window-opened-by",
}


class BreakGlassError(Exception):
    """The window cannot be opened as asked (no reason, too long); the message names the fix."""


def _write(path: Path, content: str, mode: int, gid: int = 0) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chown(tmp, 0, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_sealed(layout: HostLayout) -> str:
    """The emergency user's password, created once and kept root-only (not in the everyday credentials file)."""
    path = layout.break_glass_credential
    if not path.exists():
        reseal(layout)
    return json.loads(path.read_text())["password"]


def reseal(layout: HostLayout) -> None:
    doc = {"user": BREAK_GLASS_USER, "password": secrets.token_urlsafe(24)}
    layout.break_glass_credential.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(layout.break_glass_credential, json.dumps(doc) + "\n", 0o600)


def _notify(layout: HostLayout, event: str, outcome: str, user: str, reason: str) -> None:
    event_id, name, action = ("110114", "User Authentication", "E")
    record = audit.event(
        event_id=event_id,
        event_name=f"{name}: {event}",
        action=action,
        outcome=outcome,
        user=user,
        role=emergency.ROLE,
        source_ip=None,
        layer="break-glass",
        reason=reason,
        emergency=True,
    )
    # Through the audit sink like every other record; the sink also writes the alarm line (the record is
    # marked emergency). No sink, no acknowledgement: the command fails and says so.
    reply = layout.audit_socket.parent / f".break-glass-{os.getpid()}.sock"
    reply.unlink(missing_ok=True)
    log = audit.AuditLog(str(layout.audit_log), str(layout.audit_socket), str(reply))
    try:
        log.write(record)
    except (audit.AuditError, OSError) as exc:
        raise BreakGlassError(f"{exc}: start the host's audit sink (pacsguard-audit), then retry") from None
    finally:
        log.close()
        reply.unlink(missing_ok=True)


def open_window(
    layout: HostLayout, reason: str, minutes: int, opened_by: str, now: dt.datetime | None = None
) -> dict[str, str]:
    """Open (or replace) the window and unseal the credential: returns user, password and expiry."""
    limit = min(layout.profile.emergency_access_minutes, emergency.MAX_MINUTES)
    if not reason.strip():
        raise BreakGlassError("--reason is required: say whose care needs it or which outage (it is audited)")
    if not 1 <= minutes <= limit:
        raise BreakGlassError(f"--minutes {minutes}: choose 1 to {limit} (identity.emergency_access_minutes)")
    opened = now or dt.datetime.now(dt.UTC)
    expires = opened + dt.timedelta(minutes=minutes)
    doc = {
        "opened_at": opened.isoformat(timespec="seconds"),
        "expires_at": expires.isoformat(timespec="seconds"),
        "reason": reason,
        "opened_by": opened_by,
    }
    import grp

    # Recorded (and alarmed) before it opens: a window nobody was told about must not exist.
    _notify(layout, "emergency access opened", "0", opened_by, f"{reason} (until {doc['expires_at']})")
    _write(layout.break_glass_window, json.dumps(doc) + "\n", 0o640, grp.getgrnam("orthanc").gr_gid)
    return {"user": BREAK_GLASS_USER, "password": ensure_sealed(layout), "expires_at": doc["expires_at"]}


def close_window(layout: HostLayout, closed_by: str) -> None:
    """Remove the window and reseal: the credential handed out no longer opens anything (after a reload)."""
    layout.break_glass_window.unlink(missing_ok=True)
    reseal(layout)
    _notify(layout, "emergency access closed", "0", closed_by, "window removed and credential resealed")


def window_from_tags(tags: dict[str, str]) -> dict[str, str] | None:
    """The window the sealed secret's tags describe, or None when they describe none (or only part of one)."""
    doc = {key: tags.get(tag, "") for key, tag in WINDOW_TAGS.items()}
    return doc if all(doc.values()) else None


def sync_window(layout: HostLayout, tags: dict[str, str]) -> bool:
    """Write (or remove) this host's window file from the secret's tags; True when a window is open.

    The plugin still checks the times and caps the window at four hours, so a mistyped tag cannot open more.
    """
    import grp

    doc = window_from_tags(tags)
    if doc is None:
        layout.break_glass_window.unlink(missing_ok=True)
        return False
    _write(layout.break_glass_window, json.dumps(doc) + "\n", 0o640, grp.getgrnam("orthanc").gr_gid)
    return True


def secret_tags(secret_arn: str, region: str = "") -> dict[str, str]:
    """The sealed secret's tags (DescribeSecret: reading the tags does not unseal it), with the instance role."""
    from orthanc_config import aws_api

    try:
        doc = aws_api.Client(region).call("secretsmanager", "DescribeSecret", {"SecretId": secret_arn})
    except aws_api.AwsError as exc:
        raise BreakGlassError(f"cannot describe {secret_arn}: {exc}") from None
    return {t["Key"]: t["Value"] for t in doc.get("Tags", [])}
