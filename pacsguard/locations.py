"""Where a planned resource comes from: the component module that declares it, for SARIF locations.

Read from the sources' text, not by importing every infra module and asking `inspect` (which parses each file into
a syntax tree): that cost about 0.4 s of CPU per synthesis. tests/infra/test_locations.py holds both to agreement.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from infra.synth_model import Synthesis

ROOT = Path(__file__).resolve().parent.parent
# How this project declares a component: one base, pulumi.ComponentResource (tests/infra/test_locations.py checks).
COMPONENT_CLASS = re.compile(r"^class (\w+)\(pulumi\.ComponentResource\):", re.MULTILINE)


@cache
def component_sources() -> dict[str, tuple[str, int]]:
    """Component class name (the last part of its type token) -> (repository path, line of the class)."""
    found = {}
    for path in sorted((ROOT / "infra").glob("*.py")):
        text = path.read_text()
        for match in COMPONENT_CLASS.finditer(text):
            found[match.group(1)] = (str(path.relative_to(ROOT)), text.count("\n", 0, match.start()) + 1)
    return found


def resource_locations(synth: Synthesis) -> dict[str, tuple[str, int]]:
    sources = component_sources()
    out = {}
    for r in synth.resources:
        chain = r.urn.split("::")[2].split("$")  # parent types, outermost first, then the resource's own type
        for token in reversed(chain[:-1]):
            cls = token.split(":")[-1]
            if cls in sources:
                out[r.name] = sources[cls]
                break
    return out
