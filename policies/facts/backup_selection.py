"""Whether an AWS Backup selection assigns a resource, as AWS decides it; both layers of BAK-COVERAGE use this.

AWS's rule ("Assign resources with AWS CLI", https://docs.aws.amazon.com/aws-backup/latest/devguide/
assigning-resources-json.html, and API_BackupSelection): the ARNs in `Resources` are ORed, the `Conditions` are
ANDed with each other AND with `Resources` (the resource must be named and carry the tags), `ListOfTags` entries are
ORed and select on their own, `NotResources` excludes.
Reading `Resources` OR `Conditions` (as this project once did) passes a resource AWS never backs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TAG_PREFIX = "aws:ResourceTag/"


def _like(value: str, pattern: str) -> bool:
    """AWS's StringLike: `*` matches any run of characters; nothing else is special (unlike fnmatch's ? and [])."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), value) is not None


@dataclass(frozen=True)
class Conditions:
    """A selection's `Conditions`, tag keys without the `aws:ResourceTag/` prefix."""

    equals: tuple[tuple[str, str], ...] = ()
    like: tuple[tuple[str, str], ...] = ()
    not_equals: tuple[tuple[str, str], ...] = ()
    not_like: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.equals or self.like or self.not_equals or self.not_like)

    def hold_for(self, tags: dict[str, str]) -> bool:
        # The negated operators are read as "tagged, with another value" (AWS: "resources that you tagged that do
        # not have the same value"): an untagged resource is not taken as selected, so a doubt fails the control.
        return (
            all(tags.get(k) == v for k, v in self.equals)
            and all(k in tags and _like(tags[k], v) for k, v in self.like)
            and all(k in tags and tags[k] != v for k, v in self.not_equals)
            and all(k in tags and not _like(tags[k], v) for k, v in self.not_like)
        )


def conditions(pairs_by_operator: dict[str, list[tuple[str, str]]]) -> Conditions:
    """From {"StringEquals": [(key, value), ...], ...} with keys as AWS writes them (aws:ResourceTag/name)."""

    def pairs(op: str) -> tuple[tuple[str, str], ...]:
        return tuple((k.removeprefix(TAG_PREFIX), v) for k, v in pairs_by_operator.get(op) or [])

    return Conditions(pairs("StringEquals"), pairs("StringLike"), pairs("StringNotEquals"), pairs("StringNotLike"))


@dataclass(frozen=True)
class Selection:
    """One selection, reduced to what decides whether it assigns a given resource."""

    has_resources: bool  # `Resources` is not empty
    conditions: Conditions = field(default_factory=Conditions)
    list_of_tags: tuple[tuple[str, str], ...] = ()  # STRINGEQUALS (key, value) pairs, ORed

    def assigns(self, *, named: bool, excluded: bool, tags: dict[str, str]) -> bool:
        """`named`: one of `Resources` matches the resource; `excluded`: one of `NotResources` does."""
        if excluded:
            return False
        if any(tags.get(k) == v for k, v in self.list_of_tags):
            return True
        if self.has_resources:
            return named and (not self.conditions or self.conditions.hold_for(tags))
        if self.conditions:
            return self.conditions.hold_for(tags)
        # Nothing named at all: AWS then selects every resource type the account has opted in to, which this check
        # cannot see, so it does not count as covering (a doubt fails the control).
        return False


def arn_matches(arn: str, patterns: list[str]) -> bool:
    """An ARN against `Resources`/`NotResources` entries, where `*` is a wildcard."""
    return any(_like(arn, p) for p in patterns)
