"""Run every control's cloud check over what the account reports, with progress."""

from __future__ import annotations

from collections.abc import Callable

from policies.catalog import controls
from policies.cloud.api import AccessDenied, ApiUnavailable, CallFailed, EndpointError
from policies.cloud.context import CloudContext
from policies.model import ENDPOINT, FAILED_CALL, NOT_APPLICABLE, PERMISSIONS, SCOPE, Finding, Outcome


class NoStackResources(Exception):
    """Nothing carries the stack's tag: a typo in --stack or the wrong region/account (exit 2, never a pass)."""


def preflight(cx: CloudContext) -> None:
    """Fail fast on an unreachable endpoint or a stack that does not exist in this region.

    S3 lists every bucket of the account whatever the region, so a bucket counts only where it lives."""
    from policies.cloud.collect import kms, s3

    try:
        found = kms.keys(cx.api, cx.stack) or [b for b in s3.buckets(cx.api, cx.stack) if b["region"] == cx.region]
    except (ApiUnavailable, AccessDenied, CallFailed):
        return  # the checks will report exactly what is missing
    if not found:
        raise NoStackResources(
            f"no KMS key or bucket is tagged pacsguard:stack={cx.stack} in {cx.region}: "
            "check --stack, --region and the account"
        )


def _by_design(cx: CloudContext, control_id: str, o: Outcome) -> Outcome:
    """An empty scope is missing evidence unless the stack's settings say it has no such resource."""
    reason = cx.not_applicable.get(control_id)
    if o.status == "skipped" and o.cause == SCOPE and reason:
        return Outcome(o.resource, "skipped", f"not applicable: {reason}", NOT_APPLICABLE)
    return o


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
            findings.append(Finding(ctl.id, "skipped", ctl.severity, "account", str(exc), ENDPOINT))
            continue
        except AccessDenied as exc:
            findings.append(Finding(ctl.id, "error", ctl.severity, "account", str(exc), PERMISSIONS))
            continue
        except EndpointError:
            raise
        except Exception as exc:  # a failed call or a broken check is an error finding, never a pass
            message = str(exc) if isinstance(exc, CallFailed) else f"check failed: {exc.__class__.__name__}: {exc}"
            findings.append(Finding(ctl.id, "error", ctl.severity, "account", message, FAILED_CALL))
            continue
        for o in (_by_design(cx, ctl.id, o) for o in outcomes):
            findings.append(Finding(ctl.id, o.status, ctl.severity, o.resource, o.message, o.cause))
    return findings
