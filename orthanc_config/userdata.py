"""EC2 user data: fetch the host bundle, write the profile, run the same bootstrap as `local up`.

The script carries no secret. The profile names secrets by ARN; the instance role reads them at boot. The bundle
is fetched by aws_api.py (standard library, embedded below), so the AMI needs nothing but Debian's python3.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from orthanc_config.profile import HostProfile

BUNDLE_PATH = "/opt/pacsguard/host-bundle.zip"
FETCHER_PATH = "/opt/pacsguard/aws_api.py"
PROFILE_PATH = "/etc/pacsguard/profile.json"
BOOT_PACKAGES = ("python3", "python3-cryptography", "ca-certificates")
FETCHER_SOURCE = Path(__file__).with_name("aws_api.py")
# EC2 refuses user data above 16 KB (before base64).
USER_DATA_LIMIT = 16384

_HEAD = """#!/bin/bash
# PACSGuard host bootstrap (EC2 user data). No secret in here: see {profile_path}.
set -euo pipefail
umask 077
export DEBIAN_FRONTEND=noninteractive
# Hosts may reach the internet on 443 only: use the Debian mirrors over HTTPS.
sed -i 's#http://#https://#g' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
missing=""
for pkg in {packages}; do
  dpkg-query -W -f='${{Status}}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
fi
install -d -m 0755 /opt/pacsguard
install -d -m 0750 /etc/pacsguard
"""


def render_user_data(profile: HostProfile, bundle_uri: str, region: str) -> str:
    if not bundle_uri.startswith("s3://"):
        raise ValueError(f"bundle_uri must be an s3:// URI, got {bundle_uri!r}")
    fetcher = FETCHER_SOURCE.read_text()
    script = (
        _HEAD.format(profile_path=PROFILE_PATH, packages=" ".join(BOOT_PACKAGES))
        + f"cat > {FETCHER_PATH} <<'PACSGUARD_AWS_API'\n{fetcher}PACSGUARD_AWS_API\n"
        + f"AWS_REGION={shlex.quote(region)} python3 {FETCHER_PATH} s3-get {shlex.quote(bundle_uri)} {BUNDLE_PATH}\n"
        + f"cat > {PROFILE_PATH} <<'PACSGUARD_PROFILE'\n{profile.to_json()}\nPACSGUARD_PROFILE\n"
        + f"exec python3 {BUNDLE_PATH} install --profile {PROFILE_PATH}\n"
    )
    if len(script.encode()) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(script.encode())} bytes; EC2 accepts at most {USER_DATA_LIMIT}")
    return script
