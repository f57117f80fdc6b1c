"""SARIF locations name the module and line of every component class, as Python itself finds them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pulumi

import infra
from infra.synth import Synthesis
from pacsguard.locations import ROOT, component_sources, resource_locations


def _by_inspection() -> dict[str, tuple[str, int]]:
    """Every ComponentResource subclass defined in an infra module, with the file and line `inspect` gives."""
    found = {}
    for mod in pkgutil.iter_modules(infra.__path__):
        module = importlib.import_module(f"infra.{mod.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == module.__name__:
                path = Path(inspect.getsourcefile(cls) or "").resolve()
                found[cls.__name__] = (str(path.relative_to(ROOT)), inspect.getsourcelines(cls)[1])
    return found


def test_every_component_class_is_found_where_python_defines_it() -> None:
    assert component_sources() == _by_inspection()


def test_every_resource_of_a_component_is_located_in_its_module(prod: Synthesis) -> None:
    where = resource_locations(prod)
    assert where["web-alb"][0] == "infra/web_ingress.py"
    components = [r for r in prod.resources if not r.custom and r.type.startswith("pacsguard:")]
    children = [r for r in prod.resources if any(r.parent == c.urn for c in components)]
    assert children and all(r.name in where for r in children)
