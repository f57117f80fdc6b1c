"""Defect 6: storage.mode ebs keeps the images on one persistent, encrypted, backed-up volume that the host
attaches by id, formats only when blank, mounts by UUID, and that a replacement host reattaches."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
import yaml

from infra.synth import synthesize
from orthanc_config import aws_api, ebs_volume
from orthanc_config.profile import HostProfile
from stacks.loader import STACKS_DIR


class FakeDisk:
    """blkid/mkfs/findmnt/mount as a blank or formatted volume answers them."""

    def __init__(self, formatted: bool) -> None:
        self.fs_type, self.calls = ("ext4" if formatted else ""), []

    def __call__(self, cmd: list[str]) -> str:
        self.calls.append(cmd[0])
        if cmd[0] == "mkfs.ext4":
            self.fs_type = "ext4"
        if cmd[:2] == ["blkid", "-o"]:
            return {"TYPE": self.fs_type, "UUID": "0f0e-uuid" if self.fs_type else ""}[cmd[4]]
        return ""


@pytest.fixture
def attached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HostProfile:
    monkeypatch.setattr(ebs_volume, "BY_ID", tmp_path / "by-id")
    device = ebs_volume.device_for("vol-0abc")
    device.parent.mkdir()
    device.touch()  # already attached: the attach API is not called
    (tmp_path / "fstab").write_text("")
    return HostProfile(name="h", mode="aws", ebs_volume_id="vol-0abc", storage_dir=str(tmp_path / "images"))


@pytest.mark.parametrize("formatted", [False, True])
def test_a_blank_volume_is_formatted_once_and_a_used_one_never(attached: HostProfile, tmp_path: Path,
                                                                formatted: bool) -> None:  # fmt: skip
    disk = FakeDisk(formatted)
    fresh = ebs_volume.mount(attached, lambda _m: None, run=disk, fstab=tmp_path / "fstab")
    assert fresh is (not formatted) and disk.calls.count("mkfs.ext4") == (0 if formatted else 1)
    assert disk.calls[-1] == "mount"
    # Mounted by file-system UUID, never by a device name that Nitro may change.
    assert (tmp_path / "fstab").read_text().startswith(f"UUID=0f0e-uuid {attached.storage_dir} ext4 ")
    ebs_volume.mount(attached, lambda _m: None, run=disk, fstab=tmp_path / "fstab")  # a reboot, or a replacement
    assert disk.calls.count("mkfs.ext4") == (0 if formatted else 1)
    assert len((tmp_path / "fstab").read_text().splitlines()) == 1


def test_the_device_is_found_by_volume_id() -> None:
    assert ebs_volume.device_for("vol-0123456789abcdef0").name == "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"


def test_a_replacement_host_attaches_the_volume_through_the_ec2_api(moto_endpoint: str) -> None:
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    volume = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=10, Encrypted=True)["VolumeId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": "eu-west-1a"})
    instance_id = instance["Instances"][0]["InstanceId"]
    client = aws_api.Client("eu-west-1", endpoint=moto_endpoint, credentials=aws_api.Credentials("t", "t"))
    ebs_volume.attach(client, volume, instance_id, timeout=10)
    attachments = ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Attachments"]
    assert [a["InstanceId"] for a in attachments] == [instance_id]
    ebs_volume.attach(client, volume, instance_id, timeout=10)  # already attached to itself: nothing to do


@pytest.fixture(scope="module")
def ebs_stack(tmp_path_factory: pytest.TempPathFactory):
    stacks = tmp_path_factory.mktemp("stacks")
    for f in STACKS_DIR.glob("*"):
        if f.is_file():
            shutil.copy(f, stacks / f.name)
    doc = yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text())
    doc["config"]["pacsguard:storage"] = {"mode": "ebs", "ebs_size_gb": 200}
    doc["config"]["pacsguard:hosts"] = {"count": 1, "instance_type": "t3.large"}
    (stacks / "Pulumi.ebsdev.yaml").write_text(yaml.safe_dump(doc))
    return synthesize("ebsdev", stacks)


def test_the_ebs_image_volume_is_persistent_encrypted_backed_up_and_attached_by_the_host(ebs_stack) -> None:
    (volume,) = ebs_stack.of_type("aws:ebs/volume:Volume")
    assert volume.inputs["encrypted"] is True and volume.inputs["kmsKeyId"] and volume.inputs["size"] == 200
    (template,) = ebs_stack.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    # Not a launch-template device: that would make a new volume per instance and strand the old one.
    assert len(template.inputs["blockDeviceMappings"]) == 1
    (selection,) = ebs_stack.of_type("aws:backup/selection:Selection")
    assert volume.outputs["arn"] in selection.inputs["resources"]
    (asg,) = ebs_stack.of_type("aws:autoscaling/group:Group")
    assert len(asg.inputs["vpcZoneIdentifiers"]) == 1  # the volume's zone only
    from tests.unit.test_userdata_bundle import user_data_of

    assert '"ebs_volume_id": "hosts-images-id"' in user_data_of(ebs_stack)  # the volume's id, as the plan renders
