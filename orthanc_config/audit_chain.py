"""The audit trail's local storage: one JSON record per line, each line hash-chained to the one before.

Each stored line carries `seq`, `prev` (the previous line's hash) and `hash` = SHA-256 over `prev` and the
line's canonical JSON without `hash`. Deleting, editing, reordering or inserting a line breaks the chain; the
head file (seq and hash of the last line, rewritten atomically after every append) exposes a cut-off tail.
Only the sink (root) writes; standard library only (it runs under the host's Debian Python).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GENESIS = "0" * 64
SYNC_INTERVAL_S = 0.2  # the most a power failure can take from the trail's end (the head file shows the cut)
HEAD_SUFFIX = ".head"
# The head file is rewritten in place at a fixed length (JSON padded with spaces): one write into one disk sector
# per record. Writing a new file and renaming it over the head cost ~1 ms of directory journalling per record,
# which made the sink, one thread for the whole host, the PACS's slowest step (issue 18).
HEAD_SIZE = 128


def canonical(entry: dict) -> bytes:
    return json.dumps(entry, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def entry_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(entry.get("prev", "").encode() + canonical(body)).hexdigest()


def head_path(trail: Path) -> Path:
    return trail.with_name(trail.name + HEAD_SUFFIX)


class ChainWriter:
    """Appends records to the trail (thread-safe); picks the chain up where an earlier run left it."""

    def __init__(self, trail: Path, group_gid: int | None = None) -> None:
        self.trail = trail
        self.group_gid = group_gid
        self.lock = threading.Lock()
        self.seq, self.last = 0, GENESIS
        self.dirty = False
        head = head_path(trail)
        if head.exists():
            doc = json.loads(head.read_text())
            self.seq, self.last = int(doc["seq"]), doc["hash"]
        elif trail.exists() and trail.stat().st_size:
            # A trail from before the chain (or one whose head was deleted): kept aside, never extended.
            os.replace(trail, trail.with_name(f"{trail.name}.unchained-{int(time.time())}"))
        fd = os.open(trail, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        os.close(fd)
        self._own(trail)
        self.head_fd: int | None = None

    def _own(self, path: Path) -> None:
        os.chmod(path, 0o640)
        if self.group_gid is not None:
            os.chown(path, 0, self.group_gid)

    def append(self, record: dict) -> dict:
        with self.lock:
            entry = {**record, "seq": self.seq + 1, "prev": self.last}
            entry["hash"] = entry_hash(entry)
            line = canonical(entry) + b"\n"
            fd = os.open(self.trail, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line)  # in the kernel once this returns: a crash of the sink loses nothing
            finally:
                os.close(fd)
            self.dirty = True
            self.seq, self.last = entry["seq"], entry["hash"]
            self._write_head()
            return entry

    def _write_head(self) -> None:
        head = json.dumps({"seq": self.seq, "hash": self.last}).encode().ljust(HEAD_SIZE)
        if self.head_fd is None or not os.path.exists(head_path(self.trail)):
            if self.head_fd is not None:
                os.close(self.head_fd)
            self.head_fd = os.open(head_path(self.trail), os.O_WRONLY | os.O_CREAT, 0o640)
            self._own(head_path(self.trail))
        os.pwrite(self.head_fd, head, 0)

    def sync(self) -> None:
        """fsync the trail: the sink calls it every SYNC_INTERVAL_S (one disk flush per record costs ~2.6 ms,
        which would cap the PACS near 300 audited requests a second)."""
        with self.lock:
            if not self.dirty:
                return
            self.dirty = False
            # A flush can take seconds on a busy disk: never under the lock, or every record (and the request
            # waiting for its acknowledgement) would wait for it.
            head = os.dup(self.head_fd) if self.head_fd is not None else None
        for fd in (os.open(self.trail, os.O_RDONLY), head):
            if fd is None:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@dataclass(frozen=True)
class ChainReport:
    records: int
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def _entries(lines: list[str]) -> Iterator[dict]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError:
                yield {"seq": None, "_unparsable_line": number}


def read_entries(trail: Path) -> Iterator[dict]:
    yield from _entries(trail.read_text(encoding="utf-8").splitlines())


def verify_chain(trail: Path) -> ChainReport:
    """Every line's hash, every link to the line before, the sequence, and the head file's last hash."""
    if not trail.exists():
        return ChainReport(0, [f"{trail} does not exist"])
    head = head_path(trail)
    return verify_text(trail.read_text(encoding="utf-8"), head.read_text() if head.exists() else None)


def verify_text(trail_text: str, head_text: str | None) -> ChainReport:
    """verify_chain on contents read elsewhere (testinfra reads a remote host's trail)."""
    problems: list[str] = []
    prev, seq, count = GENESIS, 0, 0
    for entry in _entries(trail_text.splitlines()):
        count += 1
        if "_unparsable_line" in entry:
            problems.append(f"line {entry['_unparsable_line']} is not JSON")
            continue
        where = f"record {entry.get('seq')}"
        if entry.get("seq") != seq + 1:
            problems.append(f"{where}: sequence jumps from {seq} (records missing or reordered)")
        if entry.get("prev") != prev:
            problems.append(f"{where}: does not link to the record before it")
        if entry.get("hash") != entry_hash(entry):
            problems.append(f"{where}: content altered (hash mismatch)")
        prev, seq = entry.get("hash", ""), entry.get("seq") if isinstance(entry.get("seq"), int) else seq
        if len(problems) > 20:
            problems.append("more problems follow")
            break
    if head_text is not None:
        doc = json.loads(head_text)
        if doc.get("seq") != seq or doc.get("hash") != prev:
            problems.append(f"the trail ends at record {seq} but its head says {doc.get('seq')}: records were cut off")
    elif count:
        problems.append("the trail's head file is missing")
    return ChainReport(count, problems)
