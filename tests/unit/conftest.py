"""Unit-test setup: the plugin modules load as top-level names inside Orthanc; tests import them the same way."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "orthanc_config" / "plugin"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback for the host's own AWS client (orthanc_config/aws_api.py)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
