"""Passkeys that count as MFA, set by the first `pulumi up` itself.

AWS refuses WEB_AUTHN as a first factor of an MFA-required pool until the pool's WebAuthnConfiguration has
FactorConfiguration MULTI_FACTOR_WITH_USER_VERIFICATION, and pulumi-aws 7.51 cannot declare that field
(hashicorp/terraform-provider-aws#50110). So the pool is created with the password as its only first factor and this
dynamic resource, created after it, calls SetUserPoolMfaConfig with the factor and then adds WEB_AUTHN to the pool's
sign-in policy. It runs again whenever pulumi-aws changes the pool (its input follows the pool's LastModifiedDate),
so an update of the pool that sent the declared first factors back cannot leave the passkey factor out.

pulumi-aws answers any change of the pool's MFA or TOTP settings with a SetUserPoolMfaConfig that carries no
FactorConfiguration, which makes passkeys a single factor again (or fails while WEB_AUTHN is a first factor). So with
passkeys the pool ignores later changes of both, and this resource sends them from the stack's settings instead,
always together with the factor. It calls Cognito with the identity, region and endpoint of the stack's `aws:`
config (infra/aws_access.py), which Pulumi hands to a dynamic provider's configure().
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from infra.cognito_provider import CognitoProvider

PASSKEY_AS_MFA = "MULTI_FACTOR_WITH_USER_VERIFICATION"
PURPOSE = "passkey-factor"  # how the plan finds this resource among dynamic ones
# AWS retired this field in favour of PasswordPolicy.TemporaryPasswordValidityDays and refuses both together.
_RETIRED = ("UnusedAccountValidityDays",)
# The first botocore whose Cognito model has WebAuthnConfigurationType.FactorConfiguration (checked release by release:
# 1.42.89 lacks it). An older model refuses the field client-side, and its UpdateUserPool knows fewer of the pool's
# fields, so a replay with it would reset the ones it does not know (pyproject.toml requires at least this).
MIN_BOTOCORE = "1.42.90"


class OutdatedBotocore(RuntimeError):
    """The installed botocore cannot send the passkey factor."""


def require_factor_field(client: Any) -> None:
    import botocore

    shape = client.meta.service_model.shape_for("WebAuthnConfigurationType")
    if "FactorConfiguration" not in shape.members:
        raise OutdatedBotocore(
            f"botocore {botocore.__version__} does not know WebAuthnConfiguration.FactorConfiguration, which makes "
            f"passkeys count as MFA: install boto3/botocore {MIN_BOTOCORE} or later in the environment that runs "
            f"pulumi (pip install 'botocore>={MIN_BOTOCORE}'), then run pulumi up again"
        )


def update_request(client: Any, pool: dict[str, Any], first_factors: list[str]) -> dict[str, Any]:
    """UpdateUserPool resets every attribute it is not given to its default: send back all the pool has (the fields
    DescribeUserPool and UpdateUserPool share, read from the installed service model), with the new first factors."""
    members = client.meta.service_model.operation_model("UpdateUserPool").input_shape.members
    request = {k: v for k, v in pool.items() if k in members}
    request["UserPoolId"], request["PoolName"] = pool["Id"], pool["Name"]
    admin = {k: v for k, v in (request.get("AdminCreateUserConfig") or {}).items() if k not in _RETIRED}
    if admin:
        request["AdminCreateUserConfig"] = admin
    policies = dict(request.get("Policies") or {})
    policies["SignInPolicy"] = {"AllowedFirstAuthFactors": list(first_factors)}
    request["Policies"] = policies
    return request


def apply(client: Any, pool_id: str, relying_party: str, first_factors: list[str], mfa: str = "ON") -> None:
    """Passkeys count as MFA first (AWS refuses the first factor before), then the pool lists them as a first factor.
    SetUserPoolMfaConfig replaces the whole MFA configuration: MFA (`mfa`, from the settings) and TOTP are sent with
    the factor, and the pool's SMS and email MFA settings, which the stack does not declare, as they are."""
    require_factor_field(client)
    current = client.get_user_pool_mfa_config(UserPoolId=pool_id)
    wanted = {
        "MfaConfiguration": mfa,
        "SoftwareTokenMfaConfiguration": {"Enabled": True},
        "WebAuthnConfiguration": {
            "RelyingPartyId": relying_party,
            "UserVerification": "required",
            "FactorConfiguration": PASSKEY_AS_MFA,
        },
    }
    if any(current.get(k) != v for k, v in wanted.items()):  # already so: no write (a refresh re-runs this)
        request: dict[str, Any] = {"UserPoolId": pool_id, **wanted}
        for key in ("SmsMfaConfiguration", "EmailMfaConfiguration"):
            if current.get(key):
                request[key] = current[key]
        client.set_user_pool_mfa_config(**request)
    pool = client.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    factors = ((pool.get("Policies") or {}).get("SignInPolicy") or {}).get("AllowedFirstAuthFactors") or []
    if set(first_factors) != set(factors):
        client.update_user_pool(**update_request(client, pool, first_factors))


def observed(client: Any, pool_id: str) -> dict[str, Any]:
    """What the pool has of what this resource sets, in the resource's own terms (for a refresh)."""
    mfa = client.get_user_pool_mfa_config(UserPoolId=pool_id)
    web = mfa.get("WebAuthnConfiguration") or {}
    pool = client.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    return {
        "relying_party": web.get("RelyingPartyId"),
        "factor": web.get("FactorConfiguration"),
        "mfa": mfa.get("MfaConfiguration"),
        "first_factors": ((pool.get("Policies") or {}).get("SignInPolicy") or {}).get("AllowedFirstAuthFactors") or [],
    }


_SET = ("user_pool_id", "region", "relying_party", "factor", "first_factors", "mfa", "totp", "pool_modified")


def _norm(key: str, value: Any) -> Any:
    return sorted(value) if key == "first_factors" and isinstance(value, list) else value


class _Provider(CognitoProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        apply(self._client(props), props["user_pool_id"], props["relying_party"], props["first_factors"], props["mfa"])
        return pulumi.dynamic.CreateResult(id_=f"{props['user_pool_id']}/{PURPOSE}", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        apply(self._client(news), news["user_pool_id"], news["relying_party"], news["first_factors"], news["mfa"])
        return pulumi.dynamic.UpdateResult(outs=news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Against the recorded outputs, which a refresh replaces with what the pool has (read below)."""
        return pulumi.dynamic.DiffResult(changes=any(_norm(k, olds.get(k)) != _norm(k, news.get(k)) for k in _SET))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """A refresh records what the pool has: a factor, MFA mode or first factors changed outside Pulumi shows as a
        difference, and the next `pulumi up` sets them again."""
        if not props.get("user_pool_id"):
            return pulumi.dynamic.ReadResult(id_, props)
        return pulumi.dynamic.ReadResult(id_, {**props, **observed(self._client(props), props["user_pool_id"])})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo here: turning passkeys off makes the pool itself declare its WebAuthn and first factors."""


class PasskeyFactor(pulumi.dynamic.Resource):
    """The pool's passkey factor (MULTI_FACTOR_WITH_USER_VERIFICATION) and its first factors with WEB_AUTHN."""

    def __init__(
        self,
        name: str,
        pool: Any,  # aws.cognito.UserPool
        region: str,
        relying_party: pulumi.Input[str],
        first_factors: list[str],
        mfa: str,  # the pool's MFA mode (ON or OPTIONAL): the pool ignores later changes of it, this sets it
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "purpose": PURPOSE,
            "user_pool_id": pool.id,
            "region": region,
            "relying_party": relying_party,
            "factor": PASSKEY_AS_MFA,
            "first_factors": first_factors,
            "mfa": mfa,
            "totp": True,
            "pool_modified": pool.last_modified_date,
        }
        super().__init__(_Provider(), name, props, opts)
