"""Defect 5: on EFS the orthanc user gets the access point's ids before the package creates it, the EFS root is
never chowned, and the AMI is a setting (Debian 12 by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthanc_config import bootstrap, service_user
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile

EFS = {"file_system_id": "fs-1", "access_point_id": "fsap-2", "uid": "64042", "gid": "64042"}


def test_the_service_user_is_created_with_the_access_points_ids_before_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(service_user.pwd, "getpwnam", lambda _u: (_ for _ in ()).throw(KeyError(_u)))
    monkeypatch.setattr(service_user.subprocess, "run", lambda cmd, **_k: steps.append(" ".join(cmd[:3])))
    monkeypatch.setattr(bootstrap.packages, "install", lambda: steps.append("packages"))

    class Stop(Exception):
        pass

    def stop_after_packages(*_a: object, **_k: object) -> None:
        raise Stop

    monkeypatch.setattr(bootstrap, "make_dir", stop_after_packages)
    with pytest.raises(Stop):
        bootstrap.configure(HostProfile(name="h", mode="aws", efs=EFS), say=lambda _m: None)
    assert steps == ["groupadd --system --gid", "useradd --system --uid", "packages"]
    assert service_user.commands(64042, 64042)[1][3] == "64042"


def test_the_efs_root_is_never_chowned(monkeypatch: pytest.MonkeyPatch) -> None:
    touched: list[Path] = []
    monkeypatch.setattr(bootstrap, "make_dir", lambda path, *_a, **_k: touched.append(path))
    bootstrap.prepare_storage(HostLayout(HostProfile(name="h", mode="aws", efs=EFS)))
    assert touched == []
    bootstrap.prepare_storage(HostLayout(HostProfile(name="h", mode="aws")))
    assert touched == [Path("/var/lib/orthanc/db-pacsguard")]


def test_the_dev_plan_carries_the_access_points_ids(dev) -> None:
    from tests.rehearsal.plan_facts import profile_of
    from tests.unit.test_userdata_bundle import user_data_of

    assert profile_of(user_data_of(dev)).efs["uid"] == "64042"


def test_hosts_ami_is_debian_12_by_default_or_the_setting(dev) -> None:
    (template,) = dev.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["imageId"] == "ami-0debian12offline"  # the mocked get_ami answer for Debian's filter
    from infra.host_ami import host_ami

    assert host_ami("ami-0123456789abcdef0") == "ami-0123456789abcdef0"
