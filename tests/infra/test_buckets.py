"""Every bucket: encrypted with a stack key, no public access, owner-enforced, versioned, TLS-only."""

from __future__ import annotations

from infra.synth import Synthesis
from tests.infra.graph import BUCKET, as_list, bucket_parts, one_part, policy, stack_key_arns, statements


def _sse(s: Synthesis, bucket):
    enc = one_part(s, bucket, "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    rule = enc.inputs["rules"][0]
    return rule["applyServerSideEncryptionByDefault"], rule.get("bucketKeyEnabled")


def test_four_buckets_with_roles(stack: Synthesis) -> None:
    # AWS Config needs a destination without object lock: a bucket of its own beside the locked logs bucket.
    names = sorted(b.name for b in stack.of_type(BUCKET))
    assert names == ["storage-accesslogs", "storage-archive", "storage-config", "storage-logs"]


def test_phi_and_log_buckets_use_a_stack_kms_key_with_bucket_keys(stack: Synthesis) -> None:
    keys = stack_key_arns(stack)
    for bucket in stack.of_type(BUCKET):
        default, bucket_key = _sse(stack, bucket)
        if bucket.name == "storage-accesslogs":
            continue
        assert default["sseAlgorithm"] == "aws:kms", bucket.name
        assert default["kmsMasterKeyId"] in keys.values(), bucket.name
        assert bucket_key is True, bucket.name
    assert _sse(stack, _bucket(stack, "storage-archive"))[0]["kmsMasterKeyId"] == keys["images"]
    assert _sse(stack, _bucket(stack, "storage-logs"))[0]["kmsMasterKeyId"] == keys["logs"]


def test_only_the_access_log_sink_uses_sse_s3_and_it_holds_no_phi(stack: Synthesis) -> None:
    # AWS delivers server access logs to SSE-S3 buckets only: the one exception, and it is not PHI.
    sink = _bucket(stack, "storage-accesslogs")
    assert _sse(stack, sink)[0] == {"sseAlgorithm": "AES256"}
    assert sink.inputs["tags"]["pacsguard:data-class"] == "logs"


def test_all_four_public_access_block_flags(stack: Synthesis) -> None:
    for bucket in stack.of_type(BUCKET):
        pab = one_part(stack, bucket, "bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert pab.get(flag) is True, f"{bucket.name}: {flag}"


def test_owner_enforced_and_versioned(stack: Synthesis) -> None:
    for bucket in stack.of_type(BUCKET):
        own = one_part(stack, bucket, "bucketOwnershipControls:BucketOwnershipControls").inputs
        assert own["rule"]["objectOwnership"] == "BucketOwnerEnforced", bucket.name
        ver = one_part(stack, bucket, "bucketVersioning:BucketVersioning").inputs
        assert ver["versioningConfiguration"]["status"] == "Enabled", bucket.name


def test_policy_denies_requests_without_tls(stack: Synthesis) -> None:
    for bucket in stack.of_type(BUCKET):
        doc = policy(one_part(stack, bucket, "bucketPolicy:BucketPolicy"))
        deny = [
            st
            for st in statements(doc)
            if st["Effect"] == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert deny, f"{bucket.name}: no TLS-only statement"
        resources = as_list(deny[0]["Resource"])
        assert bucket.outputs["arn"] in resources and f"{bucket.outputs['arn']}/*" in resources
        assert "s3:*" in as_list(deny[0]["Action"])
        assert not [
            st for st in statements(doc) if st["Effect"] == "Allow" and st.get("Principal") in ("*", {"AWS": "*"})
        ]


def test_server_access_logging_to_the_sink(stack: Synthesis) -> None:
    sink = _bucket(stack, "storage-accesslogs").outputs["bucket"]
    for name in ("storage-archive", "storage-logs"):
        logging = one_part(stack, _bucket(stack, name), "bucketLogging:BucketLogging").inputs
        assert logging["targetBucket"] == sink
    # The sink does not log into itself (a delivery loop).
    assert not bucket_parts(stack, _bucket(stack, "storage-accesslogs"), "bucketLogging:BucketLogging")


def test_logs_bucket_has_object_lock(stack: Synthesis) -> None:
    logs = _bucket(stack, "storage-logs")
    assert logs.inputs["objectLockEnabled"] is True
    lock = one_part(stack, logs, "bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
    retention = lock["rule"]["defaultRetention"]
    assert retention["days"] >= 1
    assert retention["mode"] == ("COMPLIANCE" if stack.settings.is_prod else "GOVERNANCE")


def test_lifecycle_on_every_bucket(stack: Synthesis) -> None:
    for bucket in stack.of_type(BUCKET):
        rules = one_part(stack, bucket, "bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
        assert {r["id"] for r in rules} >= {"abort-incomplete-uploads", "expire-old-versions"}, bucket.name


def _bucket(s: Synthesis, name: str):
    return next(b for b in s.of_type(BUCKET) if b.name == name)
