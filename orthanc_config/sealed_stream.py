"""Encrypt a backup as a stream with AES-256-GCM in chunks (the STREAM construction), so archives of any size
never sit whole in memory, and truncation, reordering or tampering of any chunk is detected.

Format: b"PGBK1" | 8-byte random nonce prefix | chunks of (4-byte big-endian length | ciphertext+tag).
Each chunk's nonce is prefix | 4-byte counter; its associated data says whether it is the last one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"PGBK1"
CHUNK = 1 << 20


class SealError(Exception):
    """Wrong key, a damaged or truncated archive, or not an archive at all."""


def new_key(path: Path) -> None:
    """A fresh 256-bit key, written 0600 before its bytes (the caller keeps it apart from the backups)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(AESGCM.generate_key(bit_length=256).hex().encode() + b"\n")


def load_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise SealError(f"cannot read a hex AES-256 key from {path}: {exc}") from None
    if len(key) != 32:
        raise SealError(f"{path} holds {len(key)} bytes; an AES-256 key is 32")
    return key


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">I", counter)


def seal(source: BinaryIO, dest: BinaryIO, key: bytes) -> None:
    aead, prefix = AESGCM(key), os.urandom(8)
    dest.write(MAGIC + prefix)
    counter, chunk = 0, source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        sealed = aead.encrypt(_nonce(prefix, counter), chunk, b"last" if last else b"more")
        dest.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        counter, chunk = counter + 1, following


def unseal(source: BinaryIO, key: bytes) -> Iterator[bytes]:
    head = source.read(len(MAGIC) + 8)
    if not head.startswith(MAGIC):
        raise SealError("not a PACSGuard backup (bad magic)")
    aead, prefix, counter = AESGCM(key), head[len(MAGIC) :], 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) != 4:
            raise SealError("archive is truncated (no final chunk)")
        sealed = source.read(struct.unpack(">I", size_bytes)[0])
        for ad in (b"more", b"last"):
            try:
                plain = aead.decrypt(_nonce(prefix, counter), sealed, ad)
            except InvalidTag:
                continue  # not this flag; the other one, or a wrong key / tampering
            yield plain
            if ad == b"last":
                if source.read(1):
                    raise SealError("data after the final chunk")
                return
            break
        else:
            raise SealError("wrong key, or the archive was modified")
        counter += 1
