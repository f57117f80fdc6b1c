"""EC2-only bootstrap steps: the RDS CA bundle, and the image store mounted over TLS through its access point."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

from orthanc_config.profile import HostProfile

RDS_CA_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
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
    say(f"Image store: mounting {profile.efs['file_system_id']} at {profile.storage_dir} (TLS, IAM, access point)")
    subprocess.run(["mount", profile.storage_dir], check=True)


def fetch_rds_ca(profile: HostProfile, say: Callable[[str], None]) -> None:
    target = Path(profile.database.ca_file)
    if not profile.database.ca_file or target.exists():
        return
    say("Database: fetching the RDS certificate bundle (verify-full needs it)")
    ctx = ssl.create_default_context()
    with urllib.request.urlopen(RDS_CA_URL, context=ctx, timeout=30) as resp:
        data = resp.read()
    if b"BEGIN CERTIFICATE" not in data:
        raise AwsHostError(f"{RDS_CA_URL} did not return PEM certificates")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o644)


def prepare(profile: HostProfile, say: Callable[[str], None]) -> None:
    if shutil.which("aws") is None:
        raise AwsHostError("the aws CLI is missing: the user data installs it before the bootstrap (package awscli)")
    fetch_rds_ca(profile, say)
    mount_image_store(profile, say)
