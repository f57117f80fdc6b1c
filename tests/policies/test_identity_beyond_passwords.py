"""The issue-16 plan checks on the dev stack (the one with machine clients), broken one property at a time."""

from __future__ import annotations

import pytest

from infra.synth import Synthesis
from policies.catalog import by_id
from policies.graph import PlanGraph
from tests.policies.mutations import DELETE, edit, transform


@pytest.fixture(scope="module")
def dev_graph(dev: Synthesis) -> PlanGraph:
    return PlanGraph.from_synthesis(dev)


def failures(control_id: str, graph: PlanGraph) -> list[str]:
    return [o.message for o in by_id(control_id).evaluate(graph) if o.status == "fail"]


def test_dev_stack_with_machine_clients_passes(dev_graph: PlanGraph) -> None:
    for cid in ("IAM-MACHINE-TOKENS", "IAM-AUTO-LOGOFF", "IAM-EMERGENCY-ACCESS", "IAM-PASSKEYS"):
        assert failures(cid, dev_graph) == [], cid


def test_machine_rule_that_forwards_unverified_fails(dev_graph: PlanGraph) -> None:
    def unverified(rule: str):
        return transform(rule, lambda i: i.update(actions=[a for a in i["actions"] if a["type"] == "forward"]))

    msgs = failures("IAM-MACHINE-TOKENS", unverified("web-machine-read")(dev_graph))
    assert "forwards without verifying a token first" in msgs
    msgs = failures("IAM-MACHINE-TOKENS", unverified("web-machine-store")(unverified("web-machine-read")(dev_graph)))
    assert any("no listener rule verifies" in m for m in msgs)


def test_day_long_machine_tokens_fail(dev_graph: PlanGraph) -> None:
    long = edit("identity-machine-router", accessTokenValidity=1440)
    assert any("at most 60" in m for m in failures("IAM-MACHINE-TOKENS", long(dev_graph)))


def test_silent_cognito_reauthentication_fails(dev_graph: PlanGraph) -> None:
    silent = edit("web-https", **{"defaultActions.0.authenticateCognito.authenticationRequestExtraParams": DELETE})
    assert any("prompt=login" in m for m in failures("IAM-AUTO-LOGOFF", silent(dev_graph)))


def test_reusing_a_sign_in_older_than_the_session_fails(dev_graph: PlanGraph) -> None:
    params = "defaultActions.0.authenticateCognito.authenticationRequestExtraParams"
    without = edit("web-https", **{params: {"prompt": "login"}})
    assert any("max_age" in m for m in failures("IAM-AUTO-LOGOFF", without(dev_graph)))
    day = edit("web-https", **{params: {"prompt": "login", "max_age": "86400"}})
    assert any("max_age" in m for m in failures("IAM-AUTO-LOGOFF", day(dev_graph)))


def test_tokens_outliving_the_session_fail(dev_graph: PlanGraph) -> None:
    long = edit("identity-alb-client", idTokenValidity=120)
    assert any("beyond the 15-minute session" in m for m in failures("IAM-AUTO-LOGOFF", long(dev_graph)))


@pytest.mark.parametrize(
    "mutation,expected",
    [
        pytest.param(lambda: _drop("identity-login-session"), "no SSO-session limit", id="no-login-session"),
        pytest.param(lambda: edit("identity-login-session", tracking="DISABLED"), "no SSO-session limit", id="dormant"),
        pytest.param(
            lambda: edit("identity-login-session", sso_reuse_minutes=60),
            "reused silently for 60 minutes, beyond the 15-minute session",
            id="reuse-60",
        ),
    ],
)
def test_cognito_session_that_outlives_the_web_session_fails(dev_graph: PlanGraph, mutation, expected: str) -> None:
    """Without the login session, with the pool not tracking sessions (the client limit dormant), or with a reuse
    longer than the timeout, managed login signs the user back in silently after the ALB session ended."""
    msgs = failures("IAM-AUTO-LOGOFF", mutation()(dev_graph))
    assert any(expected in m for m in msgs), msgs
    assert failures("IAM-AUTO-LOGOFF", edit("identity-login-session", sso_reuse_minutes=15)(dev_graph)) == []


def _drop(name: str):
    from tests.policies.mutations import drop

    return drop(name)


def test_required_passkeys_with_a_password_factor_fail(dev_graph: PlanGraph) -> None:
    lax = edit("identity-users", **{"tags.pacsguard:passkeys": "required"})
    assert any("password is still a first factor" in m for m in failures("IAM-PASSKEYS", lax(dev_graph)))


def test_passkeys_without_user_verification_fail(dev_graph: PlanGraph) -> None:
    weak = edit("identity-users", **{"webAuthnConfiguration.userVerification": "preferred"})
    assert any("user verification" in m for m in failures("IAM-PASSKEYS", weak(dev_graph)))


def test_unsealed_break_glass_secret_fails(dev_graph: PlanGraph) -> None:
    plain = edit("identity-break-glass", kmsKeyId=DELETE)
    unsealed = "identity-break-glass is not sealed with a customer-managed key"
    assert unsealed in failures("IAM-EMERGENCY-ACCESS", plain(dev_graph))


def test_passkeys_under_required_mfa_need_the_multi_factor_setting() -> None:
    """What the audit reads from GetUserPoolMfaConfig: with MFA on, single-factor passkeys sign nobody in."""
    from policies.families.identity_beyond_passwords import PASSKEY_AS_MFA, judge_passkeys

    base = {"relying_party": "pacs.example.org", "user_verification": "required", "mfa_required": True}
    factors = ["PASSWORD", "WEB_AUTHN"]
    assert "offers no passkey sign-in" in judge_passkeys("allowed", {**base, "factor": None}, factors, "PLUS")
    assert judge_passkeys("allowed", {**base, "factor": PASSKEY_AS_MFA}, factors, "PLUS") is None
    assert judge_passkeys("allowed", None, factors, "PLUS") is None  # the endpoint did not say (reported skipped)


def test_passkey_first_factor_declared_on_the_pool_fails(dev_graph: PlanGraph) -> None:
    """AWS refuses this pool on the first `pulumi up` (MFA ON, WEB_AUTHN first factor, single-factor passkeys)."""
    early = edit("identity-users", **{"signInPolicy.allowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]})
    assert any("first `pulumi up` fails" in m for m in failures("IAM-PASSKEYS", early(dev_graph)))


def test_a_pool_whose_passkeys_never_count_as_mfa_fails(dev_graph: PlanGraph) -> None:
    """Without the passkey-factor resource an MFA-required pool never offers passkey sign-in."""
    from tests.policies.mutations import drop

    msgs = failures("IAM-PASSKEYS", drop("identity-passkey-factor")(dev_graph))
    assert any("not an allowed first factor" in m for m in msgs), msgs
    single = edit("identity-passkey-factor", factor="SINGLE_FACTOR")
    assert any("offers no passkey sign-in" in m for m in failures("IAM-PASSKEYS", single(dev_graph)))


def test_rotating_client_with_the_refresh_flow_fails(dev_graph: PlanGraph) -> None:
    flows = edit("identity-alb-client", explicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    assert any("refuses that flow" in m for m in failures("DEP-COGNITO-REFRESH-ROTATION", flows(dev_graph)))
    assert failures("DEP-COGNITO-REFRESH-ROTATION", dev_graph) == []


@pytest.mark.parametrize(
    ("params", "verdict"),
    [
        ({"prompt": "login", "max_age": "900"}, None),
        ({"prompt": "login"}, "max_age"),
        ({"prompt": "login", "max_age": "86400"}, "max_age"),
    ],
)
def test_the_audit_reads_max_age_from_the_live_listener(
    params: dict[str, str], verdict: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cloud side of the same judgement, on moto's ELBv2 (which keeps a listener's authenticate-cognito
    parameters): the live listener's max_age against its own session timeout."""
    import boto3
    from moto import mock_aws

    from policies.cloud import facts as cloud_facts
    from policies.cloud.api import AwsApi
    from policies.cloud.context import CloudContext
    from policies.families.identity_beyond_passwords import judge_reauthentication

    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ec2, elb = boto3.client("ec2", "eu-west-1"), boto3.client("elbv2", "eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")["Subnet"]
            for i, z in ((1, "a"), (2, "b"))
        ]
        lb = elb.create_load_balancer(
            Name="web", Subnets=[s["SubnetId"] for s in subnets], Tags=[{"Key": "pacsguard:stack", "Value": "prod"}]
        )["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(Name="hosts", Protocol="HTTP", Port=443, VpcId=vpc)["TargetGroups"][0]
        login = {
            "UserPoolArn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123",
            "UserPoolClientId": "alb",
            "UserPoolDomain": "pacsguard-prod-login",
            "SessionTimeout": 900,
            "AuthenticationRequestExtraParams": params,
        }
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": login},
                {"Type": "forward", "Order": 2, "TargetGroupArn": tg["TargetGroupArn"]},
            ],
        )
        (listener,) = cloud_facts.login_listeners(CloudContext(AwsApi("eu-west-1"), "prod"))
    found = judge_reauthentication(listener)
    assert (found is None) if verdict is None else (verdict in found), found
