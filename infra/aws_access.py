"""The AWS identity, region and Cognito endpoint of the stack's `aws:` config, for code that calls AWS itself.

A Pulumi dynamic provider runs in a process of its own and never sees the aws provider's settings: without this it
would use boto3's default chain, which ignores `aws:profile`, `aws:accessKey` and `aws:endpoints` (so an emulator
stack would call real AWS, and a stack with a profile would act as another identity). Kept free of pulumi imports:
the stack loader uses it to refuse, before any resource is declared, the settings it cannot follow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# aws provider settings that choose another identity and that this module does not follow. A profile can assume a
# role itself (role_arn and source_profile in ~/.aws/config), which boto3 follows: that is what the error proposes.
UNFOLLOWED = ("assumeRole", "assumeRoles", "assumeRoleWithWebIdentity", "sharedConfigFiles", "sharedCredentialsFiles")
ENDPOINT_KEY = "cognitoidp"  # the aws:endpoints key pulumi-aws uses for Cognito user pools


class AwsConfigError(ValueError):
    """A stack's aws: config that the code calling AWS itself cannot follow."""


@dataclass(frozen=True)
class AwsAccess:
    region: str | None = None
    profile: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None
    cognito_endpoint: str | None = None
    ca_bundle: str | None = None

    def cognito_client(self) -> Any:
        import boto3  # only when the resource is created, updated or read

        session = boto3.session.Session(
            profile_name=self.profile,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.token,
            region_name=self.region,
        )
        return session.client("cognito-idp", endpoint_url=self.cognito_endpoint, verify=self.ca_bundle)


def unfollowed_keys(get: Callable[[str], Any]) -> list[str]:
    """The identity settings of the stack that AwsAccess cannot follow, as `aws:<key>`."""
    return [f"aws:{key}" for key in UNFOLLOWED if _value(get(f"aws:{key}")) not in (None, "", [], {})]


def refusal(keys: list[str]) -> str:
    return (
        f"{', '.join(keys)} is set, and the resources that call Cognito themselves (infra/login_session.py, "
        "infra/passkey_factor.py) cannot follow it, so they would act as another identity than the aws provider: put "
        "the role in an AWS profile (role_arn and source_profile in ~/.aws/config) and set aws:profile instead"
    )


def from_config(get: Callable[[str], Any]) -> AwsAccess:
    """`get` reads one stack config key (`aws:region`), as Pulumi's dynamic-provider Config.get does."""
    refused = unfollowed_keys(get)
    if refused:
        raise AwsConfigError(refusal(refused))
    endpoint = None
    for block in _value(get("aws:endpoints")) or []:
        endpoint = (block or {}).get(ENDPOINT_KEY) or endpoint
    return AwsAccess(
        region=get("aws:region") or None,
        profile=get("aws:profile") or None,
        access_key=get("aws:accessKey") or None,
        secret_key=get("aws:secretKey") or None,
        token=get("aws:token") or None,
        cognito_endpoint=endpoint,
        ca_bundle=get("aws:customCaBundle") or None,
    )


def _value(raw: Any) -> Any:
    """Structured config reaches a program as JSON text (and may reach a provider as the object itself)."""
    if isinstance(raw, str) and raw[:1] in ("[", "{"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw
