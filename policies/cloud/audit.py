"""Run every control's cloud check over what the account reports, with progress."""

from __future__ import annotations

from collections.abc import Callable

from policies.catalog import controls
from policies.cloud.api import AccessDenied, ApiUnavailable, EndpointError
from policies.cloud.context import CloudContext
from policies.model import Finding


class NoStackResources(Exception):
    """Nothing carries the stack's tag: a typo in --stack or the wrong region/account (exit 2, never a pass)."""


def preflight(cx: CloudContext) -> None:
    """Fail fast on an unreachable endpoint or a stack that does not exist there."""
    from policies.cloud.collect import kms, s3

    try:
        found = kms.keys(cx.api, cx.stack) or s3.buckets(cx.api, cx.stack)
    except (ApiUnavailable, AccessDenied):
        return  # the checks will report exactly what is missing
    if not found:
        raise NoStackResources(
            f"no KMS key or bucket is tagged pacsguard:stack={cx.stack} in {cx.region}: "
            "check --stack, --region and the account"
        )


def run_audit(cx: CloudContext, progress: Callable[[str], None] = lambda _m: None) -> list[Finding]:
    preflight(cx)
    findings: list[Finding] = []
    for ctl in controls():
        if ctl.cloud is None:
            continue
        progress(ctl.id)
        try:
            outcomes = ctl.cloud.check(cx)
        except ApiUnavailable as exc:
            findings.append(Finding(ctl.id, "skipped", ctl.severity, "account", str(exc)))
            continue
        except AccessDenied as exc:
            findings.append(Finding(ctl.id, "error", ctl.severity, "account", str(exc)))
            continue
        except EndpointError:
            raise
        except Exception as exc:  # a broken check is an error finding, never a pass
            findings.append(
                Finding(ctl.id, "error", ctl.severity, "account", f"check failed: {exc.__class__.__name__}: {exc}")
            )
            continue
        findings += [Finding(ctl.id, o.status, ctl.severity, o.resource, o.message) for o in outcomes]
    return findings
