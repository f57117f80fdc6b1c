"""Identity beyond passwords (issue 16): machine clients, automatic logoff that holds, break-glass, passkeys.

One judge per property over plain facts; the plan builds the facts from Pulumi inputs (camelCase), the audit from
Cognito/ELB/CloudWatch answers (PascalCase). Controls are appended to the identity family's CONTROLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies import citations as c
from policies.graph import PlanGraph, Res
from policies.model import Citations, CloudCheck, Control, Outcome, ResourceCheck, StackCheck, outcome, resource_outcome

CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
RULES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
MACHINE_SCOPES = ("pacs/read", "pacs/store")
MAX_MACHINE_TOKEN_MINUTES = 60
MAX_REFRESH_MINUTES = 60  # Cognito's minimum: the ALB session, not the refresh token, bounds the session
EMERGENCY_METRICS = ("EmergencyAccessUsed", "BreakGlassCredentialRead")
EMERGENCY_GROUP = "emergency"
PASSKEY_AS_MFA = "MULTI_FACTOR_WITH_USER_VERIFICATION"  # not declarable with pulumi-aws 7.51: set after deploy
PENDING_FACTOR = (
    "pending"  # the plan's view until the operator says the factor is set (pool tag pacsguard:passkeys-mfa)
)
# Cognito's defaults when a validity or its unit is not given.
DEFAULT_MINUTES = {"access": 60, "id": 60, "refresh": 30 * 24 * 60}
DEFAULT_UNITS = {"access": "hours", "id": "hours", "refresh": "days"}
UNIT_MINUTES = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 24 * 60}


@dataclass(frozen=True)
class ClientFacts:
    flows: tuple[str, ...]
    scopes: tuple[str, ...]
    secret: bool
    minutes: dict[str, float]  # access / id / refresh token lifetimes
    rotation: bool


def _lifetime(value: Any, unit: Any, kind: str) -> float:
    if value is None:
        return DEFAULT_MINUTES[kind]
    return float(value) * UNIT_MINUTES.get(str(unit or DEFAULT_UNITS[kind]), 1)


def plan_client(i: dict[str, Any]) -> ClientFacts:
    units = i.get("tokenValidityUnits") or {}
    return ClientFacts(
        flows=tuple(i.get("allowedOauthFlows") or ()),
        scopes=tuple(i.get("allowedOauthScopes") or ()),
        secret=bool(i.get("generateSecret")),
        minutes={k: _lifetime(i.get(f"{k}TokenValidity"), units.get(f"{k}Token"), k) for k in DEFAULT_MINUTES},
        rotation=(i.get("refreshTokenRotation") or {}).get("feature") == "ENABLED",
    )


def cloud_client(r: dict[str, Any]) -> ClientFacts:
    units = r.get("TokenValidityUnits") or {}
    names = {"access": "AccessToken", "id": "IdToken", "refresh": "RefreshToken"}
    return ClientFacts(
        flows=tuple(r.get("AllowedOAuthFlows") or ()),
        scopes=tuple(r.get("AllowedOAuthScopes") or ()),
        secret=bool(r.get("_has_secret")),  # the collector drops ClientSecret and leaves this marker
        minutes={k: _lifetime(r.get(f"{n}Validity"), units.get(n), k) for k, n in names.items()},
        rotation=(r.get("RefreshTokenRotation") or {}).get("Feature") == "ENABLED",
    )


def is_machine(f: ClientFacts) -> bool:
    return "client_credentials" in f.flows


def judge_machine_client(f: ClientFacts) -> str | None:
    if f.flows != ("client_credentials",):
        return f"a machine client must use client_credentials only, not {list(f.flows)}"
    if not f.secret:
        return "a machine client without a secret: anyone knowing its id gets tokens"
    if len(f.scopes) != 1 or f.scopes[0] not in MACHINE_SCOPES:
        return f"needs exactly one of {list(MACHINE_SCOPES)}, has {list(f.scopes)}"
    if f.minutes["access"] > MAX_MACHINE_TOKEN_MINUTES:
        return f"access tokens live {f.minutes['access']:.0f} minutes; at most {MAX_MACHINE_TOKEN_MINUTES}"
    return None


def judge_user_client(f: ClientFacts, session_minutes: float) -> str | None:
    """A browser client's tokens must not outlive the web session, and refresh tokens must not extend it."""
    for kind in ("access", "id"):
        if f.minutes[kind] > session_minutes:
            return f"{kind} tokens live {f.minutes[kind]:.0f} minutes, beyond the {session_minutes:.0f}-minute session"
    if f.minutes["refresh"] > MAX_REFRESH_MINUTES:
        return f"refresh tokens live {f.minutes['refresh']:.0f} minutes; at most {MAX_REFRESH_MINUTES}"
    if not f.rotation:
        return "refresh tokens are not rotated (a stolen one stays usable)"
    return None


def judge_reauthentication(extra_params: dict[str, Any] | None) -> str | None:
    if (extra_params or {}).get("prompt") != "login":
        return "no prompt=login: after the ALB session ends Cognito's own session signs the user in again silently"
    return None


def judge_passkeys(
    mode: str | None, webauthn: dict[str, Any] | None, first_factors: list[str], tier: str
) -> str | None:
    """webauthn: {"relying_party", "user_verification"}, or None when the endpoint cannot say (emulator)."""
    if mode in (None, "off"):
        return "no phishing-resistant factor: passkeys are off"
    if tier not in ("ESSENTIALS", "PLUS"):
        return f"user pool tier {tier or 'LITE'} offers no passkeys (ESSENTIALS or PLUS)"
    if webauthn and webauthn.get("mfa_required") and webauthn.get("factor") == PENDING_FACTOR:
        # Plan time: the pool's passkey factor is set after the first deploy (pulumi-aws cannot declare it).
        if "WEB_AUTHN" in first_factors:
            return (
                "AWS refuses WEB_AUTHN as a first factor of an MFA-required pool until passkeys count as MFA: "
                "the first `pulumi up` fails; run the one-time set-user-pool-mfa-config (README), then set "
                "identity.passkeys_count_as_mfa"
            )
        webauthn = {k: v for k, v in webauthn.items() if k not in ("mfa_required", "factor")}
    elif "WEB_AUTHN" not in first_factors:
        return "passkeys (WEB_AUTHN) are not an allowed first factor" + (
            f" (with MFA required: set the passkey factor to {PASSKEY_AS_MFA}, then identity.passkeys_count_as_mfa)"
            if webauthn and webauthn.get("mfa_required")
            else ""
        )
    if mode == "required" and "PASSWORD" in first_factors:
        return "passkeys are required but a password is still a first factor"
    if webauthn is not None:
        if webauthn.get("user_verification") != "required":
            return "passkeys without user verification are one factor, not two"
        if not webauthn.get("relying_party"):
            return "no relying party: passkeys are bound to no domain"
        if webauthn.get("mfa_required") and webauthn.get("factor") != PASSKEY_AS_MFA:
            return (
                f"MFA is required but passkeys are {webauthn.get('factor') or 'SINGLE_FACTOR'}, not "
                f"{PASSKEY_AS_MFA}: Cognito offers no passkey sign-in"
            )
    return None


# --- plan -------------------------------------------------------------------------------------------------


def _forward_unverified(rule: Res) -> bool:
    actions = sorted(rule.inputs.get("actions") or [], key=lambda a: a.get("order") or 0)
    types = [a.get("type") for a in actions]
    if "forward" not in types:
        return False
    before = types[: types.index("forward")]
    return not any(t in ("jwt-validation", "authenticate-cognito", "authenticate-oidc") for t in before)


def _jwt_rule(rule: Res) -> bool:
    for a in rule.inputs.get("actions") or []:
        jwt = a.get("jwtValidation") or {}
        if a.get("type") == "jwt-validation" and str(jwt.get("issuer", "")).startswith("https://cognito-idp."):
            return bool(jwt.get("jwksEndpoint"))
    return False


def _machine_tokens(g: PlanGraph) -> list[Outcome]:
    clients = [r for r in g.of(CLIENT) if is_machine(plan_client(r.inputs))]
    out = [
        resource_outcome(r, judge_machine_client(plan_client(r.inputs)), "one scope, a secret, short tokens")
        for r in clients
    ]
    rules = g.of(*RULES)
    out += [
        Outcome(r.name, "fail", "forwards without verifying a token first") for r in rules if _forward_unverified(r)
    ]
    if clients and not any(_jwt_rule(r) for r in rules):
        out.append(Outcome("stack", "fail", "machine clients exist but no listener rule verifies their JWT (RS256)"))
    return out or [Outcome("stack", "pass", "no machine clients: the load balancer admits no bearer token")]


def _auto_logoff(g: PlanGraph) -> list[Outcome]:
    sessions = []
    out = []
    for listener in g.of(*LISTENERS):
        for a in listener.inputs.get("defaultActions") or []:
            auth = a.get("authenticateCognito")
            if auth:
                sessions.append((auth.get("sessionTimeout") or 604800) / 60)
                failure = judge_reauthentication(auth.get("authenticationRequestExtraParams"))
                out.append(resource_outcome(listener, failure, "Cognito is asked to sign in again (prompt=login)"))
    if not sessions:
        return [Outcome("stack", "skipped", "not applicable: no listener signs users in with Cognito")]
    for r in g.of(CLIENT):
        facts = plan_client(r.inputs)
        if not is_machine(facts):
            out.append(resource_outcome(r, judge_user_client(facts, min(sessions)), "tokens end with the session"))
    return out


def _emergency(g: PlanGraph) -> list[Outcome]:
    secrets = [s for s in g.of("aws:secretsmanager/secret:Secret") if s.tags.get("pacsguard:purpose") == "break-glass"]
    out = [
        resource_outcome(s, None if s.inputs.get("kmsKeyId") else "not sealed with the stack's key") for s in secrets
    ]
    if not secrets:
        out.append(Outcome("stack", "fail", "no sealed break-glass credential (secret tagged pacsguard:purpose)"))
    if not any(gr.inputs.get("name") == EMERGENCY_GROUP for gr in g.of("aws:cognito/userGroup:UserGroup")):
        out.append(Outcome("stack", "fail", f"no {EMERGENCY_GROUP!r} group for break-glass users"))
    filters = {f.inputs.get("name") for f in g.of("aws:cloudwatch/logMetricFilter:LogMetricFilter")}
    alarms = {a.inputs.get("metricName"): a for a in g.of("aws:cloudwatch/metricAlarm:MetricAlarm")}
    for metric in EMERGENCY_METRICS:
        ok = metric in filters and metric in alarms and alarms[metric].inputs.get("alarmActions")
        out.append(outcome(metric, None if ok else "no filter and alarm that notifies anyone", "every use alarms"))
    return out


def _passkeys(i: dict[str, Any]) -> str | None:
    wa = i.get("webAuthnConfiguration")
    tags = i.get("tags") or {}
    webauthn = (
        {
            "relying_party": wa.get("relyingPartyId"),
            "user_verification": wa.get("userVerification"),
            "mfa_required": i.get("mfaConfiguration") == "ON",
            "factor": PASSKEY_AS_MFA if tags.get("pacsguard:passkeys-mfa") == "set" else PENDING_FACTOR,
        }
        if wa
        else {}
    )
    factors = (i.get("signInPolicy") or {}).get("allowedFirstAuthFactors") or ["PASSWORD"]
    return judge_passkeys(
        (i.get("tags") or {}).get("pacsguard:passkeys"), webauthn, factors, i.get("userPoolTier") or ""
    )


# --- cloud ------------------------------------------------------------------------------------------------


def _pools(cx: Any) -> list[dict[str, Any]]:
    from policies.cloud.collect import identity

    return identity.user_pools(cx.api, cx.stack)


def _c_machine_tokens(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import identity_clients
    from policies.cloud.judge import none_found

    pools = _pools(cx)
    out = []
    for pool in pools:
        for r in identity_clients.app_clients(cx.api, pool["Id"]):
            facts = cloud_client(r)
            if is_machine(facts):
                out.append(outcome(f"{pool['Id']}/{r.get('ClientName', r['ClientId'])}", judge_machine_client(facts)))
    if pools and not out:
        return [Outcome("stack", "pass", "no machine clients in the stack's user pools")]
    return out or none_found("user pool", cx.stack)


def _c_auto_logoff(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import edge, identity_clients
    from policies.cloud.judge import none_found

    out, sessions = [], []
    for lb in edge.load_balancers(cx.api, cx.stack):
        for listener in lb["listeners"]:
            for a in listener.get("DefaultActions") or []:
                auth = a.get("AuthenticateCognitoConfig")
                if auth:
                    sessions.append((auth.get("SessionTimeout") or 604800) / 60)
                    failure = judge_reauthentication(auth.get("AuthenticationRequestExtraParams"))
                    out.append(outcome(listener["ListenerArn"], failure))
    session = min(sessions) if sessions else MAX_REFRESH_MINUTES
    pools = _pools(cx)
    for pool in pools:
        for r in identity_clients.app_clients(cx.api, pool["Id"]):
            facts = cloud_client(r)
            if not is_machine(facts):
                name = f"{pool['Id']}/{r.get('ClientName', r['ClientId'])}"
                out.append(outcome(name, judge_user_client(facts, session), "tokens end with the session"))
    return out or none_found("user pool", cx.stack)


def _c_emergency(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import audit_services, identity_clients, tag_dict
    from policies.facts.predicates import customer_key

    out = []
    sealed = [
        s
        for s in audit_services.secrets(cx.api, cx.stack)
        if tag_dict(s.get("Tags")).get("pacsguard:purpose") == "break-glass"
    ]
    for s in sealed:
        out.append(outcome(s["Name"], None if customer_key(s.get("KmsKeyId")) else "not sealed with a customer key"))
    if not sealed:
        out.append(Outcome("stack", "fail", "no sealed break-glass credential (secret tagged pacsguard:purpose)"))
    for pool in _pools(cx):
        if EMERGENCY_GROUP not in identity_clients.groups(cx.api, pool["Id"]):
            out.append(Outcome(pool["Id"], "fail", f"no {EMERGENCY_GROUP!r} group for break-glass users"))
    alarms = identity_clients.alarms(cx.api)
    for metric in EMERGENCY_METRICS:
        ok = metric in alarms and alarms[metric].get("AlarmActions")
        out.append(outcome(metric, None if ok else "no alarm that notifies anyone", "every use alarms"))
    return out


def _c_passkeys(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import identity_clients, tag_dict
    from policies.cloud.judge import none_found

    out = []
    for pool in _pools(cx):
        wa = identity_clients.webauthn(cx.api, pool["Id"])
        webauthn = (
            {
                "relying_party": wa.get("RelyingPartyId"),
                "user_verification": wa.get("UserVerification"),
                "factor": wa.get("FactorConfiguration"),
                "mfa_required": pool.get("MfaConfiguration") == "ON",
            }
            if wa
            else None
        )
        factors = ((pool.get("Policies") or {}).get("SignInPolicy") or {}).get("AllowedFirstAuthFactors") or [
            "PASSWORD"
        ]
        mode = tag_dict(pool.get("UserPoolTags")).get("pacsguard:passkeys")
        out.append(outcome(pool["Id"], judge_passkeys(mode, webauthn, factors, pool.get("UserPoolTier") or "")))
        if wa is None and out[-1].status == "pass":
            out.append(
                Outcome(
                    pool["Id"], "skipped", "the endpoint returned no WebAuthnConfiguration (user verification unknown)"
                )
            )
    return out or none_found("user pool", cx.stack)


CONTROLS = [
    Control(
        id="IAM-MACHINE-TOKENS",
        title="Machine clients use short RS256 tokens, one PACS scope each, verified by the ALB and again by the host",
        family="identity",
        severity="critical",
        rationale="Pipelines and routers need DICOMweb without a browser; a shared password or a long-lived, broad or "
        "unverified token would let anyone who copies it read or write every study.",
        remediation="identity.machine_clients: client_credentials only, a secret, one of pacs/read|pacs/store, tokens "
        "<= 60 minutes; a listener rule with jwt-validation before forward; the host plugin verifies again.",
        citations=Citations(hipaa=(c.ACCESS, c.AUTHENTICATION, c.UNIQUE_ID), gdpr=(c.GDPR_CIA,)),
        plan=StackCheck(_machine_tokens),
        cloud=CloudCheck(_c_machine_tokens),
        layers_extra=("wire",),
    ),
    Control(
        id="IAM-AUTO-LOGOFF",
        title="Automatic logoff holds: no token, refresh or Cognito session outlives the web session",
        family="identity",
        severity="high",
        rationale="Ending the ALB cookie is not a logoff if Cognito's managed-login session or a refresh token signs "
        "the user back in without the password and second factor.",
        remediation="Token validity <= web.session_timeout_minutes, refresh tokens rotated and <= 60 minutes, and "
        "prompt=login on the ALB's authenticate-cognito action.",
        citations=Citations(hipaa=(c.AUTO_LOGOFF, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,)),
        plan=StackCheck(_auto_logoff),
        cloud=CloudCheck(_c_auto_logoff),
        layers_extra=("wire",),
    ),
    Control(
        id="IAM-EMERGENCY-ACCESS",
        title="Emergency (break-glass) access is sealed, time-limited, alarmed on every use and audited as such",
        family="identity",
        severity="high",
        rationale="HIPAA requires an emergency access procedure; an unsealed, silent or open-ended one is a back door.",
        remediation="Keep the break-glass credential sealed (Secrets Manager, secrets key), an 'emergency' group, "
        "alarms on its unsealing and on every emergency request, identity.emergency_access_minutes <= 240.",
        citations=Citations(hipaa=(c.EMERGENCY_ACCESS, c.AUDIT, c.LOGIN_MONITORING), gdpr=(c.GDPR_CIA,)),
        plan=StackCheck(_emergency),
        cloud=CloudCheck(_c_emergency),
        layers_extra=("wire",),
    ),
    Control(
        id="IAM-PASSKEYS",
        title="A phishing-resistant factor (passkeys with user verification) is offered, or required, as configured",
        family="identity",
        severity="high",
        rationale="TOTP codes can be phished in real time; a passkey is bound to the stack's domain and needs the "
        "user's biometric or PIN.",
        remediation="identity.passkeys: allowed; WebAuthn relying party = the managed-login host, user "
        "verification required, tier ESSENTIALS or PLUS; with MFA required, after deploy `aws cognito-idp "
        "set-user-pool-mfa-config` with WebAuthnConfiguration FactorConfiguration=MULTI_FACTOR_WITH_USER_VERIFICATION "
        "(pulumi-aws 7.51 cannot), then identity.passkeys_count_as_mfa: true to add the passkey first factor.",
        citations=Citations(hipaa=(c.AUTHENTICATION,), gdpr=(c.GDPR_CIA,)),
        plan=ResourceCheck(("aws:cognito/userPool:UserPool",), _passkeys),
        cloud=CloudCheck(_c_passkeys),
    ),
]
