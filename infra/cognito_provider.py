"""The plumbing the program's own Cognito resources share (passkey factor, login session): a Pulumi dynamic provider
that calls Cognito with the identity, region and endpoint of the stack's `aws:` config (infra/aws_access.py), which
Pulumi hands to a dynamic provider's configure() in the provider's own process."""

from __future__ import annotations

from typing import Any

import pulumi.dynamic

from infra.aws_access import AwsAccess, from_config


class CognitoProvider(pulumi.dynamic.ResourceProvider):
    access: AwsAccess | None = None  # set by configure() in the provider's process, from the stack's aws: config

    def configure(self, req: pulumi.dynamic.ConfigureRequest) -> None:
        self.access = from_config(req.config.get)

    def _client(self, props: dict[str, Any]) -> Any:
        access = self.access or AwsAccess()
        if not access.region:  # no aws:region in the config: the stack's region, as the plan resolved it
            access = AwsAccess(**{**access.__dict__, "region": props["region"]})
        return access.cognito_client()
