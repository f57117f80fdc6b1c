"""The login-session resource's calls (infra/login_session.py): Cognito's pool session tracking is ENABLED before the
ALB client's SSO-session reuse is set to 0, a refresh sees either changed outside Pulumi and the next `pulumi up`
repairs it. moto 5.2.5 has none of the four session-configuration operations, so the client here is a real botocore
client (requests validated against the installed model) whose calls are answered by a small Cognito that keeps the
state and the rules AWS documents for them: the defaults (tracking DISABLED, 20 sessions per user, 60 minutes of SSO
reuse) and the refusal of a client setting while the pool does not track sessions."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import boto3
import dill
import pulumi
import pytest
from botocore.awsrequest import AWSResponse

from infra.login_session import (
    EMULATOR_SKIP,
    MIN_BOTOCORE,
    PURPOSE,
    SSO_REUSE_MINUTES,
    TOKEN_SESSIONS_PER_USER,
    OutdatedBotocore,
    _Provider,
    apply,
)
from tests.unit.older_cognito_model import older_model_session

REGION = "eu-west-1"
POOL = f"{REGION}_AbCdEf123"
CLIENT = "1example23456789alb0client"


class FakeCognito:
    """The session configuration of one pool and its clients, as AWS documents the four operations."""

    def __init__(self) -> None:
        self.tracking, self.per_user, self.reuse = "DISABLED", 20, {CLIENT: 60}
        self.calls: list[str] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """A before-call handler: `params` is the serialised request, validated against the model."""
        self.calls.append(model.name)
        params = json.loads(params["body"])
        name = model.name
        if name == "SetUserPoolSessionConfiguration":
            self.tracking, self.per_user = params["UserSessionTracking"], params["TokenSession"]["MaxPerUser"]
        elif name == "SetUserPoolClientSessionConfiguration":
            if self.tracking != "ENABLED":  # "session tracking must be enabled for the user pool"
                return self._error("InvalidParameterException", "session tracking is not enabled for the user pool")
            self.reuse[params["ClientId"]] = params["SSOSession"]["MaxValidityMinutes"]
        elif not name.startswith("Get"):
            raise AssertionError(f"unexpected call {name}")
        out: dict[str, Any] = {"UserPoolId": params["UserPoolId"]}
        if "ClientId" in params:
            reuse = self.reuse[params["ClientId"]]
            out |= {"ClientId": params["ClientId"], "SSOSession": {"MaxValidityMinutes": reuse}}
        else:
            out |= {"UserSessionTracking": self.tracking, "TokenSession": {"MaxPerUser": self.per_user}}
        return AWSResponse("https://cognito-idp", 200, {}, None), out

    @staticmethod
    def _error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://cognito-idp", 400, {}, None), {"Error": {"Code": code, "Message": message}}

    def writes(self) -> list[str]:
        return [c for c in self.calls if c.startswith("Set")]


def _client(cognito: FakeCognito, session: Any = None) -> Any:
    session = session or boto3.session.Session(region_name=REGION)
    c = session.client("cognito-idp", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    c.meta.events.register("before-call.cognito-idp.*", cognito)
    return c


def _props() -> dict[str, Any]:
    return {
        "purpose": PURPOSE,
        "user_pool_id": POOL,
        "client_id": CLIENT,
        "region": REGION,
        "tracking": "ENABLED",
        "sessions_per_user": TOKEN_SESSIONS_PER_USER,
        "sso_reuse_minutes": SSO_REUSE_MINUTES,
    }


def test_the_alb_client_never_silently_reuses_the_managed_login_session() -> None:
    cognito = FakeCognito()  # a pool as pulumi-aws leaves it: AWS's defaults, 60 minutes of silent reuse
    apply(_client(cognito), POOL, CLIENT, SSO_REUSE_MINUTES, TOKEN_SESSIONS_PER_USER)
    assert cognito.writes() == ["SetUserPoolSessionConfiguration", "SetUserPoolClientSessionConfiguration"]
    assert (cognito.tracking, cognito.per_user, cognito.reuse[CLIENT]) == ("ENABLED", 20, 0)


def test_the_client_setting_alone_is_what_aws_refuses() -> None:
    """The fake stands for AWS's rule: without pool session tracking the client's limit is refused (or dormant)."""
    c = _client(FakeCognito())
    with pytest.raises(c.exceptions.InvalidParameterException):
        c.set_user_pool_client_session_configuration(
            UserPoolId=POOL, ClientId=CLIENT, SSOSession={"MaxValidityMinutes": 0}
        )


def test_applying_again_writes_nothing() -> None:
    cognito = FakeCognito()
    apply(_client(cognito), POOL, CLIENT, 0, 20)
    cognito.calls.clear()
    apply(_client(cognito), POOL, CLIENT, 0, 20)
    assert cognito.writes() == []


@pytest.mark.parametrize(
    "drift",
    [
        pytest.param(lambda f: setattr(f, "tracking", "DISABLED"), id="tracking-disabled"),
        pytest.param(lambda f: f.reuse.__setitem__(CLIENT, 60), id="reuse-back-to-60"),
    ],
)
def test_a_refresh_sees_the_drift_and_the_next_up_repairs_it(drift: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cognito = FakeCognito()
    provider = _Provider()
    monkeypatch.setattr(provider, "_client", lambda _props: _client(cognito))
    props = provider.create(_props()).outs
    read = provider.read(f"{POOL}/{CLIENT}/{PURPOSE}", props)
    assert not provider.diff(read.id, read.outs, props).changes  # as declared: nothing to do
    drift(cognito)  # someone changes it outside Pulumi
    read = provider.read(read.id, props)
    assert provider.diff(read.id, read.outs, props).changes
    provider.update(read.id, read.outs, props)
    assert (cognito.tracking, cognito.reuse[CLIENT]) == ("ENABLED", 0)


def test_a_replaced_alb_client_gets_the_limit_too(monkeypatch: pytest.MonkeyPatch) -> None:
    cognito = FakeCognito()
    cognito.reuse["2newalbclient"] = 60
    provider = _Provider()
    monkeypatch.setattr(provider, "_client", lambda _props: _client(cognito))
    olds = provider.create(_props()).outs
    news = {**_props(), "client_id": "2newalbclient"}
    assert provider.diff("x", olds, news).changes
    provider.update("x", olds, news)
    assert cognito.reuse["2newalbclient"] == 0


def _older_model_session(tmp_path: Path) -> Any:
    """botocore with the installed Cognito model minus the session-configuration writes (as before AWS added them)."""

    def without_session_operations(model: dict[str, Any]) -> None:
        for op in ("SetUserPoolSessionConfiguration", "SetUserPoolClientSessionConfiguration"):
            del model["operations"][op]

    return older_model_session(tmp_path, REGION, without_session_operations)


def test_an_older_botocore_is_refused_before_any_call(tmp_path: Path) -> None:
    cognito = FakeCognito()
    with pytest.raises(OutdatedBotocore, match=rf"SetUserPoolSessionConfiguration.*botocore {MIN_BOTOCORE} or later"):
        apply(_client(cognito, _older_model_session(tmp_path)), POOL, CLIENT, 0, 20)
    assert cognito.calls == []


def test_the_provider_is_shipped_by_reference_and_follows_the_stack_config() -> None:
    from pulumi.dynamic import Config, ConfigureRequest
    from pulumi.dynamic.dynamic import serialize_provider

    blob = base64.b64decode(serialize_provider(_Provider()))
    assert b"infra.login_session" in blob and b"def apply" not in blob
    assert type(dill.loads(blob)) is _Provider  # noqa: S301  (our own bytes, just made)
    provider = _Provider()
    config = {"aws:region": "eu-central-1", "aws:endpoints": '[{"cognitoidp": "http://127.0.0.1:1"}]'}
    provider.configure(ConfigureRequest(Config(raw_config=config, project_name="pacsguard")))
    client = provider._client(_props())
    assert client.meta.region_name == "eu-central-1" and client.meta.endpoint_url == "http://127.0.0.1:1"


def test_the_package_requires_a_botocore_that_knows_the_session_configuration() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    pins = {d.split(">=")[0]: d.split(">=")[1].split(",")[0] for d in project["dependencies"] if ">=" in d}
    assert pins["boto3"] == MIN_BOTOCORE and pins["botocore"] == MIN_BOTOCORE


def _html_500(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
    """moto's answer to an operation it does not have: an HTML error page."""
    return AWSResponse("http://127.0.0.1", 500, {}, None), {
        "Error": {"Code": "500", "Message": "<!doctype html><title>500 Internal Server Error</title>"}
    }


def test_an_emulator_stack_without_the_operations_deploys_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator stack points Cognito at moto, which has none of the four operations: its pulumi up goes on."""
    from pulumi.dynamic import Config, ConfigureRequest

    provider = _Provider()
    endpoint = '[{"cognitoidp": "http://127.0.0.1:4566"}]'
    provider.configure(ConfigureRequest(Config(raw_config={"aws:endpoints": endpoint}, project_name="pacsguard")))
    c = boto3.session.Session(region_name=REGION).client(
        "cognito-idp", aws_access_key_id="x", aws_secret_access_key="x"
    )
    c.meta.events.register("before-call.cognito-idp.*", _html_500)
    monkeypatch.setattr(provider, "_client", lambda _props: c)
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warned.append(msg))  # where the engine shows it
    assert provider.create(_props()).outs["sso_reuse_minutes"] == 0
    assert any(EMULATOR_SKIP in w for w in warned), warned
    assert provider.read("x", _props()).outs == _props()


def test_on_aws_an_error_stops_the_up() -> None:
    """Without an emulator endpoint in the stack config the same answer is an error, never a silent skip."""
    provider = _Provider()
    c = boto3.session.Session(region_name=REGION).client(
        "cognito-idp", aws_access_key_id="x", aws_secret_access_key="x"
    )
    c.meta.events.register("before-call.cognito-idp.*", _html_500)
    provider._client = lambda _props: c  # type: ignore[method-assign]
    with pytest.raises(c.exceptions.ClientError):
        provider.create(_props())
