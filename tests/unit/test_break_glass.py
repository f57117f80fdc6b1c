"""The break-glass commands: a window needs a reason and stays within the configured length; closing reseals."""

from __future__ import annotations

import datetime as dt
import grp
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthanc_config.audit_sink import Sink, SinkConfig
from orthanc_config.break_glass import BreakGlassError, close_window, ensure_sealed, open_window
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not any(g.gr_name == "orthanc" for g in grp.getgrall()),
    reason="needs root and the orthanc group (make setup installs Orthanc)",
)


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[HostLayout]:
    """A host layout with its audit sink running: the break-glass records go through it, as on a host."""
    profile = HostProfile(name="t", mode="local", state_dir=str(tmp_path), log_dir=str(tmp_path / "log"))
    (tmp_path / "log").mkdir()
    layout = HostLayout(profile)
    layout.audit_socket.parent.mkdir(parents=True, exist_ok=True)
    sink = Sink(
        SinkConfig(
            trail=str(layout.audit_log),
            audit_socket=str(layout.audit_socket),
            orthanc_socket=str(tmp_path / "orthanc.sock"),
            orthanc_log=str(tmp_path / "orthanc.log"),
            reader_group="root",
            alarm_log=str(layout.alarm_log),
        )
    )
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=sink.serve, args=(stop, ready), daemon=True)
    thread.start()
    assert ready.wait(10), "the audit sink did not start"
    yield layout
    stop.set()
    thread.join(10)


def test_without_the_audit_sink_no_window_opens(layout: HostLayout) -> None:
    """An emergency window nobody recorded or was alarmed about must not open."""
    layout.audit_socket.unlink()  # the sink is gone
    with pytest.raises(BreakGlassError, match="audit sink"):
        open_window(layout, "ED patient, RIS down", 30, "second-admin")
    assert not layout.break_glass_window.exists()


def test_open_unseals_records_and_alarms(layout: HostLayout) -> None:
    sealed = ensure_sealed(layout)
    assert oct(layout.break_glass_credential.stat().st_mode & 0o777) == "0o600"
    doc = open_window(layout, "ED patient, RIS down", 30, "second-admin")
    assert doc["password"] == sealed and doc["user"] == "break-glass"
    window = json.loads(layout.break_glass_window.read_text())
    assert window["reason"] == "ED patient, RIS down" and window["opened_by"] == "second-admin"
    assert dt.datetime.fromisoformat(window["expires_at"]) - dt.datetime.fromisoformat(
        window["opened_at"]
    ) == dt.timedelta(minutes=30)
    (record,) = [json.loads(x) for x in layout.audit_log.read_text().splitlines()]
    assert record["emergency"] is True and "emergency access opened" in record["event"]
    assert "EmergencyAccessUsed" in layout.alarm_log.read_text()


@pytest.mark.parametrize(
    ("reason", "minutes", "fragment"), [("", 30, "--reason"), ("x", 61, "1 to 60"), ("x", 0, "1 to 60")]
)
def test_open_refuses_no_reason_or_too_long(layout: HostLayout, reason: str, minutes: int, fragment: str) -> None:
    with pytest.raises(BreakGlassError, match=fragment):
        open_window(layout, reason, minutes, "admin")
    assert not layout.break_glass_window.exists()


def test_close_removes_the_window_and_reseals(layout: HostLayout) -> None:
    handed_out = open_window(layout, "outage", 15, "admin")["password"]
    close_window(layout, "admin")
    assert not layout.break_glass_window.exists()
    assert ensure_sealed(layout) != handed_out


def test_window_follows_the_sealed_secrets_tags(layout: HostLayout) -> None:
    from orthanc_config.break_glass import WINDOW_TAGS, sync_window

    tags = {
        WINDOW_TAGS["opened_at"]: "2026-12-01T10:00:00+00:00",
        WINDOW_TAGS["expires_at"]: "2026-12-01T11:00:00+00:00",
        WINDOW_TAGS["reason"]: "ED patient",
        WINDOW_TAGS["opened_by"]: "arn:aws:iam::123456789012:role/admin-2",
    }
    assert sync_window(layout, tags) is True
    assert json.loads(layout.break_glass_window.read_text())["reason"] == "ED patient"
    assert oct(layout.break_glass_window.stat().st_mode & 0o777) == "0o640"
    partial = {k: v for k, v in tags.items() if k != WINDOW_TAGS["expires_at"]}
    assert sync_window(layout, partial) is False and not layout.break_glass_window.exists()


def test_aws_hosts_get_a_timer_only_with_a_sealed_secret(layout: HostLayout) -> None:
    import dataclasses

    from orthanc_config.systemd_units import BREAK_GLASS_TIMER, render_units

    assert not [u for u in render_units(layout) if BREAK_GLASS_TIMER in u.path]
    aws = HostLayout(
        dataclasses.replace(layout.profile, break_glass_secret="arn:aws:secretsmanager:eu-west-1:1:secret:x")
    )
    service = next(u for u in render_units(aws) if u.path.endswith("pacsguard-break-glass.service"))
    assert "break-glass-sync --profile" in service.content
