"""The orthanc service user, created before Debian's package would create it, with the EFS access point's ids.

The access point presents every file as its POSIX user (uid/gid 64042): a host whose orthanc user has those ids
sees its own files as its own. Debian's orthanc package creates the user only when it does not exist yet, so the
bootstrap creates it first. On an AMI that already carries the package, the existing user is kept (the access
point enforces its identity on the server side either way) and the bootstrap says so.
"""

from __future__ import annotations

import pwd
import subprocess
from collections.abc import Callable

from orthanc_config.profile import HostProfile

USER = "orthanc"
HOME = "/var/lib/orthanc"


def access_point_ids(profile: HostProfile) -> tuple[int, int] | None:
    if not profile.efs.get("uid"):
        return None
    return int(profile.efs["uid"]), int(profile.efs.get("gid", profile.efs["uid"]))


def commands(uid: int, gid: int) -> list[list[str]]:
    return [
        ["groupadd", "--system", "--gid", str(gid), USER],
        ["useradd", "--system", "--uid", str(uid), "--gid", str(gid), "--home-dir", HOME, "--no-create-home",
         "--shell", "/usr/sbin/nologin", "--comment", "Orthanc PACS (PACSGuard)", USER],
    ]  # fmt: skip


def ensure(profile: HostProfile, say: Callable[[str], None]) -> None:
    ids = access_point_ids(profile)
    if ids is None:
        return
    try:
        existing = pwd.getpwnam(USER)
    except KeyError:
        say(f"Users: creating {USER} with the access point's uid/gid {ids[0]}/{ids[1]}")
        for cmd in commands(*ids):
            subprocess.run(cmd, check=True, capture_output=True)
        return
    if (existing.pw_uid, existing.pw_gid) != ids:
        say(
            f"Users: {USER} already exists as {existing.pw_uid}/{existing.pw_gid} (the AMI carries the package); "
            f"the access point still stores files as {ids[0]}/{ids[1]}"
        )
