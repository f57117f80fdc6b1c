"""Namespace names and subnets for benchmark targets, per engineer slot (PACSGUARD_TEST_SLOT), as the host tests do:
several people benchmark on one machine, and two runs must never share a namespace or a subnet."""

from __future__ import annotations

import os

SLOT = int(os.environ.get("PACSGUARD_TEST_SLOT", "0"))


def slot_name(base: str) -> str:
    return f"{base}{SLOT}" if SLOT else base


def slot_subnet(octet: int) -> str:
    """198.18.<octet>.0 in slot 0; slots 1-9 take 198.19.<slot*25 + octet % 25>.0 (tests/host/conftest.py)."""
    return f"198.18.{octet}.0" if not SLOT else f"198.19.{SLOT * 25 + octet % 25}.0"
