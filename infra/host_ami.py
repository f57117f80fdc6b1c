"""The hosts' image: Debian 12 from Debian's own account by default, or the stack's `hosts.ami`."""

from __future__ import annotations

import pulumi_aws as aws

from infra.hosts import DEBIAN_OWNER


def host_ami(setting: str) -> str:
    """An AMI id as given; otherwise the newest image matching a name filter (Debian's, or this account's)."""
    if setting.startswith("ami-"):
        return setting
    owners, name = (["self"], setting) if setting else ([DEBIAN_OWNER], "debian-12-amd64-*")
    return aws.ec2.get_ami(
        most_recent=True,
        owners=owners,
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[name]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
            aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
        ],
    ).id
