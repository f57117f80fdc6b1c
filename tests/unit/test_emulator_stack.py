"""The emulator stack points every service the program uses at the local emulator, never at AWS."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from infra.synth import Synthesis
from stacks.loader import read_stack_config

# pulumi-aws module -> the provider's endpoint key
ENDPOINT_KEY = {
    "cloudwatch": "cloudwatchlogs",
    "vpc": "ec2",
    "ebs": "ec2",
    "cfg": "configservice",
    "lb": "elbv2",
    "alb": "elbv2",
    "cognito": "cognitoidp",
    "ec2transitgateway": "ec2",
}


@pytest.mark.parametrize("name", ["emulator", "localstack"])
def test_every_used_service_has_a_loopback_endpoint(name: str, prod: Synthesis) -> None:
    cfg = read_stack_config(name)
    (endpoints,) = cfg["aws:endpoints"]
    assert cfg["aws:s3UsePathStyle"] is True and cfg["aws:skipCredentialsValidation"] is True
    for url in endpoints.values():
        assert urlparse(url).hostname in ("127.0.0.1", "localhost")
    used = {r.type.split(":")[1].split("/")[0] for r in prod.resources if r.type.startswith("aws:")}
    for module in used:
        key = ENDPOINT_KEY.get(module, module)
        assert key in endpoints, f"{name}: no endpoint for {module} ({key})"
