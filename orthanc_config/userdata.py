"""EC2 user data: fetch the host bundle, write the profile, run the same bootstrap as `local up`.

The script carries no secret. The profile names secrets by ARN; the instance role reads them at boot.
"""

from __future__ import annotations

import shlex

from orthanc_config.profile import HostProfile

BUNDLE_PATH = "/opt/pacsguard/host-bundle.zip"
PROFILE_PATH = "/etc/pacsguard/profile.json"
BOOT_PACKAGES = ("python3", "python3-cryptography", "awscli", "ca-certificates")


def render_user_data(profile: HostProfile, bundle_uri: str, region: str) -> str:
    if not bundle_uri.startswith("s3://"):
        raise ValueError(f"bundle_uri must be an s3:// URI, got {bundle_uri!r}")
    return f"""#!/bin/bash
# PACSGuard host bootstrap (EC2 user data). No secret in here: see {PROFILE_PATH}.
set -euo pipefail
umask 077
export DEBIAN_FRONTEND=noninteractive
# Hosts may reach the internet on 443 only: use the Debian mirrors over HTTPS.
sed -i 's#http://#https://#g' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
apt-get update -q
apt-get install -y -q --no-install-recommends {" ".join(BOOT_PACKAGES)}
install -d -m 0755 /opt/pacsguard
install -d -m 0750 /etc/pacsguard
aws --region {shlex.quote(region)} s3 cp {shlex.quote(bundle_uri)} {BUNDLE_PATH}
cat > {PROFILE_PATH} <<'PACSGUARD_PROFILE'
{profile.to_json()}
PACSGUARD_PROFILE
exec python3 {BUNDLE_PATH} install --profile {PROFILE_PATH}
"""
