"""The S3 gateway endpoint's policy lets the identity-key service fetch the ALB's keys in AWS GovCloud (US).

There the keys are objects of AWS's bucket aws-elb-public-keys-prod-<region>, reached through the S3 gateway
endpoint, whose policy admitted only the stack's and the SSM agent's buckets: every sign-in failed with a 403.
"""

from __future__ import annotations

import json

import pulumi
import pulumi.runtime
import pytest

from infra.context import StackContext
from infra.endpoint_policies import endpoint_policy
from infra.synth import _StackMocks


@pytest.fixture(autouse=True)
def _mocked_engine() -> None:
    """Each test resolves its Outputs under the synthesis mocks (a synthesis sets its own again)."""
    pulumi.runtime.set_mocks(_StackMocks("us-gov-west-1"), project="pacsguard", stack="govcloud", preview=False)


def _ctx(partition: str, region: str) -> StackContext:
    return StackContext("t", "prod", "123456789012", partition, region, 365)


def _anonymous_get_resources(policy: str) -> list[str]:
    """Resources any principal may GetObject (the key service fetches without credentials)."""
    return [
        r
        for st in json.loads(policy)["Statement"]
        if st["Principal"] == {"AWS": "*"} and "Condition" not in st and st["Action"] == ["s3:GetObject"]
        for r in st["Resource"]
    ]


@pulumi.runtime.test
def test_govcloud_s3_endpoint_admits_the_alb_public_keys_bucket() -> pulumi.Output[None]:
    def check(policy: str) -> None:
        assert "arn:aws-us-gov:s3:::aws-elb-public-keys-prod-us-gov-west-1/*" in _anonymous_get_resources(policy)

    return endpoint_policy(_ctx("aws-us-gov", "us-gov-west-1"), "s3").apply(check)


@pulumi.runtime.test
def test_commercial_s3_endpoint_admits_no_alb_key_bucket() -> pulumi.Output[None]:
    # Commercial regions publish the keys at public-keys.auth.elb.<region>.amazonaws.com, not in an S3 bucket.
    def check(policy: str) -> None:
        assert not [r for r in _anonymous_get_resources(policy) if "aws-elb-public-keys" in r]

    return endpoint_policy(_ctx("aws", "eu-central-1"), "s3").apply(check)
