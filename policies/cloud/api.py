"""Every boto3 call the audit makes goes through here: made once, cached, and its failure classified.

- an operation the endpoint does not implement (an emulator) -> ApiUnavailable -> the control is `skipped`
- access denied -> AccessDenied naming the IAM action -> the control is an `error`
- "not configured" answers (no bucket policy, no password policy...) -> None, when the caller says so
Nothing here ever turns a failure into evidence of compliance.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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


class ApiUnavailable(Exception):
    """The endpoint cannot answer this operation (an emulator that lacks it, a disabled service)."""


class AccessDenied(Exception):
    def __init__(self, action: str) -> None:
        super().__init__(f"access denied: the auditor needs {action}")
        self.action = action


class EndpointError(Exception):
    """The endpoint cannot be reached at all: bad input, exit code 2."""


@dataclass
class AwsApi:
    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    account_id: str = ""
    calls: set[tuple[str, str]] = field(default_factory=set)
    _cache: dict[tuple, Any] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import boto3  # imported here so the plan layer never pays for it

        self._session = boto3.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str) -> Any:
        from botocore.config import Config

        if service not in self._clients:
            config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=20)
            if service == "s3control":
                config = config.merge(Config(inject_host_prefix=False))  # the account id would become a host name
            if service == "s3":
                config = config.merge(Config(s3={"addressing_style": "path"}))
            client = self._session.client(service, endpoint_url=self.endpoint_url, config=config)
            if service == "s3control" and self.endpoint_url:
                strip_account_host_prefix(client, self.endpoint_url)
            self._clients[service] = client
        return self._clients[service]

    def call(self, service: str, operation: str, *, missing: Iterable[str] = (), **params: Any) -> Any:
        """One API answer (cached); None when the error code is in `missing` (a "not configured" answer)."""
        key = (service, operation, json.dumps(params, sort_keys=True, default=str))
        if key not in self._cache:
            self._cache[key] = self._fetch(service, operation, set(missing), params)
        outcome = self._cache[key]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def pages(self, service: str, operation: str, result_key: str, **params: Any) -> list[Any]:
        """All items of a paginated listing (cached like any call)."""
        key = (service, operation + "#pages", json.dumps(params, sort_keys=True, default=str))
        if key not in self._cache:
            try:
                client = self.client(service)
                self.calls.add((service, operation))
                if client.can_paginate(_snake(operation)):
                    items = []
                    for page in client.get_paginator(_snake(operation)).paginate(**params):
                        items += page.get(result_key, [])
                    self._cache[key] = items
                else:
                    self._cache[key] = self._fetch(service, operation, set(), params).get(result_key, [])
            except Exception as exc:  # classified once, raised to every caller
                self._cache[key] = self._classify(service, operation, exc)
        outcome = self._cache[key]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _fetch(self, service: str, operation: str, missing: set[str], params: dict[str, Any]) -> Any:
        import botocore.exceptions

        self.calls.add((service, operation))
        try:
            response = getattr(self.client(service), _snake(operation))(**params)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in missing:
                return None
            return self._classify(service, operation, exc)
        except Exception as exc:
            return self._classify(service, operation, exc)
        response.pop("ResponseMetadata", None)
        return response

    def _classify(self, service: str, operation: str, exc: Exception) -> Exception:
        import botocore.exceptions
        import botocore.parsers

        if isinstance(exc, botocore.exceptions.EndpointConnectionError):
            return EndpointError(f"cannot reach the {service} endpoint ({exc})")
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return EndpointError("no AWS credentials: use --profile, the environment, or the emulator's variables")
        if isinstance(exc, botocore.parsers.ResponseParserError):
            return ApiUnavailable(f"{service}:{operation} is not implemented by this endpoint")
        if isinstance(exc, botocore.exceptions.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in DENIED_CODES or status == "403":
                return AccessDenied(iam_action(service, operation))
            if code in UNSUPPORTED_CODES or (status in ("404", "501") and "<html" in str(exc).lower()):
                return ApiUnavailable(f"{service}:{operation} is not implemented by this endpoint ({code or status})")
        return ApiUnavailable(f"{service}:{operation} failed: {exc.__class__.__name__}: {str(exc)[:200]}")


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
