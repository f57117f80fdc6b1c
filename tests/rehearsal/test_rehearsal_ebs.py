"""Defect 6 rehearsed: storage.mode ebs. An instance boots from the dev plan's user data with the stack's image
volume instead of EFS (the profile's two storage fields, as an ebs stack's plan renders them) and a loop device
standing in for the attached volume at its by-id name; the host formats it once, mounts it by UUID and stores on
it; its replacement finds the same file system with the images, unformatted.

The attach API itself (DescribeVolumes/AttachVolume with the instance's role) is proven against moto in
tests/unit/test_ebs_volume.py: moto knows neither the rehearsal's instance ids nor loop devices."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthanc_config import ebs_volume
from orthanc_config.userdata import render_user_data
from pacsguard.posture.dicom_files import unique_ct
from tests.rehearsal.balancer import Balancer
from tests.rehearsal.conftest import Fleet, modality_certificate
from tests.rehearsal.instance import Instance
from tests.rehearsal.region import Region
from tests.rehearsal.test_rehearsal import dicom

pytestmark = pytest.mark.host

VOLUME_ID = "vol-0e5a1ced0rehearsa1"  # the shape of an EBS id: vol- and 17 hex-like characters
BY_ID = Path("/dev/disk/by-id")


@pytest.fixture(scope="module")
def volume(region: Region) -> Iterator[dict[str, str]]:
    """A blank 1 GiB disk (a sparse file on a loop device) and the by-id mount point each instance covers with a
    tmpfs of its own. Only what this fixture created is removed afterwards."""
    tools = ("/usr/sbin/losetup", "/usr/sbin/mkfs.ext4", "/usr/sbin/blkid")
    missing = [tool for tool in tools if not Path(tool).exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (util-linux, e2fsprogs)")
    backing = region.base / "ebs-volume.img"
    with backing.open("wb") as fh:
        fh.truncate(1 << 30)
    res = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"needs a free loop device (losetup: {res.stderr.strip()})")
    device = res.stdout.strip()
    created = [d for d in (BY_ID.parent, BY_ID) if not d.exists()]
    for d in created:
        d.mkdir()
    try:
        yield {"link": ebs_volume.device_for(VOLUME_ID).name, "device": device}
    finally:
        for d in reversed(created):
            d.rmdir()
        subprocess.run(["losetup", "-d", device], check=False)
        backing.unlink()


def ebs_user_data(region: Region) -> str:
    """The dev plan's host profile with storage.mode ebs's two fields, rendered by the plan's own renderer."""
    profile = dataclasses.replace(region.plan["profile"], efs={}, ebs_volume_id=VOLUME_ID)
    return render_user_data(profile, f"s3://{region.plan['bucket']}/{region.plan['bundle_key']}", region.plan["region"])


def fs_uuid(device: str) -> str:
    return subprocess.run(["blkid", "-o", "value", "-s", "UUID", device], capture_output=True, text=True,
                          check=False).stdout.strip()  # fmt: skip


def image_files(inst: Instance, storage: str) -> list[str]:
    listing = inst.run("find", storage, "-type", "f", "-size", "+0", capture_output=True, text=True).stdout
    return sorted(listing.split())


def test_an_ebs_host_formats_its_volume_once_and_a_replacement_finds_the_images(
    fleet: Fleet, balancer: Balancer, volume: dict[str, str], tmp_path: Path
) -> None:
    storage = fleet.region.plan["profile"].storage_dir
    user_data = ebs_user_data(fleet.region)
    assert f'"ebs_volume_id": "{VOLUME_ID}"' in user_data and '"efs": {}' in user_data
    assert fs_uuid(volume["device"]) == ""  # blank, as EBS creates it
    launched: list[Instance] = []
    try:
        launched.append(first := fleet.launch(user_data, volume))
        uuid = fs_uuid(volume["device"])
        assert uuid, "the bootstrap did not format the blank volume"
        # Mounted by file-system UUID (never a device name, which Nitro may change), from the volume itself.
        assert f"UUID={uuid} {storage} ext4 " in first.read("/etc/fstab")
        mounted = first.run("findmnt", "-n", "-o", "SOURCE,FSTYPE", storage, capture_output=True, text=True)
        assert mounted.stdout.split() == [volume["device"], "ext4"]
        owner = first.run("stat", "-c", "%U:%G %a", storage, capture_output=True, text=True).stdout.strip()
        assert owner == "orthanc:orthanc 750"
        modality = modality_certificate(fleet.region, tmp_path / "modality")
        path, _ = unique_ct(tmp_path, "on-ebs.dcm")
        assert dicom(balancer, modality, first.address, "storescu", str(path)) == 0
        stored = image_files(first, storage)
        assert stored, "the store left no file on the volume"
        first.terminate()  # EC2 detaches the volume; the stack's volume outlives the instance

        launched.append(replacement := fleet.launch(user_data, volume))
        assert fs_uuid(volume["device"]) == uuid  # not formatted again
        assert "was blank" not in replacement.boot_log.read_text()
        assert image_files(replacement, storage) == stored  # the images are where they were
        path, _ = unique_ct(tmp_path, "after-replacement.dcm")
        assert dicom(balancer, modality, replacement.address, "storescu", str(path)) == 0
        assert set(image_files(replacement, storage)) > set(stored)
    finally:
        for inst in launched:  # before the volume's fixture detaches the loop device
            inst.terminate()
