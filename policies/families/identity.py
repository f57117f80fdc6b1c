"""Identity: least privilege, no static keys, MFA, automatic logoff, authentication before access."""

from __future__ import annotations

from typing import Any

from policies import citations as c
from policies.cloud.checks import app_secret, principals
from policies.facts import kinds
from policies.facts.kinds import judged
from policies.facts.resources import Database, Principal, UserPool
from policies.families.identity_beyond_passwords import CONTROLS as BEYOND_PASSWORDS
from policies.graph import PlanGraph, as_list, policy_doc, statements
from policies.model import Citations, CloudCheck, Control, Outcome, ResourceCheck, StackCheck, outcome, resource_outcome

IDENTITY = Citations(hipaa=(c.ACCESS, c.UNIQUE_ID, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,))
MAX_SESSION_SECONDS = 3600
# Actions AWS offers no resource-level permission for: "*" is the only possible resource.
RESOURCE_WILDCARD_ONLY = {
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel", "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
    "ec2messages:FailMessage", "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
    "ec2:DescribeVolumes",  # EC2 Describe* actions take no resource (storage.mode ebs: the host watches its volume)
}  # fmt: skip


# AWS-managed policies that are administrative by design: judged by name, the only thing the plan knows of them.
ADMIN_AWS_MANAGED = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def _too_broad(doc: dict[str, Any]) -> str | None:
    """Why a policy document is administrative or wildcard, or None."""
    for st in statements(doc):
        if st.get("Effect") != "Allow":
            continue
        sid = st.get("Sid") or "(no Sid)"
        actions = [str(a) for a in as_list(st.get("Action"))]
        resources = [str(r) for r in as_list(st.get("Resource"))]
        if "*" in actions or "*:*" in actions:
            return f"statement {sid} allows every action" + (" on every resource" if "*" in resources else "")
        if st.get("NotAction") is not None and "*" in resources:
            return f"statement {sid} allows everything but {as_list(st.get('NotAction'))}"
        wild = [a for a in actions if a.endswith(":*")]
        if wild and "*" in resources:
            return f"statement {sid} allows {', '.join(wild)} on every resource"
    return None


def _no_admin(p: Principal) -> str | None:
    by_name = {f"AWS-managed policy {n}" for n in p.aws_managed if n in ADMIN_AWS_MANAGED}
    reasons = [f"{label}: administrative by design" for label in sorted(by_name)]
    reasons += [f"{label}: {why}" for label, doc in p.documents if label not in by_name and (why := _too_broad(doc))]
    return "; ".join(reasons) or None


def _secret_rotation(db: Database) -> str | None:
    """RDS turns 7-day rotation on for the secrets it manages; turning it off, or a password set by hand, leaves the
    password forever."""
    if not db.password_managed:
        return "the master password is not managed by RDS in Secrets Manager: nothing rotates it"
    return None if db.secret_rotates else "automatic rotation of the master secret is off"


def _allow_statements(i: dict[str, Any]) -> list[dict[str, Any]]:
    return [st for st in statements(policy_doc(i.get("policy"))) if st.get("Effect") == "Allow"]


def _no_wildcard_actions(i: dict[str, Any]) -> str | None:
    for st in _allow_statements(i):
        for action in as_list(st.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                return f"statement {st.get('Sid', '?')} allows {action}"
    return None


def _scoped_resources(i: dict[str, Any]) -> str | None:
    for st in _allow_statements(i):
        if "*" in as_list(st.get("Resource")):
            extra = set(as_list(st.get("Action"))) - RESOURCE_WILDCARD_ONLY
            if extra:
                return f"statement {st.get('Sid', '?')} allows {sorted(extra)[0]} on every resource"
    return None


def _no_static_keys(g: PlanGraph) -> list[Outcome]:
    keys = g.of("aws:iam/accessKey:AccessKey")
    users = g.of("aws:iam/user:User")
    out = [Outcome(k.name, "fail", "a long-lived access key is created") for k in keys]
    out += [Outcome(u.name, "fail", "an IAM user is created (use roles)") for u in users]
    return out or [Outcome("stack", "pass", "no IAM users or access keys: every principal is a role")]


def _mfa(pool: UserPool) -> str | None:
    if pool.mfa != "ON":
        return f"MFA is {pool.mfa or 'OFF'}, not required"
    return None if pool.totp else "TOTP MFA is not enabled"


def _password_policy(pool: UserPool) -> str | None:
    if (pool.min_password_length or 0) < 14:
        return f"passwords may be {pool.min_password_length or 8} characters; require 14"
    return None if pool.admin_only_signup else "anyone can sign up"


def _session_timeout(i: dict[str, Any]) -> str | None:
    for action in i.get("defaultActions") or []:
        auth = action.get("authenticateCognito") or action.get("authenticateOidc")
        if auth:
            timeout = auth.get("sessionTimeout") or 604800  # the AWS default is seven days
            return (
                None if timeout <= MAX_SESSION_SECONDS else f"sessions last {timeout // 60} minutes (automatic logoff)"
            )
    return None


def _authenticate_before_forward(i: dict[str, Any]) -> str | None:
    if i.get("protocol") != "HTTPS":
        return None
    actions = sorted(i.get("defaultActions") or [], key=lambda a: a.get("order") or 0)
    types = [a.get("type") for a in actions]
    if "forward" in types and not any(
        t in ("authenticate-cognito", "authenticate-oidc") for t in types[: types.index("forward")]
    ):
        return "forwards to the PACS without authenticating first"
    return None


def _role_arns(g: PlanGraph) -> list[Outcome]:
    """Role policies name ARNs, never a wildcard account (which would reach into other accounts)."""
    out = []
    for pol in g.of("aws:iam/rolePolicy:RolePolicy"):
        bad = None
        for st in _allow_statements(pol.inputs):
            for r in as_list(st.get("Resource")):
                if r == "*":
                    continue  # judged by IAM-SCOPED-RESOURCES
                parts = str(r).split(":")
                if not str(r).startswith("arn:") or len(parts) < 6:
                    bad = f"{r!r} is not an ARN"
                elif parts[4] == "*":
                    bad = f"{r} matches any account"
        out.append(resource_outcome(pol, bad, "names ARNs of this account"))
    return out


# --- cloud checks -------------------------------------------------------------------------------------


def _c_static_keys(cx: Any) -> list[Outcome]:
    return principals.static_keys(cx)  # root keys and every IAM user's active keys


def _c_account_passwords(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import identity

    pp = identity.password_policy(cx.api)
    if pp is None:
        return [Outcome("account", "fail", "no IAM password policy (AWS defaults allow 8 characters)")]
    short = (pp.get("MinimumPasswordLength") or 0) < 14
    failure = (
        "minimum length under 14"
        if short
        else (None if pp.get("PasswordReusePrevention") else "password reuse is not prevented")
    )
    return [outcome("account", failure, "strong IAM password policy")]


def _c_root_mfa(cx: Any) -> list[Outcome]:
    from policies.cloud.collect import identity

    summary = identity.account_summary(cx.api)
    return [
        outcome(
            "account", None if summary.get("AccountMFAEnabled") else "the root user has no MFA", "root user has MFA"
        )
    ]


CONTROLS = [
    Control(
        id="IAM-NO-WILDCARD-ACTIONS",
        title="No policy allows wildcard actions",
        family="identity",
        severity="high",
        rationale="svc:* grants future actions nobody reviewed, including deletion and decryption.",
        remediation="List the exact actions each statement needs.",
        citations=IDENTITY,
        equivalents={
            "aws_config": "IAM_NO_INLINE_POLICY_CHECK",
            "prowler": "iam_inline_policy_no_administrative_privileges",
        },
        plan=ResourceCheck(("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"), _no_wildcard_actions),
    ),
    Control(
        id="IAM-SCOPED-RESOURCES",
        title="Policies name resources; '*' only where AWS allows nothing else",
        family="identity",
        severity="high",
        rationale="A role that can read every secret or every bucket turns one compromised host into the whole account.",
        remediation="Name the stack's ARNs (log groups, secrets, keys, file system); keep '*' for actions without resource-level support.",
        citations=IDENTITY,
        equivalents={},
        plan=ResourceCheck(("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"), _scoped_resources),
    ),
    Control(
        id="IAM-ROLE-ARNS",
        title="Role policies reference ARNs, not account-wide patterns",
        family="identity",
        severity="medium",
        rationale="Resources given as bare names or region/account wildcards widen access silently.",
        remediation="Build resource ARNs from the stack's own resources.",
        citations=IDENTITY,
        equivalents={},
        plan=StackCheck(_role_arns),
    ),
    Control(
        id="IAM-NO-STATIC-KEYS",
        title="No IAM users or long-lived access keys",
        family="identity",
        severity="high",
        rationale="Static keys leak through laptops and CI logs; roles with short sessions do not. In the account, an active IAM user key fails when older than 90 days, unused for 90 days, or never used at all (whatever its age: a key nobody uses is one to delete); the plan fails any key or user the program creates.",
        remediation="Use roles: the instance profile for hosts, SSO for people.",
        citations=IDENTITY,
        equivalents={
            "aws_config": "ACCESS_KEYS_ROTATED",
            "prowler": "iam_no_root_access_key, iam_rotate_access_key_90_days, iam_user_accesskey_unused",
        },
        plan=StackCheck(_no_static_keys),
        cloud=CloudCheck(_c_static_keys),
    ),
    Control(
        id="IAM-MFA",
        title="Sign-in requires TOTP MFA",
        family="identity",
        severity="critical",
        rationale="A stolen password alone must not open the PACS.",
        remediation="Set mfa_configuration='ON' with software token MFA on the user pool.",
        citations=Citations(hipaa=(c.AUTHENTICATION,), gdpr=(c.GDPR_CIA,)),
        equivalents={"prowler": "cognito_user_pool_mfa_enabled"},
        **judged(kinds.USER_POOLS, _mfa, "MFA required"),
    ),
    Control(
        id="IAM-PASSWORDS",
        title="Strong passwords and no self sign-up",
        family="identity",
        severity="high",
        rationale="Only administrators create PACS accounts; passwords resist guessing.",
        remediation="password_policy minimum_length >= 14; admin_create_user_config allow_admin_create_user_only.",
        citations=IDENTITY,
        equivalents={"prowler": "cognito_user_pool_password_policy_minimum_length_14"},
        **judged(kinds.USER_POOLS, _password_policy),
    ),
    Control(
        id="IAM-SESSION-TIMEOUT",
        title="Web sessions end within an hour (automatic logoff)",
        family="identity",
        severity="medium",
        rationale="An unattended reading-room workstation must not stay signed in for days.",
        remediation="Set web.session_timeout_minutes (default 15).",
        citations=Citations(hipaa=(c.AUTO_LOGOFF,), gdpr=(c.GDPR_CIA,)),
        equivalents={},
        plan=ResourceCheck(("aws:lb/listener:Listener",), _session_timeout),
    ),
    Control(
        id="IAM-WEB-AUTH",
        title="The web entry authenticates before forwarding",
        family="identity",
        severity="critical",
        rationale="The load balancer signs users in (with MFA) so unauthenticated requests never reach Orthanc.",
        remediation="Make authenticate-cognito the first default action of the HTTPS listener.",
        citations=Citations(hipaa=(c.ACCESS, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,)),
        equivalents={},
        plan=ResourceCheck(("aws:lb/listener:Listener",), _authenticate_before_forward),
    ),
    Control(
        id="IAM-ACCOUNT-PASSWORD-POLICY",
        title="The AWS account enforces strong IAM passwords",
        family="identity",
        severity="medium",
        rationale="Console users of the account that hosts PHI need passwords as strong as PACS users'.",
        remediation="Set an IAM account password policy: minimum length 14 and reuse prevention.",
        citations=IDENTITY,
        equivalents={"aws_config": "IAM_PASSWORD_POLICY", "prowler": "iam_password_policy_minimum_length_14"},
        cloud=CloudCheck(_c_account_passwords),
    ),
    Control(
        id="IAM-ROOT-MFA",
        title="The root user has MFA",
        family="identity",
        severity="critical",
        rationale="The root user can read every image and disable every control; a password alone must not suffice.",
        remediation="Enable MFA (hardware key preferred) on the root user; store it offline.",
        citations=Citations(hipaa=(c.AUTHENTICATION,), gdpr=(c.GDPR_CIA,)),
        equivalents={"aws_config": "ROOT_ACCOUNT_MFA_ENABLED", "prowler": "iam_root_mfa_enabled"},
        cloud=CloudCheck(_c_root_mfa),
    ),
    Control(
        id="IAM-NO-ADMIN",
        title="No IAM user, group or role holds administrative or wildcard rights",
        family="identity",
        severity="critical",
        rationale="An access key or role with *:* (inline, customer-managed or AdministratorAccess) can read every image, disable every control and delete the backups; svc:* on every resource grants actions nobody reviewed. Account-level by design in the cloud: the stack's key policies trust the account, so any administrator of the account can read the images, whatever stack it belongs to; the plan judges the stack's own roles.",
        remediation="Replace administrator policies with least-privilege ones; use short-lived SSO sessions with MFA for administration, outside the PHI account where possible.",
        citations=IDENTITY,
        equivalents={
            "prowler": "iam_inline_policy_no_administrative_privileges, iam_customer_attached_policy_no_administrative_privileges, "
            "iam_aws_attached_policy_no_administrative_privileges, iam_role_administratoraccess_policy, "
            "iam_user_administrator_access_policy, iam_group_administrator_access_policy",
            "aws_config": "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
        },
        **judged(kinds.PRINCIPALS, _no_admin, "no administrative or wildcard policy"),
    ),
    Control(
        id="IAM-CONSOLE-MFA",
        title="IAM users who can sign in to the console have MFA",
        family="identity",
        severity="high",
        rationale="A console password alone opens the account that holds the images to anyone who phishes or guesses it.",
        remediation="Enable an MFA device for every IAM user with a login profile, or remove the login profile (prefer SSO).",
        citations=Citations(hipaa=(c.AUTHENTICATION,), gdpr=(c.GDPR_CIA,)),
        equivalents={
            "aws_config": "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS",
            "prowler": "iam_user_mfa_enabled_console_access",
        },
        cloud=CloudCheck(principals.console_mfa),
    ),
    Control(
        id="IAM-SECRET-ROTATION",
        title="The database master password is managed by RDS and rotates automatically",
        family="identity",
        severity="medium",
        rationale="A database password that never changes stays valid after it leaks through a backup, a log or a departed administrator.",
        remediation="Let RDS manage the master password (manage_master_user_password, rotated every 7 days) or attach a rotation Lambda.",
        citations=Citations(hipaa=(c.ACCESS, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,)),
        equivalents={
            "aws_config": "SECRETSMANAGER_ROTATION_ENABLED_CHECK",
            "prowler": "secretsmanager_automatic_rotation_enabled",
        },
        **judged(kinds.DATABASES, _secret_rotation, "master secret rotated automatically"),
    ),
    Control(
        id="IAM-APP-SECRET-ROTATION",
        title="The database application role's password has changed within its rotation period",
        family="identity",
        severity="medium",
        rationale="Orthanc's own database password is rotated by the hosts, not by Secrets Manager, so no rotation schedule shows it; only the age of its current version proves the hosts really rotate it.",
        remediation="Start a host (its credentials timer rotates a due secret within a minute), or rotate now from a host's SSM session: db-credentials --rotate-now; read the host's journal for pacsguard-db-credentials if it fails.",
        citations=Citations(hipaa=(c.ACCESS, c.AUTHENTICATION), gdpr=(c.GDPR_CIA,)),
        equivalents={"aws_config": "SECRETSMANAGER_SECRET_PERIODIC_ROTATION"},
        cloud=CloudCheck(app_secret.app_secret_age),
    ),
]

# Issue 16: machine clients, automatic logoff that holds, break-glass and passkeys (kept in their own module).
CONTROLS += BEYOND_PASSWORDS
