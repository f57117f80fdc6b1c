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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orthanc_config import aws_api
from orthanc_config.layout import HostLayout
from orthanc_config.profile import HostProfile

# PutLogEvents: at most 10,000 events and 1,048,576 bytes per call, counting 26 bytes per event besides its
# message (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html).
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
# A message longer than this is cut in what is shipped (the whole line stays in the file on the host).
MAX_MESSAGE_BYTES = 256 * 1024 - EVENT_OVERHEAD
POLL_S = 2.0
# A line CloudWatch refuses this many rounds in a row is set aside (quarantine file) so later lines still flow.
GIVE_UP_AFTER = 5
# Errors that say nothing about the lines: wait and send the same lines again, never set them aside.
TRANSIENT = frozenset(
    {"", "ThrottlingException", "ServiceUnavailableException", "InternalFailure", "RequestExpired", "ExpiredToken"}
)


def shipped_files(layout: HostLayout) -> dict[str, list[Path]]:
    """Log group kind (profile.log_groups key) -> the files shipped to it."""
    return {
        "orthanc-audit": [layout.audit_log],
        "nginx": [layout.log_dir / n for n in ("nginx-access.jsonl", "auth-failures.jsonl", "nginx-error.log")],
        "host": [layout.orthanc_log],
    }


@dataclass(frozen=True)
class Line:
    message: str
    end: int  # byte offset in the file just past this line: where shipping resumes once it is accepted


def _fit(message: str) -> str:
    raw = message.encode()
    if len(raw) <= MAX_MESSAGE_BYTES:
        return message
    marker = f" [cut by pacsguard-log-shipper: {len(raw)} bytes, whole line on the host]"
    return raw[: MAX_MESSAGE_BYTES - len(marker.encode())].decode(errors="ignore") + marker


def batches(lines: list[Line]) -> Iterator[list[Line]]:
    """Consecutive runs of lines that fit one PutLogEvents call (count and bytes)."""
    batch: list[Line] = []
    size = 0
    for line in lines:
        cost = len(line.message.encode()) + EVENT_OVERHEAD
        if batch and (len(batch) == MAX_EVENTS or size + cost > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += cost
    if batch:
        yield batch


class Shipper:
    def __init__(self, profile: HostProfile, client: aws_api.Client, stream: str) -> None:
        self.layout = HostLayout(profile)
        self.groups = profile.log_groups
        self.client, self.stream = client, stream
        self.state_file = self.layout.state / "log-shipper.json"
        self.quarantine = self.layout.state / "log-shipper-quarantine.jsonl"
        self.offsets: dict[str, int] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.refusals: dict[tuple[str, int], int] = {}  # (file, line end) -> rounds CloudWatch refused it
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

    def _new_lines(self, path: Path) -> list[Line]:
        offset = self.offsets.get(str(path), 0)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return []
        if size < offset:  # rotated or truncated: start again from the top
            offset = 0
            self.offsets[str(path)] = 0
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        out, pos = [], offset
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # a half-written last line waits for the next round
            pos += len(raw)
            text = raw.decode(errors="replace").rstrip("\r\n")
            out.append(Line(_fit(text), pos))
        return out

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.offsets))
        tmp.replace(self.state_file)

    def _put(self, group: str, lines: list[Line]) -> None:
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line.message} for line in lines if line.message.strip()]
        if not events:
            return
        self.client.call(
            "logs", "PutLogEvents", {"logGroupName": group, "logStreamName": self.stream, "logEvents": events}
        )

    def _set_aside(self, path: Path, line: Line, exc: aws_api.AwsError) -> None:
        record = {"file": str(path), "end": line.end, "error": str(exc), "message": line.message}
        with self.quarantine.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(
            f"log shipper: set aside a line of {path} CloudWatch refused {GIVE_UP_AFTER} times: {exc}", file=sys.stderr
        )

    def _ship_file(self, group: str, path: Path) -> int:
        """Send the file's new lines; the offset advances (and is saved) after every accepted call."""
        sent = 0
        for batch in batches(self._new_lines(path)):
            try:
                self._put(group, batch)
            except aws_api.AwsError as exc:
                if exc.code in TRANSIENT:
                    raise
                # Refused for what it holds: find the line(s) by sending them one at a time.
                for line in batch:
                    try:
                        self._put(group, [line])
                    except aws_api.AwsError as single:
                        if single.code in TRANSIENT:
                            raise
                        key = (str(path), line.end)
                        self.refusals[key] = self.refusals.get(key, 0) + 1
                        if self.refusals[key] < GIVE_UP_AFTER:
                            raise
                        self._set_aside(path, line, single)
                        del self.refusals[key]
                    else:
                        sent += 1
                    self.offsets[str(path)] = line.end
                    self._save()
                continue
            sent += len(batch)
            self.offsets[str(path)] = batch[-1].end
            self._save()
        return sent

    def ship_once(self) -> int:
        """One round over every file; a file CloudWatch will not take now does not hold up the others."""
        sent, failures = 0, []
        for kind, paths in shipped_files(self.layout).items():
            group = self.groups.get(kind)
            if not group:
                continue
            for path in paths:
                try:
                    if path.exists():
                        self._ensure_stream(group)
                    sent += self._ship_file(group, path)
                except aws_api.AwsError as exc:  # keep the offset: the same lines go again next round
                    failures.append(f"{path}: {exc}")
        self._save()
        if failures:
            raise aws_api.AwsError("; ".join(failures))
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
        except aws_api.AwsError as exc:  # what was accepted is saved; the rest goes again next round
            print(f"log shipper: {exc}", file=sys.stderr, flush=True)
        if stopping or args.once:
            return 0
        time.sleep(POLL_S)


if __name__ == "__main__":
    raise SystemExit(main())
