"""The CloudWatch shipper keeps the audit trail flowing: calls within PutLogEvents' limits, progress saved per
accepted call, a line CloudWatch refuses set aside after a few rounds instead of holding back every later line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orthanc_config import aws_api
from orthanc_config.layout import HostLayout
from orthanc_config.log_shipper import GIVE_UP_AFTER, MAX_BATCH_BYTES, Shipper
from orthanc_config.profile import HostProfile

GROUPS = {"orthanc-audit": "/pacsguard/t/audit", "nginx": "/pacsguard/t/nginx", "host": "/pacsguard/t/host"}


class FakeLogs:
    """PutLogEvents as CloudWatch judges it: the documented size limit, and whatever `refuse` says."""

    def __init__(self, refuse=lambda events: None) -> None:
        self.refuse = refuse
        self.received: dict[str, list[str]] = {}
        self.calls = 0

    def call(self, service: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action != "PutLogEvents":
            return {}
        self.calls += 1
        events = payload["logEvents"]
        size = sum(len(e["message"].encode()) + 26 for e in events)
        if size > MAX_BATCH_BYTES or len(events) > 10_000:
            raise aws_api.AwsError(f"batch of {size} bytes", "InvalidParameterException")
        error = self.refuse(events)
        if error:
            raise error
        self.received.setdefault(payload["logGroupName"], []).extend(e["message"] for e in events)
        return {}


def shipper(tmp_path: Path, client: FakeLogs) -> Shipper:
    profile = HostProfile(
        name="t", mode="aws", state_dir=str(tmp_path / "state"), log_dir=str(tmp_path / "log"), log_groups=GROUPS
    )
    layout = HostLayout(profile)
    layout.state.mkdir(parents=True, exist_ok=True)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    return Shipper(profile, client, "i-0123")  # type: ignore[arg-type]


def write(path: Path, lines: list[str]) -> None:
    with path.open("a") as fh:
        fh.writelines(line + "\n" for line in lines)


def test_large_records_go_in_calls_within_the_one_megabyte_limit(tmp_path: Path) -> None:
    logs = FakeLogs()
    s = shipper(tmp_path, logs)
    records = [json.dumps({"seq": i, "studies": ["1.2.3." + "9" * 60] * 35}) for i in range(600)]  # ~2.5 KB each
    write(s.layout.audit_log, records)
    assert s.ship_once() == 600
    assert logs.received[GROUPS["orthanc-audit"]] == records
    assert logs.calls >= 2


def test_a_refused_line_is_set_aside_and_later_lines_still_arrive(tmp_path: Path) -> None:
    poison = "POISON"

    def refuse(events: list[dict]) -> aws_api.AwsError | None:
        if any(e["message"] == poison for e in events):
            return aws_api.AwsError("refused", "InvalidParameterException")
        return None

    logs = FakeLogs(refuse)
    s = shipper(tmp_path, logs)
    write(s.layout.audit_log, ["a", "b", poison, "c"])
    for _ in range(GIVE_UP_AFTER - 1):
        with pytest.raises(aws_api.AwsError):
            s.ship_once()
        # nginx's files are not held up by the audit file meanwhile
        write(s.layout.log_dir / "nginx-access.jsonl", ["n"])
    assert s.ship_once() == 2  # the round it is set aside in: "c" and the last "n"
    assert logs.received[GROUPS["orthanc-audit"]] == ["a", "b", "c"]  # each once, in order
    assert logs.received[GROUPS["nginx"]] == ["n"] * (GIVE_UP_AFTER - 1)
    (aside,) = [json.loads(x) for x in s.quarantine.read_text().splitlines()]
    assert aside["message"] == poison and "refused" in aside["error"]


def test_throttling_never_sets_lines_aside_and_nothing_is_sent_twice(tmp_path: Path) -> None:
    state = {"throttle": True}

    def refuse(events: list[dict]) -> aws_api.AwsError | None:
        return aws_api.AwsError("slow down", "ThrottlingException") if state["throttle"] else None

    logs = FakeLogs(refuse)
    s = shipper(tmp_path, logs)
    write(s.layout.audit_log, ["a", "b"])
    for _ in range(GIVE_UP_AFTER + 2):
        with pytest.raises(aws_api.AwsError):
            s.ship_once()
    state["throttle"] = False
    assert s.ship_once() == 2 and s.ship_once() == 0
    assert logs.received[GROUPS["orthanc-audit"]] == ["a", "b"]
    assert not s.quarantine.exists()


def test_progress_survives_a_restart(tmp_path: Path) -> None:
    logs = FakeLogs()
    write(shipper(tmp_path, logs).layout.audit_log, ["a"])
    shipper(tmp_path, logs).ship_once()
    s = shipper(tmp_path, logs)
    write(s.layout.audit_log, ["b"])
    s.ship_once()
    assert logs.received[GROUPS["orthanc-audit"]] == ["a", "b"]
