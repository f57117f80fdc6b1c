"""One frozen dataclass per resource kind, holding the properties the controls judge, in AWS's own terms.

`name` is what a finding names: the Pulumi resource name at plan time, the AWS name or id in the account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Policy = dict[str, Any]  # an IAM-style policy document


@dataclass(frozen=True)
class Bucket:
    name: str
    sse_algorithm: str | None  # None: no default encryption configuration
    kms_key: str | None
    bucket_key: bool
    log_sink: bool  # tagged pacsguard:log-sink: the one bucket AWS log delivery requires on SSE-S3
    policy: Policy = field(default_factory=dict)


@dataclass(frozen=True)
class Key:
    name: str
    rotation: bool
    policy: Policy = field(default_factory=dict)


@dataclass(frozen=True)
class Database:
    name: str
    encrypted: bool
    kms_key: str | None
    force_ssl: bool  # a parameter group of the instance sets rds.force_ssl=1


@dataclass(frozen=True)
class FileSystem:
    name: str
    encrypted: bool
    kms_key: str | None
    policy: Policy = field(default_factory=dict)


@dataclass(frozen=True)
class EbsDefault:
    """The region's EBS encryption default (an account setting the stack declares)."""

    name: str
    enabled: bool
    kms_key: str | None  # only asked of the account when encryption by default is on


@dataclass(frozen=True)
class Volume:
    name: str
    encrypted: bool
    kms_key: str | None
    stack_key: bool  # the key is one of the stack's keys (at plan time: a customer-managed key the program names)


@dataclass(frozen=True)
class EncryptedResource:
    """A resource whose only judged property is the KMS key it is encrypted with (log group, secret, topic,
    backup vault, trail)."""

    name: str
    kms_key: str | None


@dataclass(frozen=True)
class Listener:
    name: str
    protocol: str | None
    ssl_policy: str | None
    redirects_to_https: bool  # every default action is a redirect to HTTPS
