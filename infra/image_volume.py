"""storage.mode ebs: the one persistent image volume, outside any launch template so no instance owns it.

Encrypted with the images key, protected in prod, backed up by the stack's backup plan, in the first zone (a volume
attaches within its zone only, so an ebs stack's auto scaling group keeps to that zone's subnet). The host attaches
it to itself at boot (orthanc_config/ebs_volume.py): its role may attach this volume and nothing else.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.context import StackContext
from infra.policy_doc import Statement, statement


def image_volume(
    name: str,
    ctx: StackContext,
    zone: str,
    images_key_arn: pulumi.Input[str],
    size_gb: int,  # storage.ebs_size_gb
    *,
    parent: pulumi.Resource,
) -> aws.ebs.Volume:
    return aws.ebs.Volume(
        name,
        availability_zone=zone,
        size=size_gb,
        type="gp3",
        encrypted=True,
        kms_key_id=images_key_arn,
        final_snapshot=True,
        tags=ctx.tags("phi", Name=f"{ctx.prefix}-images"),
        opts=ctx.opts(parent, phi=True),
    )


def attach_statements(ctx: StackContext, volume_arn: pulumi.Input[str]) -> list[Statement]:
    return [
        statement("AttachImageVolume", ["ec2:AttachVolume"], [volume_arn, ctx.arn("ec2", "instance/*")]),
        # DescribeVolumes has no resource-level permissions: AWS allows only "*".
        statement("SeeImageVolumeState", ["ec2:DescribeVolumes"], "*"),
    ]
