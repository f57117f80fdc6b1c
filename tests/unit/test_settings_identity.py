"""Identity settings of issue 16: passkeys, machine clients and the break-glass window are validated up front."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.loader import SettingsError, read_stack_config, settings_from_config


def _with_identity(stack: str, **identity: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(read_stack_config(stack))
    cfg["pacsguard:identity"] = {**cfg.get("pacsguard:identity", {}), **identity}
    return cfg


def _reject(cfg: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(SettingsError) as exc:
        settings_from_config(cfg, "Pulumi.test.yaml")
    assert "\n" not in str(exc.value)
    for f in fragments:
        assert f in str(exc.value), str(exc.value)
    return str(exc.value)


def test_prod_refuses_passkeys_off_and_dev_states_it() -> None:
    _reject(_with_identity("prod", passkeys="off"), "identity.passkeys", "prod refuses off")
    assert settings_from_config(_with_identity("dev", passkeys="off"), "x").identity.passkeys == "off"


def test_passkeys_default_to_allowed_and_required_is_refused_with_the_reason() -> None:
    """required cannot be enforced by Cognito (see the message): refused rather than deployed as a promise. The reasons
    are AWS's own (API and developer guide), not the CDK construct's "password must be true"."""
    assert settings_from_config(read_stack_config("prod"), "x").identity.passkeys == "allowed"
    message = _reject(_with_identity("prod", passkeys="required"), "identity.passkeys", "access token")
    for reason in ("StartWebAuthnRegistration", "EMAIL_OTP and SMS_OTP", "passwordless", "prod requires MFA"):
        assert reason in message
    assert "must be true" not in message


def test_the_retired_manual_passkey_switch_is_refused_with_what_to_do() -> None:
    """The stack now sets the passkey factor itself: the old two-step switch would only mislead."""
    _reject(_with_identity("prod", passkeys_count_as_mfa=True), "passkeys_count_as_mfa", "delete the line")


@pytest.mark.parametrize("minutes", [241, 600, 10])
def test_emergency_window_is_15_minutes_to_four_hours(minutes: int) -> None:
    _reject(_with_identity("prod", emergency_access_minutes=minutes), "emergency_access_minutes")


def test_machine_clients_have_one_known_scope_and_unique_names() -> None:
    _reject(_with_identity("dev", machine_clients=[{"name": "x", "scope": "admin"}]), "machine_clients")
    twice = [{"name": "x", "scope": "read"}, {"name": "x", "scope": "store"}]
    _reject(_with_identity("dev", machine_clients=twice), "unique")
    _reject(_with_identity("dev", machine_token_minutes=1440), "machine_token_minutes")


@pytest.mark.parametrize("key", ["aws:assumeRole", "aws:assumeRoles", "aws:assumeRoleWithWebIdentity"])
@pytest.mark.parametrize("stack,passkeys", [("prod", "allowed"), ("dev", "off")])
def test_a_role_the_cognito_resources_cannot_assume_is_refused_before_any_resource(
    key: str, stack: str, passkeys: str
) -> None:
    """The login-session resource (every stack) and the passkey factor call Cognito themselves and follow aws:profile,
    keys and endpoints, not a role the aws provider would assume: refused with what to do, rather than acting as the
    deployer's own identity, with or without passkeys."""
    cfg = _with_identity(stack, passkeys=passkeys)
    cfg[key] = {"roleArn": "arn:aws:iam::123456789012:role/deployer"}
    _reject(cfg, key, "aws:profile", "role_arn", "infra/login_session.py")
