"""The IAM action behind each API operation the auditor calls, and the read-only policy it needs.

Most actions are service:Operation; S3 and a few others differ, so they are listed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SERVICE_PREFIX = {"cognito-idp": "cognito-idp", "s3control": "s3", "resourcegroupstaggingapi": "tag"}
EXCEPTIONS = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("logs", "DescribeLogGroups"): "logs:DescribeLogGroups",
    ("logs", "ListTagsForResource"): "logs:ListTagsForResource",
    ("elbv2", "DescribeLoadBalancers"): "elasticloadbalancing:DescribeLoadBalancers",
    ("efs", "DescribeFileSystems"): "elasticfilesystem:DescribeFileSystems",
    ("efs", "DescribeFileSystemPolicy"): "elasticfilesystem:DescribeFileSystemPolicy",
    ("config", "DescribeConfigurationRecorders"): "config:DescribeConfigurationRecorders",
}
PREFIX_BY_SERVICE = {"elbv2": "elasticloadbalancing", "efs": "elasticfilesystem"}


def iam_action(service: str, operation: str) -> str:
    if (service, operation) in EXCEPTIONS:
        return EXCEPTIONS[(service, operation)]
    prefix = PREFIX_BY_SERVICE.get(service, SERVICE_PREFIX.get(service, service))
    return f"{prefix}:{operation}"


def auditor_policy(calls: set[tuple[str, str]]) -> dict:
    """A read-only policy with exactly the actions behind `calls`."""
    actions = sorted({iam_action(s, o) for s, o in calls})
    for action in actions:
        verb = action.split(":", 1)[1]
        if not verb.startswith(("Get", "List", "Describe")):
            raise ValueError(f"the auditor must stay read-only, but calls {action}")
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "PacsguardAuditReadOnly", "Effect": "Allow", "Action": actions, "Resource": "*"}],
    }


def render_policy(calls: set[tuple[str, str]]) -> str:
    return json.dumps(auditor_policy(calls), indent=2) + "\n"


# Every API call a collector or check can make is written as a literal; calls a fixture account never reaches (an
# IAM user's keys, a public snapshot, a backup selection) must be in the policy all the same, or a real audit is
# denied them and reports an error where a verdict belongs.
_CALL = re.compile(r'api\.(?:call|pages)\(\s*"([a-z0-9-]+)",\s*"([A-Za-z0-9]+)"')
_CLOUD = Path(__file__).resolve().parent


def source_calls(root: Path = _CLOUD) -> set[tuple[str, str]]:
    """The (service, operation) pairs written in the cloud layer's code."""
    return {m.groups() for f in sorted(root.rglob("*.py")) for m in _CALL.finditer(f.read_text())}  # type: ignore[misc]
