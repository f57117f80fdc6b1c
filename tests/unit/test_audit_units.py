"""EC2: the audit sink runs as its own systemd unit from the host bundle, before Orthanc, whose launcher connects
Orthanc's output to it; both commands run under the host's Debian Python."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.host_bundle import host_bundle, write_zip
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile
from orthanc_config.systemd_units import render_units


def units() -> dict[str, str]:
    return {Path(u.path).name: u.content for u in render_units(HostLayout(HostProfile(name="h", mode="aws")))}


def test_the_sink_starts_before_orthanc_and_orthanc_is_bound_to_it() -> None:
    u = units()
    sink, orthanc = u["pacsguard-audit.service"], u["pacsguard-orthanc.service"]
    assert "host-bundle.zip audit-sink --config /var/lib/pacsguard/audit-sink.json" in sink
    assert "Before=pacsguard-orthanc.service" in sink and "User=" not in sink
    assert "BindsTo=pacsguard-audit.service" in orthanc
    assert (
        "run-orthanc --config-dir" in orthanc
        and "--output-socket /var/lib/pacsguard/run/orthanc-output.sock" in orthanc
    )
    assert "StandardOutput=append" not in orthanc  # no log file the orthanc user could write


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_zip(host_bundle(), tmp_path / "host-bundle.zip")


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs Debian's /usr/bin/python3")
def test_sink_and_launcher_run_from_the_bundle_under_the_system_python(bundle: Path, tmp_path: Path) -> None:
    res = subprocess.run(["/usr/bin/python3", "-I", str(bundle), "audit-sink", "--config", str(tmp_path / "none.json")],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and "pacsguard-audit-sink: error" in res.stderr
    res = subprocess.run(  # waits 15 s for a sink that never comes
        ["/usr/bin/python3", "-I", str(bundle), "run-orthanc", "--config-dir", "/x",
         "--output-socket", str(tmp_path / "s")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 2 and "audit sink is not listening" in res.stderr
