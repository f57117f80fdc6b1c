"""Where a planned resource comes from: the component module that declares it, for SARIF locations."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from pathlib import Path

import pulumi

import infra
from infra.synth import Synthesis

ROOT = Path(__file__).resolve().parent.parent


@cache
def component_sources() -> dict[str, tuple[str, int]]:
    """Component class name (the last part of its type token) -> (repository path, line of the class)."""
    found = {}
    for mod in pkgutil.iter_modules(infra.__path__):
        module = importlib.import_module(f"infra.{mod.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == module.__name__:
                path = Path(inspect.getsourcefile(cls) or "").resolve()
                found[cls.__name__] = (str(path.relative_to(ROOT)), inspect.getsourcelines(cls)[1])
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
