"""The passkey-factor resource's calls (infra/passkey_factor.py) against moto's Cognito: passkeys count as MFA before
the pool lists them as a first factor, and nothing else of the pool changes (UpdateUserPool resets what it is not
given). moto accepts WebAuthnConfiguration but never returns it, so the requests themselves are recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.passkey_factor import PASSKEY_AS_MFA, _Provider, apply

REGION = "eu-west-1"
RP = "pacsguard-prod-0a1b2c.auth.eu-west-1.amazoncognito.com"


@pytest.fixture()
def cognito() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cognito-idp", region_name=REGION)


def _pool_as_pulumi_creates_it(c: Any) -> str:
    """What pulumi-aws does for infra/identity.py: CreateUserPool, then SetUserPoolMfaConfig (MFA on, TOTP, WebAuthn
    without a factor), with the password as the only first factor."""
    pool = c.create_user_pool(
        PoolName="pacsguard-prod-users",
        UserPoolTier="PLUS",
        DeletionProtection="ACTIVE",
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        Policies={
            "PasswordPolicy": {"MinimumLength": 14, "RequireSymbols": True, "TemporaryPasswordValidityDays": 3},
            "SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD"]},
        },
        UserPoolTags={"pacsguard:stack": "prod", "pacsguard:passkeys": "allowed"},
        AutoVerifiedAttributes=["email"],
    )["UserPool"]
    c.set_user_pool_mfa_config(
        UserPoolId=pool["Id"],
        MfaConfiguration="ON",
        SoftwareTokenMfaConfiguration={"Enabled": True},
        WebAuthnConfiguration={"RelyingPartyId": RP, "UserVerification": "required"},
    )
    return pool["Id"]


def _record(c: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every request the client sends, in order; UpdateUserPool is refused as AWS refuses it (WEB_AUTHN as a first
    factor of an MFA-required pool whose passkeys do not count as MFA)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params))
        if model.name == "UpdateUserPool" and "WEB_AUTHN" in str(params.get("Policies")):
            factors = [
                p["WebAuthnConfiguration"].get("FactorConfiguration") for n, p in calls if n == "SetUserPoolMfaConfig"
            ]
            if not factors or factors[-1] != PASSKEY_AS_MFA:
                raise AssertionError("WEB_AUTHN cannot be used as an auth factor when MFA is enabled")

    c.meta.events.register("provide-client-params.cognito-idp.*", seen)
    return calls


def test_passkeys_count_as_mfa_before_they_become_a_first_factor(cognito: Any) -> None:
    pool_id = _pool_as_pulumi_creates_it(cognito)
    before = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    calls = _record(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    writes = [(n, p) for n, p in calls if n in ("SetUserPoolMfaConfig", "UpdateUserPool")]
    assert [n for n, _ in writes] == ["SetUserPoolMfaConfig", "UpdateUserPool"]
    mfa = writes[0][1]
    assert mfa["WebAuthnConfiguration"] == {
        "RelyingPartyId": RP,
        "UserVerification": "required",
        "FactorConfiguration": PASSKEY_AS_MFA,
    }
    # SetUserPoolMfaConfig replaces the whole MFA configuration: MFA stays required and TOTP stays on.
    assert mfa["MfaConfiguration"] == "ON" and mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    after = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert after["Policies"]["SignInPolicy"]["AllowedFirstAuthFactors"] == ["PASSWORD", "WEB_AUTHN"]
    for kept in ("UserPoolTags", "DeletionProtection", "AdminCreateUserConfig", "UserPoolTier", "Name"):
        assert after[kept] == before[kept], kept
    assert after["Policies"]["PasswordPolicy"] == before["Policies"]["PasswordPolicy"]


def test_the_other_order_is_what_aws_refuses(cognito: Any) -> None:
    """The recorder stands for AWS's refusal: adding the first factor before the factor is set fails."""
    pool_id = _pool_as_pulumi_creates_it(cognito)
    _record(cognito)
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    from infra.passkey_factor import update_request

    with pytest.raises(AssertionError, match="WEB_AUTHN cannot be used"):
        cognito.update_user_pool(**update_request(cognito, pool, ["PASSWORD", "WEB_AUTHN"]))


def test_applying_again_rewrites_only_the_factor(cognito: Any) -> None:
    """After any later change of the pool the resource runs again: with WEB_AUTHN still listed it updates no pool."""
    pool_id = _pool_as_pulumi_creates_it(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    calls = _record(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    assert [n for n, _ in calls if n != "GetUserPoolMfaConfig" and n != "DescribeUserPool"] == ["SetUserPoolMfaConfig"]


def test_an_update_that_sent_the_created_factors_back_is_repaired(cognito: Any) -> None:
    pool_id = _pool_as_pulumi_creates_it(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    cognito.update_user_pool(UserPoolId=pool_id, Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD"]}})
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    factors = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Policies"]["SignInPolicy"]
    assert factors["AllowedFirstAuthFactors"] == ["PASSWORD", "WEB_AUTHN"]


def test_the_provider_is_shipped_by_reference() -> None:
    """Pulumi serialises a dynamic provider with dill; by reference, the deploying interpreter imports this module
    (part of the installed package) instead of carrying a copy of its code."""
    import base64

    import dill
    from pulumi.dynamic.dynamic import serialize_provider

    blob = base64.b64decode(serialize_provider(_Provider()))
    assert b"infra.passkey_factor" in blob and b"def apply" not in blob
    assert type(dill.loads(blob)) is _Provider  # noqa: S301  (our own bytes, just made)


def test_a_pool_already_so_is_not_written(cognito: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where AWS already returns the factor (moto never does: its answer is completed here), nothing is written."""
    pool_id = _pool_as_pulumi_creates_it(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    real = cognito.get_user_pool_mfa_config
    done = {"RelyingPartyId": RP, "UserVerification": "required", "FactorConfiguration": PASSKEY_AS_MFA}
    monkeypatch.setattr(cognito, "get_user_pool_mfa_config", lambda **kw: {**real(**kw), "WebAuthnConfiguration": done})
    calls = _record(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    assert not [n for n, _ in calls if n in ("SetUserPoolMfaConfig", "UpdateUserPool")]
