"""Identity beyond passwords: the stack pools' app clients, groups and passkey settings; break-glass alarms.

Each boto3 call once (AwsApi caches). moto models the app clients (token lifetimes, refresh rotation, OAuth
flows and scopes), the sign-in policy and groups; it accepts but does not return WebAuthnConfiguration, and has
no ALB jwt-validation action, so those two are judged by the plan only when the audit runs on the emulator; nor
does it have the session-configuration operations (a client's SSO-session reuse), which are then unknown.
"""

from __future__ import annotations

from typing import Any

from policies.cloud.api import ApiUnavailable, AwsApi


def app_clients(api: AwsApi, pool_id: str) -> list[dict[str, Any]]:
    """Each client's configuration. DescribeUserPoolClient also answers the client secret: dropped at once, so no
    report, cache dump or error message of the audit can carry it."""
    out = []
    for c in api.pages("cognito-idp", "ListUserPoolClients", "UserPoolClients", UserPoolId=pool_id, MaxResults=60):
        r = api.call("cognito-idp", "DescribeUserPoolClient", UserPoolId=pool_id, ClientId=c["ClientId"])
        client = r["UserPoolClient"]
        client["_has_secret"] = client.pop("ClientSecret", None) is not None
        out.append(client)
    return out


def session_tracking(api: AwsApi, pool_id: str) -> bool | None:
    """Whether the pool tracks sessions (without it a client's SSO-session limit is dormant); None when the endpoint
    cannot answer (moto lacks the session-configuration operations)."""
    try:
        r = api.call("cognito-idp", "GetUserPoolSessionConfiguration", UserPoolId=pool_id)
    except ApiUnavailable:
        return None
    return r.get("UserSessionTracking") == "ENABLED"


def sso_reuse_minutes(api: AwsApi, pool_id: str, client_id: str) -> float | None:
    """How long the client silently reuses Cognito's SSO session (AWS answers its default, 60, when never set);
    None when the endpoint cannot answer. Asked even while the pool does not track sessions, so the auditor
    policy, generated from the calls an audit of the emulator makes, carries it."""
    try:
        r = api.call("cognito-idp", "GetUserPoolClientSessionConfiguration", UserPoolId=pool_id, ClientId=client_id)
    except ApiUnavailable:
        return None
    minutes = (r.get("SSOSession") or {}).get("MaxValidityMinutes")
    return None if minutes is None else float(minutes)


def groups(api: AwsApi, pool_id: str) -> set[str]:
    return {g["GroupName"] for g in api.pages("cognito-idp", "ListGroups", "Groups", UserPoolId=pool_id)}


def webauthn(api: AwsApi, pool_id: str) -> dict[str, Any] | None:
    """The pool's WebAuthn settings (GetUserPoolMfaConfig), or None when the endpoint does not return them."""
    return api.call("cognito-idp", "GetUserPoolMfaConfig", UserPoolId=pool_id).get("WebAuthnConfiguration")


def alarms(api: AwsApi) -> dict[str, dict[str, Any]]:
    """Metric alarms by metric name."""
    return {a.get("MetricName", ""): a for a in api.pages("cloudwatch", "DescribeAlarms", "MetricAlarms")}
