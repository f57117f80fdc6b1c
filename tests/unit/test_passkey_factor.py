"""The passkey-factor resource's calls (infra/passkey_factor.py) against moto's Cognito: passkeys count as MFA before
the pool lists them as a first factor, and nothing else of the pool changes (UpdateUserPool resets what it is not
given). moto accepts WebAuthnConfiguration but never returns it, so the requests themselves are recorded."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from pulumi.dynamic import Config, ConfigureRequest

from infra.aws_access import AwsAccess, AwsConfigError
from infra.passkey_factor import MIN_BOTOCORE, PASSKEY_AS_MFA, OutdatedBotocore, _Provider, apply
from tests.unit.older_cognito_model import older_model_session

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


def _props(pool_id: str, mfa: str = "ON") -> dict[str, Any]:
    return {
        "purpose": "passkey-factor",
        "user_pool_id": pool_id,
        "region": REGION,
        "relying_party": RP,
        "factor": PASSKEY_AS_MFA,
        "first_factors": ["PASSWORD", "WEB_AUTHN"],
        "mfa": mfa,
        "totp": True,
        "pool_modified": "2026-12-02T13:00:00Z",
    }


@pytest.fixture()
def no_default_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No identity, region or endpoint but what the stack config gives: boto3's default chain finds nothing."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


@pytest.fixture()
def emulator() -> Iterator[str]:
    """moto in server mode on loopback: the emulator stack's endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _configured(config: dict[str, Any]) -> _Provider:
    """The provider as Pulumi's dynamic-provider host hands it the stack's config (keys as in the stack file)."""
    provider = _Provider()
    provider.configure(ConfigureRequest(Config(raw_config=config, project_name="pacsguard")))
    return provider


@pytest.mark.parametrize("as_json", [True, False], ids=["endpoints-as-json", "endpoints-as-object"])
def test_the_factor_is_set_where_the_stack_config_points(no_default_aws: Path, emulator: str, as_json: bool) -> None:
    """An emulator stack (keys and the cognitoidp endpoint in aws: config, as stacks/Pulumi.emulator.yaml has them):
    the resource changes the emulator's pool. With boto3's default chain it found no credentials at all (or, with
    some in the environment, would have called real AWS)."""
    endpoints = [{"cognitoidp": emulator, "s3": emulator}]
    provider = _configured(
        {
            "aws:region": "us-east-1",
            "aws:accessKey": "test",
            "aws:secretKey": "test",
            "aws:endpoints": json.dumps(endpoints) if as_json else endpoints,
        }
    )
    there = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=emulator,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    pool_id = _pool_as_pulumi_creates_it(there)
    provider.create({**_props(pool_id), "region": "eu-west-1"})  # aws:region wins over the plan's region
    factors = there.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Policies"]["SignInPolicy"]
    assert factors["AllowedFirstAuthFactors"] == ["PASSWORD", "WEB_AUTHN"]


def test_the_stack_profile_is_the_identity_used(no_default_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aws:profile chooses the deployer's identity, whatever the environment's default credentials are."""
    (no_default_aws / "credentials").write_text(
        "[pacs-deployer]\naws_access_key_id = AKIAPROFILEDEPLOYER1\naws_secret_access_key = s\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTOTHER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "e")
    provider = _configured({"aws:region": "eu-central-1", "aws:profile": "pacs-deployer"})
    client = provider._client(_props("eu-central-1_x"))
    assert client.meta.region_name == "eu-central-1"
    assert client._request_signer._credentials.get_frozen_credentials().access_key == "AKIAPROFILEDEPLOYER1"


@pytest.mark.parametrize("key", ["aws:assumeRole", "aws:assumeRoles"])
def test_a_role_in_the_stack_config_is_refused_with_what_to_do(key: str) -> None:
    role = {"roleArn": "arn:aws:iam::123456789012:role/deployer"}
    with pytest.raises(AwsConfigError, match="set aws:profile instead") as exc:
        _configured({"aws:region": REGION, key: json.dumps(role if key.endswith("Role") else [role])})
    assert key in str(exc.value) and "\n" not in str(exc.value)


def _older_model_client(tmp_path: Path) -> Any:
    """A Cognito client whose service model predates FactorConfiguration (as botocore before 1.42.90 has it)."""

    def without_factor(model: dict[str, Any]) -> None:
        del model["shapes"]["WebAuthnConfigurationType"]["members"]["FactorConfiguration"]

    return older_model_session(tmp_path, REGION, without_factor).client("cognito-idp")


def test_an_older_botocore_is_refused_before_any_call(cognito: Any, tmp_path: Path) -> None:
    pool_id = _pool_as_pulumi_creates_it(cognito)
    old = _older_model_client(tmp_path)
    calls = _record(old)
    with pytest.raises(OutdatedBotocore, match=f"botocore {MIN_BOTOCORE} or later"):
        apply(old, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    assert calls == []


def test_the_package_requires_a_botocore_that_knows_the_factor() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    pins = {d.split(">=")[0]: d.split(">=")[1].split(",")[0] for d in project["dependencies"] if ">=" in d}

    def release(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    assert release(pins["boto3"]) >= release(MIN_BOTOCORE) and release(pins["botocore"]) >= release(MIN_BOTOCORE)


def test_mfa_and_totp_come_from_the_settings_with_the_factor(cognito: Any) -> None:
    """The pool ignores later MFA changes (pulumi-aws would send them without the factor): this resource sends the
    settings' MFA mode and TOTP, always in the same call as the factor."""
    pool_id = _pool_as_pulumi_creates_it(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"])
    # What pulumi-aws does on a change of MFA or TOTP: SetUserPoolMfaConfig with WebAuthn but no factor.
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool_id,
        MfaConfiguration="ON",
        SoftwareTokenMfaConfiguration={"Enabled": True},
        WebAuthnConfiguration={"RelyingPartyId": RP, "UserVerification": "required"},
    )
    calls = _record(cognito)
    apply(cognito, pool_id, RP, ["PASSWORD", "WEB_AUTHN"], mfa="OPTIONAL")
    (sent,) = [p for n, p in calls if n == "SetUserPoolMfaConfig"]
    assert sent["MfaConfiguration"] == "OPTIONAL" and sent["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    assert sent["WebAuthnConfiguration"]["FactorConfiguration"] == PASSKEY_AS_MFA


def test_a_refresh_sees_the_pool_drift_and_the_next_up_repairs_it(
    cognito: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool_id = _pool_as_pulumi_creates_it(cognito)
    provider = _Provider()
    monkeypatch.setattr(provider, "_client", lambda _props: cognito)
    real = cognito.get_user_pool_mfa_config
    done = {"RelyingPartyId": RP, "UserVerification": "required", "FactorConfiguration": PASSKEY_AS_MFA}
    monkeypatch.setattr(cognito, "get_user_pool_mfa_config", lambda **kw: {**real(**kw), "WebAuthnConfiguration": done})
    props = provider.create(_props(pool_id)).outs
    read = provider.read(f"{pool_id}/passkey-factor", props)
    assert not provider.diff(read.id, read.outs, props).changes  # as declared: nothing to do
    # Someone takes WEB_AUTHN off the pool's first factors outside Pulumi.
    cognito.update_user_pool(UserPoolId=pool_id, Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD"]}})
    read = provider.read(f"{pool_id}/passkey-factor", props)
    assert read.outs["first_factors"] == ["PASSWORD"]
    assert provider.diff(read.id, read.outs, props).changes
    provider.update(read.id, read.outs, props)
    factors = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Policies"]["SignInPolicy"]
    assert factors["AllowedFirstAuthFactors"] == ["PASSWORD", "WEB_AUTHN"]


def test_a_refresh_sees_a_factor_that_is_not_there(cognito: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto returns no WebAuthnConfiguration, as a pool whose passkeys were reset to a single factor would not."""
    pool_id = _pool_as_pulumi_creates_it(cognito)
    provider = _Provider()
    monkeypatch.setattr(provider, "_client", lambda _props: cognito)
    props = provider.create(_props(pool_id)).outs
    read = provider.read(f"{pool_id}/passkey-factor", props)
    assert read.outs["factor"] is None and provider.diff(read.id, read.outs, props).changes


def test_without_config_the_plan_region_is_used(no_default_aws: Path) -> None:
    assert _Provider()._client(_props("x")).meta.region_name == REGION
    assert AwsAccess(region="us-east-1").cognito_client().meta.region_name == "us-east-1"
