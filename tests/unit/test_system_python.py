"""Host code runs on Debian 12's own Python 3.11.2 and python3-cryptography 38, from inside host-bundle.zip.

The project venv (Python 3.11.7, cryptography 42+) hides APIs the host does not have, so these checks run the
bundle under /usr/bin/python3 -I exactly as the EC2 user data does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.host_bundle import host_bundle, write_zip

SYSTEM_PYTHON = Path("/usr/bin/python3")
PROBE = Path(__file__).with_name("system_python_probe.py")

pytestmark = pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="needs Debian's /usr/bin/python3")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    bundle = write_zip(host_bundle(), tmp_path_factory.mktemp("bundle") / "host-bundle.zip")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(bundle)}
    res = subprocess.run(
        [str(SYSTEM_PYTHON), str(PROBE)], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_certificate_renewal_check_runs_on_cryptography_38(probe: dict[str, str]) -> None:
    """A second bootstrap run checks expiry of the existing certificates: it crashed on not_valid_after_utc."""
    assert probe["pki_renewal_check"] == "ok", probe["pki_renewal_check"]


def test_backup_extraction_runs_on_python_3_11_2_and_still_refuses_escapes(probe: dict[str, str]) -> None:
    assert probe["backup_extract"] == "ok", probe["backup_extract"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the plugin files are chowned to root)")
def test_plugin_installs_from_inside_the_zip_bundle(probe: dict[str, str]) -> None:
    """The bootstrap copied plugin files from a path inside host-bundle.zip: NotADirectoryError, exit 2."""
    assert probe["install_plugin_from_zip"] == "ok", probe["install_plugin_from_zip"]


def test_identity_key_service_serves_and_checks_keys_on_cryptography_38(probe: dict[str, str]) -> None:
    """The key service runs under the host's own Python: it must load, check and serve a key there."""
    assert probe["identity_keys_service"] == "ok", probe["identity_keys_service"]
