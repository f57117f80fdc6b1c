"""Tags on everything, encrypted and retained logs, protected PHI in prod."""

from __future__ import annotations

import importlib
import inspect

from infra.synth import CapturedResource, Synthesis
from stacks.settings import PROD_DEFAULT_LOG_RETENTION
from tests.infra.graph import stack_key_arns

PHI_TYPES = {
    "aws:kms/key:Key",
    "aws:efs/fileSystem:FileSystem",
    "aws:rds/instance:Instance",
    "aws:cloudwatch/logGroup:LogGroup",
}


def _taggable(r: CapturedResource) -> bool:
    _pkg, mod_cls = r.type.split(":", 1)
    module, _, cls = mod_cls.partition(":")
    klass = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), cls)
    return "tags" in inspect.signature(klass._internal_init).parameters


def test_every_taggable_resource_carries_stack_and_data_class(stack: Synthesis) -> None:
    for r in stack.resources:
        # Only AWS resources carry tags; a dynamic resource (pulumi-python:dynamic) is the program's own AWS calls.
        if not r.custom or not r.type.startswith("aws:") or not _taggable(r):
            continue
        tags = r.inputs.get("tags")
        if r.type == "aws:autoscaling/group:Group":
            tags = {t["key"]: t["value"] for t in tags}
        assert tags, f"{r.type} {r.name} has no tags"
        assert tags.get("pacsguard:stack") == stack.stack, r.name
        assert tags.get("pacsguard:data-class") in ("phi", "logs", "none"), r.name


def test_every_log_group_is_encrypted_and_retained(stack: Synthesis) -> None:
    logs_key = stack_key_arns(stack)["logs"]
    groups = stack.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) >= 6
    for g in groups:
        assert g.inputs["kmsKeyId"] == logs_key, g.name
        assert g.inputs["retentionInDays"] == stack.settings.effective_log_retention


def test_prod_keeps_logs_six_years(prod: Synthesis) -> None:
    assert all(
        g.inputs["retentionInDays"] >= PROD_DEFAULT_LOG_RETENTION
        for g in prod.of_type("aws:cloudwatch/logGroup:LogGroup")
    )


def test_phi_resources_and_keys_are_protected_in_prod(prod: Synthesis) -> None:
    for r in prod.resources:
        if r.type in PHI_TYPES:
            assert r.protect, f"{r.type} {r.name} not protected"
    buckets = {b.name: b.protect for b in prod.of_type("aws:s3/bucket:Bucket")}
    assert all(buckets.values()), buckets


def test_dev_protects_nothing_so_it_can_be_torn_down(dev: Synthesis) -> None:
    assert not [r.name for r in dev.resources if r.protect]
