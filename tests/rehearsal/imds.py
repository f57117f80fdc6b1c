"""An EC2 instance metadata service (IMDSv2 only, as the launch template demands: http_tokens=required).

Runs inside an instance's network namespace on 169.254.169.254:80. Documented behaviour reproduced:
PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1-21600) returns a token; every GET needs
X-aws-ec2-metadata-token (401 without or with a bad one); a PUT carrying X-Forwarded-For is refused (403);
instance identity document, placement/region, local-ipv4, instance-id, and the role's temporary credentials.

python3 imds.py CONFIG.json
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import secrets
import socketserver
import sys
import time


class NoLookupServer(http.server.ThreadingHTTPServer):
    """HTTPServer.server_bind looks its own name up in DNS, which hangs in a namespace without a resolver."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main(config_path: str) -> None:
    cfg = json.load(open(config_path))  # noqa: SIM115 (read once at start)
    tokens: dict[str, float] = {}
    now = dt.datetime.now(dt.UTC)
    identity = {
        "accountId": cfg["account"],
        "architecture": "x86_64",
        "availabilityZone": cfg["region"] + "a",
        "imageId": cfg["ami"],
        "instanceId": cfg["instance_id"],
        "instanceType": cfg["instance_type"],
        "pendingTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "privateIp": cfg["private_ip"],
        "region": cfg["region"],
        "version": "2017-09-30",
    }
    credentials = {
        "Code": "Success",
        "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIA" + secrets.token_hex(8).upper(),
        "SecretAccessKey": secrets.token_urlsafe(30),
        "Token": secrets.token_urlsafe(60),
        "Expiration": (now + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    paths = {
        "/latest/meta-data/instance-id": cfg["instance_id"],
        "/latest/meta-data/local-ipv4": cfg["private_ip"],
        "/latest/meta-data/placement/region": cfg["region"],
        "/latest/meta-data/placement/availability-zone": cfg["region"] + "a",
        "/latest/meta-data/iam/security-credentials/": cfg["role"],
        "/latest/meta-data/iam/security-credentials/" + cfg["role"]: json.dumps(credentials),
        "/latest/dynamic/instance-identity/document": json.dumps(identity),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, code: int, body: str = "") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path != "/latest/api/token":
                return self._answer(404)
            if "X-Forwarded-For" in self.headers:
                return self._answer(403)
            try:
                ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
            except ValueError:
                return self._answer(400)
            if not 1 <= ttl <= 21600:
                return self._answer(400)
            token = secrets.token_urlsafe(32)
            tokens[token] = time.monotonic() + ttl
            return self._answer(200, token)

        def do_GET(self) -> None:
            token = self.headers.get("X-aws-ec2-metadata-token", "")
            if tokens.get(token, 0) < time.monotonic():
                return self._answer(401)
            if self.path not in paths:
                return self._answer(404)
            return self._answer(200, paths[self.path])

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stderr.write("imds: " + fmt % args + "\n")

    NoLookupServer(("169.254.169.254", 80), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
