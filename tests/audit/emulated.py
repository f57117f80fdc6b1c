"""The fixture account on a private moto server, for the scripts that need one outside pytest (the auditor policy
refresh, the audit timing and the Prowler comparison)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def emulated_prod_account() -> Iterator[tuple[str, dict]]:
    """(endpoint URL, the ids build() returned) of a good prod account on 127.0.0.1; the server stops on exit."""
    from moto.server import ThreadedMotoServer

    from tests.audit.account import build
    from tests.audit.conftest import Clients

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    os.environ.update(MOTO_IAM_LOAD_MANAGED_POLICIES="true", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        yield url, build(Clients(url))
    finally:
        server.stop()
