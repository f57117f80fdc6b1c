"""S3: the stack's buckets with encryption, public access, policy, versioning, logging, object lock."""

from __future__ import annotations

import json
from typing import Any

from policies.cloud.api import AwsApi
from policies.cloud.collect import in_stack, tag_dict


def buckets(api: AwsApi, stack: str) -> list[dict[str, Any]]:
    out = []
    for b in api.call("s3", "ListBuckets").get("Buckets", []):
        name = b["Name"]
        tagging = api.call("s3", "GetBucketTagging", Bucket=name, missing=("NoSuchTagSet", "NoSuchBucket"))
        tags = tag_dict((tagging or {}).get("TagSet"))
        if not in_stack(tags, stack):
            continue
        location = api.call("s3", "GetBucketLocation", Bucket=name).get("LocationConstraint")
        region = location or "us-east-1"  # AWS answers None for us-east-1 (and "EU" for the oldest eu-west-1)
        region = "eu-west-1" if region == "EU" else region
        out.append({"name": name, "arn": f"arn:aws:s3:::{name}", "tags": tags, "region": region})
    return out


def encryption(api: AwsApi, bucket: str) -> dict[str, Any] | None:
    r = api.call(
        "s3", "GetBucketEncryption", Bucket=bucket, missing=("ServerSideEncryptionConfigurationNotFoundError",)
    )
    rules = ((r or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    return rules[0] if rules else None


def public_access_block(api: AwsApi, bucket: str) -> dict[str, bool] | None:
    r = api.call("s3", "GetPublicAccessBlock", Bucket=bucket, missing=("NoSuchPublicAccessBlockConfiguration",))
    return (r or {}).get("PublicAccessBlockConfiguration")


def policy(api: AwsApi, bucket: str) -> dict[str, Any]:
    r = api.call("s3", "GetBucketPolicy", Bucket=bucket, missing=("NoSuchBucketPolicy",))
    return json.loads(r["Policy"]) if r and r.get("Policy") else {}


def versioning(api: AwsApi, bucket: str) -> str | None:
    return api.call("s3", "GetBucketVersioning", Bucket=bucket).get("Status")


def logging(api: AwsApi, bucket: str) -> dict[str, Any] | None:
    return api.call("s3", "GetBucketLogging", Bucket=bucket).get("LoggingEnabled")


def object_lock(api: AwsApi, bucket: str) -> dict[str, Any] | None:
    r = api.call("s3", "GetObjectLockConfiguration", Bucket=bucket, missing=("ObjectLockConfigurationNotFoundError",))
    return (r or {}).get("ObjectLockConfiguration")


def lifecycle_expiration_days(api: AwsApi, bucket: str) -> int | None:
    """The shortest enabled expiration rule: how a bucket that cannot carry object lock keeps its retention."""
    r = api.call("s3", "GetBucketLifecycleConfiguration", Bucket=bucket, missing=("NoSuchLifecycleConfiguration",))
    days = [
        rule["Expiration"]["Days"]
        for rule in (r or {}).get("Rules") or []
        if rule.get("Status") == "Enabled" and (rule.get("Expiration") or {}).get("Days")
    ]
    return min(days) if days else None


def account_public_access_block(api: AwsApi) -> dict[str, bool] | None:
    r = api.call(
        "s3control", "GetPublicAccessBlock", AccountId=api.account_id, missing=("NoSuchPublicAccessBlockConfiguration",)
    )
    return (r or {}).get("PublicAccessBlockConfiguration")
