"""The SSM agent on a Debian host: Session Manager (and `pacsguard verify` through it) needs it, Debian's AMI has
none and Debian does not package it. An AMI that carries it is used as is; otherwise the bootstrap installs AWS's
official package from the region's own distribution bucket (over TLS, through the VPC's S3 endpoint, with the
instance role), then enables the service.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from orthanc_config import aws_api
from orthanc_config.profile import HostProfile

AGENT = Path("/usr/bin/amazon-ssm-agent")
SERVICE = "amazon-ssm-agent"
PACKAGE_KEY = "latest/debian_amd64/amazon-ssm-agent.deb"


class SsmAgentError(Exception):
    """The agent could not be installed; the host would be unreachable for Session Manager."""


def package_location(region: str) -> tuple[str, str]:
    """AWS's documented regional bucket for the agent's Debian package."""
    return f"amazon-ssm-{region}", PACKAGE_KEY


def ensure(profile: HostProfile, say: Callable[[str], None]) -> None:
    if not AGENT.exists():
        bucket, key = package_location(profile.region)
        say(f"SSM agent: installing AWS's package from s3://{bucket}/{key}")
        try:
            data = aws_api.Client(profile.region).s3_get(bucket, key)
        except aws_api.AwsError as exc:
            raise SsmAgentError(f"cannot download the SSM agent: {exc}") from None
        with tempfile.TemporaryDirectory() as tmp:
            deb = Path(tmp) / "amazon-ssm-agent.deb"
            deb.write_bytes(data)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            res = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, env=env, check=False)
            if res.returncode != 0:
                raise SsmAgentError(f"dpkg -i amazon-ssm-agent.deb failed: {res.stderr.strip()[:300]}")
    say("SSM agent: enabling the service")
    subprocess.run(["systemctl", "enable", "--now", SERVICE], check=True, capture_output=True)
