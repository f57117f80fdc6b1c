"""`pacsguard local up --audit-forward HOST:PORT --audit-forward-ca CA`: RFC 5425 forwarding as a setting of the
local stack (the host test sends the records of a real stack to rsyslog). Bad input: one line, exit 2, nothing
started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orthanc_config.bootstrap import audit_sink_config
from orthanc_config.layout import HostLayout
from orthanc_config.local_stack import LocalOptions, local_profile
from pacsguard.cli import app


def up(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["local", "up", "--name", "nostack", "--skip-packages", *args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--audit-forward", "198.18.0.1:6514"], "--audit-forward-ca"),
        (["--audit-forward", "198.18.0.1"], "HOST:PORT"),
        (["--audit-forward", "198.18.0.1:99999", "--audit-forward-ca", "/etc/hostname"], "HOST:PORT"),
        (["--audit-forward-ca", "/etc/hostname"], "without --audit-forward"),
        (["--audit-forward", "h:6514", "--audit-forward-ca", "/nonexistent/ca.pem"], "no such file"),
        (["--audit-forward", "h:6514", "--audit-forward-ca", "/etc/hostname", "--audit-forward-cert", "/etc/hostname"],
         "go together"),
    ],
)  # fmt: skip
def test_bad_forwarding_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    code, err = up(*args)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_the_setting_reaches_the_sinks_configuration(tmp_path: Path) -> None:
    forward = (("host", "198.18.0.1"), ("port", "6514"), ("ca", "/x/ca.pem"), ("server_name", "repo.example"))
    profile = local_profile(LocalOptions(name="t", state_dir=tmp_path, audit_forward=forward))
    assert sink_config(profile)["forward"] == dict(forward)
    assert sink_config(local_profile(LocalOptions(state_dir=tmp_path)))["forward"] == {}


def sink_config(profile) -> dict:
    return json.loads(audit_sink_config(HostLayout(profile)).content)
