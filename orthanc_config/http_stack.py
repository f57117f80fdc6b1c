"""Orthanc's HTTP threads get a stack deep enough for GDCM's JPEG 2000 codec, or GDCM stays off.

Debian 12's civetweb (libcivetweb1 1.15+dfsg-4, which Debian's Orthanc 1.10.1 links) starts every HTTP worker
with a fixed 100 KiB stack (`pthread_attr_setstacksize(102400)`, a build-time constant, no option). GDCM's JPEG
2000 decoder needs more than 130 KiB of stack, so with orthanc-gdcm loaded a WADO-RS, rendered or frames request
for a JPEG 2000 image overflows it and kills Orthanc (any uploader plus any reader could stop the PACS).

The fix: a copy of that exact library (checked by SHA-256) whose two stack-size constants say 1 MiB instead,
loaded by Orthanc alone through LD_LIBRARY_PATH; the system's file is left untouched. Any other build of the
library is not patched: GDCM is then left out and JPEG 2000 is not decoded over HTTP (nothing crashes).
Standard library only: this runs under the host's Debian Python.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SYSTEM_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/libcivetweb.so.1.15.0")
LIBRARY_NAME = "libcivetweb.so.1"
KNOWN_SHA256 = "e80ac828b78cd9fd2b99e0df70e334795a463778cc10858badf0978d157f63b2"  # libcivetweb1 1.15+dfsg-4 amd64
STACK_100K = bytes.fromhex("be00900100")  # mov $0x19000, %esi: the argument of pthread_attr_setstacksize
STACK_1M = bytes.fromhex("be00001000")  # mov $0x100000, %esi
PATCH_SITES = 2  # the master thread's and each worker's start-up


def patched_library(data: bytes) -> bytes | None:
    """The library with 1 MiB thread stacks, or None when this is not the build the patch was made for."""
    if hashlib.sha256(data).hexdigest() != KNOWN_SHA256 or data.count(STACK_100K) != PATCH_SITES:
        return None
    return data.replace(STACK_100K, STACK_1M)


def prepare(library_dir: Path, system_library: Path = SYSTEM_LIBRARY) -> Path | None:
    """Write the deeper-stack civetweb into `library_dir` (root-owned, 0644); None if it cannot be done safely."""
    try:
        patched = patched_library(system_library.read_bytes())
    except OSError:
        return None
    if patched is None:
        return None
    library_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(library_dir, 0o755)  # noqa: S103 (orthanc must load it; root owns it)
    target = library_dir / LIBRARY_NAME
    tmp = target.with_name(f".{LIBRARY_NAME}.pacsguard-tmp")
    tmp.write_bytes(patched)
    os.chmod(tmp, 0o644)
    tmp.replace(target)
    return library_dir


def is_prepared(library_dir: Path) -> bool:
    target = library_dir / LIBRARY_NAME
    return target.exists() and STACK_100K not in target.read_bytes()
