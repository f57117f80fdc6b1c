"""EC2 user data and the host bundle: the same bootstrap, no secrets inside."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.host_bundle import host_bundle, write_zip
from orthanc_config.profile import HostProfile
from orthanc_config.userdata import render_user_data


def test_user_data_embeds_a_valid_profile_and_runs_the_bootstrap() -> None:
    profile = HostProfile(name="h", mode="aws")
    ud = render_user_data(profile, "s3://bucket/pacsguard/bootstrap/host-bundle.zip", "eu-west-1")
    body = re.search(r"<<'PACSGUARD_PROFILE'\n(.*)\nPACSGUARD_PROFILE", ud, re.S).group(1)
    assert HostProfile.from_dict(json.loads(body)) == profile
    assert ud.startswith("#!/bin/bash") and "set -euo pipefail" in ud
    assert "python3 /opt/pacsguard/host-bundle.zip install --profile /etc/pacsguard/profile.json" in ud


def test_bundle_uri_must_be_s3() -> None:
    with pytest.raises(ValueError, match="s3://"):
        render_user_data(HostProfile(name="h", mode="aws"), "http://example.org/x.zip", "eu-west-1")


def test_host_bundle_is_runnable_orthanc_config() -> None:
    assets = host_bundle().assets
    assert {"__main__.py", "orthanc_config/bootstrap.py", "orthanc_config/plugin/pacsguard_plugin.py"} <= set(assets)
    assert not [name for name in assets if "__pycache__" in name or name.endswith(".pyc")]
    assert "orthanc_config.bootstrap import main" in assets["__main__.py"].text


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/bin/python3").exists(), reason="needs Debian's /usr/bin/python3"
)
def test_bundle_runs_under_the_hosts_system_python(tmp_path) -> None:
    """The bootstrap may use only the standard library and Debian python3-* packages: prove it."""
    import subprocess

    bundle = write_zip(host_bundle(), tmp_path / "host-bundle.zip")
    res = subprocess.run(["/usr/bin/python3", "-I", str(bundle), "install", "--help"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "--profile" in res.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "h", "mode": "aws", "dicom_aet": "no spaces allowed"}')
    res = subprocess.run(["/usr/bin/python3", "-I", str(bundle), "install", "--profile", str(bad), "--no-packages"],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and "dicom_aet" in res.stderr


def test_efs_is_mounted_with_tls_iam_and_the_access_point() -> None:
    from orthanc_config.aws_host import efs_fstab_line

    profile = HostProfile(name="h", mode="aws", efs={"file_system_id": "fs-1", "access_point_id": "fsap-2"})
    line = efs_fstab_line(profile)
    assert line.startswith("fs-1 /var/lib/orthanc/db-pacsguard efs ")
    assert {"tls", "iam", "accesspoint=fsap-2"} <= set(line.split()[3].split(","))


def test_without_efs_utils_the_host_refuses_to_mount_insecurely(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from orthanc_config import aws_host

    monkeypatch.setattr(aws_host, "MOUNT_EFS", "/nonexistent/mount.efs")
    # Never this machine's own fstab or mount table, even when the check regresses (it once wrote /etc/fstab).
    fstab = tmp_path / "fstab"
    fstab.write_text("")
    monkeypatch.setattr(aws_host, "FSTAB", fstab)
    monkeypatch.setattr(aws_host.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    storage = tmp_path / "images"
    profile = HostProfile(name="h", mode="aws", efs={"file_system_id": "fs-1", "access_point_id": "fsap-2"},
                          storage_dir=str(storage))  # fmt: skip
    with pytest.raises(aws_host.AwsHostError, match="amazon-efs-utils"):
        aws_host.mount_image_store(profile, print)
    assert fstab.read_text() == "" and not storage.exists()


def user_data_of(synthesis) -> str:
    import base64

    (template,) = synthesis.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    return base64.b64decode(template.inputs["userData"]).decode()
