"""Missing evidence is a failure: an audit that could not look (no permissions, throttled, 5xx, an API the endpoint
lacks, nothing tagged) never exits 0 on a critical or high control, unless --allow-skipped waives what an emulator
cannot answer, and then the report says so. `verify` likewise for controls whose every probe was skipped."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest
from typer.testing import CliRunner

from pacsguard.cli import app
from pacsguard.verify import wire_findings
from policies.cloud.api import AwsApi, CallFailed
from policies.evaluate import exit_code
from policies.model import ENDPOINT, SCOPE, Finding
from tests.audit.account import ACCOUNT, REGION, STACK
from tests.audit.conftest import Clients

runner = CliRunner()


def _client_error(code: str, status: int, operation: str = "Op") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class ScriptedClient:
    """A boto3 client whose every operation raises `error` (or answers `answers[operation]`)."""

    def __init__(self, error: Exception | None, answers: dict[str, Any] | None = None) -> None:
        self.error, self.answers, self.attempts = error, answers or {}, 0

    def can_paginate(self, _name: str) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        def operation(**_params: Any) -> Any:
            self.attempts += 1
            if name in self.answers:
                answer = self.answers[name]
                return answer() if callable(answer) else answer
            raise self.error  # type: ignore[misc]

        return operation


def _scripted(monkeypatch: pytest.MonkeyPatch, client: ScriptedClient) -> None:
    monkeypatch.setattr(AwsApi, "client", lambda self, service, region=None: client)


def test_an_audit_without_any_permission_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first finding: 44 `error` findings and exit code 0.
    client = ScriptedClient(_client_error("AccessDenied", 403), {"get_caller_identity": {"Account": ACCOUNT}})
    _scripted(monkeypatch, client)
    res = runner.invoke(app, ["audit", "--stack", STACK, "--region", REGION, "--format", "json"])
    doc = json.loads(res.stdout)
    assert {f["status"] for f in doc["findings"]} == {"error"}
    assert {f["cause"] for f in doc["findings"]} == {"permissions"}
    assert res.exit_code == 1


def test_throttling_is_retried_with_backoff_then_answers() -> None:
    api = AwsApi(region=REGION, account_id=ACCOUNT, sleep=lambda s: waits.append(s))
    waits: list[float] = []
    answers = iter([_client_error("ThrottlingException", 400)] * 3 + [{"KeyMetadata": {"KeyId": "k"}}])

    def describe_key() -> Any:
        nxt = next(answers)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt

    api._clients[("kms", REGION)] = ScriptedClient(None, {"describe_key": describe_key})
    assert api.call("kms", "DescribeKey", KeyId="k") == {"KeyMetadata": {"KeyId": "k"}}
    assert waits == [0.5, 1.0, 2.0]  # exponential backoff


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (_client_error("ThrottlingException", 400), "still throttled"),
        (_client_error("InternalFailure", 500), "HTTP 500"),
        (_client_error("ServiceUnavailable", 503), "HTTP 503"),
        (ValueError("something nobody expected"), "ValueError"),
    ],
)
def test_throttling_5xx_and_unknown_failures_are_errors_not_skips(error: Exception, says: str) -> None:
    api = AwsApi(region=REGION, account_id=ACCOUNT, sleep=lambda _s: None)
    api._clients[("kms", REGION)] = ScriptedClient(error)
    with pytest.raises(CallFailed, match=says):
        api.call("kms", "ListKeys")


def test_failed_calls_make_the_audit_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ScriptedClient(_client_error("InternalFailure", 500), {"get_caller_identity": {"Account": ACCOUNT}})
    _scripted(monkeypatch, client)
    monkeypatch.setattr("policies.cloud.api.time.sleep", lambda _s: None)  # every call is retried with backoff
    res = runner.invoke(app, ["audit", "--stack", STACK, "--region", REGION, "--format", "json"])
    doc = json.loads(res.stdout)
    assert {f["status"] for f in doc["findings"]} == {"error"} and res.exit_code == 1


def _finding(status: str, severity: str = "high", cause: str = "") -> Finding:
    return Finding("X", status, severity, "r", "m", cause)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("finding", "plain", "allowed"),
    [
        (_finding("pass"), 0, 0),
        (_finding("skipped"), 0, 0),  # the stack has no such resource by design
        (_finding("skipped", cause=ENDPOINT), 1, 0),  # the emulator lacks the API: only --allow-skipped waives it
        (_finding("skipped", cause=SCOPE), 1, 1),  # nothing tagged where the stack should have it: never waived
        (_finding("error", cause="permissions"), 1, 1),
        (_finding("skipped", "medium", ENDPOINT), 0, 0),  # medium and low never block
        (_finding("fail", "critical"), 1, 1),
    ],
)
def test_exit_code_rules(finding: Finding, plain: int, allowed: int) -> None:
    assert exit_code([finding]) == plain
    assert exit_code([finding], allow_skipped=True) == allowed


def test_allow_skipped_is_printed_in_the_report(moto: str, account: dict) -> None:
    base = ["audit", "--stack", STACK, "--region", REGION, "--endpoint-url", moto]
    doc = json.loads(runner.invoke(app, [*base, "--format", "json"]).stdout)
    ebs = next(f for f in doc["findings"] if f["control"] == "ENC-EBS-DEFAULT")
    assert ebs["status"] == "skipped" and ebs["cause"] == "endpoint" and doc["allow_skipped"] is False
    res = runner.invoke(app, [*base, "--format", "json", "--allow-skipped"])
    doc = json.loads(res.stdout)
    assert doc["allow_skipped"] is True and "ENC-EBS-DEFAULT" in doc["notes"][0]
    table = runner.invoke(app, [*base, "--allow-skipped"]).stdout
    assert "--allow-skipped" in table and "ENC-EBS-DEFAULT" in table


def test_a_stack_tagged_only_in_another_region_is_bad_input(clients: Clients, moto: str) -> None:
    # S3 lists buckets of every region: a stack bucket in eu-west-1 must not make eu-central-1 look deployed.
    s3 = clients("s3", "eu-west-1")
    s3.create_bucket(Bucket="pacsguard-prod-elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    tag = {"TagSet": [{"Key": "pacsguard:stack", "Value": STACK}]}
    s3.put_bucket_tagging(Bucket="pacsguard-prod-elsewhere", Tagging=tag)
    res = runner.invoke(app, ["audit", "--stack", STACK, "--region", REGION, "--endpoint-url", moto])
    assert res.exit_code == 2 and f"in {REGION}" in res.stderr


def _rows(*statuses: tuple[str, str]) -> list[dict]:
    return [{"control": c, "status": s, "probe": f"p{i}", "message": "m"} for i, (c, s) in enumerate(statuses)]


def test_verify_fails_a_critical_control_with_only_skipped_probes() -> None:
    # PACS-DICOM-TLS is critical: every probe skipped means nothing was proven (the issue: verify passed).
    only_skipped = wire_findings(_rows(("PACS-DICOM-TLS", "skipped"), ("PACS-DICOM-TLS", "skipped")))
    assert exit_code(only_skipped) == 1
    assert exit_code(only_skipped, allow_skipped=True) == 0
    partly = wire_findings(_rows(("PACS-DICOM-TLS", "pass"), ("PACS-DICOM-TLS", "skipped")))
    assert exit_code(partly) == 0
    assert exit_code(wire_findings(_rows(("PACS-DICOM-TLS", "error")))) == 1


def test_an_empty_scope_is_not_applicable_only_when_the_settings_say_so() -> None:
    from policies.cloud.audit import _by_design
    from policies.cloud.context import CloudContext, not_applicable_by_design
    from policies.cloud.judge import none_found
    from stacks.loader import load_settings

    (empty,) = none_found("file system", STACK)
    assert empty.cause == SCOPE  # missing evidence by default
    settings = load_settings("dev")
    ebs = settings.model_copy(update={"storage": settings.storage.model_copy(update={"mode": "ebs"})})
    cx = CloudContext(api=None, stack=STACK, not_applicable=not_applicable_by_design(ebs))  # type: ignore[arg-type]
    judged = _by_design(cx, "ENC-EFS-KMS", empty)
    assert judged.cause == "" and "storage.mode is ebs" in judged.message
    assert _by_design(cx, "ENC-RDS-KMS", none_found("database", STACK)[0]).cause == SCOPE
