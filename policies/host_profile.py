"""The host profile a stack renders into EC2 user data, read back for the PACS controls."""

from __future__ import annotations

import base64
import binascii
import json
import re

from orthanc_config.profile import HostProfile, ProfileError
from orthanc_config.render_orthanc import OrthancPaths, orthanc_settings
from policies.graph import PlanGraph, Res

PROFILE_BLOCK = re.compile(r"<<'PACSGUARD_PROFILE'\n(.*?)\nPACSGUARD_PROFILE", re.S)
# Placeholder paths: the PACS controls judge options, not where the files live.
PATHS = OrthancPaths("/pki/server.crt", "/pki/server.key", "/pki/ca.crt", "/plugin/pacsguard_plugin.py")


class ProfileUnavailable(Exception):
    """No profile can be read (no host, or user data still unknown during a preview)."""


def host_templates(g: PlanGraph) -> list[Res]:
    return g.of("aws:ec2/launchTemplate:LaunchTemplate")


def profile_of(template: Res) -> HostProfile:
    raw = template.inputs.get("userData")
    if not isinstance(raw, str) or not raw:
        raise ProfileUnavailable("user data is not known yet (computed at deployment)")
    try:
        script = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        script = raw
    match = PROFILE_BLOCK.search(script)
    if not match:
        raise ProfileUnavailable("user data does not run the PACSGuard host bootstrap")
    try:
        return HostProfile.from_dict(json.loads(match.group(1)))
    except (ValueError, ProfileError) as exc:
        raise ProfileUnavailable(f"host profile does not parse: {exc}") from None


def rendered_orthanc(template: Res) -> tuple[HostProfile, dict]:
    profile = profile_of(template)
    return profile, orthanc_settings(profile, PATHS)


def user_data_text(template: Res) -> str:
    raw = template.inputs.get("userData") or ""
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return str(raw)
