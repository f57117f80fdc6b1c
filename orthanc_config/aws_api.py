"""A small AWS client for the host: IMDSv2 role credentials, Signature V4, S3 GetObject and the JSON APIs.

Debian 12's AMI has neither boto3 nor an AWS CLI that knows AWS_ENDPOINT_URL, and the host may use only the
standard library and Debian python3-* packages. This file has no other import from the bundle: the user data
embeds it to fetch the bundle itself. AWS_ENDPOINT_URL (the AWS SDKs' own variable) points every service at one
emulator endpoint; without it, requests go to the regional AWS endpoints.

    python3 aws_api.py s3-get s3://BUCKET/KEY DEST
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

IMDS = "http://169.254.169.254"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
# Where the bootstrap keeps an endpoint override it booted with, for later runs and services. Absent on AWS.
ENDPOINT_FILE = "/etc/pacsguard/aws-endpoint-url"
# X-Amz-Target prefixes of the JSON-protocol services the host calls.
TARGETS = {
    "secretsmanager": "secretsmanager",
    "kms": "TrentService",
    "ssm": "AmazonSSM",
    "logs": "Logs_20140328",
    "sts": "",
}


class AwsError(Exception):
    """An AWS call failed; `code` is the service's error code (e.g. ResourceNotFoundException)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str = ""
    expires: float = float("inf")  # epoch seconds


def _imds(path: str, token: str | None = None, timeout: float = 2) -> str:
    """IMDSv2 only: a session token first (PUT), then the metadata with that token."""
    if token is None:
        req = urllib.request.Request(  # noqa: S310 (fixed link-local URL)
            IMDS + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (fixed link-local URL)
            token = resp.read().decode()
    req = urllib.request.Request(IMDS + path, headers={"X-aws-ec2-metadata-token": token})  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (fixed link-local URL)
        return resp.read().decode()


def instance_region() -> str:
    return _imds("/latest/meta-data/placement/region").strip()


def instance_id() -> str:
    return _imds("/latest/meta-data/instance-id").strip()


def instance_address() -> str:
    return _imds("/latest/meta-data/local-ipv4").strip()


def instance_credentials() -> Credentials:
    """The instance role's temporary credentials: a host never holds long-lived keys."""
    try:
        base = "/latest/meta-data/iam/security-credentials/"
        role = _imds(base).split()[0]
        doc = json.loads(_imds(base + role))
    except (OSError, ValueError, IndexError) as exc:
        raise AwsError(f"no instance role credentials from the metadata service (IMDSv2): {exc}") from None
    if doc.get("Code") != "Success":
        raise AwsError(f"the metadata service refused the role credentials: {doc.get('Code')}")
    expires = dt.datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    return Credentials(doc["AccessKeyId"], doc["SecretAccessKey"], doc.get("Token", ""), expires)


def configured_endpoint() -> str:
    if os.environ.get(ENDPOINT_ENV):
        return os.environ[ENDPOINT_ENV]
    try:
        with open(ENDPOINT_FILE) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _quote(value: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(value, safe=safe)


def sign(
    method: str,
    url: str,
    *,
    region: str,
    service: str,
    credentials: Credentials,
    headers: dict[str, str],
    body: bytes = b"",
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Signature Version 4: return `headers` plus Host, X-Amz-Date, the token and Authorization."""
    parts = urllib.parse.urlsplit(url)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(body).hexdigest()
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = stamp
    if service == "s3":
        signed["x-amz-content-sha256"] = payload_hash
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    query = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    # S3 signs the path as sent; the other services sign it URI-encoded once more.
    path = parts.path or "/"
    canonical_path = path if service == "s3" else _quote(path, safe="/-_.~")
    canonical = "\n".join(
        [
            method,
            canonical_path,
            "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + credentials.secret_key).encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {**headers, "X-Amz-Date": stamp}
    if service == "s3":
        out["X-Amz-Content-SHA256"] = payload_hash
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


class Client:
    """One region, the instance role's credentials (refreshed before they expire), optional emulator endpoint."""

    def __init__(self, region: str = "", endpoint: str | None = None, credentials: Credentials | None = None) -> None:
        self.region = region or os.environ.get("AWS_REGION") or instance_region()
        self.endpoint = (endpoint if endpoint is not None else configured_endpoint()).rstrip("/")
        self._fixed = credentials
        self._credentials: Credentials | None = None

    def credentials(self) -> Credentials:
        if self._fixed is not None:
            return self._fixed
        if self._credentials is None or self._credentials.expires - time.time() < 300:
            self._credentials = instance_credentials()
        return self._credentials

    def _url(self, service: str, path: str) -> str:
        if self.endpoint:
            return self.endpoint + path
        return f"https://{service}.{self.region}.amazonaws.com{path}"

    def _send(self, method: str, url: str, service: str, headers: dict[str, str], body: bytes) -> bytes:
        signed = sign(
            method, url, region=self.region, service=service, credentials=self.credentials(), headers=headers, body=body
        )
        req = urllib.request.Request(url, data=body or None, method=method, headers=signed)  # noqa: S310 (see below)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (AWS or the configured endpoint)
                return resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            code = ""
            try:
                doc = json.loads(detail)
                code = str(doc.get("__type", "")).rsplit("#", 1)[-1]
                detail = doc.get("message") or doc.get("Message") or detail
            except ValueError:
                pass
            raise AwsError(
                f"{service} {method} {urllib.parse.urlsplit(url).path}: HTTP {exc.code} {detail}", code
            ) from None
        except OSError as exc:
            raise AwsError(f"{service}: cannot reach {url}: {exc}") from None

    def call(self, service: str, action: str, payload: dict) -> dict:
        """A JSON-protocol API call (Secrets Manager, KMS, SSM, CloudWatch Logs)."""
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGETS[service]}.{action}"}
        return json.loads(self._send("POST", self._url(service, "/"), service, headers, body) or b"{}")

    def query(self, service: str, action: str, params: dict[str, str], version: str) -> str:
        """A Query-protocol API call (EC2): form-encoded in, XML out."""
        body = urllib.parse.urlencode({"Action": action, "Version": version, **params}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return self._send("POST", self._url(service, "/"), service, headers, body).decode()

    def s3_get(self, bucket: str, key: str) -> bytes:
        path = "/" + _quote(key, safe="/-_.~")
        if self.endpoint:
            url = f"{self.endpoint}/{bucket}{path}"
        else:
            url = f"https://{bucket}.s3.{self.region}.amazonaws.com{path}"
        return self._send("GET", url, "s3", {}, b"")


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] != "s3-get" or not argv[2].startswith("s3://"):
        print("usage: aws_api.py s3-get s3://BUCKET/KEY DEST", file=sys.stderr)
        return 2
    bucket, _, key = argv[2].removeprefix("s3://").partition("/")
    try:
        data = Client().s3_get(bucket, key)
    except AwsError as exc:
        print(f"aws_api: error: {exc}", file=sys.stderr)
        return 1
    tmp = argv[3] + ".part"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, argv[3])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
