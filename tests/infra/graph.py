"""Joins over a captured graph, the way pulumi-aws v7 splits a bucket or a security group in pieces."""

from __future__ import annotations

import json
from typing import Any

from infra.synth import CapturedResource, Synthesis

BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def bucket_parts(s: Synthesis, bucket: CapturedResource, typ: str) -> list[CapturedResource]:
    """Companion resources (encryption, versioning, ...) that point at this bucket."""
    bid = bucket.outputs["bucket"]
    return [r for r in s.of_type(f"aws:s3/{typ}") if r.inputs.get("bucket") == bid]


def one_part(s: Synthesis, bucket: CapturedResource, typ: str) -> CapturedResource:
    parts = bucket_parts(s, bucket, typ)
    assert len(parts) == 1, f"{bucket.name}: expected one {typ}, found {len(parts)}"
    return parts[0]


def stack_key_arns(s: Synthesis) -> dict[str, str]:
    """KMS key ARNs of the stack's own region by data class (the pacsguard:key tag)."""
    return {
        k.inputs["tags"]["pacsguard:key"]: k.outputs["arn"]
        for k in s.of_type(KEY)
        if k.inputs["tags"]["pacsguard:region"] == s.settings.region
    }


def policy(resource: CapturedResource, field: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[field])


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    sts = doc["Statement"]
    return sts if isinstance(sts, list) else [sts]


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def sg_id(sg: CapturedResource) -> str:
    return f"{sg.name}-id"


def named(s: Synthesis, typ: str, name: str) -> CapturedResource:
    matches = [r for r in s.of_type(typ) if r.name == name]
    assert len(matches) == 1, f"expected one {typ} named {name}"
    return matches[0]


def subnet_ids(s: Synthesis, tier: str) -> set[str]:
    """The (mock) ids of the stack's subnets in one tier: public, private or isolated."""
    return {f"{sn.name}-id" for sn in s.of_type("aws:ec2/subnet:Subnet") if sn.inputs["tags"]["pacsguard:tier"] == tier}
