"""Components take the settings they need in their Args rather than the whole Settings (issue 17 item 4): no
component module reads `.settings` (through the stack context or otherwise) or imports the whole Settings model,
and the stack context carries no Settings. Only the modules that derive Args from Settings may."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
# Compose the stack, synthesise it, or derive a component's Args from the whole Settings.
NOT_COMPONENTS = {"synth.py", "synth_cache.py", "synth_model.py", "stack.py", "lb_subnets.py", "host_settings.py"}


def _reads_settings(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "settings" for n in ast.walk(tree))


def _imports_whole_settings(tree: ast.AST) -> bool:
    return any(
        isinstance(n, ast.ImportFrom) and n.module == "stacks.settings" and any(a.name == "Settings" for a in n.names)
        for n in ast.walk(tree)
    )


def _components() -> dict[str, ast.AST]:
    return {p.name: ast.parse(p.read_text()) for p in INFRA.glob("*.py") if p.name not in NOT_COMPONENTS}


def test_no_component_reads_the_whole_settings() -> None:
    assert {name for name, tree in _components().items() if _reads_settings(tree)} == set()


def test_no_component_takes_the_whole_settings_model() -> None:
    assert {name for name, tree in _components().items() if _imports_whole_settings(tree)} == set()


def test_the_stack_context_carries_no_settings() -> None:
    from infra.context import StackContext

    # Annotations are strings here (postponed evaluation): the whole model's name in one is enough to fail.
    assert [f.name for f in dataclasses.fields(StackContext) if re.search(r"\bSettings\b", str(f.type))] == []


def test_the_checks_catch_a_component_reading_settings() -> None:
    # The checks above are only as good as their detection: a module reading ctx.settings is caught.
    source = "from stacks.settings import Settings\n\ndef f(ctx):\n    return ctx.settings.web\n"
    tree = ast.parse(source)
    assert _reads_settings(tree) and _imports_whole_settings(tree)
