"""Every control with a cloud check: the compliant fixture account passes, and breaking the property in the
account (with boto3, as a hurried admin would: the first break of the answer key that names the control) fails
that control, naming the resource."""

from __future__ import annotations

import pytest

from policies.catalog import by_id, controls
from policies.cloud.api import AwsApi
from policies.cloud.audit import run_audit
from policies.cloud.context import CloudContext
from policies.model import Finding
from tests.audit.account import ACCOUNT, REGION, STACK, tags
from tests.audit.answer_key import BREAKS, EMULATOR_LIMITS, IDENTITY_BREAKS, STUBBED, Break, resource_name
from tests.audit.conftest import Clients


def audit(url: str) -> list[Finding]:
    api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
    return run_audit(CloudContext(api=api, stack=STACK, environment="prod"))


def audit_of(url: str, control_id: str, monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    """The audit's findings for one control: run_audit (preflight, error handling, by-design notes) over that
    control alone: the findings the full audit gives it (no check reads another's results), at a fraction of its
    cost. The full audit of a broken account stays tried on the whole answer key (test_answer_key.py)."""
    monkeypatch.setattr("policies.cloud.audit.controls", lambda: [by_id(control_id)])
    return [f for f in audit(url) if f.control == control_id]


def first_break(control_id: str) -> tuple[Break, str]:
    for b in (*BREAKS, *IDENTITY_BREAKS):
        for cid, resource in b.expect:
            if cid == control_id:
                return b, resource
    raise KeyError(control_id)


BREAKABLE = sorted({cid for b in (*BREAKS, *IDENTITY_BREAKS) for cid, _ in b.expect})


def test_every_cloud_check_has_a_breaking_test() -> None:
    assert set(BREAKABLE) | set(STUBBED) == {c.id for c in controls() if c.cloud is not None}


def test_compliant_account_passes_every_cloud_check(moto: str, account: dict) -> None:
    findings = audit(moto)
    not_passing = {(f.control, f.status) for f in findings if f.status != "pass"}
    assert not_passing == {(cid, status) for cid, (status, _why) in EMULATOR_LIMITS.items()}
    skipped = next(f for f in findings if f.control == "ENC-EBS-DEFAULT")
    assert "GetEbsDefaultKmsKeyId" in skipped.message  # the reason, not a silent pass


@pytest.mark.parametrize("control_id", BREAKABLE)
def test_breaking_the_property_in_the_account_fails_the_control(
    control_id: str, clients: Clients, moto: str, account: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = account
    breaker, resource_key = first_break(control_id)
    breaker.apply(clients, ids)
    findings = audit_of(moto, control_id, monkeypatch)
    failing = [f for f in findings if f.status == "fail"]
    assert failing, findings
    name = resource_name(ids, resource_key)
    assert any(name in f.resource or name in f.message for f in failing), failing


def test_another_stacks_resources_are_not_audited(clients: Clients, moto: str, account: dict) -> None:
    c = clients
    c("s3").create_bucket(Bucket="other-stack-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    c("s3").put_bucket_tagging(
        Bucket="other-stack-bucket", Tagging={"TagSet": [{"Key": "pacsguard:stack", "Value": "qa"}]}
    )
    assert not [f for f in audit(moto) if f.resource == "other-stack-bucket"]
    assert tags("none")  # the fixture's tagging helper stays the one source of stack tags


def test_unlocked_log_destinations_are_judged_on_their_lifecycle_retention(
    clients: Clients, moto: str, account: dict
) -> None:
    # AWS refuses object lock on the access-log sink and on Config's bucket: the audit must not demand one,
    # and must fail the destination whose lifecycle retention is gone.
    ids = account
    lock = {f.resource: f.status for f in audit(moto) if f.control == "INT-LOG-OBJECT-LOCK"}
    assert lock[ids["bucket_config"]] == lock[ids["bucket_accesslogs"]] == "pass"
    clients("s3").delete_bucket_lifecycle(Bucket=ids["bucket_config"])
    failing = [f for f in audit(moto) if f.control == "INT-LOG-OBJECT-LOCK" and f.status == "fail"]
    assert [f.resource for f in failing] == [ids["bucket_config"]]
