"""The catalog: every control of every family. A new control goes into its family's CONTROLS list, nowhere else."""

from __future__ import annotations

from functools import cache

from policies.families import audit, backup, deployability, encryption, host, identity, integrity, network, pacs
from policies.model import Control

FAMILIES = (encryption, network, identity, audit, integrity, backup, pacs, host, deployability)


@cache
def controls() -> tuple[Control, ...]:
    found = tuple(ctl for family in FAMILIES for ctl in family.CONTROLS)
    ids = [c.id for c in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RuntimeError(f"duplicate control ids: {duplicates}")
    return found


def by_id(control_id: str) -> Control:
    for ctl in controls():
        if ctl.id == control_id:
            return ctl
    raise KeyError(control_id)
