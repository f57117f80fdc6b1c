"""A synthesis is a pure function of the program, the stack file and the SDK versions: reuse it while they match.

Synthesising imports pulumi-aws' generated modules and runs the program under mocks (seconds); a CI job or an
engineer re-running `pacsguard plan` on an unchanged tree gets the same graph from the cache in a fraction of
that. The key hashes every source file that can change the graph (infra/, stacks/, orthanc_config/), the stack
file, and the Python, pulumi and pulumi-aws versions; anything unreadable or from another key is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from infra.synth_model import Synthesis
from stacks.loader import STACKS_DIR, load_settings, stack_file

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("infra", "stacks", "orthanc_config")
FORMAT = 1  # bump when the cached document changes shape
Locations = dict[str, tuple[str, int]]


def cache_dir() -> Path:
    """$PACSGUARD_CACHE_DIR, else $XDG_CACHE_HOME/pacsguard, else ~/.cache/pacsguard."""
    explicit = os.environ.get("PACSGUARD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pacsguard"


def cache_key(stack: str, stacks_dir: Path = STACKS_DIR) -> str:
    digest = hashlib.sha256()
    versions = [sys.version] + [_version(d) for d in ("pulumi", "pulumi-aws", "pydantic")]
    digest.update(json.dumps([FORMAT, stack, versions]).encode())
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yaml", ".json", ".j2", ".txt"):
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    digest.update((ROOT / "pacsguard" / "locations.py").read_bytes())
    stack_path = stack_file(stack, stacks_dir)
    digest.update(str(stack_path.resolve()).encode())
    digest.update(stack_path.read_bytes())
    return digest.hexdigest()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def plan_synthesis(stack: str, stacks_dir: Path = STACKS_DIR, *, use_cache: bool = True) -> tuple[Synthesis, Locations]:
    """The stack's synthesis and each resource's declaring component (for SARIF), from the cache when valid."""
    key = cache_key(stack, stacks_dir)
    entry = cache_dir() / f"plan-{key}.json"
    if use_cache:
        hit = _load(entry, key)
        if hit is not None:
            resources, locations = hit
            return Synthesis.from_json(stack, load_settings(stack, stacks_dir), resources), locations
    from infra.synth import synthesize
    from pacsguard.locations import resource_locations

    synth = synthesize(stack, stacks_dir)
    locations = resource_locations(synth)
    _store(entry, {"format": FORMAT, "key": key, "resources": synth.to_json(), "locations": locations})
    return synth, locations


def _load(entry: Path, key: str) -> tuple[list[dict[str, Any]], Locations] | None:
    try:
        doc = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
        return None
    return doc["resources"], {k: (v[0], v[1]) for k, v in doc["locations"].items()}


def _store(entry: Path, doc: dict[str, Any]) -> None:
    """Best effort: a read-only home or a full disk costs the next run its speed, never this run its result."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(entry)
    except OSError:
        pass
