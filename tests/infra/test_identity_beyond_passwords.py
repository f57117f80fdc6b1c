"""Issue 16 on the synthesised stack: machine clients, automatic logoff that holds, break-glass, passkeys."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from infra.alarms import AUDIT_FILTERS, TRAIL_FILTERS
from infra.synth import Synthesis, synthesize
from stacks.loader import read_stack_config
from tests.infra.graph import named
from tests.infra.test_hosts import user_data

CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
RULE = "aws:lb/listenerRule:ListenerRule"


def _machine_clients(s: Synthesis) -> list:
    return [c for c in s.of_type(CLIENT) if "client_credentials" in (c.inputs.get("allowedOauthFlows") or [])]


def test_machine_clients_have_a_secret_one_scope_and_short_tokens(dev: Synthesis) -> None:
    (server,) = dev.of_type("aws:cognito/resourceServer:ResourceServer")
    assert server.inputs["identifier"] == "pacs"
    assert {sc["scopeName"] for sc in server.inputs["scopes"]} == {"read", "store"}
    clients = {c.name: c.inputs for c in _machine_clients(dev)}
    assert set(clients) == {"identity-machine-ai-pipeline", "identity-machine-router"}
    for c in clients.values():
        assert c["allowedOauthFlows"] == ["client_credentials"] and c["generateSecret"] is True
        assert len(c["allowedOauthScopes"]) == 1 and c["allowedOauthScopes"][0] in ("pacs/read", "pacs/store")
        assert c["accessTokenValidity"] <= 60 and c["tokenValidityUnits"]["accessToken"] == "minutes"


def test_alb_verifies_machine_tokens_before_forwarding_dicomweb(dev: Synthesis) -> None:
    rules = {r.name: r.inputs for r in dev.of_type(RULE)}
    # One rule per PACS scope, each claim check single-valued: AWS leaves "any or all of several values" undefined.
    assert set(rules) == {"web-machine-read", "web-machine-store"}
    assert len({r["priority"] for r in rules.values()}) == 2
    for name, rule in rules.items():
        conditions = {k: v for cond in rule["conditions"] for k, v in cond.items() if v}
        assert conditions["pathPattern"]["values"] == ["/dicom-web/*"]
        assert conditions["httpHeader"] == {"httpHeaderName": "Authorization", "values": ["Bearer *"]}
        first, second = sorted(rule["actions"], key=lambda a: a["order"])
        assert (first["type"], second["type"]) == ("jwt-validation", "forward")
        jwt = first["jwtValidation"]
        assert re.fullmatch(r"https://cognito-idp\.eu-west-1\.amazonaws\.com/\S+", jwt["issuer"])
        assert jwt["jwksEndpoint"] == jwt["issuer"] + "/.well-known/jwks.json"
        claims = {c["name"]: c for c in jwt["additionalClaims"]}
        assert claims["token_use"]["values"] == ["access"]
        assert claims["scope"]["values"] == [f"pacs/{name.removeprefix('web-machine-')}"]


def test_no_machine_rule_without_machine_clients(prod: Synthesis) -> None:
    assert not _machine_clients(prod) and not prod.of_type(RULE)


def test_hosts_verify_machine_tokens_against_the_same_issuer(dev: Synthesis) -> None:
    body = re.search(r"<<'PACSGUARD_PROFILE'\n(.*)\nPACSGUARD_PROFILE", user_data(dev), re.S).group(1)
    profile = json.loads(body)
    rule = named(dev, RULE, "web-machine-read").inputs
    jwt = next(a for a in rule["actions"] if a["type"] == "jwt-validation")["jwtValidation"]
    assert profile["machine_issuer"] == jwt["issuer"] and profile["machine_jwks"] == jwt["jwksEndpoint"]
    ids = {f"{c.name}-id" for c in _machine_clients(dev)}  # the mocks id every resource "<name>-id"
    assert set(profile["machine_clients"]) == ids and len(ids) == 2
    assert profile["session_timeout_minutes"] == dev.settings.web.session_timeout_minutes


def test_logoff_tokens_and_sessions_end_with_the_web_session(stack: Synthesis) -> None:
    timeout = stack.settings.web.session_timeout_minutes
    client = named(stack, CLIENT, "identity-alb-client").inputs
    assert client["accessTokenValidity"] == client["idTokenValidity"] == timeout
    assert client["tokenValidityUnits"] == {"accessToken": "minutes", "idToken": "minutes", "refreshToken": "minutes"}
    assert client["refreshTokenValidity"] == 60
    assert client["refreshTokenRotation"] == {"feature": "ENABLED", "retryGracePeriodSeconds": 0}
    assert client["authSessionValidity"] == 3
    https = named(stack, "aws:lb/listener:Listener", "web-https").inputs
    cognito = next(a for a in https["defaultActions"] if a["type"] == "authenticate-cognito")["authenticateCognito"]
    assert cognito["sessionTimeout"] == timeout * 60
    # Cognito's own session cookie must not sign the user back in silently after the ALB session ends.
    assert cognito["authenticationRequestExtraParams"]["prompt"] == "login"


def test_cognito_signs_in_afresh_once_the_sign_in_is_older_than_the_timeout(stack: Synthesis) -> None:
    """max_age (OIDC, documented for Cognito's managed login): a sign-in older than the logoff timeout is not reused,
    whatever Cognito makes of prompt=login."""
    https = named(stack, "aws:lb/listener:Listener", "web-https").inputs
    cognito = next(a for a in https["defaultActions"] if a["type"] == "authenticate-cognito")["authenticateCognito"]
    assert cognito["authenticationRequestExtraParams"] == {
        "prompt": "login",
        "max_age": str(stack.settings.web.session_timeout_minutes * 60),
    }


def test_break_glass_is_sealed_grouped_and_alarmed(stack: Synthesis) -> None:
    secret = named(stack, "aws:secretsmanager/secret:Secret", "identity-break-glass").inputs
    assert secret["kmsKeyId"] and secret["tags"]["pacsguard:purpose"] == "break-glass"
    groups = {g.inputs["name"] for g in stack.of_type("aws:cognito/userGroup:UserGroup")}
    assert "emergency" in groups
    assert "break-glass" in TRAIL_FILTERS["BreakGlassCredentialRead"]
    assert AUDIT_FILTERS["EmergencyAccessUsed"] == "{ $.emergency IS TRUE }"
    alarms = {a.inputs["metricName"]: a.inputs for a in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    for metric in ("BreakGlassCredentialRead", "EmergencyAccessUsed"):
        assert alarms[metric]["threshold"] == 1 and alarms[metric]["alarmActions"]


def test_passkeys_relying_party_is_the_login_host_with_user_verification(stack: Synthesis) -> None:
    (pool,) = stack.of_type("aws:cognito/userPool:UserPool")
    p = pool.inputs
    domain = named(stack, "aws:cognito/userPoolDomain:UserPoolDomain", "identity-domain").inputs["domain"]
    # A browser runs the passkey ceremony only for a relying party that is the login page's host or its suffix.
    assert p["webAuthnConfiguration"] == {
        "relyingPartyId": f"{domain}.auth.{stack.settings.region}.amazoncognito.com",
        "userVerification": "required",
    }
    # MFA is required: AWS refuses WEB_AUTHN as a first factor until passkeys count as MFA (the passkey-factor
    # resource sets both after the pool exists).
    assert p["mfaConfiguration"] == "ON"
    assert p["signInPolicy"]["allowedFirstAuthFactors"] == ["PASSWORD"]
    assert p["userPoolTier"] in ("ESSENTIALS", "PLUS")
    assert p["tags"]["pacsguard:passkeys"] == stack.settings.identity.passkeys


def test_hosts_follow_the_break_glass_window_without_unsealing(stack: Synthesis) -> None:
    secret = named(stack, "aws:secretsmanager/secret:Secret", "identity-break-glass")
    body = re.search(r"<<'PACSGUARD_PROFILE'\n(.*)\nPACSGUARD_PROFILE", user_data(stack), re.S).group(1)
    assert json.loads(body)["break_glass_secret"] == secret.outputs["arn"]
    policy = json.loads(named(stack, "aws:iam/rolePolicy:RolePolicy", "hosts-least-privilege").inputs["policy"])
    st = next(s for s in policy["Statement"] if s.get("Sid") == "FollowBreakGlassWindow")
    assert st["Action"] == "secretsmanager:DescribeSecret" or st["Action"] == ["secretsmanager:DescribeSecret"]
    assert st["Resource"] in (secret.outputs["arn"], [secret.outputs["arn"]])
    assert "TagResource" in TRAIL_FILTERS["BreakGlassCredentialRead"]


def test_passkeys_are_served_by_managed_login(stack: Synthesis) -> None:
    domain = named(stack, "aws:cognito/userPoolDomain:UserPoolDomain", "identity-domain").inputs
    assert domain["managedLoginVersion"] == 2  # the classic hosted UI offers no passkeys
    (branding,) = stack.of_type("aws:cognito/managedLoginBranding:ManagedLoginBranding")
    assert branding.inputs["useCognitoProvidedValues"] is True and branding.inputs["clientId"]
    client = named(stack, CLIENT, "identity-alb-client").inputs
    assert "ALLOW_USER_AUTH" in client["explicitAuthFlows"]  # choice-based sign-in (passkey or password)


def test_the_first_pulumi_up_makes_passkeys_count_as_mfa_then_a_first_factor(stack: Synthesis) -> None:
    """AWS refuses WEB_AUTHN on an MFA-required pool before the factor is set, and pulumi-aws cannot set it: the pool
    is created with the password only, then the passkey-factor resource (after the pool) sets both."""
    pool = named(stack, "aws:cognito/userPool:UserPool", "identity-users")
    assert pool.inputs["signInPolicy"]["allowedFirstAuthFactors"] == ["PASSWORD"]
    assert pool.inputs["mfaConfiguration"] == "ON"
    (factor,) = [r for r in stack.of_type("pulumi-python:dynamic:Resource") if r.name == "identity-passkey-factor"]
    assert factor.inputs["factor"] == "MULTI_FACTOR_WITH_USER_VERIFICATION"
    assert factor.inputs["first_factors"] == ["PASSWORD", "WEB_AUTHN"]
    assert factor.inputs["relying_party"] == pool.inputs["webAuthnConfiguration"]["relyingPartyId"]
    assert pool.urn in factor.property_dependencies["user_pool_id"]


def test_pulumi_aws_never_sends_the_mfa_settings_without_the_passkey_factor(stack: Synthesis) -> None:
    """pulumi-aws answers a change of the pool's MFA or TOTP with SetUserPoolMfaConfig without FactorConfiguration,
    which makes passkeys a single factor again: the pool ignores later changes of both, and the factor resource
    carries the settings' MFA mode and TOTP, which it sends together with the factor."""
    pool = named(stack, "aws:cognito/userPool:UserPool", "identity-users")
    owned = {"mfaConfiguration", "softwareTokenMfaConfiguration", "signInPolicy", "webAuthnConfiguration"}
    assert owned <= set(pool.ignore_changes)
    (factor,) = [r for r in stack.of_type("pulumi-python:dynamic:Resource") if r.name == "identity-passkey-factor"]
    assert (
        factor.inputs["mfa"] == pool.inputs["mfaConfiguration"] == ("ON" if stack.settings.identity.mfa else "OPTIONAL")
    )
    assert factor.inputs["totp"] is True and pool.inputs["softwareTokenMfaConfiguration"] == {"enabled": True}


def test_without_passkeys_pulumi_aws_keeps_the_mfa_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    cfg = copy.deepcopy(read_stack_config("dev"))
    cfg["pacsguard:identity"] = {**cfg.get("pacsguard:identity", {}), "passkeys": "off"}
    folder = tmp_path_factory.mktemp("stacks")
    (folder / "Pulumi.nopasskeys.yaml").write_text(yaml.safe_dump({"config": cfg}))
    s = synthesize("nopasskeys", Path(folder))
    pool = named(s, "aws:cognito/userPool:UserPool", "identity-users")
    assert not pool.ignore_changes
    # Only the login session (every stack) calls Cognito itself: no passkey factor.
    assert [r.name for r in s.of_type("pulumi-python:dynamic:Resource")] == ["identity-login-session"]


def test_passkey_factor_resource_only_with_passkeys(dev: Synthesis) -> None:
    from infra.identity import Identity  # noqa: F401  (the stack under test is the dev one, passkeys allowed)

    names = sorted(r.name for r in dev.of_type("pulumi-python:dynamic:Resource"))
    assert names == ["identity-login-session", "identity-passkey-factor"]


def test_cognito_never_silently_reuses_its_own_session_for_the_alb(stack: Synthesis) -> None:
    """Managed login's SSO session signs users back in for 60 minutes by AWS's default, whatever the ALB's session:
    the login-session resource enables the pool's session tracking (without it the client limit is dormant) and sets
    the ALB client's SSO-session reuse to 0, on dev and prod. Machine clients have no SSO session and get none."""
    (session,) = [r for r in stack.of_type("pulumi-python:dynamic:Resource") if r.name == "identity-login-session"]
    assert session.inputs["tracking"] == "ENABLED"
    assert session.inputs["sso_reuse_minutes"] == 0
    assert session.inputs["sso_reuse_minutes"] <= stack.settings.web.session_timeout_minutes
    assert session.inputs["sessions_per_user"] == 20  # AWS's default, sent because the call replaces it
    pool = named(stack, "aws:cognito/userPool:UserPool", "identity-users")
    alb = named(stack, CLIENT, "identity-alb-client")
    assert pool.urn in session.property_dependencies["user_pool_id"]
    assert session.property_dependencies["client_id"] == [alb.urn]


def test_rotating_clients_leave_out_the_refresh_flow_and_machine_clients_allow_no_user_sign_in(
    stack: Synthesis,
) -> None:
    for client in stack.of_type(CLIENT):
        flows = client.inputs.get("explicitAuthFlows") or []
        if (client.inputs.get("refreshTokenRotation") or {}).get("feature") == "ENABLED":
            assert "ALLOW_REFRESH_TOKEN_AUTH" not in flows, client.name
        if "client_credentials" in (client.inputs.get("allowedOauthFlows") or []):
            assert flows == ["ALLOW_REFRESH_TOKEN_AUTH"], client.name
