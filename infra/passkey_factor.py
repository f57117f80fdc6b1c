"""Passkeys that count as MFA, set by the first `pulumi up` itself.

AWS refuses WEB_AUTHN as a first factor of an MFA-required pool until the pool's WebAuthnConfiguration has
FactorConfiguration MULTI_FACTOR_WITH_USER_VERIFICATION, and pulumi-aws 7.51 cannot declare that field
(hashicorp/terraform-provider-aws#50110). So the pool is created with the password as its only first factor and this
dynamic resource, created after it, calls SetUserPoolMfaConfig with the factor and then adds WEB_AUTHN to the pool's
sign-in policy. It runs again whenever pulumi-aws changes the pool (its input follows the pool's LastModifiedDate),
so an update of the pool that sent the declared first factors back cannot leave the passkey factor out.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

PASSKEY_AS_MFA = "MULTI_FACTOR_WITH_USER_VERIFICATION"
PURPOSE = "passkey-factor"  # how the plan finds this resource among dynamic ones
# AWS retired this field in favour of PasswordPolicy.TemporaryPasswordValidityDays and refuses both together.
_RETIRED = ("UnusedAccountValidityDays",)


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


def apply(client: Any, pool_id: str, relying_party: str, first_factors: list[str]) -> None:
    """Passkeys count as MFA first (AWS refuses the first factor before), then the pool lists them as a first factor.
    The pool's other MFA settings (MFA on, TOTP) are sent back as they are: SetUserPoolMfaConfig replaces them all."""
    mfa = client.get_user_pool_mfa_config(UserPoolId=pool_id)
    wanted = {"RelyingPartyId": relying_party, "UserVerification": "required", "FactorConfiguration": PASSKEY_AS_MFA}
    current = mfa.get("WebAuthnConfiguration") or {}
    if any(current.get(k) != v for k, v in wanted.items()):  # already so: no write (a refresh re-runs this)
        request: dict[str, Any] = {
            "UserPoolId": pool_id,
            "MfaConfiguration": mfa.get("MfaConfiguration") or "OFF",
            "WebAuthnConfiguration": wanted,
        }
        for key in ("SoftwareTokenMfaConfiguration", "SmsMfaConfiguration", "EmailMfaConfiguration"):
            if mfa.get(key):
                request[key] = mfa[key]
        client.set_user_pool_mfa_config(**request)
    pool = client.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    current = ((pool.get("Policies") or {}).get("SignInPolicy") or {}).get("AllowedFirstAuthFactors") or []
    if set(first_factors) != set(current):
        client.update_user_pool(**update_request(client, pool, first_factors))


def _client(region: str) -> Any:
    import boto3  # the deployer's credentials, as pulumi-aws uses them; only when the resource is created or updated

    return boto3.client("cognito-idp", region_name=region)


class _Provider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        apply(_client(props["region"]), props["user_pool_id"], props["relying_party"], props["first_factors"])
        return pulumi.dynamic.CreateResult(id_=f"{props['user_pool_id']}/{PURPOSE}", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        apply(_client(news["region"]), news["user_pool_id"], news["relying_party"], news["first_factors"])
        return pulumi.dynamic.UpdateResult(outs=news)

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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "purpose": PURPOSE,
            "user_pool_id": pool.id,
            "region": region,
            "relying_party": relying_party,
            "factor": PASSKEY_AS_MFA,
            "first_factors": first_factors,
            "pool_modified": pool.last_modified_date,
        }
        super().__init__(_Provider(), name, props, opts)
