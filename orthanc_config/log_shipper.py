"""Ship the host's logs to the stack's CloudWatch log groups (the ones its alarms watch), standard library only.

Debian's AMI has no CloudWatch agent and Debian does not package it, so the host runs this small shipper as a
systemd service: it follows exactly the files below, sends new lines with PutLogEvents to a stream named after the
instance, remembers how far it got (a restart neither loses nor repeats lines), and on SIGTERM (instance stop or
termination, which stops services first) flushes what is left before it exits.

python3 host-bundle.zip ... or: python3 -m orthanc_config.log_shipper --profile /etc/pacsguard/profile.json
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from orthanc_config import aws_api
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile

BATCH = 500  # PutLogEvents takes up to 10,000 events / 1 MB; small batches keep a slow link moving
POLL_S = 2.0


def shipped_files(layout: HostLayout) -> dict[str, list[Path]]:
    """Log group kind (profile.log_groups key) -> the files shipped to it."""
    return {
        "orthanc-audit": [layout.audit_log],
        "nginx": [layout.log_dir / n for n in ("nginx-access.jsonl", "auth-failures.jsonl", "nginx-error.log")],
        "host": [layout.orthanc_log],
    }


class Shipper:
    def __init__(self, profile: HostProfile, client: aws_api.Client, stream: str) -> None:
        self.layout = HostLayout(profile)
        self.groups = profile.log_groups
        self.client, self.stream = client, stream
        self.state_file = self.layout.state / "log-shipper.json"
        self.offsets: dict[str, int] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.streams_made: set[str] = set()

    def _ensure_stream(self, group: str) -> None:
        if group in self.streams_made:
            return
        try:
            self.client.call("logs", "CreateLogStream", {"logGroupName": group, "logStreamName": self.stream})
        except aws_api.AwsError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise
        self.streams_made.add(group)

    def _new_lines(self, path: Path) -> tuple[list[str], int]:
        offset = self.offsets.get(str(path), 0)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return [], offset
        if size < offset:  # rotated or truncated: start again from the top
            offset = 0
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        complete = data.rfind(b"\n") + 1  # a half-written last line waits for the next round
        lines = data[:complete].decode(errors="replace").splitlines()
        return [line for line in lines if line.strip()], offset + complete

    def ship_once(self) -> int:
        sent = 0
        for kind, paths in shipped_files(self.layout).items():
            group = self.groups.get(kind)
            if not group:
                continue
            for path in paths:
                lines, end = self._new_lines(path)
                if lines:
                    self._ensure_stream(group)
                    now = int(time.time() * 1000)
                    for i in range(0, len(lines), BATCH):
                        events = [{"timestamp": now, "message": m} for m in lines[i : i + BATCH]]
                        self.client.call(
                            "logs",
                            "PutLogEvents",
                            {"logGroupName": group, "logStreamName": self.stream, "logEvents": events},
                        )
                        sent += len(events)
                self.offsets[str(path)] = end
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.offsets))
        tmp.replace(self.state_file)
        return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacsguard-log-shipper", description=__doc__)
    parser.add_argument("--profile", required=True, type=Path)
    parser.add_argument("--once", action="store_true", help="ship what is there and exit")
    args = parser.parse_args(argv)
    profile = HostProfile.load(args.profile)
    client = aws_api.Client(profile.region)
    shipper = Shipper(profile, client, aws_api.instance_id())
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            shipper.ship_once()
        except aws_api.AwsError as exc:  # keep the offsets: the same lines go again next round
            print(f"log shipper: {exc}", file=sys.stderr, flush=True)
        if stopping or args.once:
            return 0
        time.sleep(POLL_S)


if __name__ == "__main__":
    raise SystemExit(main())
