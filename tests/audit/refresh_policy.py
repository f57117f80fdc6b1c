"""Regenerate policies/cloud/auditor-policy.json from the calls a full audit of the fixture account makes.

.venv/bin/python -m tests.audit.refresh_policy
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "cloud" / "auditor-policy.json"


def main() -> None:
    from moto.server import ThreadedMotoServer

    from policies.cloud.api import AwsApi
    from policies.cloud.audit import run_audit
    from policies.cloud.context import CloudContext
    from policies.cloud.iam_actions import render_policy
    from tests.audit.account import ACCOUNT, REGION, STACK, build
    from tests.audit.conftest import Clients

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        build(Clients(url))
        api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
        run_audit(CloudContext(api=api, stack=STACK))
        api.call("sts", "GetCallerIdentity")
    finally:
        server.stop()
    POLICY_FILE.write_text(render_policy(api.calls))
    print(f"wrote {POLICY_FILE} ({len(api.calls)} operations)")


if __name__ == "__main__":
    main()
