"""A synthesis is a pure function of its inputs: reuse it while every one of them is unchanged.

Synthesising imports pulumi-aws' generated modules and runs the program under mocks (seconds); re-running
`pacsguard plan` on an unchanged tree gets the same graph from the cache without importing the SDK at all.

The key hashes everything a synthesis reads (tests/infra/test_synth_cache.py watches a real run to prove it):
every file of the program's folders (any suffix, so a bundled script counts too), the stack file, the Python
version, every installed distribution's name and version, and the PULUMI_* variables the SDK consults. An entry
carries the SHA-256 of its own body: a torn, truncated or edited file is a miss and is rewritten. Entries are
written whole (temporary file, then rename) and readable only by their owner (an entry holds the stack's inputs).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from infra.synth_model import CapturedResource, Synthesis
from stacks.loader import STACKS_DIR, load_settings, stack_file

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("infra", "stacks", "orthanc_config")
# What computes the SARIF locations stored beside the graph (and the package it is imported through).
EXTRA_SOURCES = ("pacsguard/__init__.py", "pacsguard/locations.py")
ENV_PREFIXES = ("PULUMI_",)  # the SDK's switches (e.g. PULUMI_DISABLE_RESOURCE_REFERENCES) change what it records
FORMAT = 2  # bump when the cached document changes shape
KEEP_PER_STACK = 4  # entries kept per stack: a few branches' worth, not every edit ever made
Locations = dict[str, tuple[str, int]]


def cache_dir() -> Path:
    """$PACSGUARD_CACHE_DIR, else $XDG_CACHE_HOME/pacsguard, else ~/.cache/pacsguard."""
    explicit = os.environ.get("PACSGUARD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pacsguard"


def source_files() -> list[Path]:
    """Every file of the program a synthesis can read, compiled bytecode aside (it follows its source)."""
    files = [
        path
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return sorted(files + [ROOT / extra for extra in EXTRA_SOURCES])


def installed_distributions() -> list[str]:
    """`name-version` of every distribution on sys.path (its .dist-info folder): an upgrade anywhere is a miss."""
    found = set()
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as listing:
                found.update(e.name for e in listing if e.name.endswith(".dist-info"))
        except OSError:  # a zip file or a missing folder on sys.path
            continue
    return sorted(found)


def cache_key(stack: str, stacks_dir: Path = STACKS_DIR) -> str:
    digest = hashlib.sha256()
    environment = sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIXES))
    digest.update(json.dumps([FORMAT, stack, sys.version, environment, installed_distributions()]).encode())
    for path in source_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    stack_path = stack_file(stack, stacks_dir)
    digest.update(str(stack_path.resolve()).encode() + b"\0")
    digest.update(stack_path.read_bytes())
    return digest.hexdigest()


def entry_path(stack: str, key: str) -> Path:
    return cache_dir() / f"plan-{stack}-{key}.json"


def plan_synthesis(stack: str, stacks_dir: Path = STACKS_DIR, *, use_cache: bool = True) -> tuple[Synthesis, Locations]:
    """The stack's synthesis and each resource's declaring component (for SARIF), from the cache when valid.

    `use_cache=False` neither reads nor writes the cache.
    """
    if not use_cache:
        return _synthesise(stack, stacks_dir)
    key = cache_key(stack, stacks_dir)
    entry = entry_path(stack, key)
    hit = _load(entry, key)
    if hit is not None:
        resources, locations = hit
        return Synthesis.from_json(stack, load_settings(stack, stacks_dir), resources), locations
    synth, locations = _synthesise(stack, stacks_dir)
    _store(entry, {"format": FORMAT, "key": key, "resources": synth.to_json(), "locations": locations})
    _prune(stack, keep=entry)
    return synth, locations


def _synthesise(stack: str, stacks_dir: Path) -> tuple[Synthesis, Locations]:
    from infra.synth import synthesize
    from pacsguard.locations import resource_locations

    synth = synthesize(stack, stacks_dir)
    return synth, resource_locations(synth)


def _load(entry: Path, key: str) -> tuple[list[dict[str, Any]], Locations] | None:
    """The entry's graph, or None for anything but an intact entry written under this very key."""
    body = read_checked(entry)
    if body is None:
        return None
    try:
        doc = json.loads(body)
        if doc["format"] != FORMAT or doc["key"] != key:
            return None
        resources = doc["resources"]
        for record in resources:
            CapturedResource(**record)  # every record has exactly the fields a resource has
        return resources, {name: (where[0], where[1]) for name, where in doc["locations"].items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def read_checked(entry: Path) -> bytes | None:
    """The body of an entry written by `write_checked`, or None when it is missing, torn or edited."""
    try:
        raw = entry.read_bytes()
    except OSError:
        return None
    checksum, _, body = raw.partition(b"\n")
    return body if hashlib.sha256(body).hexdigest().encode() == checksum else None


def _store(entry: Path, doc: dict[str, Any]) -> None:
    write_checked(entry, json.dumps(doc).encode())


def write_checked(entry: Path, body: bytes) -> None:
    """Best effort: a read-only home or a full disk costs the next run its speed, never this run its result."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
        tmp.replace(entry)  # readers see the old entry or the new one, never half of one
    except OSError:
        tmp.unlink(missing_ok=True)


def _prune(stack: str, keep: Path) -> None:
    prefix = f"plan-{stack}-"
    ours = [e for e in cache_dir().glob(f"{prefix}*.json") if len(e.name) == len(prefix) + 64 + len(".json")]
    entries = sorted(ours, key=_mtime, reverse=True)
    for old in [e for e in entries if e != keep][KEEP_PER_STACK - 1 :]:
        old.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
