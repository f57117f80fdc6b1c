"""Cognito and break-glass terms both layers' producers and the identity judges need: Cognito's token defaults,
the passkey factor, the emergency arrangement's names."""

from __future__ import annotations

from typing import Any

EMERGENCY_METRICS = ("EmergencyAccessUsed", "BreakGlassCredentialRead")
EMERGENCY_GROUP = "emergency"
BREAK_GLASS_PURPOSE = "break-glass"  # the pacsguard:purpose tag of the sealed credential
PASSKEY_AS_MFA = "MULTI_FACTOR_WITH_USER_VERIFICATION"  # not declarable with pulumi-aws 7.51: infra/passkey_factor.py
PASSKEY_FACTOR_PURPOSE = "passkey-factor"  # the purpose input of that dynamic resource
LOGIN_SESSION_PURPOSE = "login-session"  # the dynamic resource that limits the SSO session (infra/login_session.py)
DEFAULT_SESSION_MINUTES = 604800 / 60  # an authenticate-cognito action without session_timeout: 7 days
# Cognito's defaults when a validity or its unit is not given.
DEFAULT_MINUTES = {"access": 60, "id": 60, "refresh": 30 * 24 * 60}
DEFAULT_UNITS = {"access": "hours", "id": "hours", "refresh": "days"}
UNIT_MINUTES = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 24 * 60}


def lifetime(value: Any, unit: Any, kind: str) -> float:
    """A token validity in minutes, Cognito's default when it is not set."""
    if value is None:
        return DEFAULT_MINUTES[kind]
    return float(value) * UNIT_MINUTES.get(str(unit or DEFAULT_UNITS[kind]), 1)


def forwards_unverified(action_types: list[str]) -> bool:
    """A rule's actions, in order: a forward with no token verification or sign-in before it."""
    if "forward" not in action_types:
        return False
    before = action_types[: action_types.index("forward")]
    return not any(t in ("jwt-validation", "authenticate-cognito", "authenticate-oidc") for t in before)
