"""storage.mode ebs: one persistent, encrypted EBS volume holds the images and outlives every instance.

At boot the host attaches the stack's volume to itself (by volume id, through the EC2 API with its role), finds it
by id (/dev/disk/by-id, never a device name, which Nitro renames), formats it only if it carries no file system,
and mounts it by file-system UUID. A replacement host runs the same steps and finds the images where they were.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from orthanc_config import aws_api
from orthanc_config.profile import HostProfile

EC2_VERSION = "2016-11-15"
BY_ID = Path("/dev/disk/by-id")
FSTAB = Path("/etc/fstab")
LABEL = "pacsguard-img"

Run = Callable[[list[str]], str]


class EbsError(Exception):
    """The image volume could not be attached or mounted; the host stops rather than write images elsewhere."""


QUERIES = ("blkid", "findmnt")  # for these, "nothing found" is an answer (empty), not an error


def _run(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        if cmd[0] in QUERIES:
            return ""
        raise EbsError(f"{' '.join(cmd)}: {res.stderr.strip()[:300]}")
    return res.stdout.strip()


def device_for(volume_id: str) -> Path:
    """Nitro exposes the volume id, without its dash, as the NVMe serial: udev names the link after it."""
    return BY_ID / f"nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"


def attach(client: aws_api.Client, volume_id: str, instance_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = client.query("ec2", "DescribeVolumes", {"VolumeId.1": volume_id}, EC2_VERSION)
        attached_to = re.findall(r"<instanceId>([^<]+)</instanceId>", state)
        if instance_id in attached_to:
            return
        if re.search(r"<status>available</status>", state):
            client.query("ec2", "AttachVolume", {"VolumeId": volume_id, "InstanceId": instance_id,
                                                 "Device": "/dev/sdf"}, EC2_VERSION)  # fmt: skip
        elif time.monotonic() > deadline:
            raise EbsError(f"{volume_id} is still attached to {attached_to} (the old instance has not released it)")
        time.sleep(2)


def format_once(device: Path, run: Run = _run) -> bool:
    """True when the volume was blank and got a file system; an existing one is never touched."""
    if run(["blkid", "-o", "value", "-s", "TYPE", str(device)]):
        return False
    run(["mkfs.ext4", "-q", "-L", LABEL, str(device)])
    return True


def fstab_line(uuid: str, mount_point: str) -> str:
    # nofail: a missing volume must not drop the host into emergency mode; the bootstrap checks the mount itself.
    return f"UUID={uuid} {mount_point} ext4 defaults,nofail,noatime 0 2\n"


def mount(profile: HostProfile, say: Callable[[str], None], run: Run = _run, fstab: Path = FSTAB) -> bool:
    """Attach, format once, mount by UUID. Returns True when the file system is new (the caller sets its owner)."""
    volume_id = profile.ebs_volume_id
    device = device_for(volume_id)
    if not device.exists():
        say(f"Image volume: attaching {volume_id}")
        attach(aws_api.Client(profile.region), volume_id, aws_api.instance_id())
        deadline = time.monotonic() + 120
        while not device.exists():
            if time.monotonic() > deadline:
                raise EbsError(f"{volume_id} attached but {device} never appeared")
            time.sleep(1)
    fresh = format_once(device, run)
    if fresh:
        say(f"Image volume: {volume_id} was blank, created an ext4 file system")
    uuid = run(["blkid", "-o", "value", "-s", "UUID", str(device)])
    line = fstab_line(uuid, profile.storage_dir)
    if line not in fstab.read_text():
        with fstab.open("a") as fh:
            fh.write(line)
    Path(profile.storage_dir).mkdir(parents=True, exist_ok=True)
    if run(["findmnt", "-n", "-o", "SOURCE", profile.storage_dir]) == "":
        say(f"Image volume: mounting {volume_id} at {profile.storage_dir}")
        run(["mount", profile.storage_dir])
    return fresh
