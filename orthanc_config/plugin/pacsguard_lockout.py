"""Failed sign-ins: past the limit, that user from that address (or, when many users are tried, the whole address)
is refused until the failures age out. A colleague behind the same NAT address signs in on.

Standard library only (runs inside Orthanc). Orthanc's core answers a wrong password with 401 before any
plugin sees the request, so nginx reports each 401 to the plugin; the guard then refuses every request from
a locked-out address and user, right password or not, so a locked-out guesser cannot tell a hit from a miss.
"""

from __future__ import annotations

import threading
import time
from collections import deque

# Per address and user: guessing one account. Per address: spraying many accounts (NIST SP 800-63B allows at
# most 100 consecutive failures per account; these bound an address far below that per day).
DEFAULT_MAX_FAILURES = 20
DEFAULT_MAX_FAILURES_PER_ADDRESS = 100
DEFAULT_WINDOW_SECONDS = 600


class FailureLimit:
    def __init__(
        self, max_failures: int = DEFAULT_MAX_FAILURES, window_seconds: float = DEFAULT_WINDOW_SECONDS
    ) -> None:
        if max_failures < 1 or window_seconds <= 0:
            raise ValueError("the failed sign-in limit needs at least one failure and a positive window")
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def record(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times

    def locked(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            return len(self._recent(address, now)) >= self.max_failures
