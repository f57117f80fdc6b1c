"""The local host's own network namespace, linked to the machine by a veth pair.

Only namespaces PACSGuard created are touched; firewall rules are loaded inside them, never in the
machine's root namespace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass


class NetnsError(Exception):
    """A namespace step failed (not root, no iproute2, name taken by something else)."""


@dataclass(frozen=True)
class Link:
    name: str
    host_if: str
    ns_if: str
    host_addresses: tuple[str, ...]  # the first is the machine's address on the link
    ns_address: str
    prefix: int

    @classmethod
    def for_name(cls, name: str, subnet_base: str) -> Link:
        a, b, c, _ = subnet_base.split(".")
        net = f"{a}.{b}.{c}"
        return cls(name, f"pgh-{name}"[:15], f"pgn-{name}"[:15], (f"{net}.1", f"{net}.3"), f"{net}.2", 24)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


def exists(name: str) -> bool:
    res = _ip("netns", "list", check=False)
    return any(line.split()[0] == name for line in res.stdout.splitlines() if line.strip())


def exec_prefix(name: str) -> list[str]:
    return ["ip", "netns", "exec", name]


def create(link: Link) -> None:
    if os.geteuid() != 0:
        raise NetnsError("the local stack needs root (network namespace, firewall, service users)")
    if exists(link.name):
        return
    _ip("netns", "add", link.name)
    try:
        _ip("link", "add", link.host_if, "type", "veth", "peer", "name", link.ns_if, "netns", link.name)
        for addr in link.host_addresses:
            _ip("addr", "add", f"{addr}/{link.prefix}", "dev", link.host_if)
        _ip("link", "set", link.host_if, "up")
        _ip("-n", link.name, "addr", "add", f"{link.ns_address}/{link.prefix}", "dev", link.ns_if)
        _ip("-n", link.name, "link", "set", link.ns_if, "up")
        _ip("-n", link.name, "link", "set", "lo", "up")
    except NetnsError:
        delete(link)
        raise


def pids(name: str) -> list[int]:
    res = _ip("netns", "pids", name, check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def kill_all(name: str, timeout: float = 5.0) -> None:
    """TERM every process in the namespace, then KILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pids(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pids(name):
            return


def delete(link: Link) -> None:
    if exists(link.name):
        kill_all(link.name)
    _ip("link", "del", link.host_if, check=False)
    if exists(link.name):
        _ip("netns", "del", link.name)
