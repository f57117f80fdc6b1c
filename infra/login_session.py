"""Cognito's managed-login session ends with the web session: the ALB's app client never silently reuses it.

Managed login keeps its own SSO session (a cookie, 60 minutes by AWS's default), and while it lasts Cognito hands the
ALB new tokens without asking for the password and second factor: ending the ALB's session would not log the user
off. AWS documents a per-client limit, ClientSSOSessionConfigType.MaxValidityMinutes, "the maximum amount of time ...
that this app client silently reuses an existing SSO session ... measured from the user's last fresh authentication
... 0 means that this app client never silently reuses the SSO session and always re-authenticates the user"
(https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ClientSSOSessionConfigType.html),
set by SetUserPoolClientSessionConfiguration; it is dormant unless the pool's session tracking is ENABLED
(SetUserPoolSessionConfiguration). pulumi-aws 7.51 declares neither, so this dynamic resource sets both after the
pool and the client exist, and read()/diff() let a refresh see a change made outside Pulumi, which the next `pulumi up`
repairs.

The reuse limit is 0, not the session timeout: the ALB sends a user to Cognito only when its own session (which
already holds web.session_timeout_minutes) has ended or the user logged off, and both must mean a fresh sign-in. A
limit equal to the timeout would let a user who logged off at minute 5 of a shared workstation come back signed in,
silently, until minute 15. Machine clients (client credentials) have no SSO session and are left alone.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from infra.cognito_provider import CognitoProvider

PURPOSE = "login-session"  # how the plan finds this resource among dynamic ones
SSO_REUSE_MINUTES = 0  # always re-authenticate when the ALB sends the user to Cognito (see the module docstring)
# SetUserPoolSessionConfiguration replaces the whole pool configuration and requires TokenSession.MaxPerUser: AWS's
# default (GetUserPoolSessionConfiguration answers 20 for a pool never configured), so enabling tracking changes nothing
# else.
TOKEN_SESSIONS_PER_USER = 20
# The first botocore whose Cognito model has these operations, checked release by release (1.44.0 lacks them;
# pyproject.toml requires at least this).
MIN_BOTOCORE = "1.44.1"
EMULATOR_SKIP = "the Cognito endpoint of this stack has no session configuration (an emulator): not set"
OPERATIONS = ("SetUserPoolSessionConfiguration", "SetUserPoolClientSessionConfiguration")
READS = ("GetUserPoolSessionConfiguration", "GetUserPoolClientSessionConfiguration")


class OutdatedBotocore(RuntimeError):
    """The installed botocore cannot set Cognito's session configuration."""


def require_operations(client: Any) -> None:
    import botocore

    missing = [op for op in (*OPERATIONS, *READS) if op not in client.meta.service_model.operation_names]
    if missing:
        raise OutdatedBotocore(
            f"botocore {botocore.__version__} does not know {', '.join(missing)}, which end Cognito's managed-login "
            f"session with the web session: install boto3/botocore {MIN_BOTOCORE} or later in the environment that "
            f"runs pulumi (pip install 'botocore>={MIN_BOTOCORE}'), then run pulumi up again"
        )


def apply(client: Any, pool_id: str, client_id: str, reuse_minutes: int, sessions_per_user: int) -> None:
    """Session tracking first (the client-level setting is refused, or dormant, without it), then the client's reuse
    limit; each is written only when it differs (a refresh re-runs this)."""
    require_operations(client)
    pool = client.get_user_pool_session_configuration(UserPoolId=pool_id)
    if (
        pool.get("UserSessionTracking") != "ENABLED"
        or (pool.get("TokenSession") or {}).get("MaxPerUser") != sessions_per_user
    ):
        client.set_user_pool_session_configuration(
            UserPoolId=pool_id, UserSessionTracking="ENABLED", TokenSession={"MaxPerUser": sessions_per_user}
        )
    current = client.get_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id)
    if (current.get("SSOSession") or {}).get("MaxValidityMinutes") != reuse_minutes:
        client.set_user_pool_client_session_configuration(
            UserPoolId=pool_id, ClientId=client_id, SSOSession={"MaxValidityMinutes": reuse_minutes}
        )


def observed(client: Any, pool_id: str, client_id: str) -> dict[str, Any]:
    """What Cognito has of what this resource sets, in the resource's own terms (for a refresh)."""
    require_operations(client)
    pool = client.get_user_pool_session_configuration(UserPoolId=pool_id)
    sso = client.get_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id)
    return {
        "tracking": pool.get("UserSessionTracking"),
        "sessions_per_user": (pool.get("TokenSession") or {}).get("MaxPerUser"),
        "sso_reuse_minutes": (sso.get("SSOSession") or {}).get("MaxValidityMinutes"),
    }


_SET = ("user_pool_id", "client_id", "region", "tracking", "sessions_per_user", "sso_reuse_minutes")


def _emulator_lacks_it(exc: Exception) -> bool:
    """An emulator's answer to an operation it does not have: moto answers an HTML error page (HTTP 500)."""
    import botocore.exceptions

    text = str(exc).lower()
    return isinstance(exc, botocore.exceptions.ClientError) and ("<!doctype html" in text or "<html" in text)


class _Provider(CognitoProvider):
    def _on_emulator(self) -> bool:
        """The stack points Cognito at its own endpoint (aws:endpoints cognitoidp): the emulator stacks."""
        return bool(self.access and self.access.cognito_endpoint)

    def _apply(self, props: dict[str, Any]) -> None:
        try:
            apply(
                self._client(props),
                props["user_pool_id"],
                props["client_id"],
                int(props["sso_reuse_minutes"]),
                int(props["sessions_per_user"]),
            )
        except Exception as exc:
            # moto has none of the session operations: an emulator stack deploys without them, saying so (its audit
            # reports IAM-AUTO-LOGOFF's Cognito-session part skipped); on AWS's own endpoint every error stops the up.
            if not (self._on_emulator() and _emulator_lacks_it(exc)):
                raise
            pulumi.log.warn(f"{EMULATOR_SKIP}: {self.access.cognito_endpoint if self.access else ''}")

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        self._apply(props)
        return pulumi.dynamic.CreateResult(id_=f"{props['user_pool_id']}/{props['client_id']}/{PURPOSE}", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        self._apply(news)
        return pulumi.dynamic.UpdateResult(outs=news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Against the recorded outputs, which a refresh replaces with what Cognito has (read below)."""
        return pulumi.dynamic.DiffResult(changes=any(olds.get(k) != news.get(k) for k in _SET))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        if not props.get("user_pool_id") or not props.get("client_id"):
            return pulumi.dynamic.ReadResult(id_, props)
        try:
            seen = observed(self._client(props), props["user_pool_id"], props["client_id"])
        except Exception as exc:
            if not (self._on_emulator() and _emulator_lacks_it(exc)):
                raise
            return pulumi.dynamic.ReadResult(id_, props)
        return pulumi.dynamic.ReadResult(id_, {**props, **seen})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: the pool and client go with the stack, and a replaced client gets a new resource."""


class LoginSession(pulumi.dynamic.Resource):
    """Pool session tracking ENABLED and the ALB client's SSO-session reuse limit (0: always sign in afresh)."""

    def __init__(
        self,
        name: str,
        pool: Any,  # aws.cognito.UserPool
        app_client: Any,  # aws.cognito.UserPoolClient: the ALB's (browser sign-in) client
        region: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "purpose": PURPOSE,
            "user_pool_id": pool.id,
            "client_id": app_client.id,
            "region": region,
            "tracking": "ENABLED",
            "sessions_per_user": TOKEN_SESSIONS_PER_USER,
            "sso_reuse_minutes": SSO_REUSE_MINUTES,
        }
        super().__init__(_Provider(), name, props, opts)
