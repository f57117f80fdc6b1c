"""Identity beyond passwords (issue 16): machine clients, automatic logoff that holds, break-glass, passkeys.

One judge per property over typed facts (policies.facts.resources) that the plan adapters build from Pulumi inputs
and the cloud collectors from Cognito/ELB/CloudWatch answers. Controls are appended to the identity family's CONTROLS.
"""

from __future__ import annotations

from typing import Any

from policies import citations as c
from policies.facts import kinds
from policies.facts.cognito import EMERGENCY_GROUP, EMERGENCY_METRICS, PASSKEY_AS_MFA
from policies.facts.kinds import judged, judged_each
from policies.facts.resources import AppClient, EmergencyAccess, ListenerRule, LoginListener, Passkeys
from policies.model import ENDPOINT, Citations, Control

MACHINE_SCOPES = ("pacs/read", "pacs/store")
MAX_MACHINE_TOKEN_MINUTES = 60
MAX_REFRESH_MINUTES = 60  # Cognito's minimum: the ALB session, not the refresh token, bounds the session
DEFAULT_SSO_REUSE_MINUTES = 60  # AWS's default SSO-session reuse of a client never configured


def is_machine(f: AppClient) -> bool:
    return "client_credentials" in f.flows


def judge_machine_client(f: AppClient) -> str | None:
    if f.flows != ("client_credentials",):
        return f"a machine client must use client_credentials only, not {list(f.flows)}"
    if not f.secret:
        return "a machine client without a secret: anyone knowing its id gets tokens"
    if len(f.scopes) != 1 or f.scopes[0] not in MACHINE_SCOPES:
        return f"needs exactly one of {list(MACHINE_SCOPES)}, has {list(f.scopes)}"
    if f.minutes["access"] > MAX_MACHINE_TOKEN_MINUTES:
        return f"access tokens live {f.minutes['access']:.0f} minutes; at most {MAX_MACHINE_TOKEN_MINUTES}"
    if f.jwt_verified is False:
        return "no listener rule verifies the machine clients' JWTs (RS256) before forwarding"
    return None


def _jwt_unknown(f: AppClient) -> tuple[str, str] | None:
    if f.jwt_verified is None:
        return (
            "the endpoint cannot hold a jwt-validation listener rule: unknown whether one verifies the tokens",
            ENDPOINT,
        )
    return None


def _forwards_unverified(r: ListenerRule) -> str | None:
    return "forwards without verifying a token first" if r.forwards_unverified else None


def judge_user_client(f: AppClient) -> str | None:
    """A browser client's tokens must not outlive the web session (without a listener signing users in: Cognito's
    60-minute refresh minimum), and refresh tokens must not extend it."""
    session_minutes = f.session_minutes or MAX_REFRESH_MINUTES
    for kind in ("access", "id"):
        if f.minutes[kind] > session_minutes:
            return f"{kind} tokens live {f.minutes[kind]:.0f} minutes, beyond the {session_minutes:.0f}-minute session"
    if f.minutes["refresh"] > MAX_REFRESH_MINUTES:
        return f"refresh tokens live {f.minutes['refresh']:.0f} minutes; at most {MAX_REFRESH_MINUTES}"
    if not f.rotation:
        return "refresh tokens are not rotated (a stolen one stays usable)"
    if f.sso_known:
        reuse = f.sso_reuse_minutes
        if reuse is None:
            return (
                "no SSO-session limit with the pool's session tracking on: Cognito's managed-login session signs "
                f"users back in silently for up to {DEFAULT_SSO_REUSE_MINUTES} minutes after the "
                f"{session_minutes:.0f}-minute session ends"
            )
        if reuse > session_minutes:
            return (
                f"Cognito's managed-login session is reused silently for {reuse:.0f} minutes, beyond the "
                f"{session_minutes:.0f}-minute session"
            )
    return None


def _sso_unknown(f: AppClient) -> tuple[str, str] | None:
    if not f.sso_known:
        return (
            "the endpoint cannot answer GetUserPoolSessionConfiguration: unknown whether Cognito's managed-login "
            "session signs users back in after the web session",
            ENDPOINT,
        )
    return None


def judge_reauthentication(listener: LoginListener) -> str | None:
    if listener.extra_params.get("prompt") != "login":
        return "no prompt=login: after the ALB session ends Cognito's own session signs the user in again silently"
    limit = listener.session_minutes * 60
    max_age = str(listener.extra_params.get("max_age", ""))
    if not max_age.isdigit() or int(max_age) > limit:
        return (
            f"max_age {max_age or 'not set'}: Cognito may reuse a sign-in older than the {limit:.0f}-second session "
            "(set max_age to at most the session timeout in seconds)"
        )
    return None


def judge_passkeys(
    mode: str | None, webauthn: dict[str, Any] | None, first_factors: list[str], tier: str
) -> str | None:
    """webauthn: {"relying_party", "user_verification"}, or None when the endpoint cannot say (emulator)."""
    if mode in (None, "off"):
        return "no phishing-resistant factor: passkeys are off"
    if tier not in ("ESSENTIALS", "PLUS"):
        return f"user pool tier {tier or 'LITE'} offers no passkeys (ESSENTIALS or PLUS)"
    created = (webauthn or {}).get("created_first_factors")  # plan only: the factors the pool is created with
    if webauthn and webauthn.get("mfa_required") and created and "WEB_AUTHN" in created:
        return (
            "AWS refuses WEB_AUTHN as a first factor of an MFA-required pool until passkeys count as MFA: the first "
            "`pulumi up` fails; create the pool with the password only and let the passkey-factor resource add it"
        )
    if "WEB_AUTHN" not in first_factors:
        return "passkeys (WEB_AUTHN) are not an allowed first factor" + (
            f" (with MFA required: the passkey-factor resource sets {PASSKEY_AS_MFA}, then adds WEB_AUTHN)"
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


def _emergency(e: EmergencyAccess) -> str | None:
    failures = [] if e.sealed else ["no sealed break-glass credential (secret tagged pacsguard:purpose)"]
    failures += [f"{name} is not sealed with a customer-managed key" for name, sealed in e.sealed if not sealed]
    if not e.group:
        failures.append(f"no {EMERGENCY_GROUP!r} group for break-glass users")
    failures += [f"no alarm that notifies anyone of {m}" for m in EMERGENCY_METRICS if m not in e.alarmed]
    return "; ".join(failures) or None


def _passkeys(p: Passkeys) -> str | None:
    return judge_passkeys(p.mode, p.webauthn, list(p.first_factors), p.tier)


def _passkeys_unknown(p: Passkeys) -> tuple[str, str] | None:
    if p.webauthn is None:
        return "the endpoint returned no WebAuthnConfiguration (user verification unknown)", ENDPOINT
    return None


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
        **judged_each(
            judged(
                kinds.APP_CLIENTS,
                judge_machine_client,
                "one scope, a secret, short tokens verified by the load balancer",
                applies=is_machine,
                applies_to="machine (client_credentials) clients",
                unjudged=_jwt_unknown,
            ),
            judged(kinds.LISTENER_RULES, _forwards_unverified, "verifies a token before forwarding"),
        ),
        layers_extra=("wire",),
    ),
    Control(
        id="IAM-AUTO-LOGOFF",
        title="Automatic logoff holds: no token, refresh or Cognito session outlives the web session",
        family="identity",
        severity="high",
        rationale="Ending the ALB cookie is not a logoff if Cognito's managed-login session or a refresh token signs "
        "the user back in without the password and second factor.",
        remediation="Token validity <= web.session_timeout_minutes, refresh tokens rotated and <= 60 minutes, "
        "prompt=login with max_age <= the session timeout (seconds) on the ALB's authenticate-cognito action, and the "
        "pool's session tracking ENABLED with the ALB client's SSO-session reuse (MaxValidityMinutes) at most the "
        "timeout (infra/login_session.py sets 0).",
        citations=Citations(hipaa=(c.AUTO_LOGOFF, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,)),
        **judged_each(
            judged(
                kinds.LOGIN_LISTENERS,
                judge_reauthentication,
                "Cognito is asked to sign in again (prompt=login, max_age within the session)",
            ),
            judged(
                kinds.APP_CLIENTS,
                judge_user_client,
                "tokens and Cognito's own session end with the web session",
                applies=lambda f: not is_machine(f),
                applies_to="user (browser) clients",
                unjudged=_sso_unknown,
            ),
        ),
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
        **judged(kinds.EMERGENCY, _emergency, "sealed, grouped, every use alarmed"),
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
        "verification required, tier ESSENTIALS or PLUS; with MFA required the passkey factor "
        "MULTI_FACTOR_WITH_USER_VERIFICATION (set by `pulumi up` through infra/passkey_factor.py, since pulumi-aws "
        "7.51 cannot declare it) and WEB_AUTHN among the first factors.",
        citations=Citations(hipaa=(c.AUTHENTICATION,), gdpr=(c.GDPR_CIA,)),
        **judged(kinds.PASSKEY_POOLS, _passkeys, unjudged=_passkeys_unknown),
    ),
]
