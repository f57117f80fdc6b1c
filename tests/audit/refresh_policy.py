"""Regenerate policies/cloud/auditor-policy.json from the calls a full audit of the fixture account makes and the
calls written in the cloud layer's code (some are never reached on the fixture account).

.venv/bin/python -m tests.audit.refresh_policy
"""

from __future__ import annotations

from pathlib import Path

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "cloud" / "auditor-policy.json"


def main() -> None:
    from policies.cloud.api import AwsApi
    from policies.cloud.audit import run_audit
    from policies.cloud.context import CloudContext
    from policies.cloud.iam_actions import render_policy, source_calls
    from tests.audit.account import ACCOUNT, REGION, STACK
    from tests.audit.emulated import emulated_prod_account

    with emulated_prod_account() as (url, _ids):
        api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
        run_audit(CloudContext(api=api, stack=STACK))
        api.call("sts", "GetCallerIdentity")
    calls = api.calls | source_calls()
    POLICY_FILE.write_text(render_policy(calls))
    print(f"wrote {POLICY_FILE} ({len(calls)} operations)")


if __name__ == "__main__":
    main()
