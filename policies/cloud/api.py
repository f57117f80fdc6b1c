"""Every boto3 call the audit makes goes through here: made once, cached, and its failure classified.

- an operation the endpoint does not implement (an emulator: HTML instead of an AWS error, NotImplemented)
  -> ApiUnavailable -> the control is `skipped` (cause "endpoint": a critical/high one still exits 1 unless
  --allow-skipped)
- access denied -> AccessDenied naming the IAM action -> the control is an `error`
- throttling that outlasts the retries with backoff, an HTTP 5xx, anything unclassified -> CallFailed -> `error`
- "not configured" answers (no bucket policy, no password policy...) -> None, when the caller says so
Nothing here ever turns a failure into evidence of compliance.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from policies.cloud.iam_actions import iam_action

UNSUPPORTED_CODES = {
    "NotImplemented",
    "InvalidAction",
    "UnknownOperationException",
    "UnsupportedOperation",
    "501",
    "404",
}
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
}
THROTTLE_RETRIES = 5  # throttling and 5xx: backoff 0.5, 1, 2, 4, 8 s (about 15 s) before giving up


class ApiUnavailable(Exception):
    """The endpoint cannot answer this operation (an emulator that lacks it, a disabled service)."""


class AccessDenied(Exception):
    def __init__(self, action: str) -> None:
        super().__init__(f"access denied: the auditor needs {action}")
        self.action = action


class CallFailed(Exception):
    """The call was made and failed for a reason that says nothing about the account: throttled after every retry,
    an HTTP 5xx, or an error nobody classified. Evidence is missing: the control is an `error`."""


class EndpointError(Exception):
    """The endpoint cannot be reached at all: bad input, exit code 2."""


@dataclass
class AwsApi:
    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    account_id: str = ""
    calls: set[tuple[str, str]] = field(default_factory=set)
    sleep: Callable[[float], None] | None = None  # time.sleep; tests pass a recorder instead of waiting
    _cache: dict[tuple, Any] = field(default_factory=dict)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import boto3  # imported here so the plan layer never pays for it

        self._session = boto3.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        region = region or self.region
        if (service, region) not in self._clients:
            # Retries are ours (_with_retries): botocore's would also retry an emulator's HTML "no such operation".
            config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=20)
            if service == "s3control":
                config = config.merge(Config(inject_host_prefix=False))  # the account id would become a host name
            if service == "s3":
                config = config.merge(Config(s3={"addressing_style": "path"}))
            client = self._session.client(service, endpoint_url=self.endpoint_url, config=config, region_name=region)
            if service == "s3control" and self.endpoint_url:
                strip_account_host_prefix(client, self.endpoint_url)
            self._clients[(service, region)] = client
        return self._clients[(service, region)]

    def call(
        self, service: str, operation: str, *, missing: Iterable[str] = (), region: str | None = None, **params: Any
    ) -> Any:
        """One API answer (cached); None when the error code is in `missing` (a "not configured" answer).

        `region` asks another region's endpoint (a shadow trail's home region, for instance)."""
        key = (service, region, operation, json.dumps(params, sort_keys=True, default=str))
        if key not in self._cache:
            self._cache[key] = self._fetch(service, operation, set(missing), params, region)
        outcome = self._cache[key]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def pages(self, service: str, operation: str, result_key: str, **params: Any) -> list[Any]:
        """All items under `result_key` of a paginated listing (every page fetched once, cached like any call)."""
        key = (service, None, operation + "#pages", json.dumps(params, sort_keys=True, default=str))
        if key not in self._cache:
            client = self.client(service)
            if client.can_paginate(_snake(operation)):
                listing = lambda: list(client.get_paginator(_snake(operation)).paginate(**params))  # noqa: E731
                self._cache[key] = self._with_retries(service, operation, listing)
            else:
                page = self._fetch(service, operation, set(), params)
                self._cache[key] = page if isinstance(page, Exception) else [page]
        outcome = self._cache[key]
        if isinstance(outcome, Exception):
            raise outcome
        return [item for page in outcome for item in page.get(result_key, [])]

    def _fetch(
        self, service: str, operation: str, missing: set[str], params: dict[str, Any], region: str | None = None
    ) -> Any:
        import botocore.exceptions

        def once() -> Any:
            try:
                return getattr(self.client(service, region), _snake(operation))(**params)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in missing:
                    return None
                raise

        response = self._with_retries(service, operation, once)
        if isinstance(response, dict):
            response.pop("ResponseMetadata", None)
        return response

    def _with_retries(self, service: str, operation: str, attempt: Callable[[], Any]) -> Any:
        """The answer, or the classified exception (returned, so the cache keeps it). Throttling, 5xx and dropped
        connections are retried with exponential backoff: a busy account is slow evidence, not missing evidence."""
        self.calls.add((service, operation))
        delay = 0.5
        for retry in range(THROTTLE_RETRIES + 1):
            try:
                return attempt()
            except Exception as exc:
                if _retryable(exc) and retry < THROTTLE_RETRIES:
                    (self.sleep or time.sleep)(delay)
                    delay *= 2
                    continue
                return self._classify(service, operation, exc)
        raise AssertionError("unreachable")

    def _classify(self, service: str, operation: str, exc: Exception) -> Exception:
        import botocore.exceptions
        import botocore.parsers

        if isinstance(exc, botocore.exceptions.EndpointConnectionError):
            return EndpointError(f"cannot reach the {service} endpoint ({exc})")
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return EndpointError("no AWS credentials: use --profile, the environment, or the emulator's variables")
        if isinstance(exc, (AccessDenied, ApiUnavailable, CallFailed, EndpointError)):
            return exc
        # AWS answers errors in JSON or XML; an HTML page is an emulator's "no such operation" (moto answers 500).
        html = "<!doctype html" in str(exc).lower() or "<html" in str(exc).lower()
        if isinstance(exc, botocore.parsers.ResponseParserError):
            if html:
                return ApiUnavailable(f"{service}:{operation} is not implemented by this endpoint")
            return CallFailed(f"{service}:{operation} answered something unreadable: {str(exc)[:200]}")
        if isinstance(exc, botocore.exceptions.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in DENIED_CODES or status == "403":
                return AccessDenied(iam_action(service, operation))
            if code in UNSUPPORTED_CODES or html:
                return ApiUnavailable(f"{service}:{operation} is not implemented by this endpoint ({code or status})")
            if code in THROTTLING_CODES:
                return CallFailed(f"{service}:{operation} was still throttled after {THROTTLE_RETRIES} retries")
            if status.startswith("5"):
                return CallFailed(
                    f"{service}:{operation} failed on the AWS side (HTTP {status} {code}), {THROTTLE_RETRIES} retries"
                )
        return CallFailed(f"{service}:{operation} failed: {exc.__class__.__name__}: {str(exc)[:200]}")


def _retryable(exc: Exception) -> bool:
    import botocore.exceptions

    if isinstance(exc, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)):
        return True
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    html = "<html" in str(exc).lower() or "<!doctype html" in str(exc).lower()
    return code in THROTTLING_CODES or (status >= 500 and not html)


def _snake(operation: str) -> str:
    from botocore import xform_name  # botocore's own CamelCase -> method name (handles DBInstances, WebACL)

    return xform_name(operation)


def strip_account_host_prefix(client: Any, endpoint_url: str) -> None:
    """s3control's endpoint rules prepend '<account>.' to any host, an emulator's included: undo that there."""
    from urllib.parse import urlsplit

    host = urlsplit(endpoint_url).netloc

    def fix(request: Any, **_kwargs: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc.endswith("." + host):
            request.url = request.url.replace(parts.netloc, host, 1)

    client.meta.events.register("before-send.s3-control.*", fix)
