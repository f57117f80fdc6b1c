"""The values AWS's API models enumerate for a shape, as botocore's models say, without loading them on every plan.

Reading the models the deployability rules cite (ec2's alone is a 1 MB gzip) and importing botocore for it cost about
half a second of CPU per `pacsguard plan`, more than every other check together. The enumerations are a pure function
of the model files botocore's loader can read, so they are kept in the plan cache folder under a key made of every
such file (its path, size and modification time) and botocore's installed version: an upgrade, a model dropped into
~/.aws/models or a hand-edited model is a miss and is read again (tests/policies/test_api_enums.py changes each).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.util import find_spec
from pathlib import Path

MODEL = "service-2"  # the API model; its sdk-extras file is merged into it by the loader
FORMAT = 1
_cache_enabled = True


@contextmanager
def cached(enabled: bool) -> Iterator[None]:
    """Inside the block, read the cache only if `enabled` (`pacsguard plan --no-cache`: every model afresh)."""
    global _cache_enabled
    before, _cache_enabled = _cache_enabled, enabled
    service_enums.cache_clear()
    try:
        yield
    finally:
        _cache_enabled = before
        service_enums.cache_clear()


def enum_values(service: str, shape: str) -> frozenset[str]:
    """The values botocore's model of `service` enumerates for `shape` (KeyError if the model enumerates none)."""
    return frozenset(service_enums(service)[shape])


def botocore_root() -> Path:
    """botocore's package folder, found without importing it."""
    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore is not installed: pip install boto3")
    return Path(next(iter(spec.submodule_search_locations)))


def search_paths() -> list[Path]:
    """Where `botocore.loaders.create_loader()` looks for models, in its order (it reads no AWS_DATA_PATH)."""
    loaders = sys.modules.get("botocore.loaders")
    if loaders is not None:  # it fixed ~ when it was imported: look where it will
        return [Path(loaders.Loader.CUSTOMER_DATA_PATH), Path(loaders.Loader.BUILTIN_DATA_PATH)]
    return [Path(os.path.expanduser("~")) / ".aws" / "models", botocore_root() / "data"]


def model_key(service: str) -> str:
    """Changes whenever a file the loader could read for `service`'s model, or botocore's version, changes."""
    root = botocore_root()
    versions = sorted(e.name for e in os.scandir(root.parent) if e.name.startswith("botocore-"))
    files = []
    for base in search_paths():
        for path in sorted((base / service).glob(f"*/{MODEL}*")):
            stat = path.stat()
            files.append((str(path), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps([FORMAT, service, versions, files]).encode()).hexdigest()


@cache
def service_enums(service: str) -> dict[str, list[str]]:
    """Every enumerated shape of `service`'s model: from the cache while the model files are unchanged."""
    if not _cache_enabled:
        return _read_model(service)
    from infra.synth_cache import cache_dir, read_checked, write_checked

    entry = cache_dir() / f"api-enums-{service}-{model_key(service)}.json"
    body = read_checked(entry)
    if body is not None:
        try:
            doc = json.loads(body)
            if doc["format"] == FORMAT and doc["service"] == service:
                return {shape: list(values) for shape, values in doc["enums"].items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # a foreign or damaged entry: read the model again and replace it
    enums = _read_model(service)
    prefix = f"api-enums-{service}-"  # and not another service whose name starts like this one (ec2-instance-...)
    for stale in cache_dir().glob(f"{prefix}*.json"):
        if len(stale.name) == len(entry.name):
            stale.unlink(missing_ok=True)
    write_checked(entry, json.dumps({"format": FORMAT, "service": service, "enums": enums}).encode())
    return enums


def _read_model(service: str) -> dict[str, list[str]]:
    # The bare loader reads the JSON model installed with boto3; a botocore session would cost ~0.3 s of imports.
    from botocore.loaders import create_loader

    shapes = create_loader().load_service_model(service, MODEL)["shapes"]
    return {name: list(shape["enum"]) for name, shape in shapes.items() if shape.get("enum")}
