"""EC2-only bootstrap steps: the RDS CA bundle, and the image store mounted over TLS through its access point."""

from __future__ import annotations

import os
import ssl
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

from orthanc_config import aws_api
from orthanc_config.profile import HostProfile

MOUNT_EFS = "/sbin/mount.efs"
FSTAB = Path("/etc/fstab")


class AwsHostError(Exception):
    """An EC2 bootstrap step that cannot be done safely; the host stops rather than run insecurely."""


def efs_fstab_line(profile: HostProfile) -> str:
    fs, ap = profile.efs["file_system_id"], profile.efs["access_point_id"]
    # tls: encrypted in transit; iam: the instance role is the NFS identity; accesspoint: the policy demands it.
    return f"{fs} {profile.storage_dir} efs _netdev,noresvport,tls,iam,accesspoint={ap} 0 0\n"


def mount_image_store(profile: HostProfile, say: Callable[[str], None]) -> None:
    if not profile.efs:
        return
    if not Path(MOUNT_EFS).exists():
        raise AwsHostError(
            "amazon-efs-utils is required to mount the image store with TLS and IAM through its access point "
            "(the file system policy refuses anything else), and Debian does not package it: bake it into the "
            "AMI (github.com/aws/efs-utils, ./build-deb.sh) or use storage.mode: ebs for a single host"
        )
    line = efs_fstab_line(profile)
    if line not in FSTAB.read_text():
        with FSTAB.open("a") as fh:
            fh.write(line)
    target = Path(profile.storage_dir)
    if os.path.ismount(target):
        return
    # The mount point is root's; once mounted, the access point's root directory (owned by its POSIX user) shows.
    target.mkdir(mode=0o755, parents=True, exist_ok=True)
    say(f"Image store: mounting {profile.efs['file_system_id']} at {profile.storage_dir} (TLS, IAM, access point)")
    res = subprocess.run(["mount", profile.storage_dir], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise AwsHostError(f"cannot mount the image store {profile.efs['file_system_id']}: {res.stderr.strip()}")


def fetch_rds_ca(profile: HostProfile, say: Callable[[str], None]) -> None:
    target = Path(profile.database.ca_file)
    url = profile.database.ca_bundle_url
    if not profile.database.ca_file or not url:
        return
    say(f"Database: fetching the RDS certificate bundle from {url} (verify-full needs it)")
    ctx = ssl.create_default_context()
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=30) as resp:  # noqa: S310 (https only, see profile)
            data = resp.read()
    except OSError as exc:
        raise AwsHostError(f"cannot fetch the RDS CA bundle {url}: {exc}") from None
    if b"BEGIN CERTIFICATE" not in data:
        raise AwsHostError(f"{url} did not return PEM certificates")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o644)


def remember_endpoint() -> None:
    """Keep an AWS endpoint override the host booted with (an emulator), so later runs and services use it too."""
    override = os.environ.get(aws_api.ENDPOINT_ENV, "")
    if override:
        Path(aws_api.ENDPOINT_FILE).parent.mkdir(parents=True, exist_ok=True)
        Path(aws_api.ENDPOINT_FILE).write_text(override + "\n")


def prepare(profile: HostProfile, say: Callable[[str], None]) -> None:
    fetch_rds_ca(profile, say)
    mount_image_store(profile, say)
    if profile.ebs_volume_id:
        from orthanc_config import ebs_volume

        try:
            ebs_volume.mount(profile, say)
        except (ebs_volume.EbsError, aws_api.AwsError) as exc:
            raise AwsHostError(str(exc)) from None
